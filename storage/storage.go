// Package storage is the floor of Latchkey: plain records, the Store
// contract, sentinel errors and one GORM implementation shared by every SQL
// backend. It knows nothing of HTTP, gin or fosite; backends (storage/sqlite,
// storage/postgres) only open a configured *gorm.DB and hand it to New.
//
// Each record kind has one file, named like its section of the conformance
// suite (users.go, clients.go, requests.go, consents.go, jtis.go,
// apikeys.go): the record type, its part of the Store contract and the DB
// methods that implement it. gorm.go holds DB itself, tx.go transactions,
// purge.go expiry, invalidation.go cache invalidation and migrate.go the
// versioned migrations.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Every backend returns these (wrapped with %w) so callers
// can test them with errors.Is; a missing record is never reported as nil, nil.
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict means a unique constraint would be violated (duplicate
	// username, client id, signature or JTI).
	ErrConflict = errors.New("storage: conflict")
	// ErrInactive means the record exists but was already deactivated: a used
	// authorization code or a rotated/revoked refresh token. Functions that
	// return it also return the record, so replay and reuse can be handled.
	ErrInactive = errors.New("storage: inactive")
)

// Models lists every record type. Their GORM tags are the one description
// of the schema the Go code uses; the SQL files in storage/migrations must
// produce the same schema (a parity test checks it against AutoMigrate).
func Models() []any {
	return []any{&User{}, &Client{}, &Request{}, &Consent{}, &UsedJTI{}, &APIKey{}, &KeyEvent{}, &SessionClient{}, &EmailToken{}, &WebSession{},
		&TOTPFactor{}, &RecoveryCode{}, &Passkey{},
		&Organization{}, &Membership{}, &Tenant{}, &TenantGrant{}, &Invitation{}, &OrgEvent{}, &UsageCount{}, &SigningKey{},
		&DeviceAuthorization{}}
}

// Store is the whole storage contract. Both SQL backends implement it and
// pass the conformance suite in storage/storagetest.
//
// Transactions are carried in the context: BeginTx returns a context whose
// calls run inside one transaction until Commit or Rollback on that context.
type Store interface {
	Users
	Clients
	Requests
	Consents
	APIKeys
	SessionClients
	EmailTokens
	WebSessions
	TwoFactor
	Orgs
	UsageStore
	Overview
	DeviceAuthorizations
	// MarkJTI records jti until expiresAt; ErrConflict when it is already
	// recorded and not yet expired.
	MarkJTI(ctx context.Context, jti string, expiresAt time.Time) error
	// JTIKnown reports whether an unexpired jti is recorded.
	JTIKnown(ctx context.Context, jti string) (bool, error)

	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// InTx runs fn inside a transaction, committing when fn returns nil.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// PurgeExpired deletes request records and JTIs whose expiry is before
	// cutoff, and clears previous client secrets whose grace ended before
	// it, at most limit rows per table per call; it returns how many rows
	// it removed or cleared, by table (see Purged). Each delete is one short statement
	// over primary keys; a caller loops until a call removes nothing.
	PurgeExpired(ctx context.Context, cutoff time.Time, limit int) (Purged, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database connections.
	Close() error
}
