package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/api"
	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/twofactor"
)

// Subscriber is an in-process cache a Bus keeps coherent with the other
// instances (*storage.DB's read caches, keys.Service's verification cache).
type Subscriber = storage.Subscriber

// Bus delivers the cache invalidations published by every instance sharing
// the database (the PostgreSQL listener). Until it connects, its
// subscribers bypass their caches.
type Bus = storage.Bus

// OpenStorage opens the configured database: the caller (cmd/latchkey, or a
// test) names the concrete driver. It returns the invalidation bus to run
// beside it, or nil when the driver has none (SQLite).
type OpenStorage func(cfg *config.Config, log *slog.Logger) (*storage.DB, Bus, error)

// Infra is what the caller of Build chooses: the storage driver and the
// logger.
type Infra struct {
	// Open opens the database (required).
	Open OpenStorage
	// Logger receives every log line (required; see NewLogger).
	Logger *slog.Logger
	// OnListening, when set, is called by Run once the listener is bound.
	OnListening func(addr net.Addr)
}

// App is Latchkey wired from its configuration: storage (migrated when
// storage.auto_migrate is set), secrets, the OAuth provider, the API-key
// service, rate limits, metrics and the HTTP handler.
type App struct {
	cfg      *config.Config
	secrets  *config.Secrets
	db       *storage.DB
	provider *oauth.Provider
	keys     *keys.Service
	// orgs answers organization operations and the rights of credentials.
	orgs *orgs.Service
	// twoFactor holds TOTP authenticators, recovery codes and passkeys.
	twoFactor *twofactor.Service
	passkeys  *twofactor.Passkeys
	log       *slog.Logger
	// limiter holds the API and token-endpoint rate limits; redis is its
	// client when redis.url is set.
	limiter ratelimit.Limiter
	redis   *redis.Client
	// migrated lists the migrations Build applied; schemaVersion is the
	// database's version after that.
	migrated      []storage.Migration
	schemaVersion int
	// metrics and the registry /metrics serves; nil when metrics are off.
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	// bus is the cache-invalidation listener (nil on SQLite); Run runs it.
	// Until it connects, the caches it feeds are bypassed.
	bus         Bus
	handler     http.Handler
	onListening func(net.Addr)
	// api is the JSON API handler (newHandler).
	api *api.Handler
	// self is the account self-service; Close waits for its mails.
	self *accounts.SelfService
	// registrar serves dynamic client registration; nil when it is off.
	registrar *oauth.Registrar
}

// Build opens storage through infra.Open (migrating it when
// storage.auto_migrate is set), loads or generates secrets, composes the
// OAuth provider and the key service, and builds the HTTP handler. Close
// the App when done.
func Build(ctx context.Context, cfg *config.Config, infra Infra) (*App, error) {
	log := infra.Logger
	sec, err := cfg.EnsureSecrets()
	if err != nil {
		return nil, err
	}
	if sec.DataDirWasMode != 0 {
		log.Warn("data_dir was open to other users; tightened to 0700", "data_dir", cfg.DataDir, "was", sec.DataDirWasMode.String())
	}
	reg, m, err := newMetrics(cfg)
	if err != nil {
		return nil, err
	}
	lim, rdb, err := newLimiter(cfg, log)
	if err != nil {
		return nil, err
	}
	if m != nil {
		lim = ratelimit.Observed(lim, func(error) { m.RateLimitBackendError() })
	}
	// Users and clients are cached for storage.cache_ttl; on PostgreSQL,
	// writes from every instance invalidate at once through the bus.
	db, bus, err := infra.Open(cfg, log)
	if err != nil {
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil, err
	}
	fail := func(err error) (*App, error) {
		_ = db.Close()
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil, err
	}
	migrated, schemaVersion, err := prepareSchema(ctx, db, cfg.Storage.AutoMigrate, log)
	if err != nil {
		return fail(err)
	}
	hasher, err := secret.NewHasher(sec.PepperVersion, map[int][]byte{sec.PepperVersion: sec.Pepper})
	if err != nil {
		return fail(err)
	}
	tf, err := newTwoFactor(cfg, sec, hasher, db)
	if err != nil {
		return fail(err)
	}
	passkeys, err := twofactor.NewPasskeys(cfg.Server.Issuer, db, db.GetUser, nil)
	if errors.Is(err, twofactor.ErrNoRelyingParty) {
		passkeys = nil // Run says so when serving
	} else if err != nil {
		return fail(err)
	}
	// Signing keys are stored sealed under a key derived from the HMAC
	// secret, as recoverable API keys and TOTP secrets are under theirs.
	keySealer, err := secret.DeriveAEAD(sec.HMACKey, "latchkey signing keys v1")
	if err != nil {
		return fail(err)
	}
	// client_secret_jwt secrets, which the server must know, likewise.
	clientSealer, err := secret.DeriveAEAD(sec.HMACKey, "latchkey client_secret_jwt secrets v1")
	if err != nil {
		return fail(err)
	}
	// The provider introspects API keys through the key service, and the
	// key service revokes exchanged tokens through the provider.
	var ks *keys.Service
	// Organization rights (memberships, grants, suspension) of keys and
	// tokens at each request.
	orgSvc := newOrgService(cfg, hasher, db, log)
	// a is set below; the API handler it builds resolves the API keys
	// presented to the token-exchange grant (RFC 8693), as it does the
	// keys of /tokens/generate.
	var a *App
	p, err := oauth.New(oauth.Config{
		Issuer:                cfg.Server.Issuer,
		ServiceDocumentation:  cfg.Server.Issuer + "/docs/api",
		AccessTokenLifespan:   cfg.OAuth.AccessTokenLifespan.Duration(),
		RefreshTokenLifespan:  cfg.OAuth.RefreshTokenLifespan.Duration(),
		AuthorizeCodeLifespan: cfg.OAuth.AuthorizeCodeLifespan.Duration(),
		IDTokenLifespan:       cfg.OAuth.IDTokenLifespan.Duration(),
		RefreshFamilyLifetime: cfg.OAuth.RefreshFamilyLifetime.Duration(),
		DeviceCodeLifespan:    cfg.OAuth.DeviceCodeLifespan.Duration(),
		DevicePollInterval:    cfg.OAuth.DevicePollInterval.Duration(),
		HMACKey:               sec.HMACKey,
		SigningKey:            sec.SigningKey,
		SigningKeyID:          sec.SigningKeyID,
		SigningKeys:           db,
		SigningKeySealer:      keySealer,
		JWTAccessTokens:       cfg.OAuth.JWTAccessTokens,
		DPoP: oauth.DPoPConfig{RequireNonce: cfg.OAuth.DPoP.RequireNonce,
			NoncePeriod: cfg.OAuth.DPoP.NoncePeriod.Duration(), MaxAge: cfg.OAuth.DPoP.ProofMaxAge.Duration()},
		ClientSecretSealer:    clientSealer,
		Hasher:                hasher,
		Scopes:                scopeNames(cfg),
		Resources:             resourceURIs(cfg),
		ResourceDocumentation: cfg.OAuth.ResourceDocumentation,
		RegistrationEndpoint:  cfg.OAuth.Registration.Mode != config.RegistrationOff,
		MaxBodyBytes:          cfg.Server.MaxBodyBytes,
		IntrospectKey:         func(ctx context.Context, t string) (map[string]any, bool) { return ks.Introspect(ctx, t) },
		KeyState:              func(ctx context.Context, id string) (oauth.KeyState, error) { return keyState(ctx, ks, id) },
		ExchangeKey: func(ctx context.Context, key string) (oauth.Subject, error) {
			return a.api.ExchangeKeySubject(ctx, key, clientip.FromContext(ctx))
		},
		TokenRights: func(ctx context.Context, o oauth.TokenOwner) (*oauth.Rights, error) {
			return tokenRights(ctx, ks, orgSvc, o)
		},
		LimitClient:         tokenLimit(cfg, lim, log, m.RateLimited),
		OnTokenIssued:       m.TokenIssued,
		OnBackchannelLogout: m.BackchannelLogout,
		// An app owner picks the back-channel URI: refuse our own network
		// unless the operator allows it (or runs on localhost).
		BackchannelBlockPrivate: !cfg.BackchannelAllowsPrivate(),
		Logger:                  log,
		// Failed introspections (bad client credentials, unknown tokens)
		// per client IP, token_per_minute like the API's credential throttle.
		IntrospectFailures: newGuessingThrottle(cfg, rdb, m, log, "introspect:", cfg.RateLimits.TokenPerMinute),
		// Failed client authentications at token, revocation, PAR and
		// device authorization, per client IP: the same allowance.
		ClientAuthFailures: newGuessingThrottle(cfg, rdb, m, log, "client-auth:", cfg.RateLimits.TokenPerMinute),
		// Active access tokens are cached like keys (storage.cache_ttl),
		// invalidated by the OnChange and bus subscriptions below.
		TokenCacheTTL: cfg.ResolvedCacheTTL(),
	}, db, db)
	if err != nil {
		return fail(err)
	}
	if err := p.LoadSigningKeys(ctx); err != nil {
		return fail(err)
	}
	registrar, err := newRegistrar(cfg, p, db, lim, log, m.RateLimited)
	if err != nil {
		return fail(err)
	}
	ks, err = newKeyService(cfg, sec, hasher, db, p, m.KeyVerified, orgSvc.KeyRights)
	if err != nil {
		return fail(err)
	}
	// Keys revoked by a storage-level cascade (an OAuth grant or client
	// ended) leave this process's verification cache at once.
	db.OnChange(ks.Invalidate)
	// Organization rights (memberships, grants, suspension) follow every
	// change the same way.
	db.OnChange(orgSvc.Invalidate)
	// A rotation made by this process reaches its key ring at once; one
	// made elsewhere through the bus, or within the ring's reload period.
	db.OnChange(p.KeyRing().Invalidate)
	// Access tokens deleted or deactivated (revocation, a grant's family
	// revoked, a client or person removed) leave the token cache the same way.
	db.OnChange(p.Invalidate)
	if bus != nil {
		// The caches are bypassed from here until the listener connects.
		bus.Subscribe(db)
		bus.Subscribe(ks)
		bus.Subscribe(p)
		bus.Subscribe(orgSvc)
		bus.Subscribe(p.KeyRing())
		// invalidation_listener_up follows the listener.
		m.InvalidationListening(false)
		bus.Subscribe(listenerGauge{m})
	}
	a = &App{cfg: cfg, secrets: sec, db: db, provider: p, keys: ks, orgs: orgSvc, twoFactor: tf, passkeys: passkeys, log: log, limiter: lim, redis: rdb, bus: bus,
		migrated: migrated, schemaVersion: schemaVersion, metrics: m, registry: reg, onListening: infra.OnListening, registrar: registrar}
	if err := a.watchMetrics(); err != nil {
		return fail(err)
	}
	if a.handler, err = a.newHandler(); err != nil {
		return fail(err)
	}
	return a, nil
}

// Handler returns the HTTP handler serving every endpoint.
func (a *App) Handler() http.Handler { return a.handler }

// Orgs returns the organization service (the CLI's operator commands).
func (a *App) Orgs() *orgs.Service { return a.orgs }

// DB returns the store the App was built on.
func (a *App) DB() *storage.DB { return a.db }

// Migrated lists the migrations Build applied (storage.auto_migrate).
func (a *App) Migrated() []storage.Migration { return a.migrated }

// SchemaVersion is the database's schema version after Build.
func (a *App) SchemaVersion() int { return a.schemaVersion }

// CreateClient registers an OAuth client as spec describes (the checks of
// dynamic registration apply) and returns it with its secret ("" for a
// public client).
func (a *App) CreateClient(ctx context.Context, spec oauth.ClientSpec) (*storage.Client, string, error) {
	rec, plain, err := a.provider.NewClientRecord(spec)
	if err != nil {
		return nil, "", err
	}
	if err := a.db.CreateClient(ctx, rec); err != nil {
		return nil, "", err
	}
	return rec, plain, nil
}

// RotateSigningKey makes a new key of alg (oauth.AlgRS256 or
// oauth.AlgES256) sign ID tokens and JWT access tokens from now on, and
// returns its kid; `latchkey keys rotate` calls it. The previous keys stay
// published until every token they signed has expired.
func (a *App) RotateSigningKey(ctx context.Context, alg string) (string, error) {
	return a.provider.RotateSigningKey(ctx, alg)
}

// SigningKeys lists the published signing keys, newest first.
func (a *App) SigningKeys(ctx context.Context) []oauth.SigningKeyInfo {
	return a.provider.SigningKeys(ctx)
}

// ErrPublicClient is returned for a secret operation on a public client,
// which has no secret.
var ErrPublicClient = errors.New("server: a public client has no secret")

// RotateClientSecret gives the client id a new secret and returns it (shown
// only here). The current secret keeps working for grace (0: it stops at
// once), as on the /apps page: previousUntil is when it stops, nil without
// grace (storage.Client.RotateSecret). storage.ErrNotFound for an unknown
// id, ErrPublicClient for a public client.
func (a *App) RotateClientSecret(ctx context.Context, id string, grace time.Duration) (plain string, previousUntil *time.Time, err error) {
	if plain, err = oauth.NewClientSecret(); err != nil {
		return "", nil, err
	}
	digest, version := a.provider.HashSecret(plain)
	now := time.Now()
	err = a.db.UpdateClient(ctx, id, func(c *storage.Client) error {
		if c.Public {
			return fmt.Errorf("client %q: %w", id, ErrPublicClient)
		}
		c.RotateSecret(digest, version, now, grace)
		previousUntil = c.PreviousSecretExpiresAt
		if c.TokenEndpointAuthMethod == oauth.AuthMethodSecretJWT {
			// client_secret_jwt assertions are checked with the new secret only.
			sealed, err := a.provider.SealClientSecret(c.ID, plain)
			if err != nil {
				return err
			}
			c.SecretSealed = sealed
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return plain, previousUntil, nil
}

// Close flushes batched key usage, sends the queued back-channel logout
// tokens and closes Redis and the database.
func (a *App) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.waitMail(ctx)
	if err := a.keys.Close(ctx); err != nil {
		a.log.Warn("flush key usage", "error", err)
	}
	// Queued back-channel logout tokens still go out, within what is left.
	if err := a.provider.Close(ctx); err != nil {
		a.log.Warn("back-channel logout deliveries", "error", err)
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	_ = a.db.Close()
}

// keyState reports the API key keyID as it is now, for the tokens
// exchanged from it (oauth.Config.KeyState): through the key service's
// verification cache, so a revocation, rotation or PATCH reaches the
// tokens as fast as the key.
func keyState(ctx context.Context, ks *keys.Service, keyID string) (oauth.KeyState, error) {
	k, err := ks.Current(ctx, keyID)
	switch {
	case errors.Is(err, keys.ErrRevoked), errors.Is(err, keys.ErrExpired), errors.Is(err, keys.ErrNotFound):
		return oauth.KeyState{}, fmt.Errorf("%w: %w", oauth.ErrInvalidToken, err)
	case err != nil:
		return oauth.KeyState{}, err
	}
	st := oauth.KeyState{Scopes: k.Scopes}
	if k.ExpiresAt != nil {
		st.ExpiresAt = *k.ExpiresAt
	}
	return st, nil
}

// tokenRights answers what the person or API key behind an access or
// refresh token reaches now (oauth.Config.TokenRights): a key's token has
// the key's rights (orgs.Service.KeyRights), a person's token the person's
// in the organization chosen at consent, or their personal account
// (orgs.Service.PersonRights). Refusals — suspended, no longer a member,
// the organization or key gone — make the token invalid.
func tokenRights(ctx context.Context, ks *keys.Service, o *orgs.Service, t oauth.TokenOwner) (*oauth.Rights, error) {
	var r *orgs.Rights
	var err error
	if t.KeyID != "" {
		var k *storage.APIKey
		if k, err = ks.Current(ctx, t.KeyID); err == nil {
			r, err = o.KeyRights(ctx, k)
		}
	} else {
		r, err = o.PersonRights(ctx, t.UserID, t.OrgID, t.Scopes)
	}
	switch {
	case errors.Is(err, orgs.ErrSuspended), errors.Is(err, orgs.ErrNotMember), errors.Is(err, orgs.ErrNotFound),
		errors.Is(err, keys.ErrRevoked), errors.Is(err, keys.ErrExpired), errors.Is(err, keys.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", oauth.ErrInvalidToken, err)
	case err != nil:
		return nil, err
	}
	out := &oauth.Rights{Scopes: r.Scopes, Claims: r.IntrospectionClaims()}
	if r.Org != nil {
		out.Org = &oauth.OrgClaim{ID: r.Org.ID, Name: r.Org.Name, Role: string(r.Org.Role)}
	}
	return out, nil
}

// prepareSchema applies pending migrations when migrate (storage.auto_migrate)
// is set, logs what it applied, and returns that and the database's schema
// version. Without migrate it only warns about pending migrations.
func prepareSchema(ctx context.Context, db *storage.DB, migrate bool, log *slog.Logger) ([]storage.Migration, int, error) {
	var applied []storage.Migration
	if migrate {
		var err error
		if applied, err = db.ApplyMigrations(ctx); err != nil {
			return nil, 0, err
		}
	}
	status, err := db.MigrationStatus(ctx)
	if err != nil {
		return nil, 0, err
	}
	version := storage.CurrentVersion(status)
	var names, pending []string
	for _, m := range applied {
		names = append(names, m.String())
	}
	for _, m := range status {
		if !m.Applied() {
			pending = append(pending, m.String())
		}
	}
	if len(applied) > 0 {
		log.Info("database migrated", "applied", names, "version", version)
	}
	if len(pending) > 0 {
		log.Warn("database migrations pending; run `latchkey migrate`", "pending", pending, "version", version)
	}
	return applied, version, nil
}

// newOrgService wires the organization service: rights are cached as long
// as key verifications are, and plans name the configured tiers.
func newOrgService(cfg *config.Config, hasher *secret.Hasher, db *storage.DB, log *slog.Logger) *orgs.Service {
	var tiers []string
	for _, t := range cfg.RateLimits.Tiers {
		tiers = append(tiers, t.Name)
	}
	return orgs.New(orgs.Config{Hasher: hasher, CacheTTL: cfg.ResolvedCacheTTL(), Tiers: tiers, Logger: log}, db)
}

// newKeyService wires the API-key service: fine-grained scopes are the
// registered scopes named resource:action; recoverable keys are sealed with
// an AES-256-GCM key derived (HKDF-SHA256) from the HMAC secret.
func newKeyService(cfg *config.Config, sec *config.Secrets, hasher *secret.Hasher, db *storage.DB, p *oauth.Provider, onVerify func(string),
	rights func(context.Context, *storage.APIKey) (*orgs.Rights, error)) (*keys.Service, error) {
	var scopes, tiers []string
	for _, s := range cfg.OAuth.Scopes {
		if strings.Contains(s.Name, ":") {
			scopes = append(scopes, s.Name)
		}
	}
	for _, t := range cfg.RateLimits.Tiers {
		tiers = append(tiers, t.Name)
	}
	kc := keys.Config{
		Format: keys.NewFormat(cfg.Keys.Prefix), Hasher: hasher, Scopes: scopes,
		Tiers: tiers, DefaultTier: cfg.RateLimits.DefaultTier, RevokeTokens: p.RevokeKeyTokens,
		OnVerify: onVerify, Rights: rights,
		CacheTTL: cfg.ResolvedCacheTTL(),
	}
	if cfg.Keys.Recoverable {
		var err error
		if kc.Sealer, err = secret.DeriveAEAD(sec.HMACKey, "latchkey recoverable api keys v1"); err != nil {
			return nil, err
		}
	}
	return keys.New(kc, db), nil
}

// scopeNames lists the registered scopes in config order.
func scopeNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.OAuth.Scopes))
	for _, s := range cfg.OAuth.Scopes {
		names = append(names, s.Name)
	}
	return names
}

// newTwoFactor wires two-factor sign-in: TOTP secrets sealed with
// AES-256-GCM under a key derived (HKDF-SHA256) from the HMAC secret, as
// recoverable API keys are under their own label; recovery codes digested
// under the pepper; the issuer's host names the service in authenticator
// apps.
func newTwoFactor(cfg *config.Config, sec *config.Secrets, hasher *secret.Hasher, db *storage.DB) (*twofactor.Service, error) {
	sealer, err := secret.DeriveAEAD(sec.HMACKey, twofactor.SealLabel)
	if err != nil {
		return nil, err
	}
	issuer := cfg.Server.Issuer
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		issuer = u.Host
	}
	return twofactor.New(twofactor.Config{Issuer: "Latchkey (" + issuer + ")", Sealer: sealer, Hasher: hasher}, db)
}
