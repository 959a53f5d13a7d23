// Command latchkey is the Latchkey server and its operator CLI:
//
//	latchkey serve
//	latchkey migrate
//	latchkey user create --username U --password P [--email E] [--name N] [--admin]
//	latchkey client create --name N --redirect-uri URI [--redirect-uri URI …] [--public]
//	                       [--grant-types a,b] [--scopes a,b] [--auth-method M] [--tier T]
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
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/api"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/keys"
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
				fmt.Fprintln(stdout, "database is up to date")
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
	lim, rdb, err := newLimiter(cfg, log)
	if err != nil {
		return nil, err
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
	if cfg.Storage.AutoMigrate {
		if err := db.Migrate(ctx); err != nil {
			return fail(err)
		}
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
		HMACKey:               sec.HMACKey,
		SigningKey:            sec.SigningKey,
		SigningKeyID:          sec.SigningKeyID,
		Hasher:                hasher,
		Scopes:                scopes,
		MaxBodyBytes:          cfg.Server.MaxBodyBytes,
		IntrospectKey:         func(ctx context.Context, t string) (map[string]any, bool) { return ks.Introspect(ctx, t) },
		LimitClient:           tokenLimit(cfg, lim, log),
		Logger:                log,
	}, db, db)
	if err != nil {
		return fail(err)
	}
	ks, err = newKeyService(cfg, sec, hasher, db, p)
	if err != nil {
		return fail(err)
	}
	if bus != nil {
		// Both caches are bypassed from here until the listener connects.
		bus.Subscribe(db)
		bus.Subscribe(ks)
	}
	return &app{cfg: cfg, secrets: sec, db: db, provider: p, keys: ks, log: log, limiter: lim, redis: rdb, bus: bus}, nil
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
func newKeyService(cfg *config.Config, sec *config.Secrets, hasher *secret.Hasher, db *storage.DB, p *oauth.Provider) (*keys.Service, error) {
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
	failures := throttle.New(a.cfg.RateLimits.LoginPerMinute, time.Minute, time.Now)
	pages, err := web.New(web.Config{
		CookieHashKey:    a.secrets.CookieHashKey,
		CookieBlockKey:   a.secrets.CookieBlockKey,
		CSRFKey:          a.secrets.CSRFKey,
		Secure:           a.cfg.SecureCookies(),
		ScopeDescription: a.cfg.ScopeDescription,
		Clients:          a.provider,
		Scopes:           scopeNames(a.cfg),
		LoginLimit:       a.cfg.RateLimits.LoginPerMinute,
		Failures:         failures,
		Keys:             a.keys,
		Logger:           a.log,
	}, a.provider, a.db)
	if err != nil {
		return nil, err
	}
	limits := a.apiRateLimits()
	apiHandler := api.New(api.Config{
		Keys: a.keys, Tokens: a.provider, Users: a.db, SessionUser: pages.SessionUserID,
		SessionCookie: pages.SessionCookie(), MaxBodyBytes: a.cfg.Server.MaxBodyBytes,
		PasswordFailures: failures, RateLimits: limits,
		CredentialFailures: throttle.New(a.cfg.RateLimits.TokenPerMinute, time.Minute, time.Now),
	})
	return server.New(server.Deps{
		OAuth: a.provider, Pages: pages, API: apiHandler, SessionCookie: pages.SessionCookie(),
		DB: a.db, Logger: a.log, Secure: a.cfg.SecureCookies(),
	}), nil
}

// scopeNames lists the registered scopes in config order.
func scopeNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.OAuth.Scopes))
	for _, s := range cfg.OAuth.Scopes {
		names = append(names, s.Name)
	}
	return names
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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
	go func() { defer close(janitorDone); janitor(ctx, a) }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("latchkey listening", "addr", ln.Addr().String(), "issuer", a.cfg.Server.Issuer,
		"storage", map[bool]string{true: "postgres", false: "sqlite"}[a.cfg.IsPostgres()])
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

// janitor purges expired codes, tokens and protocol sessions in small
// batches every minute.
func janitor(ctx context.Context, a *app) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := a.db.PurgeExpired(ctx, time.Now(), 500)
			if err != nil {
				if ctx.Err() == nil {
					a.log.Warn("janitor", "error", err)
				}
				break
			}
			if n > 0 {
				a.log.Debug("janitor purged", "rows", n)
			}
			if n < 500 {
				break
			}
		}
	}
}
