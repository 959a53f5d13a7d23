package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// States of a DeviceAuthorization (RFC 8628 §3.3–3.5).
const (
	// DevicePending waits for the person to enter the user code and decide.
	DevicePending = "pending"
	// DeviceApproved: the person allowed it; the next poll gets the tokens.
	DeviceApproved = "approved"
	// DeviceDenied: the person refused; polls get access_denied.
	DeviceDenied = "denied"
	// DeviceUsed: the device code was exchanged for tokens (single use).
	DeviceUsed = "used"
)

// DeviceAuthorization is one device authorization request (RFC 8628 §3.1):
// the digests of its device code and user code (neither code is stored),
// the client and scopes asked for, the polling state, and — once the
// person decided — who decided and the grant they approved.
type DeviceAuthorization struct {
	// DeviceDigest is the HMAC digest of the device code.
	DeviceDigest string `gorm:"primaryKey;size:64"`
	// UserDigest is the HMAC digest of the normalised user code.
	UserDigest string   `gorm:"size:64;not null;uniqueIndex"`
	ClientID   string   `gorm:"size:64;not null;index"`
	Scopes     []string `gorm:"serializer:json"`
	Status     string   `gorm:"size:16;not null"`
	// PollInterval is the least number of seconds between polls; slow_down
	// raises it (RFC 8628 §3.5).
	PollInterval int `gorm:"not null"`
	// Polls counts token requests; PollDeviceAuthorization uses it to
	// record each poll exactly once however many race.
	Polls        int `gorm:"not null;default:0"`
	LastPolledAt *time.Time
	// UserID is the person who decided ("" while pending).
	UserID string `gorm:"size:64"`
	// GrantData is opaque to storage: the oauth package's JSON of what
	// the approval issues (its session), and before that what the request
	// asked for beyond scopes (RFC 8707 resources), or empty.
	GrantData string
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	DecidedAt *time.Time
}

// DeviceAuthorizations stores device authorization requests (RFC 8628).
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization inserts d; ErrConflict when its device or
	// user digest exists.
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// GetDeviceAuthorization returns the request with the device digest,
	// whatever its state or expiry; ErrNotFound when there is none.
	GetDeviceAuthorization(ctx context.Context, deviceDigest string) (*DeviceAuthorization, error)
	// GetDeviceAuthorizationByUserCode returns the request with the user
	// digest; ErrNotFound when there is none; ErrInactive, together with
	// the record, when it is no longer pending or has expired by at.
	GetDeviceAuthorizationByUserCode(ctx context.Context, userDigest string, at time.Time) (*DeviceAuthorization, error)
	// DecideDeviceAuthorization records the person's decision on the
	// pending request with the user digest: status DeviceApproved (with
	// grant) or DeviceDenied, by userID, at at. It succeeds exactly once
	// however many callers race; errors as GetDeviceAuthorizationByUserCode.
	DecideDeviceAuthorization(ctx context.Context, userDigest, status, userID, grant string, at time.Time) error
	// PollDeviceAuthorization records one poll of the request with the
	// device digest: polls+1, last_polled_at=at and poll_interval=interval,
	// but only while polls still equals seenPolls (the value the caller
	// read), so of racing polls exactly one is recorded. It reports
	// whether this one was; ErrNotFound when there is no such request.
	PollDeviceAuthorization(ctx context.Context, deviceDigest string, seenPolls, interval int, at time.Time) (bool, error)
	// UseDeviceAuthorization moves the approved, unexpired request with
	// the device digest to DeviceUsed and returns it, exactly once however
	// many callers race: ErrNotFound when there is none, ErrInactive with
	// the record when it is not (or no longer) approved or has expired.
	UseDeviceAuthorization(ctx context.Context, deviceDigest string, at time.Time) (*DeviceAuthorization, error)
}

// CreateDeviceAuthorization implements DeviceAuthorizations.
func (d *DB) CreateDeviceAuthorization(ctx context.Context, a *DeviceAuthorization) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = d.now()
	}
	if a.Status == "" {
		a.Status = DevicePending
	}
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	return translate(d.w(ctx).Create(a).Error)
}

// GetDeviceAuthorization implements DeviceAuthorizations.
func (d *DB) GetDeviceAuthorization(ctx context.Context, deviceDigest string) (*DeviceAuthorization, error) {
	var a DeviceAuthorization
	if err := d.r(ctx).Where("device_digest = ?", deviceDigest).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("device authorization: %w", translate(err))
	}
	return &a, nil
}

// GetDeviceAuthorizationByUserCode implements DeviceAuthorizations.
func (d *DB) GetDeviceAuthorizationByUserCode(ctx context.Context, userDigest string, at time.Time) (*DeviceAuthorization, error) {
	return d.getDeviceByUser(d.r(ctx), userDigest, at)
}

func (d *DB) getDeviceByUser(db *gorm.DB, userDigest string, at time.Time) (*DeviceAuthorization, error) {
	var a DeviceAuthorization
	if err := db.Where("user_digest = ?", userDigest).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("device user code: %w", translate(err))
	}
	if a.Status != DevicePending || !at.Before(a.ExpiresAt) {
		return &a, fmt.Errorf("device user code %s or expired: %w", a.Status, ErrInactive)
	}
	return &a, nil
}

// DecideDeviceAuthorization implements DeviceAuthorizations. The
// conditional UPDATE decides the race: one caller changes the row.
func (d *DB) DecideDeviceAuthorization(ctx context.Context, userDigest, status, userID, grant string, at time.Time) error {
	if status != DeviceApproved && status != DeviceDenied {
		return fmt.Errorf("storage: device decision %q", status)
	}
	at = at.UTC()
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&DeviceAuthorization{}).
			Where("user_digest = ? AND status = ? AND expires_at > ?", userDigest, DevicePending, at).
			Updates(map[string]any{"status": status, "user_id": userID, "grant_data": grant, "decided_at": at})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
		_, err := d.getDeviceByUser(d.w(ctx), userDigest, at)
		if err == nil {
			err = fmt.Errorf("device user code: %w", ErrInactive)
		}
		return err
	})
}

// PollDeviceAuthorization implements DeviceAuthorizations.
func (d *DB) PollDeviceAuthorization(ctx context.Context, deviceDigest string, seenPolls, interval int, at time.Time) (bool, error) {
	res := d.w(ctx).Model(&DeviceAuthorization{}).
		Where("device_digest = ? AND polls = ?", deviceDigest, seenPolls).
		Updates(map[string]any{"polls": seenPolls + 1, "last_polled_at": at.UTC(), "poll_interval": interval})
	if res.Error != nil {
		return false, translate(res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	if _, err := d.GetDeviceAuthorization(ctx, deviceDigest); err != nil {
		return false, err
	}
	return false, nil
}

// UseDeviceAuthorization implements DeviceAuthorizations.
func (d *DB) UseDeviceAuthorization(ctx context.Context, deviceDigest string, at time.Time) (*DeviceAuthorization, error) {
	at = at.UTC()
	var out *DeviceAuthorization
	err := d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&DeviceAuthorization{}).
			Where("device_digest = ? AND status = ? AND expires_at > ?", deviceDigest, DeviceApproved, at).
			Update("status", DeviceUsed)
		if res.Error != nil {
			return translate(res.Error)
		}
		var a DeviceAuthorization
		if err := d.w(ctx).Where("device_digest = ?", deviceDigest).Take(&a).Error; err != nil {
			return fmt.Errorf("device authorization: %w", translate(err))
		}
		out = &a
		if res.RowsAffected == 0 {
			return fmt.Errorf("device authorization %s or expired: %w", a.Status, ErrInactive)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrInactive) {
		return nil, err
	}
	return out, err
}
