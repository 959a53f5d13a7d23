// Package storage is the floor of Latchkey: plain records, the Store
// contract, sentinel errors and one GORM implementation shared by every SQL
// backend. It knows nothing of HTTP, gin or fosite; backends (storage/sqlite,
// storage/postgres) only open a configured *gorm.DB and hand it to New.
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

// User is a person who can sign in.
type User struct {
	ID           string `gorm:"primaryKey;size:64"`
	Username     string `gorm:"uniqueIndex;size:64;not null"`
	Email        string `gorm:"size:254"`
	Name         string `gorm:"size:200"`
	PasswordHash string `gorm:"not null"`
	Admin        bool   `gorm:"not null;default:false"`
	// SessionsNotBefore ends every browser session that signed in before it
	// (set by logout, so a copied cookie stops working on every instance).
	SessionsNotBefore *time.Time
	CreatedAt         time.Time `gorm:"not null"`
	UpdatedAt         time.Time `gorm:"not null"`
}

// Workspace is a tenant a user belongs to (SPEC §3.3 "tenants").
type Workspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// PersonalWorkspace is every user's own workspace. Latchkey has one
// workspace per user today; shared workspaces are not modelled yet.
func PersonalWorkspace(u *User) Workspace {
	return Workspace{ID: u.ID, Name: u.Username + "'s workspace", Role: "owner"}
}

// Client is a registered OAuth 2.0 client (RFC 6749 §2). The secret is
// never stored: SecretDigest is an HMAC-SHA256 of it under the server pepper
// of version SecretVersion.
type Client struct {
	ID            string   `gorm:"primaryKey;size:64"`
	SecretDigest  []byte   `gorm:"size:64"`
	SecretVersion int      `gorm:"not null;default:0"`
	Name          string   `gorm:"size:200;not null"`
	OwnerID       string   `gorm:"index;size:64"`
	RedirectURIs  []string `gorm:"serializer:json"`
	GrantTypes    []string `gorm:"serializer:json"`
	ResponseTypes []string `gorm:"serializer:json"`
	Scopes        []string `gorm:"serializer:json"`
	Audience      []string `gorm:"serializer:json"`
	Public        bool     `gorm:"not null;default:false"`
	// Tier is the rate-limit tier of the client's own requests ("" = the
	// configured default).
	Tier string `gorm:"size:32"`
	// TokenEndpointAuthMethod is "" for a confidential client that accepts
	// both client_secret_basic and client_secret_post, or one RFC 7591 method.
	TokenEndpointAuthMethod string `gorm:"size:32"`
	LogoURI                 string `gorm:"size:2000"`
	ClientURI               string `gorm:"size:2000"`
	// RequirePKCE refuses authorization requests without a PKCE challenge
	// (RFC 7636; OAuth 2.1 requires it of every client). Always true for
	// public clients.
	RequirePKCE bool `gorm:"not null;default:false"`
	// ResourceServer lets the client introspect any token and API key
	// (RFC 7662 §4); other clients introspect only their own tokens.
	ResourceServer bool      `gorm:"not null;default:false"`
	CreatedAt      time.Time `gorm:"not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

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

// Consent records the scopes a user granted to a client, so a later
// authorization asking for the same or fewer scopes skips the consent page.
type Consent struct {
	UserID    string    `gorm:"primaryKey;size:64"`
	ClientID  string    `gorm:"primaryKey;size:64;index"`
	Scopes    []string  `gorm:"serializer:json"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// UsedJTI remembers a client-assertion JWT id until it expires, so a
// private_key_jwt assertion cannot be replayed (RFC 7523 §3).
type UsedJTI struct {
	JTI       string    `gorm:"primaryKey;size:128"`
	ExpiresAt time.Time `gorm:"index;not null"`
}

// Models lists every record type. Their GORM tags are the one description
// of the schema the Go code uses; the SQL files in storage/migrations must
// produce the same schema (a parity test checks it against AutoMigrate).
func Models() []any {
	return []any{&User{}, &Client{}, &Request{}, &Consent{}, &UsedJTI{}, &APIKey{}, &KeyEvent{}}
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
	// cutoff, at most limit rows per table per call; it returns how many rows
	// it removed, by table (see Purged). Each delete is one short statement
	// over primary keys; a caller loops until a call removes nothing.
	PurgeExpired(ctx context.Context, cutoff time.Time, limit int) (Purged, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database connections.
	Close() error
}

// Purged counts the rows a purge removed, by table: the request kinds are
// reported as "authorization_codes", "access_tokens", "refresh_tokens",
// "pkce_requests", "oidc_sessions" and "par_requests" (all rows of the
// requests table), JTIs as "used_jtis", audit rows as "key_events".
type Purged map[string]int64

// Total is the number of rows removed in all.
func (p Purged) Total() int64 {
	var n int64
	for _, v := range p {
		n += v
	}
	return n
}

// Add adds q's counts to p.
func (p Purged) Add(q Purged) {
	for k, v := range q {
		p[k] += v
	}
}

// PurgeTable names the rows of a request kind in Purged.
func PurgeTable(k Kind) string {
	switch k {
	case KindCode:
		return "authorization_codes"
	case KindAccess:
		return "access_tokens"
	case KindRefresh:
		return "refresh_tokens"
	case KindPKCE:
		return "pkce_requests"
	case KindOIDC:
		return "oidc_sessions"
	case KindPAR:
		return "par_requests"
	}
	return "requests_" + string(k)
}

// Users stores people.
type Users interface {
	// CreateUser inserts u; ErrConflict when the username is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user with id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns the user by exact username, or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// EndSessions makes every browser session of the user that signed in
	// before at invalid; ErrNotFound when the user does not exist.
	EndSessions(ctx context.Context, userID string, at time.Time) error
}

// Clients stores OAuth clients.
type Clients interface {
	// CreateClient inserts c; ErrConflict when the id is taken.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client with id, or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient loads the client, applies fn and saves the result in one
	// transaction (read-modify-write). ErrNotFound when it does not exist.
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) error
	// DeleteClient removes the client and every request record and consent
	// that belongs to it, and revokes the API keys its tokens created
	// (RevokeAPIKeysByParent). ErrNotFound when it does not exist.
	DeleteClient(ctx context.Context, id string) error
	// ListClientsByOwner returns the clients owned by a user, oldest first.
	ListClientsByOwner(ctx context.Context, ownerID string) ([]Client, error)
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
	// RevokeGrants ends everything subject granted clientID (an "Authorized
	// apps" revocation), in one transaction: pending authorization codes and
	// the PKCE and OpenID Connect sessions bound to them are deleted (so a
	// code issued before the revocation can no longer be redeemed), the API
	// keys those grants created are revoked (RevokeAPIKeysByParent), access
	// tokens are deleted and refresh tokens deactivated. PAR sessions carry
	// no subject (they are consumed before anyone signs in) and are left.
	RevokeGrants(ctx context.Context, subject, clientID string) error
}

// Consents stores remembered consent.
type Consents interface {
	// SaveConsent creates or replaces the consent of (UserID, ClientID).
	SaveConsent(ctx context.Context, c *Consent) error
	// GetConsent returns the consent of user for client, or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// ListConsents returns the consents a user gave, newest first.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent removes a consent; ErrNotFound when there was none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}
