package postgres_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
)

// recorder is a Subscriber that reports every call on a channel. When
// gated, SetListening(false) blocks until release is closed, which holds
// the listener (and its reconnection) at that point.
type recorder struct {
	events  chan event
	gated   atomic.Bool
	release chan struct{}
	once    sync.Once
}

type event struct {
	inv       storage.Invalidation
	listening *bool // set for SetListening calls
}

func newRecorder() *recorder {
	return &recorder{events: make(chan event, 1024), release: make(chan struct{})}
}

// open releases a held listener and stops holding it.
func (r *recorder) open() {
	r.gated.Store(false)
	r.once.Do(func() { close(r.release) })
}

func (r *recorder) Invalidate(inv storage.Invalidation) { r.events <- event{inv: inv} }

func (r *recorder) SetListening(ok bool) {
	r.events <- event{listening: &ok}
	if !ok && r.gated.Load() {
		<-r.release
	}
}

// next returns the next event, failing after 5 s.
func (r *recorder) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event from the listener within 5s")
		return event{}
	}
}

// waitListening skips events until SetListening(want).
func (r *recorder) waitListening(t *testing.T, want bool) {
	t.Helper()
	for {
		if e := r.next(t); e.listening != nil && *e.listening == want {
			return
		}
	}
}

// nextInvalidation returns the next Invalidate call, failing on a state
// change in between.
func (r *recorder) nextInvalidation(t *testing.T) storage.Invalidation {
	t.Helper()
	e := r.next(t)
	if e.listening != nil {
		t.Fatalf("SetListening(%v) while waiting for an invalidation", *e.listening)
	}
	return e.inv
}

// runListener starts a listener on dsn with the subscribers, stopped when t ends.
func runListener(t *testing.T, cfg postgres.ListenerConfig, subs ...postgres.Subscriber) {
	t.Helper()
	l := postgres.NewListener(cfg)
	for _, s := range subs {
		l.Subscribe(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// seed creates user u1, client c1 and one API key, returning the key's id
// and hex digest. Creating records publishes nothing (nothing caches a
// record that does not exist yet).
func seed(t *testing.T, db *storage.DB) (keyID, digest string) {
	t.Helper()
	ctx := t.Context()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", Email: "a@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &storage.User{ID: "u2", Username: "bob", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &storage.Client{ID: "c1", Name: "App"}); err != nil {
		t.Fatal(err)
	}
	d := []byte(strings.Repeat("k", 32))
	k := &storage.APIKey{ID: "k1", UserID: "u1", Handle: "ci", Display: "lk_live_abcd", Environment: "live", Tier: "free", Digest: d, PepperVersion: 1}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	return k.ID, hex.EncodeToString(d)
}

// TestListenerDeliversInvalidations: every write that must invalidate a
// cache reaches the listener of the same schema when it commits — never
// when it rolls back, and never from another schema of the same database.
func TestListenerDeliversInvalidations(t *testing.T) {
	admin, dsn := adminDB(t)
	schemaDSN := freshSchema(t, admin, dsn)
	writer := openMigrated(t, schemaDSN, 4)
	keyID, digest := seed(t, writer)
	other := openMigrated(t, freshSchema(t, admin, dsn), 2)
	seed(t, other) // the same ids, in another schema

	rec := newRecorder()
	runListener(t, postgres.ListenerConfig{DSN: schemaDSN}, rec)
	rec.waitListening(t, true)

	errRollback := errors.New("roll back")
	tests := []struct {
		name  string
		write func(ctx context.Context) error
		want  storage.Invalidation
	}{
		{"logout ends sessions", func(ctx context.Context) error {
			return writer.EndSessions(ctx, "u1", time.Now())
		}, storage.Invalidation{Topic: storage.TopicUser, ID: "u1"}},
		{"client update", func(ctx context.Context) error {
			return writer.UpdateClient(ctx, "c1", func(c *storage.Client) error { c.Name = "Renamed"; return nil })
		}, storage.Invalidation{Topic: storage.TopicClient, ID: "c1"}},
		{"API key update", func(ctx context.Context) error {
			return writer.UpdateAPIKey(ctx, keyID, func(k *storage.APIKey) error { now := time.Now(); k.RevokedAt = &now; return nil })
		}, storage.Invalidation{Topic: storage.TopicAPIKey, ID: digest}},
		{"rolled-back writes publish nothing", func(ctx context.Context) error {
			err := writer.InTx(ctx, func(ctx context.Context) error {
				if err := writer.EndSessions(ctx, "u2", time.Now()); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				return err
			}
			// Only this one may arrive.
			return writer.UpdateClient(ctx, "c1", func(c *storage.Client) error { return nil })
		}, storage.Invalidation{Topic: storage.TopicClient, ID: "c1"}},
		{"another schema's writes are not delivered", func(ctx context.Context) error {
			if err := other.EndSessions(ctx, "u2", time.Now()); err != nil {
				return err
			}
			// Notifications arrive in commit order: had the other schema's
			// reached this channel, it would come first.
			return writer.EndSessions(ctx, "u1", time.Now())
		}, storage.Invalidation{Topic: storage.TopicUser, ID: "u1"}},
		{"a write inside a caller's transaction publishes at its commit", func(ctx context.Context) error {
			return writer.InTx(ctx, func(ctx context.Context) error {
				return writer.UpdateClient(ctx, "c1", func(c *storage.Client) error { return nil })
			})
		}, storage.Invalidation{Topic: storage.TopicClient, ID: "c1"}},
		{"client deletion", func(ctx context.Context) error {
			return writer.DeleteClient(ctx, "c1")
		}, storage.Invalidation{Topic: storage.TopicClient, ID: "c1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(t.Context()); err != nil {
				t.Fatal(err)
			}
			committed := time.Now()
			if got := rec.nextInvalidation(t); got != tc.want {
				t.Fatalf("invalidation %+v, want %+v", got, tc.want)
			}
			t.Logf("delivered %s after the write returned", time.Since(committed).Round(time.Microsecond))
		})
	}

	t.Run("failed writes publish nothing", func(t *testing.T) {
		if err := writer.EndSessions(t.Context(), "nobody", time.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("EndSessions(nobody) = %v", err)
		}
		if err := writer.EndSessions(t.Context(), "u2", time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, want := rec.nextInvalidation(t), (storage.Invalidation{Topic: storage.TopicUser, ID: "u2"}); got != want {
			t.Fatalf("invalidation %+v, want %+v", got, want)
		}
	})

	t.Run("a payload it does not understand flushes every cache", func(t *testing.T) {
		if err := admin.Exec("SELECT pg_notify(?, '*')", postgres.Channel(schemaOf(t, schemaDSN))).Error; err != nil {
			t.Fatal(err)
		}
		for _, want := range []bool{false, true} {
			if e := rec.next(t); e.listening == nil || *e.listening != want {
				t.Fatalf("event %+v, want SetListening(%v)", e, want)
			}
		}
	})
}

// TestListenerReconnects: when the listening connection is killed, the
// caches are flushed and bypassed until the listener is back, and then
// invalidations flow again. Two stores on one schema play two instances.
func TestListenerReconnects(t *testing.T) {
	admin, dsn := adminDB(t)
	schemaDSN := freshSchema(t, admin, dsn)
	instanceA := openMigrated(t, schemaDSN, 4, storage.WithReadCache(time.Minute))
	instanceB := openMigrated(t, schemaDSN, 4, storage.WithReadCache(time.Minute))
	seed(t, instanceA)

	appName := "lk_listener_test_" + randomHex(t, 6)
	gate := newRecorder()
	// instanceB first: the listener tells subscribers in order, so B is
	// already bypassed while the gate holds the listener.
	runListener(t, postgres.ListenerConfig{DSN: withParam(t, schemaDSN, "application_name", appName), MinBackoff: 10 * time.Millisecond},
		instanceB, gate)
	t.Cleanup(gate.open) // runs before the listener is stopped, even on failure
	gate.waitListening(t, true)

	ctx := t.Context()
	email := func() string {
		t.Helper()
		u, err := instanceB.GetUser(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		return u.Email
	}
	// behindItsBack changes a row without publishing anything, as a manual
	// UPDATE would: only an uncached read sees it.
	behindItsBack := func(v string) {
		t.Helper()
		if err := instanceA.Writer().Exec("UPDATE users SET email = ? WHERE id = 'u1'", v).Error; err != nil {
			t.Fatal(err)
		}
	}

	if got := email(); got != "a@example.com" {
		t.Fatalf("email %q", got)
	}
	behindItsBack("cached@example.com")
	if got := email(); got != "a@example.com" {
		t.Fatalf("while listening B serves %q, want the cached a@example.com (is the cache on?)", got)
	}

	gate.gated.Store(true)
	var killed int64
	res := admin.Raw("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?", appName).Scan(&killed)
	if res.Error != nil || killed != 1 {
		t.Fatalf("terminated %d listener backends (%v), want 1", killed, res.Error)
	}
	gate.waitListening(t, false) // the listener is now held before reconnecting

	if got := email(); got != "cached@example.com" {
		t.Fatalf("after the connection dropped B serves %q, want cached@example.com (cache not flushed)", got)
	}
	behindItsBack("bypassed@example.com")
	if got := email(); got != "bypassed@example.com" {
		t.Fatalf("while not listening B serves %q, want bypassed@example.com (cache not bypassed)", got)
	}

	gate.open()
	gate.waitListening(t, true)

	if got := email(); got != "bypassed@example.com" {
		t.Fatalf("after reconnecting B serves %q", got)
	}
	behindItsBack("unseen@example.com")
	if got := email(); got != "bypassed@example.com" {
		t.Fatalf("after reconnecting B serves %q, want its cached bypassed@example.com (cache not resumed)", got)
	}
	// A published write reaches B through the new connection.
	if err := instanceA.EndSessions(ctx, "u1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, want := gate.nextInvalidation(t), (storage.Invalidation{Topic: storage.TopicUser, ID: "u1"}); got != want {
		t.Fatalf("invalidation %+v, want %+v", got, want)
	}
	// B was told first (subscription order), so its entry is gone.
	if got := email(); got != "unseen@example.com" {
		t.Fatalf("after A's logout B serves %q, want the fresh row", got)
	}
}

// TestListenerNoticesSilentDrop: a connection that stops answering without
// being closed (a network partition) is noticed by the heartbeat within
// Heartbeat + PingTimeout, not at the next TCP timeout.
func TestListenerNoticesSilentDrop(t *testing.T) {
	admin, dsn := adminDB(t)
	schemaDSN := freshSchema(t, admin, dsn)
	u, err := url.Parse(schemaDSN)
	if err != nil || u.Host == "" {
		t.Skipf("needs a URL DSN with a host to proxy, got %q", dsn)
	}
	p := newFreezingProxy(t, u.Host)
	u.Host = p.addr
	rec := newRecorder()
	const heartbeat, pingTimeout = 100 * time.Millisecond, 200 * time.Millisecond
	runListener(t, postgres.ListenerConfig{DSN: u.String(), Heartbeat: heartbeat, PingTimeout: pingTimeout, MinBackoff: time.Hour}, rec)
	rec.waitListening(t, true)

	time.Sleep(3 * heartbeat) // idle pings on a healthy connection must not count as failures
	select {
	case e := <-rec.events:
		t.Fatalf("event %+v on a healthy idle connection", e)
	default:
	}
	frozen := time.Now()
	p.freeze()
	rec.waitListening(t, false)
	if d := time.Since(frozen); d > heartbeat+pingTimeout+300*time.Millisecond {
		t.Fatalf("silent drop noticed after %s, want within about %s", d, heartbeat+pingTimeout)
	} else {
		t.Logf("silent drop noticed after %s", d)
	}
}

// schemaOf returns the search_path of a DSN made by freshSchema.
func schemaOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

// freezingProxy forwards TCP to a target until freeze, after which it
// keeps every connection open but passes nothing on.
type freezingProxy struct {
	addr   string
	frozen atomic.Bool
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(out, in) }()
			go func() { defer wg.Done(); p.pipe(in, out) }()
		}
	}()
	return p
}

func (p *freezingProxy) freeze() { p.frozen.Store(true) }

// pipe copies src to dst until either fails, dropping data once frozen.
func (p *freezingProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
