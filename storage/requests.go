package storage

import (
	"context"
	"fmt"
	"time"
)

// Kind names the type of an OAuth request record.
type Kind string

// The kinds of OAuth request record kept by the fosite adapter.
const (
	KindCode    Kind = "code"    // authorization code (RFC 6749 §4.1)
	KindAccess  Kind = "access"  // access token (RFC 6749 §1.4)
	KindRefresh Kind = "refresh" // refresh token (RFC 6749 §1.5)
	KindPKCE    Kind = "pkce"    // PKCE request (RFC 7636)
	KindOIDC    Kind = "oidc"    // OpenID Connect session bound to a code
	KindPAR     Kind = "par"     // pushed authorization request (RFC 9126)
)

// Request is one OAuth request record: a code, token or protocol session,
// keyed by (Kind, Signature). Data is the serialised request, opaque here;
// the other fields are indexed copies for revocation and purging.
type Request struct {
	Kind      Kind   `gorm:"primaryKey;size:16"`
	Signature string `gorm:"primaryKey;size:128"`
	// RequestID identifies the grant: every token issued from one
	// authorization (and its refresh rotations) shares it.
	RequestID string `gorm:"index;size:64;not null"`
	ClientID  string `gorm:"index;size:64;not null"`
	Subject   string `gorm:"index;size:64"`
	// AccessSignature links a refresh token to the access token issued with it.
	AccessSignature string    `gorm:"size:128"`
	Active          bool      `gorm:"not null"`
	RequestedAt     time.Time `gorm:"not null"`
	ExpiresAt       time.Time `gorm:"index;not null"`
	Data            []byte    `gorm:"not null"`
}

// Requests stores OAuth request records (codes, tokens, PKCE/OIDC/PAR sessions).
type Requests interface {
	// CreateRequest inserts r; ErrConflict when (Kind, Signature) exists.
	CreateRequest(ctx context.Context, r *Request) error
	// GetRequest returns the record for (kind, signature), or ErrNotFound.
	// An inactive record is returned together with ErrInactive.
	GetRequest(ctx context.Context, kind Kind, signature string) (*Request, error)
	// DeactivateRequest atomically flips an active record to inactive.
	// ErrNotFound when missing; ErrInactive when it was already inactive, so
	// of two concurrent callers exactly one succeeds.
	DeactivateRequest(ctx context.Context, kind Kind, signature string) error
	// DeleteRequest removes the record; deleting a missing record is not an error.
	DeleteRequest(ctx context.Context, kind Kind, signature string) error
	// DeactivateByRequestID deactivates every record of kind for a grant.
	DeactivateByRequestID(ctx context.Context, kind Kind, requestID string) (int64, error)
	// DeleteByRequestID deletes every record of kind for a grant.
	DeleteByRequestID(ctx context.Context, kind Kind, requestID string) (int64, error)
	// GrantHasActive reports whether the grant requestID still holds an
	// active record of kind. For an inactive refresh token it tells
	// rotation (its successor is active) from revocation (every refresh
	// token of the grant was deactivated). An unknown grant has none.
	GrantHasActive(ctx context.Context, kind Kind, requestID string) (bool, error)
	// RevokeGrants ends everything subject granted clientID (an "Authorized
	// apps" revocation), in one transaction: pending authorization codes and
	// the PKCE and OpenID Connect sessions bound to them are deleted (so a
	// code issued before the revocation can no longer be redeemed), the API
	// keys those grants created are revoked (RevokeAPIKeysByParent), access
	// tokens are deleted and refresh tokens deactivated. PAR sessions carry
	// no subject (they are consumed before anyone signs in) and are left.
	RevokeGrants(ctx context.Context, subject, clientID string) error
}

// CreateRequest implements Requests.
func (d *DB) CreateRequest(ctx context.Context, r *Request) error {
	if r.RequestedAt.IsZero() {
		r.RequestedAt = d.now().UTC()
	}
	// SQLite stores times as text with their zone offset and compares them as
	// text, so only UTC keeps expiry checks and purging correct.
	r.RequestedAt, r.ExpiresAt = r.RequestedAt.UTC(), r.ExpiresAt.UTC()
	return d.write(ctx, func(ctx context.Context) error {
		_, err := d.execPrepared(ctx, d.insertRequest, string(r.Kind), r.Signature, r.RequestID, r.ClientID,
			r.Subject, r.AccessSignature, r.Active, r.RequestedAt, r.ExpiresAt, r.Data)
		return err
	})
}

// requestColumns are the columns of Request in CreateRequest's argument
// order. The hottest write is a prepared statement (prepared.go), not
// GORM's Create; TestCreateRequestColumns keeps this list equal to the
// model's fields.
const requestColumns = "kind, signature, request_id, client_id, subject, access_signature, active, requested_at, expires_at, data"

// GetRequest implements Requests.
func (d *DB) GetRequest(ctx context.Context, kind Kind, signature string) (*Request, error) {
	var r Request
	if err := d.r(ctx).Where("kind = ? AND signature = ?", kind, signature).Take(&r).Error; err != nil {
		return nil, translate(err)
	}
	if !r.Active {
		return &r, fmt.Errorf("%s record: %w", kind, ErrInactive)
	}
	return &r, nil
}

// DeactivateRequest implements Requests. The conditional UPDATE makes the
// flip atomic on every backend: only one caller sees a changed row.
func (d *DB) DeactivateRequest(ctx context.Context, kind Kind, signature string) error {
	return d.write(ctx, func(ctx context.Context) error { return d.deactivateRequest(ctx, kind, signature) })
}

func (d *DB) deactivateRequest(ctx context.Context, kind Kind, signature string) error {
	res := d.w(ctx).Model(&Request{}).
		Where("kind = ? AND signature = ? AND active = ?", kind, signature, true).
		Update("active", false)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 1 {
		return d.accessTokensGone(ctx, kind, 1, TokenBySignature(signature))
	}
	var n int64
	if err := d.w(ctx).Model(&Request{}).Where("kind = ? AND signature = ?", kind, signature).Count(&n).Error; err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("%s record: %w", kind, ErrNotFound)
	}
	return fmt.Errorf("%s record: %w", kind, ErrInactive)
}

// DeleteRequest implements Requests.
func (d *DB) DeleteRequest(ctx context.Context, kind Kind, signature string) error {
	return d.write(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("kind = ? AND signature = ?", kind, signature).Delete(&Request{})
		if res.Error != nil {
			return translate(res.Error)
		}
		return d.accessTokensGone(ctx, kind, res.RowsAffected, TokenBySignature(signature))
	})
}

// DeactivateByRequestID implements Requests.
func (d *DB) DeactivateByRequestID(ctx context.Context, kind Kind, requestID string) (n int64, err error) {
	err = d.write(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&Request{}).
			Where("kind = ? AND request_id = ? AND active = ?", kind, requestID, true).
			Update("active", false)
		if res.Error != nil {
			return translate(res.Error)
		}
		n = res.RowsAffected
		return d.accessTokensGone(ctx, kind, res.RowsAffected, TokenByGrant(requestID))
	})
	return n, err
}

// DeleteByRequestID implements Requests.
func (d *DB) DeleteByRequestID(ctx context.Context, kind Kind, requestID string) (n int64, err error) {
	err = d.write(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("kind = ? AND request_id = ?", kind, requestID).Delete(&Request{})
		if res.Error != nil {
			return translate(res.Error)
		}
		n = res.RowsAffected
		return d.accessTokensGone(ctx, kind, res.RowsAffected, TokenByGrant(requestID))
	})
	return n, err
}

// GrantHasActive implements Requests.
func (d *DB) GrantHasActive(ctx context.Context, kind Kind, requestID string) (bool, error) {
	var n int64
	err := d.r(ctx).Model(&Request{}).
		Where("kind = ? AND request_id = ? AND active = ?", kind, requestID, true).
		Count(&n).Error
	return n > 0, translate(err)
}

// RevokeGrants implements Requests. Codes go first: on PostgreSQL the
// delete waits for a concurrent exchange holding the code's row, and the
// statements after it then see the tokens that exchange committed. The
// API keys those grants created (and their descendants) are revoked with
// them.
func (d *DB) RevokeGrants(ctx context.Context, subject, clientID string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		for _, kind := range []Kind{KindCode, KindPKCE, KindOIDC} {
			if err := d.w(ctx).Where("kind = ? AND subject = ? AND client_id = ?", kind, subject, clientID).
				Delete(&Request{}).Error; err != nil {
				return translate(err)
			}
		}
		if _, err := d.RevokeAPIKeysByParent(ctx, KeyParent{ClientID: clientID, UserID: subject}); err != nil {
			return err
		}
		res := d.w(ctx).Where("kind = ? AND subject = ? AND client_id = ?", KindAccess, subject, clientID).Delete(&Request{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if err := d.accessTokensGone(ctx, KindAccess, res.RowsAffected, TokenAll); err != nil {
			return err
		}
		return translate(d.w(ctx).Model(&Request{}).
			Where("kind = ? AND subject = ? AND client_id = ?", KindRefresh, subject, clientID).
			Update("active", false).Error)
	})
}
