package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Consent records the scopes a user granted to a client, so a later
// authorization asking for the same or fewer scopes skips the consent page.
type Consent struct {
	UserID   string   `gorm:"primaryKey;size:64"`
	ClientID string   `gorm:"primaryKey;size:64;index"`
	Scopes   []string `gorm:"serializer:json"`
	// OrgID is the organization the person let the client act in ("" =
	// their personal account): remembered consent binds later grants to
	// the same one, never to another.
	OrgID     string    `gorm:"size:64"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// Consents stores remembered consent.
type Consents interface {
	// SaveConsent creates or replaces the consent of (UserID, ClientID);
	// ErrNotFound when the user does not exist (or is being deleted: see
	// DeleteUser).
	SaveConsent(ctx context.Context, c *Consent) error
	// GetConsent returns the consent of user for client, or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// ListConsents returns the consents a user gave, newest first.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent removes a consent; ErrNotFound when there was none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// SaveConsent implements Consents.
func (d *DB) SaveConsent(ctx context.Context, c *Consent) error {
	now := d.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = now
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdUser(ctx, c.UserID); err != nil {
			return err
		}
		return translate(d.w(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"scopes", "org_id", "updated_at"}),
		}).Create(c).Error)
	})
}

// GetConsent implements Consents.
func (d *DB) GetConsent(ctx context.Context, userID, clientID string) (*Consent, error) {
	var c Consent
	if err := d.r(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// ListConsents implements Consents.
func (d *DB) ListConsents(ctx context.Context, userID string) ([]Consent, error) {
	var cs []Consent
	err := d.r(ctx).Where("user_id = ?", userID).Order("updated_at DESC, client_id").Find(&cs).Error
	return cs, translate(err)
}

// DeleteConsent implements Consents.
func (d *DB) DeleteConsent(ctx context.Context, userID, clientID string) error {
	res := d.w(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("consent: %w", ErrNotFound)
	}
	return nil
}
