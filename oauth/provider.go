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
	"crypto/cipher"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"

	"github.com/latchkey/latchkey/dpop"
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
	// SigningKey signs ID tokens (and JWT access tokens) until a rotation
	// replaces it; its public half is published in the JWKS. With
	// SigningKeys set it is only the first key of the ring, stored when
	// storage holds none (keyring.go).
	SigningKey   crypto.Signer
	SigningKeyID string
	// SigningKeys, when set, stores the signing key ring, sealed with
	// SigningKeySealer (required with it), so keys can rotate
	// (RotateSigningKey); nil = SigningKey alone, never rotated.
	SigningKeys      SigningKeyStore
	SigningKeySealer cipher.AEAD
	// JWTAccessTokens makes every client's access tokens RFC 9068 JWTs
	// (jwtaccess.go); otherwise only clients registered for them get JWTs.
	JWTAccessTokens bool
	// JWKSClient fetches clients' jwks_uri for private_key_jwt (RFC 7523);
	// nil = a client with a 5 s timeout that refuses private addresses
	// when BackchannelBlockPrivate is set.
	JWKSClient *http.Client
	// ClientSecretSealer seals the secrets of client_secret_jwt clients
	// (the server must know them to check HS256 assertions); nil =
	// client_secret_jwt cannot be registered.
	ClientSecretSealer cipher.AEAD
	// MaxAssertionLifetime bounds how far in the future a client
	// assertion's exp may lie (RFC 7523 §3 item 4); 0 = 5 minutes.
	MaxAssertionLifetime time.Duration
	// Hasher digests client secrets (HMAC-SHA256 under the pepper).
	Hasher *secret.Hasher
	// Scopes lists the scopes advertised in discovery.
	Scopes []string
	// Resources are the resource indicators (RFC 8707 §2) tokens may be
	// requested for, besides Latchkey's own API (OwnResource, always
	// allowed): absolute URIs without fragments, compared exactly. A
	// token's granted audience is the resources it was requested for.
	Resources []string
	// ResourceDocumentation is the resource_documentation of the own
	// API's protected resource metadata (RFC 9728 §2); "" =
	// ServiceDocumentation.
	ResourceDocumentation string
	// RegistrationEndpoint advertises POST /oauth/register in discovery
	// (RFC 8414 §2 registration_endpoint): set when dynamic client
	// registration is on (Registrar).
	RegistrationEndpoint bool
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
	// ExchangeKey, when set, resolves an API key presented as the
	// subject_token of a token exchange (RFC 8693, subject_token_type
	// TokenTypeAPIKey) into what it may hand on now: its scopes as
	// granted, its effective scopes (the key's scopes within its owner's
	// rights), its expiry. It returns an error wrapping ErrInvalidToken
	// when key is not a usable API key of this deployment (malformed,
	// unknown, revoked, expired, its owner suspended or gone); other
	// errors mean it could not be checked. nil = API keys cannot be
	// exchanged at the token endpoint.
	ExchangeKey func(ctx context.Context, key string) (Subject, error)
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
	// ClientAuthFailures, when set, is the guessing throttle of client
	// authentication at the token, revocation, PAR and device
	// authorization endpoints: each invalid_client counts against the
	// caller's IP, and a blocked IP gets 429 (clientthrottle.go).
	ClientAuthFailures FailureCounter
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
	// (authorization_code, refresh_token, client_credentials, or
	// device_code for GrantTypeDeviceCode), "token_exchange" for the
	// token-exchange grant (RFC 8693) or "api_key_exchange" for
	// MintKeyToken (POST /tokens/generate).
	OnTokenIssued func(grant string)
	// DeviceCodeLifespan is how long a device authorization request (RFC
	// 8628 §3.2 expires_in) waits for the person; 0 = 10 minutes.
	DeviceCodeLifespan time.Duration
	// DevicePollInterval is the least time between the device's token
	// requests (RFC 8628 §3.2 interval), in whole seconds; 0 = 5 s.
	DevicePollInterval time.Duration
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
	// DPoP configures sender-constrained tokens (RFC 9449, dpop.go).
	DPoP   DPoPConfig
	Logger *slog.Logger
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
	// ring holds the signing keys (keyring.go).
	ring *keyRing
	// backchannel delivers logout tokens.
	backchannel *backchannel
	// dpop checks DPoP proofs (dpop.go).
	dpop *dpop.Checker
}

// New composes fosite explicitly (never ComposeAllEnabled, which would turn
// on the implicit and password grants): authorization code (RFC 6749 §4.1)
// with PKCE (RFC 7636, S256 only, required for public clients and clients
// flagged RequirePKCE), refresh tokens with rotation, scope narrowing and a
// family lifetime (RFC 6749 §6, refreshHandler), client credentials (RFC 6749 §4.4),
// OpenID Connect code flow and refresh, revocation (RFC 7009),
// introspection (RFC 7662), PAR (RFC 9126), the device authorization
// grant (RFC 8628, deviceGrantHandler — fosite has none) and token
// exchange (RFC 8693, exchange.go).
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
	alg, err := algOf(cfg.SigningKey)
	if err != nil {
		return nil, err
	}
	if cfg.SigningKeyID == "" {
		if cfg.SigningKeyID, err = kidOf(cfg.SigningKey.Public()); err != nil {
			return nil, err
		}
	}
	if cfg.SigningKeys != nil && cfg.SigningKeySealer == nil {
		return nil, errors.New("oauth: stored signing keys need a sealer")
	}
	if cfg.MaxAssertionLifetime <= 0 {
		cfg.MaxAssertionLifetime = 5 * time.Minute
	}
	ring := &keyRing{
		store: cfg.SigningKeys, sealer: cfg.SigningKeySealer, now: cfg.Now,
		publishFor: max(cfg.IDTokenLifespan, cfg.AccessTokenLifespan),
		seed:       ringKey{kid: cfg.SigningKeyID, alg: alg, priv: cfg.SigningKey},
	}
	if !slices.Contains(cfg.Resources, cfg.Issuer) {
		cfg.Resources = append([]string{cfg.Issuer}, cfg.Resources...)
	}
	hasher := &secretHasher{h: cfg.Hasher}
	p := &Provider{}
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
		AudienceMatchingStrategy:        func(h, n []string) error { return p.audienceStrategy(h, n) },
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
	checker := newDPoPChecker(cfg, db)
	signer := &ringSigner{ring: ring}
	strategy := &compose.CommonStrategy{
		CoreStrategy: &jwtAccessStrategy{
			CoreStrategy: compose.NewOAuth2HMACStrategy(fc), ring: ring, issuer: cfg.Issuer,
			global: cfg.JWTAccessTokens, now: cfg.Now, extra: jwtOrgClaims,
		},
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: signer, Config: fc},
		Signer:                     signer,
	}
	store.codeSignature = strategy.AuthorizeCodeSignature
	fc.JWKSFetcherStrategy = &jwksFetcher{client: cfg.JWKSClient, now: cfg.Now, cache: map[string]jwksEntry{}}
	if cfg.JWKSClient == nil {
		fc.JWKSFetcherStrategy.(*jwksFetcher).client = newJWKSClient(cfg.BackchannelBlockPrivate)
	}
	// Client assertions may name the token endpoint or the issuer as
	// their audience (RFC 7523 §3 item 3; OpenID Connect Core §9).
	wrapped := &fositeConfig{Config: fc, tokenURLs: []string{fc.TokenURL, cfg.Issuer}}
	exchange := &exchangeHandler{}
	f := compose.Compose(fc, store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		refreshFactory(cfg.RefreshFamilyLifetime, cfg.Now, cfg.TokenRights),
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		// After every grant handler has loaded its session, before PKCE
		// consumes the code's challenge: a refused proof leaves the code
		// and the refresh token usable (dpop.go).
		dpopFactory(checker),
		compose.OAuth2PKCEFactory,
		compose.PushedAuthorizeHandlerFactory,
		exchangeFactory(exchange),
	).(*fosite.Fosite) // compose.Compose returns fosite.NewOAuth2Provider's *Fosite
	device := &deviceGrantHandler{}
	fc.TokenEndpointHandlers.Append(device)
	// Last, as Append de-duplicates by type: see skipUnrelated.
	for i, h := range fc.TokenEndpointHandlers {
		fc.TokenEndpointHandlers[i] = skipUnrelated{h}
	}
	// The handlers keep fc; only the client authentication reads token URLs.
	f.Config = wrapped
	*p = Provider{
		cfg: cfg, fcfg: fc, f: f, store: store, strategy: strategy, users: users, log: cfg.Logger,
		ring: ring, backchannel: newBackchannel(cfg), dpop: checker,
	}
	device.p = p
	exchange.p = p
	// One rule for client authentication at every endpoint (clientauth.go).
	fc.ClientAuthenticationStrategy = clientAuthStrategy(p)
	return p, nil
}

// fositeConfig is fosite's configuration with more than one token URL:
// fosite checks a client assertion's aud against GetTokenURLs.
type fositeConfig struct {
	*fosite.Config
	tokenURLs []string
}

// GetTokenURLs implements fosite.TokenURLProvider.
func (c *fositeConfig) GetTokenURLs(context.Context) []string { return c.tokenURLs }

// Issuer returns the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// LoadSigningKeys reads the signing key ring from storage, storing the
// configured key first when storage holds none. server.Build calls it at
// start-up so a ring that cannot be unsealed stops the server.
func (p *Provider) LoadSigningKeys(ctx context.Context) error { return p.ring.load(ctx) }

// RotateSigningKey makes a new key of alg (AlgRS256 or AlgES256) the
// signing key and returns its kid; the previous keys keep verifying, and
// stay in the JWKS, until every token they signed has expired
// (keyring.go).
func (p *Provider) RotateSigningKey(ctx context.Context, alg string) (string, error) {
	return p.ring.rotate(ctx, alg)
}

// SigningKeyInfo describes one key of the ring for operators.
type SigningKeyInfo struct {
	KID       string     `json:"kid"`
	Alg       string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
	// Signing is true for the key that signs now.
	Signing bool `json:"signing"`
	// PublishedUntil is when a retired key leaves the JWKS.
	PublishedUntil *time.Time `json:"published_until,omitempty"`
}

// SigningKeys lists the published keys of the ring, newest first.
func (p *Provider) SigningKeys(ctx context.Context) []SigningKeyInfo {
	var out []SigningKeyInfo
	for _, k := range p.ring.verifying(ctx) {
		info := SigningKeyInfo{KID: k.kid, Alg: k.alg, CreatedAt: k.created, RetiredAt: k.retired, Signing: k.retired == nil}
		if k.retired != nil {
			until := k.retired.Add(p.ring.publishFor)
			info.PublishedUntil = &until
		}
		out = append(out, info)
	}
	if len(out) > 0 {
		// Only the newest unretired key signs.
		for i := 1; i < len(out); i++ {
			out[i].Signing = false
		}
	}
	return out
}

// KeyRing is the signing key ring as a cache the invalidation bus keeps
// coherent: a rotation at any instance reaches this one at once.
func (p *Provider) KeyRing() storage.Subscriber { return p.ring }
