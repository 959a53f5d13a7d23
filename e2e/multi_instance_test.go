package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// cluster is two `latchkey serve` processes on one PostgreSQL schema and
// one Redis, sharing secrets, as behind a load balancer. Their caches keep
// entries for a minute, so a change seen across instances within a second
// was pushed (LISTEN/NOTIFY), not waited out.
type cluster struct {
	A, B *instance
	envA env
	db   *gorm.DB // the cluster's schema, for changes behind Latchkey's back
}

const (
	clusterCacheTTL = "60s"
	// pushDeadline is the cross-instance guarantee the README states.
	pushDeadline = time.Second
	clusterPass  = "multi-instance-password"
)

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dsn, rurl := postgresDSN(t), redisURL(t)
	tiers := `[{"name":"free","requests_per_hour":1000,"burst":50},{"name":"pro","requests_per_hour":10000,"burst":200},` +
		`{"name":"enterprise","requests_per_hour":0,"burst":1000},{"name":"tiny","requests_per_hour":3,"burst":3}]`
	// One key prefix for the two instances, unlike any other run's, so
	// limits and failure counts left in Redis by other tests never count.
	redisPrefix := "latchkey-e2e-" + strings.TrimPrefix(envSchema(dsn), "e2e_") + ":"
	shared := func(e env) env {
		e["LATCHKEY_STORAGE_DSN"] = dsn
		e["LATCHKEY_REDIS_URL"] = rurl
		e["LATCHKEY_REDIS_KEY_PREFIX"] = redisPrefix
		e["LATCHKEY_STORAGE_CACHE_TTL"] = clusterCacheTTL
		e["LATCHKEY_RATE_LIMITS_TIERS"] = tiers
		return e
	}
	envA := shared(newEnv(t))
	cli(t, envA, "migrate") // creates the tables and A's secrets
	envB := shared(newEnv(t))
	envB["LATCHKEY_DATA_DIR"] = envA["LATCHKEY_DATA_DIR"] // the same secrets

	c := &cluster{envA: envA, A: start(t, envA), B: start(t, envB)}
	// Until its listener is connected an instance bypasses its caches;
	// wait, so the tests below run against caches that are really on.
	for _, in := range []*instance{c.A, c.B} {
		waitLog(t, in, "cache invalidation listener connected")
	}
	db, err := gorm.Open(gormpg.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	c.db = db
	return c
}

// waitLog waits until the instance has logged msg.
func waitLog(t *testing.T, in *instance, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(in.logs.String(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within 10s", in.URL, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// user creates a user with the CLI and returns its id.
func (c *cluster) user(t *testing.T, name string) string {
	t.Helper()
	var u struct{ ID string }
	if err := json.Unmarshal([]byte(cli(t, c.envA, "user", "create", "--username", name, "--password", clusterPass)), &u); err != nil || u.ID == "" {
		t.Fatalf("user create: %v", err)
	}
	return u.ID
}

// client registers a client with the CLI and returns its id and secret.
func (c *cluster) client(t *testing.T, args ...string) (id, secret string) {
	t.Helper()
	return createClient(t, c.envA, args...)
}

// awaitStatus polls check until it returns want and returns how long
// after since that was; it fails the test if that takes longer than
// pushDeadline.
func awaitStatus(t *testing.T, what string, since time.Time, want int, check func() int) time.Duration {
	t.Helper()
	last := 0
	for {
		if last = check(); last == want {
			d := time.Since(since)
			t.Logf("%s: seen by the other instance %s after the change returned", what, d.Round(100*time.Microsecond))
			return d
		}
		if time.Since(since) > pushDeadline {
			t.Fatalf("%s: still %d after %s, want %d (the TTL is %s, so only a pushed invalidation can make it)", what, last, pushDeadline, want, clusterCacheTTL)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestMultiInstance: several instances on one PostgreSQL and Redis behave
// as one server (SPEC §4) — codes, refresh tokens, keys, consent, sessions,
// clients and rate limits are shared, and every revocation made on one
// instance is enforced by the other within a second although both cache
// for a minute.
func TestMultiInstance(t *testing.T) {
	c := newCluster(t)
	c.user(t, "alice")

	t.Run("code issued at A is redeemed at B exactly once", func(t *testing.T) { c.testCodeAcrossInstances(t) })
	t.Run("refresh token rotated at A is refused at B and revokes the family", func(t *testing.T) { c.testRefreshAcrossInstances(t) })
	t.Run("API keys", func(t *testing.T) { c.testKeysAcrossInstances(t) })
	t.Run("consent is shared", func(t *testing.T) { c.testConsentAcrossInstances(t) })
	t.Run("logout at A ends the session at B", func(t *testing.T) { c.testLogoutAcrossInstances(t) })
	t.Run("client secret rotation and deletion at A are seen at B", func(t *testing.T) { c.testClientAcrossInstances(t) })
	t.Run("rate limits are shared", func(t *testing.T) { c.testRateLimitAcrossInstances(t) })
	t.Run("organization changes at A are enforced at B", func(t *testing.T) { c.testOrgsAcrossInstances(t) })
}

// oauthConf is the web client's configuration against one instance.
func oauthConf(in *instance, id, secret string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: "http://127.0.0.1:9/cb", Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: in.URL + "/oauth/authorize", TokenURL: in.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// codeAt runs the browser through login and consent at in and returns a
// fresh code with its PKCE verifier.
func codeAt(t *testing.T, browser *http.Client, in *instance, conf *oauth2.Config, username string) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-123456"))
	u := flowtest.Authorize(t, browser, in.URL, authURL, username, clusterPass, "allow")
	if code = u.Query().Get("code"); code == "" || u.Query().Get("state") != "state-123456" {
		t.Fatalf("authorization redirect %s: want code and state", u)
	}
	return code, verifier
}

func wantInvalidGrant(t *testing.T, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_grant" {
		t.Fatalf("want 400 invalid_grant, got %v", err)
	}
}

func (c *cluster) testCodeAcrossInstances(t *testing.T) {
	id, secret := c.client(t, "--name", "Web", "--redirect-uri", "http://127.0.0.1:9/cb", "--scopes", "openid,offline_access")
	confA := oauthConf(c.A, id, secret, "openid", "offline_access")
	confB := oauthConf(c.B, id, secret, "openid", "offline_access")
	browser := flowtest.Browser(t)
	ctx := context.Background()

	t.Run("redeemed at B, replayed at A", func(t *testing.T) {
		code, verifier := codeAt(t, browser, c.A, confA, "alice")
		tok, err := confB.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange at B of a code issued by A: %v", err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("tokens %+v", tok)
		}
		if !active(t, c.A, id, secret, tok.AccessToken) {
			t.Fatal("the access token B issued is not active at A")
		}
		// RFC 6749 §4.1.2: a code used twice is refused, and what the
		// first use issued is revoked — as on one instance.
		_, err = confA.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		wantInvalidGrant(t, err)
		for _, in := range []*instance{c.A, c.B} {
			if active(t, in, id, secret, tok.AccessToken) || active(t, in, id, secret, tok.RefreshToken) {
				t.Errorf("after the replay at A, %s still reports the first exchange's tokens active", in.URL)
			}
		}
	})

	t.Run("one code sent to A and B at once yields exactly one token", func(t *testing.T) {
		for round := range 3 {
			code, verifier := codeAt(t, browser, c.A, confA, "alice")
			confs := []*oauth2.Config{confA, confB, confA, confB}
			errs := make([]error, len(confs))
			var wg sync.WaitGroup
			startGun := make(chan struct{})
			for i, conf := range confs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-startGun
					_, errs[i] = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				}()
			}
			close(startGun)
			wg.Wait()
			ok := 0
			for i, err := range errs {
				if err == nil {
					ok++
					continue
				}
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_grant" {
					t.Errorf("round %d, exchange %d at %s: %v, want 400 invalid_grant", round, i, confs[i].Endpoint.TokenURL, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d of %d concurrent exchanges across A and B succeeded, want exactly 1", round, ok, len(confs))
			}
		}
	})
}

func (c *cluster) testRefreshAcrossInstances(t *testing.T) {
	id, secret := c.client(t, "--name", "Refresher", "--redirect-uri", "http://127.0.0.1:9/cb", "--scopes", "openid,offline_access")
	confA := oauthConf(c.A, id, secret, "openid", "offline_access")
	confB := oauthConf(c.B, id, secret, "openid", "offline_access")
	ctx := context.Background()
	code, verifier := codeAt(t, flowtest.Browser(t), c.A, confA, "alice")
	t1, err := confA.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(conf *oauth2.Config, rt string) (*oauth2.Token, error) {
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}
	t2, err := refresh(confA, t1.RefreshToken)
	if err != nil || t2.RefreshToken == "" || t2.RefreshToken == t1.RefreshToken {
		t.Fatalf("rotation at A: %v", err)
	}
	if !active(t, c.B, id, secret, t2.AccessToken) || !active(t, c.B, id, secret, t2.RefreshToken) {
		t.Fatal("A's rotated tokens are not active at B")
	}
	// Reuse of the rotated token at the other instance: refused, and the
	// whole family (A's newest tokens included) is revoked.
	_, err = refresh(confB, t1.RefreshToken)
	wantInvalidGrant(t, err)
	for _, in := range []*instance{c.A, c.B} {
		if active(t, in, id, secret, t2.AccessToken) || active(t, in, id, secret, t2.RefreshToken) {
			t.Errorf("after reuse at B, %s still reports the newest tokens active", in.URL)
		}
	}
	_, err = refresh(confA, t2.RefreshToken)
	wantInvalidGrant(t, err)
}

func asUser(name string) func(*http.Request) { return basic(name, clusterPass) }

// createKey creates an API key at in (enterprise tier, so polling never
// meets a rate limit) and returns it.
func createKey(t *testing.T, in *instance, user, handle string, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"handle": handle, "scopes": []string{"users:read", "keys:read"}, "tier": "enterprise"}
	for k, v := range extra {
		body[k] = v
	}
	status, m, _ := api(t, http.MethodPost, in.URL+"/user/keys", asUser(user), body)
	key, _ := m["key"].(string)
	if status != http.StatusCreated || key == "" {
		t.Fatalf("create key at %s: %d %v", in.URL, status, m)
	}
	return key
}

// me calls GET /v1/users/me (scope users:read) with key at in.
func me(t *testing.T, in *instance, key string) int {
	status, _, _ := api(t, http.MethodGet, in.URL+"/v1/users/me", bearer(key), nil)
	return status
}

func (c *cluster) testKeysAcrossInstances(t *testing.T) {
	// useEverywhere verifies the key at both instances, so each has it cached.
	useEverywhere := func(t *testing.T, key string) {
		t.Helper()
		for _, in := range []*instance{c.A, c.B, c.B} {
			if s := me(t, in, key); s != http.StatusOK {
				t.Fatalf("key at %s: %d, want 200", in.URL, s)
			}
		}
	}

	t.Run("control: a change made behind Latchkey's back stays unseen (the caches are on)", func(t *testing.T) {
		key := createKey(t, c.A, "alice", "control", nil)
		useEverywhere(t, key)
		res := c.db.Exec("UPDATE api_keys SET revoked_at = now() WHERE handle = 'control'")
		if res.Error != nil || res.RowsAffected != 1 {
			t.Fatalf("revoke by hand: %v (%d rows)", res.Error, res.RowsAffected)
		}
		// No notification was sent, so both instances answer from cache.
		for _, in := range []*instance{c.A, c.B} {
			if s := me(t, in, key); s != http.StatusOK {
				t.Fatalf("after an unannounced revocation %s answers %d, want 200 from its %s cache", in.URL, s, clusterCacheTTL)
			}
		}
		// The same revocation through the API is enforced everywhere.
		if s, m, _ := api(t, http.MethodDelete, c.A.URL+"/user/keys/control", asUser("alice"), nil); s != http.StatusNoContent {
			t.Fatalf("DELETE at A: %d %v", s, m)
		}
		awaitStatus(t, "revocation (control key)", time.Now(), http.StatusUnauthorized, func() int { return me(t, c.B, key) })
	})

	t.Run("created at A, works at B", func(t *testing.T) {
		key := createKey(t, c.A, "alice", "fresh", nil)
		if s := me(t, c.B, key); s != http.StatusOK {
			t.Fatalf("at B: %d", s)
		}
	})

	tests := []struct {
		name string
		// change runs at A and returns when A has answered.
		change func(t *testing.T, handle string)
		want   int
	}{
		{"revoked at A is refused at B within 1s", func(t *testing.T, handle string) {
			if s, m, _ := api(t, http.MethodDelete, c.A.URL+"/user/keys/"+handle, asUser("alice"), nil); s != http.StatusNoContent {
				t.Fatalf("DELETE at A: %d %v", s, m)
			}
		}, http.StatusUnauthorized},
		{"rotated at A with grace 0 is refused at B within 1s", func(t *testing.T, handle string) {
			s, m, _ := api(t, http.MethodPost, c.A.URL+"/user/keys/"+handle+"/rotate", asUser("alice"), map[string]any{"grace_seconds": 0})
			if s != http.StatusCreated {
				t.Fatalf("rotate at A: %d %v", s, m)
			}
			if fresh, _ := m["key"].(string); me(t, c.B, fresh) != http.StatusOK {
				t.Fatal("the rotated-in key does not work at B")
			}
		}, http.StatusUnauthorized},
		{"scopes narrowed at A are enforced at B within 1s", func(t *testing.T, handle string) {
			s, m, _ := api(t, http.MethodPatch, c.A.URL+"/user/keys/"+handle, asUser("alice"), map[string]any{"scopes": []string{"keys:read"}})
			if s != http.StatusOK {
				t.Fatalf("PATCH at A: %d %v", s, m)
			}
		}, http.StatusForbidden},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handle := fmt.Sprintf("k%d", i)
			key := createKey(t, c.A, "alice", handle, nil)
			useEverywhere(t, key) // B has the key cached, for a minute
			tc.change(t, handle)
			awaitStatus(t, tc.name, time.Now(), tc.want, func() int { return me(t, c.B, key) })
			if s := me(t, c.A, key); s != tc.want {
				t.Errorf("at A (which made the change): %d, want %d", s, tc.want)
			}
		})
	}
}

// authorizeStep GETs an authorization URL with a signed-in browser and
// reports whether the consent page was shown; otherwise it returns the
// code from the redirect to the client.
func authorizeStep(t *testing.T, browser *http.Client, authURL string) (consentPage bool, code string) {
	t.Helper()
	resp, body := flowtest.Get(t, browser, authURL)
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="challenge"`):
		return true, ""
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(resp.Header.Get("Location"), "http://127.0.0.1:9/cb?"):
		u, _ := url.Parse(resp.Header.Get("Location"))
		if code = u.Query().Get("code"); code == "" {
			t.Fatalf("redirect without a code: %s", u)
		}
		return false, code
	}
	t.Fatalf("authorize %s: status %d Location %q", authURL, resp.StatusCode, resp.Header.Get("Location"))
	return false, ""
}

// Consent lives only in the database: web/authorize.go reads it with
// GetConsent on every authorization and storage caches only users and
// clients, so there is nothing to invalidate — this shows it holds across
// instances.
func (c *cluster) testConsentAcrossInstances(t *testing.T) {
	id, secret := c.client(t, "--name", "Consent app", "--redirect-uri", "http://127.0.0.1:9/cb", "--scopes", "openid,offline_access")
	confA := oauthConf(c.A, id, secret, "openid", "offline_access")
	confB := oauthConf(c.B, id, secret, "openid", "offline_access")
	browser := flowtest.Browser(t) // one cookie jar: the host is the same, the port is not part of a cookie
	flowtest.Login(t, browser, c.A.URL, "alice", clusterPass)
	verifier := oauth2.GenerateVerifier()
	authURL := func(conf *oauth2.Config) string {
		return conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(verifier))
	}

	if consent, _ := authorizeStep(t, browser, authURL(confA)); !consent {
		t.Fatal("first authorization at A did not ask for consent")
	}
	_, _ = codeAt(t, browser, c.A, confA, "alice") // allows on the consent page
	consent, codeB := authorizeStep(t, browser, authURL(confB))
	if consent {
		t.Fatal("B asked again for the consent given at A")
	}
	tok, err := confB.Exchange(context.Background(), codeB, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	// Revoke the app on B's /authorized page; A must ask again, and the
	// tokens are gone.
	resp, page := flowtest.Get(t, browser, c.B.URL+"/authorized")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "/authorized/"+id+"/revoke") {
		t.Fatalf("/authorized at B: %d, no revoke form for the app", resp.StatusCode)
	}
	resp, body := flowtest.PostForm(t, browser, c.B.URL+"/authorized/"+id+"/revoke",
		url.Values{"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)}}, c.B.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke at B: %d\n%s", resp.StatusCode, body)
	}
	if consent, _ := authorizeStep(t, browser, authURL(confA)); !consent {
		t.Fatal("after revoking the app at B, A did not ask for consent again")
	}
	if active(t, c.A, id, secret, tok.AccessToken) || active(t, c.A, id, secret, tok.RefreshToken) {
		t.Fatal("tokens of the app revoked at B are still active at A")
	}
}

// copyBrowser returns a browser holding the same cookies for base, as a
// copied session cookie would.
func copyBrowser(t *testing.T, from *http.Client, base string) *http.Client {
	t.Helper()
	u, _ := url.Parse(base)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, from.Jar.Cookies(u))
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c *cluster) testLogoutAcrossInstances(t *testing.T) {
	c.user(t, "dave")
	browser := flowtest.Browser(t)
	flowtest.Login(t, browser, c.A.URL, "dave", clusterPass)
	copied := copyBrowser(t, browser, c.B.URL)
	account := func() int {
		resp, _ := flowtest.Get(t, copied, c.B.URL+"/account")
		return resp.StatusCode
	}
	if s := account(); s != http.StatusOK { // B now has dave cached
		t.Fatalf("/account at B with A's session: %d, want 200", s)
	}
	_, page := flowtest.Get(t, browser, c.A.URL+"/account")
	resp, body := flowtest.PostForm(t, browser, c.A.URL+"/logout",
		url.Values{"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)}}, c.A.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout at A: %d\n%s", resp.StatusCode, body)
	}
	// The copy of the cookie is now worthless at B: /account sends it to sign in.
	awaitStatus(t, "logout (sessions_not_before)", time.Now(), http.StatusSeeOther, account)
}

var clientSecretRe = regexp.MustCompile(`id="client-secret"[^>]*>([^<]+)</textarea>`)

// clientCredentials returns the token endpoint's status for a
// client_credentials request at in.
func clientCredentials(t *testing.T, in *instance, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (c *cluster) testClientAcrossInstances(t *testing.T) {
	erin := c.user(t, "erin")
	id, oldSecret := c.client(t, "--name", "Erin's service", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--grant-types", "client_credentials", "--scopes", "users:read", "--owner", erin)
	if s := clientCredentials(t, c.B, id, oldSecret); s != http.StatusOK { // B now has the client cached
		t.Fatalf("client_credentials at B: %d", s)
	}
	browser := flowtest.Browser(t)
	flowtest.Login(t, browser, c.A.URL, "erin", clusterPass)
	appForm := func(action string, form url.Values) (*http.Response, string) {
		t.Helper()
		_, page := flowtest.Get(t, browser, c.A.URL+"/apps/"+id)
		form.Set("csrf_token", flowtest.FormValue(t, flowtest.CSRFRe, page))
		return flowtest.PostForm(t, browser, c.A.URL+"/apps/"+id+action, form, c.A.URL)
	}

	// Rotated with an hour's grace at A: B takes both secrets; the grace
	// ended at A: B refuses the old one.
	resp, body := appForm("/rotate", url.Values{"grace": {"3600"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate with grace at A: %d\n%s", resp.StatusCode, body)
	}
	_, page := flowtest.Get(t, browser, c.A.URL+resp.Header.Get("Location"))
	m := clientSecretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no new secret on the page:\n%s", page)
	}
	graceSecret := strings.TrimSpace(flowtest.HTMLUnescape(m[1]))
	awaitStatus(t, "client secret rotation with grace", time.Now(), http.StatusOK, func() int { return clientCredentials(t, c.B, id, graceSecret) })
	if s := clientCredentials(t, c.B, id, oldSecret); s != http.StatusOK {
		t.Fatalf("the old secret at B during its grace: %d", s)
	}
	if resp, body := appForm("/end-grace", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end grace at A: %d\n%s", resp.StatusCode, body)
	}
	awaitStatus(t, "end of the grace", time.Now(), http.StatusUnauthorized, func() int { return clientCredentials(t, c.B, id, oldSecret) })
	oldSecret = graceSecret

	resp, body = appForm("/rotate", url.Values{"grace": {"0"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate at A: %d\n%s", resp.StatusCode, body)
	}
	rotated := time.Now()
	_, page = flowtest.Get(t, browser, c.A.URL+resp.Header.Get("Location"))
	m = clientSecretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no new secret on the page:\n%s", page)
	}
	newSecret := strings.TrimSpace(flowtest.HTMLUnescape(m[1]))
	awaitStatus(t, "client secret rotation", rotated, http.StatusUnauthorized, func() int { return clientCredentials(t, c.B, id, oldSecret) })
	if s := clientCredentials(t, c.B, id, newSecret); s != http.StatusOK {
		t.Fatalf("the new secret at B: %d", s)
	}

	if resp, body := appForm("/delete", url.Values{"confirm_name": {"Erin's service"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete at A: %d\n%s", resp.StatusCode, body)
	}
	awaitStatus(t, "client deletion", time.Now(), http.StatusUnauthorized, func() int { return clientCredentials(t, c.B, id, newSecret) })
}

// A quick process-level check; ratelimit_api_test.go has the concurrent one.
func (c *cluster) testRateLimitAcrossInstances(t *testing.T) {
	key := createKey(t, c.A, "alice", "tiny", map[string]any{"tier": "tiny"})
	for i, step := range []struct {
		in        *instance
		status    int
		remaining string
	}{
		{c.A, http.StatusOK, "2"}, {c.B, http.StatusOK, "1"}, {c.A, http.StatusOK, "0"},
		{c.B, http.StatusTooManyRequests, "0"}, {c.A, http.StatusTooManyRequests, "0"},
	} {
		s, m, h := api(t, http.MethodGet, step.in.URL+"/v1/users/me", bearer(key), nil)
		if s != step.status || h.Get("X-RateLimit-Remaining") != step.remaining {
			t.Fatalf("request %d at %s: %d remaining %q %v, want %d remaining %s (one budget of 3 for both)",
				i+1, step.in.URL, s, h.Get("X-RateLimit-Remaining"), m, step.status, step.remaining)
		}
	}
}
