package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/latchkey/latchkey/internal/ttlcache"
)

// Client is a registered OAuth 2.0 client (RFC 6749 §2). The secret is
// never stored: SecretDigest is an HMAC-SHA256 of it under the server pepper
// of version SecretVersion.
type Client struct {
	ID            string `gorm:"primaryKey;size:64"`
	SecretDigest  []byte `gorm:"size:64"`
	SecretVersion int    `gorm:"not null;default:0"`
	Name          string `gorm:"size:200;not null"`
	OwnerID       string `gorm:"index;size:64"`
	// OrgID is the organization the app belongs to ("" = its owner's own
	// app); the organization's admins manage it and it inherits the
	// organization's rate-limit tier when it sets none.
	OrgID         string   `gorm:"size:64;index"`
	RedirectURIs  []string `gorm:"serializer:json"`
	GrantTypes    []string `gorm:"serializer:json"`
	ResponseTypes []string `gorm:"serializer:json"`
	Scopes        []string `gorm:"serializer:json"`
	Audience      []string `gorm:"serializer:json"`
	Public        bool     `gorm:"not null;default:false"`

	// PreviousSecretDigest is the digest (pepper version
	// PreviousSecretVersion) of the secret the last rotation replaced. It
	// still authenticates the client until PreviousSecretExpiresAt, and
	// never after (PreviousSecretActive); nil when there is none.
	PreviousSecretDigest    []byte `gorm:"size:64"`
	PreviousSecretVersion   int    `gorm:"not null;default:0"`
	PreviousSecretExpiresAt *time.Time

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
	ResourceServer bool `gorm:"not null;default:false"`
	// PostLogoutRedirectURIs are where RP-Initiated Logout may return the
	// person (OpenID Connect RP-Initiated Logout 1.0 §3.1), matched exactly.
	PostLogoutRedirectURIs []string `gorm:"serializer:json"`
	// BackchannelLogoutURI receives logout tokens (OpenID Connect
	// Back-Channel Logout 1.0 §2.2); "" = none.
	BackchannelLogoutURI string `gorm:"size:2000"`
	// BackchannelLogoutSessionRequired asks for the sid claim in every
	// logout token (Back-Channel Logout 1.0 §2.2).
	BackchannelLogoutSessionRequired bool `gorm:"not null;default:false"`
	// JWTAccessTokens makes the client's access tokens RFC 9068 JWTs
	// (typ at+jwt) even when oauth.jwt_access_tokens is off.
	JWTAccessTokens bool `gorm:"not null;default:false"`
	// DPoPBoundAccessTokens requires a DPoP proof (RFC 9449 §5.2
	// dpop_bound_access_tokens) at every token request of the client, so
	// its access tokens are always bound to a key.
	DPoPBoundAccessTokens bool `gorm:"column:dpop_bound_access_tokens;not null;default:false"`
	// JWKS is the client's public JWK Set (RFC 7517 §5) as JSON, for
	// private_key_jwt (RFC 7523 §2.2); "" = none (JWKSURI, or no keys).
	JWKS string `gorm:"type:text"`
	// JWKSURI is where the client publishes its JWK Set; "" = none.
	JWKSURI string `gorm:"size:2000"`
	// TokenEndpointAuthSigningAlg is the JWS algorithm of the client's
	// assertions (RFC 7591 §2 token_endpoint_auth_signing_alg); "" = the
	// method's default (RS256 for private_key_jwt, HS256 for
	// client_secret_jwt).
	TokenEndpointAuthSigningAlg string `gorm:"size:16"`
	// SecretSealed is, for a client_secret_jwt client only, its secret
	// sealed with AES-256-GCM (the server must know it to check HS256
	// assertions, RFC 7523 §2.2); nil otherwise.
	SecretSealed []byte
	// RegistrationTokenDigest is the HMAC-SHA256 digest (pepper version
	// RegistrationTokenVersion) of the registration access token of a
	// client created by dynamic registration (RFC 7591 §3.2.1), which
	// authenticates its management requests (RFC 7592 §3); nil for
	// clients created on the /apps pages or by the CLI. The token itself
	// is never stored.
	RegistrationTokenDigest  []byte    `gorm:"size:64"`
	RegistrationTokenVersion int       `gorm:"not null;default:0"`
	CreatedAt                time.Time `gorm:"not null"`
	UpdatedAt                time.Time `gorm:"not null"`
}

// Registered reports whether the client was created by dynamic
// registration (RFC 7591) and is managed with its registration access
// token (RFC 7592).
func (c *Client) Registered() bool { return len(c.RegistrationTokenDigest) > 0 }

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

// CreateClient implements Clients.
func (d *DB) CreateClient(ctx context.Context, c *Client) error {
	now := d.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt = c.CreatedAt.UTC() // SQLite compares times as text: store UTC only
	c.PreviousSecretExpiresAt = utcPtr(c.PreviousSecretExpiresAt)
	c.UpdatedAt = now
	return translate(d.w(ctx).Create(c).Error)
}

// GetClient implements Clients.
func (d *DB) GetClient(ctx context.Context, id string) (*Client, error) {
	inTx := tx(ctx) != nil
	var ticket ttlcache.Ticket
	if !inTx {
		c, ok, t := d.clients.Get(id)
		if ok {
			return unshared(c), nil
		}
		ticket = t
	}
	var c Client
	if err := d.r(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	if !inTx {
		// The cached copy shares nothing with the one returned: a
		// caller's change to a slice must not reach the cache.
		d.clients.Put(id, c, ticket)
		return unshared(c), nil
	}
	return &c, nil
}

// unshared returns a copy of c whose slices and pointers share no memory
// with c's.
func unshared(c Client) *Client {
	c.PreviousSecretDigest, c.PreviousSecretExpiresAt = slices.Clone(c.PreviousSecretDigest), utcPtr(c.PreviousSecretExpiresAt)
	c.RedirectURIs, c.GrantTypes, c.ResponseTypes = slices.Clone(c.RedirectURIs), slices.Clone(c.GrantTypes), slices.Clone(c.ResponseTypes)
	c.Scopes, c.Audience, c.SecretDigest = slices.Clone(c.Scopes), slices.Clone(c.Audience), slices.Clone(c.SecretDigest)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.RegistrationTokenDigest = slices.Clone(c.RegistrationTokenDigest)
	c.SecretSealed = slices.Clone(c.SecretSealed)
	return &c
}

// UpdateClient implements Clients.
func (d *DB) UpdateClient(ctx context.Context, id string, fn func(*Client) error) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		var c Client
		if err := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).Where("id = ?", id).Take(&c).Error; err != nil {
			return translate(err)
		}
		if err := fn(&c); err != nil {
			return err
		}
		c.ID = id
		c.CreatedAt = c.CreatedAt.UTC()
		c.PreviousSecretExpiresAt = utcPtr(c.PreviousSecretExpiresAt)
		c.UpdatedAt = d.now().UTC()
		if err := d.w(ctx).Save(&c).Error; err != nil {
			return translate(err)
		}
		return d.changed(ctx, Invalidation{Topic: TopicClient, ID: id})
	})
}

// DeleteClient implements Clients.
func (d *DB) DeleteClient(ctx context.Context, id string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("id = ?", id).Delete(&Client{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		res = d.w(ctx).Where("client_id = ?", id).Delete(&Request{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if err := d.accessTokensGone(ctx, KindAccess, res.RowsAffected, TokenAll); err != nil {
			return err
		}
		if err := d.w(ctx).Where("client_id = ?", id).Delete(&Consent{}).Error; err != nil {
			return translate(err)
		}
		if err := d.w(ctx).Where("client_id = ?", id).Delete(&DeviceAuthorization{}).Error; err != nil {
			return translate(err)
		}
		if _, err := d.RevokeAPIKeysByParent(ctx, KeyParent{ClientID: id}); err != nil {
			return err
		}
		return d.changed(ctx, Invalidation{Topic: TopicClient, ID: id})
	})
}

// ListClientsByOwner implements Clients.
func (d *DB) ListClientsByOwner(ctx context.Context, ownerID string) ([]Client, error) {
	var cs []Client
	err := d.r(ctx).Where("owner_id = ?", ownerID).Order("created_at, id").Find(&cs).Error
	return cs, translate(err)
}
