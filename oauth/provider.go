// Package oauth is Latchkey's OAuth 2.0 / OpenID Connect core and the only
// package that imports fosite. It adapts fosite's storage roles and clients
// onto the storage package, validates client registrations, mints and checks
// the access tokens API keys are exchanged for, and exposes net/http
// handlers for the protocol endpoints (token, revocation, introspection,
// PAR, userinfo, discovery, JWKS), plus the authorize-flow functions the
// web package drives.
package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/token/jwt"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Config is what the provider needs from configuration and secrets.
type Config struct {
	// Issuer is the exact issuer URL (RFC 8414 §2), no trailing slash.
	Issuer string
	// ServiceDocumentation is the URL of the developer documentation
	// (RFC 8414 §2 service_documentation); "" leaves it out.
	ServiceDocumentation  string
	AccessTokenLifespan   time.Duration
	RefreshTokenLifespan  time.Duration
	AuthorizeCodeLifespan time.Duration
	IDTokenLifespan       time.Duration
	// HMACKey signs opaque codes and tokens (≥ 32 bytes).
	HMACKey []byte
	// SigningKey signs ID tokens; its public half is published in the JWKS.
	SigningKey   crypto.Signer
	SigningKeyID string
	// Hasher digests client secrets (HMAC-SHA256 under the pepper).
	Hasher *secret.Hasher
	// Scopes lists the scopes advertised in discovery.
	Scopes []string
	// MaxBodyBytes bounds request bodies of the protocol endpoints.
	MaxBodyBytes int64
	// RefreshFamilyLifetime bounds a grant's refresh tokens: a refresh
	// more than this after the person approved the authorization fails with
	// invalid_grant. 0 = no bound beyond RefreshTokenLifespan.
	RefreshFamilyLifetime time.Duration
	// IntrospectKey, when set, answers introspection (RFC 7662) for API
	// keys: ok is false when token is not an API key of this deployment.
	// Only resource-server clients reach it.
	IntrospectKey func(ctx context.Context, token string) (body map[string]any, ok bool)
	// KeyState, when set, reports the API key with keyID as it is now; it
	// is asked on every use of a token exchanged from that key (resource
	// requests, introspection, userinfo), so such a token is never more
	// than its key now: its scopes are intersected with the key's and its
	// expiry is clamped to the key's. It returns an error wrapping
	// ErrInvalidToken when the key may not be used (revoked, expired,
	// rotated out, unknown); other errors mean it could not be checked.
	KeyState func(ctx context.Context, keyID string) (KeyState, error)
	// TokenRights, when set, reports what the person (or API key) behind
	// a token reaches now: asked on every use of a person's access token
	// (resource requests, introspection, userinfo) and on refresh. Its
	// Scopes narrow the token's; its Claims join the introspection answer.
	// It returns an error wrapping ErrInvalidToken when the token may not
	// be used (the person or the organization is suspended, the person left
	// the organization the grant is bound to); other errors mean it could
	// not be checked.
	TokenRights func(ctx context.Context, owner TokenOwner) (*Rights, error)
	// IntrospectFailures, when set, is the guessing throttle of
	// /oauth/introspect: failed client authentications and tokens answered
	// inactive count against the caller's IP, and a blocked IP gets 429.
	IntrospectFailures FailureCounter
	// Now is the clock of the refresh-family bound and of a previous
	// client secret's grace; nil = time.Now.
	Now func() time.Time
	// TokenCacheTTL keeps active access tokens read back from storage in
	// process for this long (0 = no cache). Coherence needs the Provider
	// to hear every storage.TopicToken invalidation: wire its Invalidate
	// to storage.DB.OnChange, and Subscribe it to the bus when there is one.
	TokenCacheTTL time.Duration
	// LimitClient, when set, is asked once per token request after the
	// client has authenticated and before anything is issued or consumed.
	// A positive wait refuses the request: 429 (RFC 6585 §4) with
	// Retry-After; an error refuses it with 503 temporarily_unavailable.
	LimitClient func(ctx context.Context, clientID string) (wait time.Duration, err error)
	// OnTokenIssued, when set, is called once per access token issued,
	// after it is stored: grant is the grant type of the token request
	// (authorization_code, refresh_token, client_credentials) or
	// "api_key_exchange" for MintKeyToken.
	OnTokenIssued func(grant string)
	// BackchannelClient posts logout tokens (OpenID Connect Back-Channel
	// Logout 1.0 §2.5); nil = a client with a 5 s timeout. Redirects are
	// never followed, whatever client is given.
	BackchannelClient *http.Client
	// BackchannelBlockPrivate makes the default back-channel client refuse,
	// at dial time, destinations that are loopback, private, link-local
	// or otherwise not public (backchannel_dial.go), whatever name the
	// registered URI uses. It does not apply to a BackchannelClient given.
	BackchannelBlockPrivate bool
	// BackchannelWorkers bounds concurrent logout-token deliveries (0 = 4).
	BackchannelWorkers int
	// BackchannelRetries is how many times a delivery that failed on the
	// network or with a 5xx is retried (0 = 2, negative = never).
	BackchannelRetries int
	// BackchannelRetryWait is the pause before the first retry, growing
	// linearly after it (0 = 1 s).
	BackchannelRetryWait time.Duration
	// OnBackchannelLogout, when set, is called once per logout token
	// delivered (true) or given up on (false).
	OnBackchannelLogout func(ok bool)
	Logger              *slog.Logger
}

// FailureCounter counts failed attempts per key and says how long a key is
// blocked (throttle.Counter satisfies it).
type FailureCounter interface {
	Blocked(keys ...string) time.Duration
	Fail(keys ...string)
}

// UserSource looks users up for the userinfo endpoint and ID-token claims.
type UserSource interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Provider is the composed authorization server.
type Provider struct {
	cfg      Config
	fcfg     *fosite.Config
	f        *fosite.Fosite
	store    *fositeStore
	strategy *compose.CommonStrategy
	users    UserSource
	log      *slog.Logger
	alg      string
	public   crypto.PublicKey
	// backchannel delivers logout tokens.
	backchannel *backchannel
}

// New composes fosite explicitly (never ComposeAllEnabled, which would turn
// on the implicit and password grants): authorization code (RFC 6749 §4.1)
// with PKCE (RFC 7636, S256 only, required for public clients and clients
// flagged RequirePKCE), refresh tokens with rotation, scope narrowing and a
// family lifetime (RFC 6749 §6, refreshHandler), client credentials (RFC 6749 §4.4),
// OpenID Connect code flow and refresh, revocation (RFC 7009),
// introspection (RFC 7662) and PAR (RFC 9126).
func New(cfg Config, db Backend, users UserSource) (*Provider, error) {
	if cfg.Issuer == "" || len(cfg.HMACKey) < 32 || cfg.SigningKey == nil || cfg.Hasher == nil {
		return nil, errors.New("oauth: issuer, hmac key (≥ 32 bytes), signing key and hasher are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	alg := "RS256"
	switch cfg.SigningKey.(type) {
	case *rsa.PrivateKey:
	case *ecdsa.PrivateKey:
		alg = "ES256"
	default:
		return nil, fmt.Errorf("oauth: unsupported signing key %T", cfg.SigningKey)
	}
	hasher := &secretHasher{h: cfg.Hasher}
	fc := &fosite.Config{
		AccessTokenLifespan:             cfg.AccessTokenLifespan,
		RefreshTokenLifespan:            cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:           cfg.AuthorizeCodeLifespan,
		IDTokenLifespan:                 cfg.IDTokenLifespan,
		IDTokenIssuer:                   cfg.Issuer,
		AccessTokenIssuer:               cfg.Issuer,
		TokenURL:                        cfg.Issuer + "/oauth/token",
		GlobalSecret:                    cfg.HMACKey,
		ScopeStrategy:                   fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:        fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCEForPublicClients:     true,
		EnablePKCEPlainChallengeMethod:  false,
		ClientSecretsHasher:             hasher,
		SendDebugMessagesToClients:      false,
		PushedAuthorizeRequestURIPrefix: "urn:ietf:params:oauth:request_uri:",
		PushedAuthorizeContextLifespan:  time.Minute,
		// No minimum length for nonce (OpenID Connect Core sets none):
		// fosite's openid handlers read this directly and 0 would mean
		// their default of 8, so -1 turns their check off. The
		// authorization endpoint's state check ignores it (it never goes
		// below 1), so ParseAuthorize and PAR waive that one
		// (allowAnyState); checkStateNonce bounds the maximums.
		MinParameterEntropy:  -1,
		RefreshTokenScopes:   []string{"offline_access", "offline"},
		FormPostHTMLTemplate: formPostTemplate(cfg.Issuer),
	}
	store := &fositeStore{db: db, hasher: hasher, now: cfg.Now, tokens: newTokenCache(cfg.TokenCacheTTL, tokenCacheMax, cfg.Now)}
	key := cfg.SigningKey
	keyGetter := func(context.Context) (interface{}, error) { return key, nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(fc),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, fc),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	store.codeSignature = strategy.AuthorizeCodeSignature
	f := compose.Compose(fc, store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		refreshFactory(cfg.RefreshFamilyLifetime, cfg.Now, cfg.TokenRights),
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.PushedAuthorizeHandlerFactory,
	).(*fosite.Fosite) // compose.Compose returns fosite.NewOAuth2Provider's *Fosite
	// One rule for client authentication at every endpoint (clientauth.go).
	fc.ClientAuthenticationStrategy = clientAuthStrategy(f)
	return &Provider{
		cfg: cfg, fcfg: fc, f: f, store: store, strategy: strategy, users: users, log: cfg.Logger,
		alg: alg, public: cfg.SigningKey.Public(), backchannel: newBackchannel(cfg),
	}, nil
}

// Issuer returns the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }
