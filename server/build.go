// Command latchkey is the Latchkey server and its operator CLI:
//
//	latchkey serve
//	latchkey migrate
//	latchkey user create --username U --password P [--email E] [--name N] [--admin]
//	latchkey client create --name N --redirect-uri URI [--redirect-uri URI …] [--public]
//	                       [--grant-types a,b] [--scopes a,b] [--auth-method M] [--tier T]
//	                       [--require-pkce=false] [--resource-server]
//
// Configuration comes from ./config.yaml (or $LATCHKEY_CONFIG) and
// LATCHKEY_* environment variables; see config.yaml.
package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/api"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/janitor"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/logging"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/sqlite"
	"github.com/latchkey/latchkey/throttle"
	"github.com/latchkey/latchkey/web"
)

const usage = `usage:
  latchkey serve
  latchkey migrate
  latchkey user create --username U --password P [--email E] [--name N] [--admin]
  latchkey client create --name N --redirect-uri URI [--redirect-uri URI ...] [--public]
                         [--grant-types a,b] [--scopes a,b] [--auth-method M] [--owner USER_ID] [--tier T]
                         [--require-pkce=false] [--resource-server]
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch strings.Join(args[:min(2, len(args))], " ") {
	case "user create":
		err = withApp(ctx, false, func(a *app) error { return userCreate(ctx, a, args[2:], stdout) })
	case "client create":
		err = withApp(ctx, false, func(a *app) error { return clientCreate(ctx, a, args[2:], stdout) })
	default:
		switch args[0] {
		case "serve":
			err = withApp(ctx, false, func(a *app) error { return serve(ctx, a) })
		case "migrate":
			err = withApp(ctx, true, func(a *app) error {
				for _, m := range a.migrated {
					fmt.Fprintln(stdout, "applied", m)
				}
				if len(a.migrated) == 0 {
					fmt.Fprintln(stdout, "no pending migrations")
				}
				fmt.Fprintln(stdout, "database is at version", a.schemaVersion)
				return nil
			})
		case "help", "-h", "--help":
			fmt.Fprint(stdout, usage)
			return 0
		default:
			fmt.Fprintf(stderr, "unknown command %q\n%s", strings.Join(args, " "), usage)
			return 2
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "latchkey:", err)
		if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// app is everything wired from configuration.
type app struct {
	cfg      *config.Config
	secrets  *config.Secrets
	db       *storage.DB
	provider *oauth.Provider
	keys     *keys.Service
	log      *slog.Logger
	// limiter holds the API and token-endpoint rate limits; redis is its
	// client when redis.url is set.
	limiter ratelimit.Limiter
	redis   *redis.Client
	// migrated lists the migrations newApp applied; schemaVersion is the
	// database's version after that.
	migrated      []storage.Migration
	schemaVersion int
	// metrics and the registry /metrics serves; nil when metrics are off.
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	// bus is the PostgreSQL cache-invalidation listener (nil on SQLite);
	// serve runs it. Until it connects, the caches it feeds are bypassed.
	bus *postgres.Listener
}

// withApp loads configuration and runs fn with the wired app. forceMigrate
// (used by `latchkey migrate`) migrates whatever storage.auto_migrate says.
func withApp(ctx context.Context, forceMigrate bool, fn func(*app) error) error {
	path := os.Getenv(config.EnvConfigPath)
	if path == "" {
		path = "config.yaml"
	}
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return err
	}
	if forceMigrate {
		cfg.Storage.AutoMigrate = true
	}
	a, err := newApp(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer a.close()
	return fn(a)
}

// newApp opens storage (migrating it when storage.auto_migrate is set), loads or generates secrets and
// composes the OAuth provider. The caller closes a.db.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	if cfg.OAuth.JWTAccessTokens {
		return nil, errors.New("oauth.jwt_access_tokens: RFC 9068 JWT access tokens are not available yet; set it to false")
	}
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
	var db *storage.DB
	var bus *postgres.Listener
	if cfg.IsPostgres() {
		db, err = postgres.Open(cfg.Storage.DSN, cfg.Storage.MaxOpenConns, storage.WithReadCache(cfg.ResolvedCacheTTL()))
		bus = postgres.NewListener(postgres.ListenerConfig{DSN: cfg.Storage.DSN, Logger: log})
	} else {
		db, err = sqlite.Open(cfg.ResolvedDSN(), cfg.Storage.MaxOpenConns, storage.WithReadCache(cfg.ResolvedCacheTTL()))
	}
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*app, error) {
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
	scopes := make([]string, 0, len(cfg.OAuth.Scopes))
	for _, s := range cfg.OAuth.Scopes {
		scopes = append(scopes, s.Name)
	}
	// The provider introspects API keys through the key service, and the
	// key service revokes exchanged tokens through the provider.
	var ks *keys.Service
	p, err := oauth.New(oauth.Config{
		Issuer:                cfg.Server.Issuer,
		AccessTokenLifespan:   cfg.OAuth.AccessTokenLifespan.Duration(),
		RefreshTokenLifespan:  cfg.OAuth.RefreshTokenLifespan.Duration(),
		AuthorizeCodeLifespan: cfg.OAuth.AuthorizeCodeLifespan.Duration(),
		IDTokenLifespan:       cfg.OAuth.IDTokenLifespan.Duration(),
		RefreshFamilyLifetime: cfg.OAuth.RefreshFamilyLifetime.Duration(),
		HMACKey:               sec.HMACKey,
		SigningKey:            sec.SigningKey,
		SigningKeyID:          sec.SigningKeyID,
		Hasher:                hasher,
		Scopes:                scopes,
		MaxBodyBytes:          cfg.Server.MaxBodyBytes,
		IntrospectKey:         func(ctx context.Context, t string) (map[string]any, bool) { return ks.Introspect(ctx, t) },
		KeyState:              func(ctx context.Context, id string) (oauth.KeyState, error) { return keyState(ctx, ks, id) },
		LimitClient:           tokenLimit(cfg, lim, log, m.RateLimited),
		OnTokenIssued:         m.TokenIssued,
		Logger:                log,
		// Failed introspections (bad client credentials, unknown tokens)
		// per client IP, token_per_minute like the API's credential throttle.
		IntrospectFailures: newGuessingThrottle(cfg, rdb, m, log, "introspect:", cfg.RateLimits.TokenPerMinute),
	}, db, db)
	if err != nil {
		return fail(err)
	}
	ks, err = newKeyService(cfg, sec, hasher, db, p, m.KeyVerified)
	if err != nil {
		return fail(err)
	}
	// Keys revoked by a storage-level cascade (an OAuth grant or client
	// ended) leave this process's verification cache at once.
	db.OnChange(ks.Invalidate)
	if bus != nil {
		// Both caches are bypassed from here until the listener connects.
		bus.Subscribe(db)
		bus.Subscribe(ks)
	}
	a := &app{cfg: cfg, secrets: sec, db: db, provider: p, keys: ks, log: log, limiter: lim, redis: rdb, bus: bus,
		migrated: migrated, schemaVersion: schemaVersion, metrics: m, registry: reg}
	if err := a.watchMetrics(); err != nil {
		return fail(err)
	}
	return a, nil
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

// runBus runs the cache-invalidation listener, if any, until the returned
// function is called.
func (a *app) runBus() (stop func()) {
	if a.bus == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.bus.Run(ctx) }()
	return func() { cancel(); <-done }
}

// newKeyService wires the API-key service: fine-grained scopes are the
// registered scopes named resource:action; recoverable keys are sealed with
// an AES-256-GCM key derived (HKDF-SHA256) from the HMAC secret.
func newKeyService(cfg *config.Config, sec *config.Secrets, hasher *secret.Hasher, db *storage.DB, p *oauth.Provider, onVerify func(string)) (*keys.Service, error) {
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
		OnVerify: onVerify,
		CacheTTL: cfg.ResolvedCacheTTL(),
	}
	if cfg.Keys.Recoverable {
		k, err := hkdf.Key(sha256.New, sec.HMACKey, nil, "latchkey recoverable api keys v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		if kc.Sealer, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return keys.New(kc, db), nil
}

// close flushes batched key usage and closes the database.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.keys.Close(ctx); err != nil {
		a.log.Warn("flush key usage", "error", err)
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	_ = a.db.Close()
}

// handler builds the HTTP handler serving every endpoint.
func (a *app) handler() (http.Handler, error) {
	failures := a.guessingThrottle("login:", a.cfg.RateLimits.LoginPerMinute)
	passwords := secret.NewPasswordGate(secret.DefaultPasswordChecks) // one gate for every argon2id run
	pages, err := web.New(web.Config{
		PasswordGate:     passwords,
		CookieHashKey:    a.secrets.CookieHashKey,
		CookieBlockKey:   a.secrets.CookieBlockKey,
		CSRFKey:          a.secrets.CSRFKey,
		Secure:           a.cfg.SecureCookies(),
		SessionLifetime:  a.cfg.Web.SessionAbsoluteLifetime.Duration(),
		ScopeDescription: a.cfg.ScopeDescription,
		Clients:          a.provider,
		Scopes:           scopeNames(a.cfg),
		LoginLimit:       a.cfg.RateLimits.LoginPerMinute,
		Failures:         failures,
		Keys:             a.keys,
		OnRateLimited:    a.metrics.RateLimited,
		Logger:           a.log,
	}, a.provider, a.db)
	if err != nil {
		return nil, err
	}
	limits := a.apiRateLimits()
	apiHandler := api.New(api.Config{
		Keys: a.keys, Tokens: a.provider, Users: a.db, SessionUser: pages.SessionUserID,
		SessionCookie: pages.SessionCookie(), MaxBodyBytes: a.cfg.Server.MaxBodyBytes,
		PasswordFailures: failures, RateLimits: limits, PasswordGate: passwords,
		CredentialFailures: a.guessingThrottle("credentials:", a.cfg.RateLimits.TokenPerMinute),
		OnRateLimited:      a.metrics.RateLimited,
		Logger:             a.log,
	})
	return server.New(a.observability(server.Deps{
		OAuth: a.provider, Pages: pages, API: apiHandler, SessionCookie: pages.SessionCookie(),
		DB: a.db, Logger: a.log, Secure: a.cfg.SecureCookies(), TrustedProxies: a.cfg.Server.TrustedProxies,
	})), nil
}

// scopeNames lists the registered scopes in config order.
func scopeNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.OAuth.Scopes))
	for _, s := range cfg.OAuth.Scopes {
		names = append(names, s.Name)
	}
	return names
}

// newLogger writes log.format lines at log.level and above to w. Lines
// logged with a request's context carry its request_id, and credentials
// are redacted (logging.Redactor) before anything is written.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(logging.NewRedactor(logging.NewRequestIDHandler(h), cfg.Keys.Prefix))
}

func serve(ctx context.Context, a *app) error {
	engine, err := a.handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Server.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopBus := a.runBus()
	defer stopBus()
	janitorDone := make(chan struct{})
	go func() { defer close(janitorDone); a.janitor().Run(ctx) }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("latchkey listening", "addr", ln.Addr().String(), "issuer", a.cfg.Server.Issuer,
		"storage", map[bool]string{true: "postgres", false: "sqlite"}[a.cfg.IsPostgres()], "schema_version", a.schemaVersion)
	fmt.Fprintf(os.Stderr, "\nLatchkey is serving at %s (listening on %s)\n"+
		"Create a user to sign in (in another terminal):\n"+
		"  %s user create --username alice --password 'choose-a-long-password'\n"+
		"then open %s/login\n\n", a.cfg.Server.Issuer, ln.Addr(), os.Args[0], a.cfg.Server.Issuer)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout.Duration())
	defer cancel()
	err = srv.Shutdown(sctx)
	<-janitorDone
	return err
}

// janitor purges expired codes, tokens, protocol sessions and old audit
// entries on the configured schedule.
func (a *app) janitor() *janitor.Janitor {
	return janitor.New(janitor.Config{
		Interval:       a.cfg.Janitor.Interval.Duration(),
		Batch:          a.cfg.Janitor.BatchSize,
		AuditRetention: a.cfg.Janitor.AuditRetention.Duration(),
		Logger:         a.log,
		OnPurged:       a.metrics.JanitorPurged,
	}, a.db)
}

// guessingThrottle counts failed password or credential checks per
// username and per client IP, limit per minute: in Redis when redis.url is
// set, so the limit holds across every instance (with a per-instance
// fallback while Redis is unreachable), else in this process.
func (a *app) guessingThrottle(name string, limit int) throttle.Counter {
	return newGuessingThrottle(a.cfg, a.redis, a.metrics, a.log, name, limit)
}

func newGuessingThrottle(cfg *config.Config, rdb *redis.Client, m *metrics.Metrics, log *slog.Logger, name string, limit int) throttle.Counter {
	if rdb == nil {
		return throttle.New(limit, time.Minute, time.Now)
	}
	var failures atomic.Int64
	return throttle.NewRedis(rdb, cfg.Redis.KeyPrefix+"fail:"+name, limit, time.Minute, func(err error) {
		m.RateLimitBackendError()
		if n := failures.Add(1); n == 1 || n%100 == 0 { // a down Redis must not flood the log
			log.Warn("guessing throttle: Redis unreachable; counting in this instance", "throttle", name, "failures", n, "error", err)
		}
	})
}
