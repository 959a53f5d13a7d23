package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// cachedRequest is a decoded access-token record of grant rid.
func cachedRequest(rid string) *fosite.Request {
	s := NewSession("alice")
	s.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AccessToken: time.Now().Add(time.Hour)}
	s.Claims.Extra = map[string]any{"k": "v"}
	s.FamilyAudience = []string{"https://api.example"}
	return &fosite.Request{ID: rid, GrantedScope: fosite.Arguments{"a", "b"}, Form: url.Values{"x": {"1"}}, Session: s}
}

func TestTokenCacheInvalidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		inv  storage.Invalidation
		// gone lists which of s1 (grant g1), s2 (grant g1), s3 (grant g2) go.
		gone [3]bool
	}{
		{"one signature", storage.Invalidation{Topic: storage.TopicToken, ID: storage.TokenBySignature("s1")}, [3]bool{true, false, false}},
		{"one grant", storage.Invalidation{Topic: storage.TopicToken, ID: storage.TokenByGrant("g1")}, [3]bool{true, true, false}},
		{"every token", storage.Invalidation{Topic: storage.TopicToken, ID: storage.TokenAll}, [3]bool{true, true, true}},
		{"an id of a newer version", storage.Invalidation{Topic: storage.TopicToken, ID: "x:whatever"}, [3]bool{true, true, true}},
		{"unknown signature", storage.Invalidation{Topic: storage.TopicToken, ID: storage.TokenBySignature("nope")}, [3]bool{}},
		{"another topic", storage.Invalidation{Topic: storage.TopicAPIKey, ID: "s1"}, [3]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(time.Minute, 10, nil)
			for _, e := range []struct{ sig, rid string }{{"s1", "g1"}, {"s2", "g1"}, {"s3", "g2"}} {
				_, _, ticket := c.get(e.sig, NewSession(""))
				c.put(e.sig, cachedRequest(e.rid), ticket)
			}
			c.Invalidate(tc.inv)
			for i, sig := range []string{"s1", "s2", "s3"} {
				if _, ok, _ := c.get(sig, NewSession("")); ok == tc.gone[i] {
					t.Errorf("%s cached = %v, want %v", sig, ok, !tc.gone[i])
				}
			}
		})
	}
}

func TestTokenCacheRefusesLookupsOlderThanAnInvalidation(t *testing.T) {
	c := newTokenCache(time.Minute, 10, nil)
	_, _, ticket := c.get("s1", NewSession(""))                                                   // a lookup starts, reads the row …
	c.Invalidate(storage.Invalidation{Topic: storage.TopicToken, ID: storage.TokenByGrant("g1")}) // … the token is revoked …
	c.put("s1", cachedRequest("g1"), ticket)                                                      // … and the stale row arrives
	if _, ok, _ := c.get("s1", NewSession("")); ok {
		t.Fatal("a row read before the revocation was cached")
	}
	c.SetListening(false)
	_, _, ticket = c.get("s1", NewSession(""))
	c.put("s1", cachedRequest("g1"), ticket)
	if _, ok, _ := c.get("s1", NewSession("")); ok {
		t.Fatal("cached while the bus is down")
	}
	c.SetListening(true)
	_, _, ticket = c.get("s1", NewSession(""))
	c.put("s1", cachedRequest("g1"), ticket)
	if _, ok, _ := c.get("s1", NewSession("")); !ok {
		t.Fatal("not cached once the bus is back")
	}
}

func TestTokenCacheExpiresAndBounds(t *testing.T) {
	now := time.Now()
	c := newTokenCache(time.Minute, 2, func() time.Time { return now })
	for _, sig := range []string{"s1", "s2", "s3"} {
		_, _, ticket := c.get(sig, NewSession(""))
		c.put(sig, cachedRequest("g-"+sig), ticket)
	}
	if n := len(c.bySig); n > 2 {
		t.Fatalf("%d entries, bound 2", n)
	}
	if _, ok, _ := c.get("s3", NewSession("")); !ok {
		t.Fatal("the newest entry is missing")
	}
	now = now.Add(time.Minute)
	if _, ok, _ := c.get("s3", NewSession("")); ok {
		t.Fatal("an entry outlived the TTL")
	}
}

// TestTokenCacheSweepsExpired: far below its bound the cache still drops
// expired entries (and their grant index) once per TTL; before issue 16's
// third session it kept every token ever read until 100,000 of them, and a
// soak run's heap grew with the tokens introspected.
func TestTokenCacheSweepsExpired(t *testing.T) {
	now := time.Now()
	c := newTokenCache(time.Minute, 100_000, func() time.Time { return now })
	put := func(sig string) {
		_, _, ticket := c.get(sig, NewSession(""))
		c.put(sig, cachedRequest("g-"+sig), ticket)
	}
	for i := range 100 {
		put(fmt.Sprintf("old%d", i))
	}
	now = now.Add(30 * time.Second)
	put("mid")
	now = now.Add(30 * time.Second)
	put("new")
	if len(c.bySig) != 2 || len(c.byGrant) != 2 {
		t.Fatalf("%d entries, %d grants after a TTL; want 2 and 2 (mid, new)", len(c.bySig), len(c.byGrant))
	}
	if _, ok, _ := c.get("mid", NewSession("")); !ok {
		t.Fatal("a live entry was swept")
	}
}

func TestTokenCacheHandsOutCopies(t *testing.T) {
	c := newTokenCache(time.Minute, 10, nil)
	_, _, ticket := c.get("s1", NewSession(""))
	c.put("s1", cachedRequest("g1"), ticket)
	got, ok, _ := c.get("s1", NewSession(""))
	if !ok {
		t.Fatal("miss")
	}
	got.GrantedScope[0] = "changed"
	got.Form.Set("x", "changed")
	s := got.Session.(*Session)
	s.Claims.Extra["k"] = "changed"
	s.ExpiresAt[fosite.AccessToken] = time.Time{}
	s.Subject = "mallory"
	s.FamilyAudience[0] = "https://evil.example"
	again, _, _ := c.get("s1", NewSession(""))
	as := again.Session.(*Session)
	if again.GrantedScope[0] != "a" || again.Form.Get("x") != "1" || as.Claims.Extra["k"] != "v" ||
		as.ExpiresAt[fosite.AccessToken].IsZero() || as.Subject != "alice" ||
		as.FamilyAudience[0] != "https://api.example" {
		t.Fatalf("a reader's change reached the cache: %+v %+v", again, as)
	}
}

// TestCachedAccessTokenInactiveAtOnce: every way an access token ends makes
// it inactive at the very next introspection, although it was cached.
func TestCachedAccessTokenInactiveAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end ends the grant's access token at, given the token response.
		end func(t *testing.T, p *Provider, db *storage.DB, c testClient, tok map[string]any)
	}{
		{"access token revoked (RFC 7009)", func(t *testing.T, p *Provider, _ *storage.DB, c testClient, tok map[string]any) {
			revokeToken(t, p, c, str(tok, "access_token"))
		}},
		{"refresh token revoked (RFC 7009), ending the grant", func(t *testing.T, p *Provider, _ *storage.DB, c testClient, tok map[string]any) {
			revokeToken(t, p, c, str(tok, "refresh_token"))
		}},
		{"refresh rotation", func(t *testing.T, p *Provider, _ *storage.DB, c testClient, tok map[string]any) {
			mustRefresh(t, p, c, str(tok, "refresh_token"))
		}},
		{"the person revoked the app", func(t *testing.T, p *Provider, db *storage.DB, c testClient, _ map[string]any) {
			if err := db.RevokeGrants(t.Context(), "alice", c.ID); err != nil {
				t.Fatal(err)
			}
		}},
		{"client deleted", func(t *testing.T, p *Provider, db *storage.DB, c testClient, _ map[string]any) {
			if err := db.DeleteClient(t.Context(), c.ID); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, db := newTestProvider(t)
			c := registerClient(t, p, db, ClientSpec{})
			rs := registerClient(t, p, db, ClientSpec{Name: "API", ResourceServer: true, GrantTypes: []string{"client_credentials"}})
			tok := tokens(t, p, c, "alice", "openid offline_access users:read")
			at := str(tok, "access_token")
			wantCachedActive(t, p, rs, at)
			tc.end(t, p, db, c, tok)
			if status, body := introspect(t, p, rs, at); status != http.StatusOK || body["active"] != false {
				t.Fatalf("after the end: %d %v, want inactive", status, body)
			}
		})
	}
	t.Run("authorization code replayed: what the first use issued ends", func(t *testing.T) {
		p, db := newTestProvider(t)
		c := registerClient(t, p, db, ClientSpec{})
		rs := registerClient(t, p, db, ClientSpec{Name: "API", ResourceServer: true, GrantTypes: []string{"client_credentials"}})
		code, verifier := grantCode(t, p, c, "alice", "openid offline_access users:read")
		status, tok := exchange(t, p, c, code, verifier)
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, tok)
		}
		at := str(tok, "access_token")
		wantCachedActive(t, p, rs, at)
		if status, _ := exchange(t, p, c, code, verifier); status != http.StatusBadRequest {
			t.Fatalf("replay: %d", status)
		}
		if _, body := introspect(t, p, rs, at); body["active"] != false {
			t.Fatalf("after the replay: %v, want inactive", body)
		}
	})
	t.Run("refresh token reused: the family's current access token ends", func(t *testing.T) {
		p, db := newTestProvider(t)
		c := registerClient(t, p, db, ClientSpec{})
		rs := registerClient(t, p, db, ClientSpec{Name: "API", ResourceServer: true, GrantTypes: []string{"client_credentials"}})
		rt := str(tokens(t, p, c, "alice", "openid offline_access users:read"), "refresh_token")
		status, next := refreshWith(t, p, c, rt, "")
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, next)
		}
		at := str(next, "access_token")
		wantCachedActive(t, p, rs, at)
		if status, _ := refreshWith(t, p, c, rt, ""); status != http.StatusBadRequest { // reuse
			t.Fatalf("reuse: %d", status)
		}
		if _, body := introspect(t, p, rs, at); body["active"] != false {
			t.Fatalf("after reuse: %v, want inactive", body)
		}
	})
}

// wantCachedActive introspects at twice, active both times, the second an
// access-token cache hit.
func wantCachedActive(t *testing.T, p *Provider, rs testClient, at string) {
	t.Helper()
	for i := range 2 {
		hits, _ := p.TokenCacheStats()
		if status, body := introspect(t, p, rs, at); status != http.StatusOK || body["active"] != true {
			t.Fatalf("introspection %d: %d %v", i, status, body)
		}
		if now, _ := p.TokenCacheStats(); i == 1 && now != hits+1 {
			t.Fatalf("second introspection: %d cache hits, want %d", now, hits+1)
		}
	}
}

func revokeToken(t *testing.T, p *Provider, c testClient, token string) {
	t.Helper()
	if w := sendAs(t, p.Revoke, "/oauth/revoke", c, AuthMethodBasic, url.Values{"token": {token}}); w.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", w.Code, w.Body.String())
	}
}

// TestCachedAccessTokenInactiveOnOtherInstance: two processes on one
// SQLite database, each with its cache and the invalidation-log bus; a
// token revoked through one is inactive on the other within the bus's
// delay (its poll interval), though the other had it cached.
func TestCachedAccessTokenInactiveOnOtherInstance(t *testing.T) {
	const interval = 50 * time.Millisecond
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() (*Provider, *storage.DB) {
		db, bus, err := sqlite.OpenWithBus(path, sqlite.Config{Readers: 2, PollInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		p := newTestProviderFor(t, db, nil, nil)
		bus.Subscribe(p)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); bus.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return p, db
	}
	a, dbA := open()
	b, _ := open()
	c := registerClient(t, a, dbA, ClientSpec{})
	rs := registerClient(t, a, dbA, ClientSpec{Name: "API", ResourceServer: true, GrantTypes: []string{"client_credentials"}})
	// Both providers share the HMAC key, so b reads what a issued. Wait
	// for b's bus to connect (its cache is bypassed until then).
	tok := tokens(t, a, c, "alice", "openid offline_access users:read")
	at := str(tok, "access_token")
	deadline := time.Now().Add(5 * time.Second)
	for {
		hits, _ := b.TokenCacheStats()
		introspect(t, b, rs, at)
		introspect(t, b, rs, at)
		if now, _ := b.TokenCacheStats(); now > hits {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other instance never cached the token (bus not connected?)")
		}
		time.Sleep(interval)
	}
	revokeToken(t, a, c, at)
	if _, body := introspect(t, a, rs, at); body["active"] != false {
		t.Fatalf("revoking instance: %v, want inactive at once", body)
	}
	start := time.Now()
	for {
		_, body := introspect(t, b, rs, at)
		if body["active"] == false {
			break
		}
		if time.Since(start) > 20*interval+time.Second {
			t.Fatalf("other instance still answers active %v after the revocation", time.Since(start))
		}
		time.Sleep(interval / 5)
	}
	t.Logf("inactive on the other instance after %v (poll interval %v)", time.Since(start).Round(time.Millisecond), interval)
}

// BenchmarkGetAccessTokenSession reads one stored access token back as
// introspection does, from the database and JSON (no cache) and from the
// access-token cache.
func BenchmarkGetAccessTokenSession(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"no cache", 0}, {"cache", time.Minute}} {
		b.Run(bc.name, func(b *testing.B) {
			p, _ := newTestProviderWith(b, func(c *Config) { c.TokenCacheTTL = bc.ttl }, nil)
			req := cachedRequest("g1")
			req.Client = &fosite.DefaultClient{ID: "c1"}
			req.RequestedAt = time.Now()
			if err := p.store.CreateAccessTokenSession(b.Context(), "sig1", req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.store.GetAccessTokenSession(b.Context(), "sig1", NewSession("")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
