package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchkey/latchkey/storage"
)

// verifyLogoutToken checks tok against the provider's JWKS as a relying
// party would (Back-Channel Logout 1.0 §2.6) and returns its claims.
func verifyLogoutToken(t *testing.T, p *Provider, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(tok)
	if err != nil {
		t.Fatalf("logout token is not a JWS: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != LogoutTokenType || h.KeyID != p.cfg.SigningKeyID || h.Algorithm != p.ring.seed.alg {
		t.Errorf("header typ %v kid %q alg %q; want %s, %s, %s", h.ExtraHeaders["typ"], h.KeyID, h.Algorithm, LogoutTokenType, p.cfg.SigningKeyID, p.ring.seed.alg)
	}
	set := p.JWKS()
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys for kid %q", len(keys), h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("logout token does not verify against the JWKS: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != p.cfg.Issuer {
		t.Errorf("iss = %v", c["iss"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("logout token has a nonce (§2.4 forbids it)")
	}
	ev, _ := c["events"].(map[string]any)
	if _, ok := ev[BackchannelLogoutEvent]; !ok || len(ev) != 1 {
		t.Errorf("events = %v", c["events"])
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if exp-iat != logoutTokenLifetime.Seconds() || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
		t.Errorf("iat %v exp %v", iat, exp)
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Errorf("jti = %v", c["jti"])
	}
	return c
}

func TestLogoutTokenClaims(t *testing.T) {
	p, _ := newTestProvider(t)
	a, err := p.LogoutToken("client-1", "alice", "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	c := verifyLogoutToken(t, p, a)
	if c["aud"] != "client-1" || c["sub"] != "alice" || c["sid"] != "sid-1" {
		t.Errorf("claims = %v", c)
	}
	b, _ := p.LogoutToken("client-1", "alice", "")
	if _, ok := verifyLogoutToken(t, p, b)["sid"]; ok {
		t.Error("sid present without a session")
	}
	if verifyLogoutToken(t, p, a)["jti"] == verifyLogoutToken(t, p, b)["jti"] {
		t.Error("two logout tokens share a jti")
	}
}

// receiver is a relying party's back-channel logout endpoint.
type receiver struct {
	srv    *httptest.Server
	tokens chan string
	// status answers the nth request (1-based); 200 when nil.
	status func(n int32) int
	n      atomic.Int32
}

func newReceiver(t *testing.T, status func(n int32) int) *receiver {
	t.Helper()
	rc := &receiver{tokens: make(chan string, 16), status: status}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.n.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.tokens <- r.PostFormValue("logout_token")
		if rc.status != nil {
			w.WriteHeader(rc.status(n))
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) next(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-rc.tokens:
		return tok
	case <-time.After(5 * time.Second):
		t.Fatal("no logout token arrived")
		return ""
	}
}

func (rc *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case tok := <-rc.tokens:
		t.Fatalf("unexpected logout token %s", tok)
	case <-time.After(50 * time.Millisecond):
	}
}

// results counts OnBackchannelLogout calls.
type results struct{ sent, failed atomic.Int32 }

func (r *results) record(ok bool) {
	if ok {
		r.sent.Add(1)
	} else {
		r.failed.Add(1)
	}
}

func (r *results) wait(t *testing.T, sent, failed int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.sent.Load() != sent || r.failed.Load() != failed {
		if time.Now().After(deadline) {
			t.Fatalf("results sent %d failed %d, want %d, %d", r.sent.Load(), r.failed.Load(), sent, failed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newBackchannelProvider(t *testing.T, res *results) (*Provider, *storage.DB) {
	t.Helper()
	p, db := newTestProviderWith(t, func(c *Config) {
		c.BackchannelRetryWait = time.Millisecond
		c.OnBackchannelLogout = res.record
	}, nil)
	return p, db
}

// TestSessionsEndedSendsLogoutTokens: every client a session reached and
// that registered a back-channel URI gets one token per session, with the
// session's sid; the records are taken, so a second logout sends nothing.
func TestSessionsEndedSendsLogoutTokens(t *testing.T) {
	res := &results{}
	p, db := newBackchannelProvider(t, res)
	rc := newReceiver(t, nil)
	app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: rc.srv.URL + "/bc"})
	silent := registerClient(t, p, db, ClientSpec{Name: "No back-channel"})
	sessionIDToken(t, p, app, "alice", "sid-1")
	sessionIDToken(t, p, app, "alice", "sid-1") // the same session again
	sessionIDToken(t, p, silent, "alice", "sid-1")
	sessionIDToken(t, p, app, "bob", "sid-bob")

	p.SessionsEnded(t.Context(), "alice")
	c := verifyLogoutToken(t, p, rc.next(t))
	if c["aud"] != app.ID || c["sub"] != "alice" || c["sid"] != "sid-1" {
		t.Errorf("claims = %v", c)
	}
	rc.none(t)
	res.wait(t, 1, 0)
	p.SessionsEnded(t.Context(), "alice")
	rc.none(t)

	// Revoking bob's grant tells the app about bob's session.
	p.GrantRevoked(t.Context(), "bob", app.ID)
	if c := verifyLogoutToken(t, p, rc.next(t)); c["sub"] != "bob" || c["sid"] != "sid-bob" {
		t.Errorf("revoke claims = %v", c)
	}
	// With no session known, the revoke names the person only.
	p.GrantRevoked(t.Context(), "bob", app.ID)
	if c := verifyLogoutToken(t, p, rc.next(t)); c["sub"] != "bob" || c["sid"] != nil {
		t.Errorf("sessionless revoke claims = %v", c)
	}
	res.wait(t, 3, 0)
}

// TestSessionEndedSendsOnlyThatSession: signing one session out from the
// session list tells the clients that session reached, with its sid, and
// leaves the person's other sessions to their own sign-out.
func TestSessionEndedSendsOnlyThatSession(t *testing.T) {
	res := &results{}
	p, db := newBackchannelProvider(t, res)
	rc := newReceiver(t, nil)
	app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: rc.srv.URL + "/bc"})
	sessionIDToken(t, p, app, "alice", "sid-1")
	sessionIDToken(t, p, app, "alice", "sid-2")

	p.SessionEnded(t.Context(), "alice", "sid-1")
	if c := verifyLogoutToken(t, p, rc.next(t)); c["aud"] != app.ID || c["sub"] != "alice" || c["sid"] != "sid-1" {
		t.Errorf("claims = %v", c)
	}
	rc.none(t)
	p.SessionEnded(t.Context(), "alice", "sid-1") // taken: nothing more
	p.SessionEnded(t.Context(), "bob", "sid-2")   // not bob's session
	rc.none(t)
	p.SessionsEnded(t.Context(), "alice")
	if c := verifyLogoutToken(t, p, rc.next(t)); c["sid"] != "sid-2" {
		t.Errorf("the other session's claims = %v", c)
	}
	res.wait(t, 2, 0)
}

// TestGrantRevokedSessionRequired: a client that requires sid gets no
// token without one.
func TestGrantRevokedSessionRequired(t *testing.T) {
	res := &results{}
	p, db := newBackchannelProvider(t, res)
	rc := newReceiver(t, nil)
	app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: rc.srv.URL, BackchannelLogoutSessionRequired: true})
	p.GrantRevoked(t.Context(), "alice", app.ID)
	rc.none(t)
}

// TestBackchannelRetriesAndGivesUp: a 5xx is retried (up to two retries),
// a 4xx is final, and a redirect is never followed.
func TestBackchannelRetriesAndGivesUp(t *testing.T) {
	t.Run("5xx then 200", func(t *testing.T) {
		res := &results{}
		p, db := newBackchannelProvider(t, res)
		rc := newReceiver(t, func(n int32) int {
			if n < 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: rc.srv.URL})
		p.GrantRevoked(t.Context(), "alice", app.ID)
		res.wait(t, 1, 0)
		if n := rc.n.Load(); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("always 5xx", func(t *testing.T) {
		res := &results{}
		p, db := newBackchannelProvider(t, res)
		rc := newReceiver(t, func(int32) int { return http.StatusInternalServerError })
		app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: rc.srv.URL})
		p.GrantRevoked(t.Context(), "alice", app.ID)
		res.wait(t, 0, 1)
		if n := rc.n.Load(); n != 1+defaultBackchannelRetries {
			t.Errorf("%d attempts, want %d", n, 1+defaultBackchannelRetries)
		}
	})
	t.Run("4xx is final", func(t *testing.T) {
		res := &results{}
		p, db := newBackchannelProvider(t, res)
		rc := newReceiver(t, func(int32) int { return http.StatusBadRequest })
		app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: rc.srv.URL})
		p.GrantRevoked(t.Context(), "alice", app.ID)
		res.wait(t, 0, 1)
		if n := rc.n.Load(); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		res := &results{}
		p, db := newBackchannelProvider(t, res)
		target := newReceiver(t, nil)
		bounce := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
		t.Cleanup(bounce.Close)
		app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: bounce.URL})
		p.GrantRevoked(t.Context(), "alice", app.ID)
		res.wait(t, 0, 1)
		target.none(t)
	})
}

// TestSessionsEndedDoesNotBlock: a client that never answers does not
// hold up the person's sign-out.
func TestSessionsEndedDoesNotBlock(t *testing.T) {
	res := &results{}
	p, db := newBackchannelProvider(t, res)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(func() { close(release); hang.Close() })
	app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: hang.URL})
	sessionIDToken(t, p, app, "alice", "sid-1")
	start := time.Now()
	p.SessionsEnded(t.Context(), "alice")
	if d := time.Since(start); d > time.Second {
		t.Errorf("SessionsEnded took %v with a hanging client", d)
	}
}

// TestCloseDeliversQueuedTokens: on shutdown the queued tokens are still
// sent, Close waits for them, and a sign-out after Close sends nothing.
func TestCloseDeliversQueuedTokens(t *testing.T) {
	res := &results{}
	p, db := newBackchannelProvider(t, res)
	release := make(chan struct{})
	var got atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		got.Add(1)
	}))
	t.Cleanup(slow.Close)
	app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: slow.URL})
	sessionIDToken(t, p, app, "alice", "sid-1")
	sessionIDToken(t, p, app, "bob", "sid-2")
	p.SessionsEnded(t.Context(), "alice")
	p.SessionsEnded(t.Context(), "bob")

	closed := make(chan error, 1)
	go func() { closed <- p.Close(t.Context()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while two deliveries were still on their way", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := got.Load(); n != 2 {
		t.Errorf("%d tokens delivered before Close returned, want 2", n)
	}
	res.wait(t, 2, 0)

	sessionIDToken(t, p, app, "carol", "sid-3")
	p.SessionsEnded(t.Context(), "carol") // after Close: dropped, not a panic
	res.wait(t, 2, 1)
	if err := p.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseGivesUpAtDeadline: a client that never answers cannot hold
// shutdown past its deadline.
func TestCloseGivesUpAtDeadline(t *testing.T) {
	res := &results{}
	p, db := newBackchannelProvider(t, res)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(func() { close(release); hang.Close() })
	app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: hang.URL})
	sessionIDToken(t, p, app, "alice", "sid-1")
	p.SessionsEnded(t.Context(), "alice")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
}
