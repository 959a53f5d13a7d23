package oauth

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// testClock is a settable clock for Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestPreviousSecretGrace (issue 13 item 4): after a rotation with a grace
// period the client authenticates with either secret — by HTTP Basic and
// in the body, at the token, introspection, revocation and PAR endpoints —
// until the grace ends (injected clock), and with the new one only from
// then on. Ending the grace early, rotating without grace and rotating a
// second time each leave exactly the secrets they promise, and the tokens
// the client already holds keep working throughout.
func TestPreviousSecretGrace(t *testing.T) {
	clock := &testClock{t: time.Now()}
	p, db := newTestProviderWith(t, func(c *Config) { c.Now = clock.Now }, nil)
	ctx := t.Context()
	orig := registerClient(t, p, db, ClientSpec{Name: "Rotating", GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}})
	held := tokens(t, p, orig, "alice", "openid offline_access")

	// rotate gives the client a new secret, keeping the current one for grace.
	rotate := func(grace time.Duration) testClient {
		t.Helper()
		plain, err := NewClientSecret()
		if err != nil {
			t.Fatal(err)
		}
		digest, version := p.HashSecret(plain)
		if err := db.UpdateClient(ctx, orig.ID, func(c *storage.Client) error {
			c.RotateSecret(digest, version, clock.Now(), grace)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return testClient{ID: orig.ID, Secret: plain}
	}
	// accepted reports, for each endpoint and method, whether c's secret
	// authenticates; all must agree with want.
	check := func(what string, c testClient, want bool) {
		t.Helper()
		for _, ep := range clientAuthEndpoints(t, p, func(testClient) string { return str(held, "access_token") }) {
			for _, method := range []string{AuthMethodBasic, AuthMethodPost} {
				w := sendAs(t, ep.handler, ep.path, c, method, ep.form(c))
				switch {
				case want && w.Code != ep.ok:
					t.Errorf("%s at %s by %s: %d %s, want %d", what, ep.name, method, w.Code, w.Body.String(), ep.ok)
				case !want && w.Code != http.StatusUnauthorized:
					t.Errorf("%s at %s by %s: %d %s, want 401 invalid_client", what, ep.name, method, w.Code, w.Body.String())
				}
			}
		}
	}

	second := rotate(time.Hour)
	check("new secret", second, true)
	check("previous secret in grace", orig, true)
	check("a wrong secret in grace", testClient{ID: orig.ID, Secret: orig.Secret + "x"}, false)

	clock.Set(clock.Now().Add(time.Hour - time.Second))
	check("previous secret a second before its grace ends", orig, true)
	clock.Set(clock.Now().Add(time.Second))
	check("previous secret when its grace ends", orig, false)
	check("new secret after the grace", second, true)

	// Tokens issued before the rotation are the client's still: the access
	// token introspects active, the refresh token refreshes (by the new secret).
	if st, body, _ := post(t, p.Introspect, "/oauth/introspect", second, url.Values{"token": {str(held, "access_token")}}); st != http.StatusOK || body["active"] != true {
		t.Fatalf("access token from before the rotation: %d %v", st, body)
	}
	if st, body := refreshWith(t, p, second, str(held, "refresh_token"), ""); st != http.StatusOK || str(body, "access_token") == "" {
		t.Fatalf("refresh token from before the rotation: %d %v", st, body)
	}

	// A second rotation in grace replaces the previous secret: two at once, never three.
	third := rotate(24 * time.Hour)
	fourth := rotate(24 * time.Hour)
	check("the secret two rotations back", second, false)
	check("previous secret after a second rotation", third, true)
	check("newest secret", fourth, true)

	// Ending the grace now stops the previous secret at once.
	if err := db.UpdateClient(ctx, orig.ID, func(c *storage.Client) error { c.EndSecretGrace(); return nil }); err != nil {
		t.Fatal(err)
	}
	check("previous secret after its grace was ended", third, false)
	check("current secret after the grace was ended", fourth, true)

	// Grace 0: the old secret dies with the rotation.
	fifth := rotate(0)
	check("old secret after a rotation without grace", fourth, false)
	check("new secret after a rotation without grace", fifth, true)
}
