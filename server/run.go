package server

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/janitor"
	"github.com/latchkey/latchkey/storage"
)

// Run serves the handler on server.addr until ctx ends, with the janitor,
// the key expiry mailer (keyWarner) and the cache-invalidation bus
// running beside it, then shuts down
// gracefully within server.shutdown_timeout.
func (a *App) Run(ctx context.Context) error {
	warner, err := a.keyWarner()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Server.Addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx) // ends the janitor and mailer however Run returns
	defer cancel()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	stopBus := a.RunBus()
	defer stopBus()
	stopPprof, err := a.servePprof(ctx)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopPprof()
	janitorDone := make(chan struct{})
	go func() { defer close(janitorDone); a.janitor().Run(ctx) }()
	warnerDone := make(chan struct{})
	go func() {
		defer close(warnerDone)
		if warner != nil {
			warner.Run(ctx)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("latchkey listening", "addr", ln.Addr().String(), "issuer", a.cfg.Server.Issuer,
		"storage", map[bool]string{true: "postgres", false: "sqlite"}[a.cfg.IsPostgres()], "schema_version", a.schemaVersion)
	// Notices about serving go here, not in Build: one-shot CLI commands
	// build an App too, and their output must stand alone.
	if a.passkeys == nil {
		a.log.Warn("passkeys are off: server.issuer names an IP address; WebAuthn needs a domain name (or localhost)", "issuer", a.cfg.Server.Issuer)
	}
	if a.cfg.SMTP.URL == "" {
		a.log.Warn("no smtp.url configured: account mail (with its links) is written to the log (and shown at /dev/mail while server.issuer is local); set smtp.url in production")
	}
	if a.onListening != nil {
		a.onListening(ln.Addr())
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancelShutdown := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout.Duration())
	defer cancelShutdown()
	err = srv.Shutdown(sctx)
	<-janitorDone
	<-warnerDone
	return err
}

// RunBus runs the cache-invalidation bus (the PostgreSQL listener, the
// SQLite log poller), if any, until the returned function is called. Run
// calls it; a test that serves App.Handler itself calls it too, or the
// caches stay bypassed.
func (a *App) RunBus() (stop func()) {
	if a.bus == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.bus.Run(ctx) }()
	return func() { cancel(); <-done }
}

// janitor purges expired codes, tokens, protocol sessions and old audit
// entries on the configured schedule.
func (a *App) janitor() *janitor.Janitor {
	return janitor.New(janitor.Config{
		Interval:       a.cfg.Janitor.Interval.Duration(),
		Batch:          a.cfg.Janitor.BatchSize,
		AuditRetention: a.cfg.Janitor.AuditRetention.Duration(),
		UsageRetention: map[string]time.Duration{
			storage.BucketHour: a.cfg.Janitor.UsageHourlyRetention.Duration(),
			storage.BucketDay:  a.cfg.Janitor.UsageDailyRetention.Duration(),
		},
		// Records of which clients a sign-in session reached outlive no session.
		SessionLifetime: a.cfg.Web.SessionAbsoluteLifetime.Duration(),
		Logger:          a.log,
		OnPurged:        a.metrics.JanitorPurged,
	}, a.db)
}
