// Package flowtest drives Latchkey the way a browser and an OAuth client do
// (login form, consent form, client_credentials), for tests that talk to a
// server over HTTP: the in-process harness (internal/servertest) and the
// process-level tests in e2e/. It is test support only.
package flowtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser returns a client with a cookie jar that does not follow
// redirects, so each hop can be inspected.
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// CSRFRe and ChallengeRe find the hidden form fields of the login and
// consent pages.
var (
	CSRFRe      = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	ChallengeRe = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
)

// FormValue extracts a hidden field from an HTML page.
func FormValue(t testing.TB, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("field %s not found in page:\n%s", re, body)
	}
	return HTMLUnescape(m[1])
}

// HTMLUnescape undoes html/template's escaping of attribute values.
func HTMLUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#61;", "=", "&amp;", "&", "&#34;", `"`, "&#39;", "'").Replace(s)
}

// Get fetches u and returns the response with its body read.
func Get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// PostForm posts a form as a browser on origin would.
func PostForm(t testing.TB, c *http.Client, u string, v url.Values, origin string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Login signs the browser in at base through the real login form.
func Login(t testing.TB, c *http.Client, base, username, password string) {
	t.Helper()
	_, page := Get(t, c, base+"/login")
	tok := FormValue(t, CSRFRe, page)
	resp, body := PostForm(t, c, base+"/login", url.Values{"username": {username}, "password": {password}, "csrf_token": {tok}, "next": {"/"}}, base)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d\n%s", resp.StatusCode, body)
	}
}

// Authorize drives the browser from the authorization URL through login
// (when needed) and consent (decision allow/deny) to the redirect back to
// the client, returning the final redirect URL. base is the server the
// browser talks to (relative redirects are resolved against it).
func Authorize(t testing.TB, c *http.Client, base, authURL, username, password, decision string) *url.URL {
	t.Helper()
	next := authURL
	for i := 0; i < 10; i++ {
		resp, body := Get(t, c, next)
		switch {
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
			Login(t, c, base, username, password)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			next = base + loc.Query().Get("next")
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="challenge"`):
			v := url.Values{"csrf_token": {FormValue(t, CSRFRe, body)}, "challenge": {FormValue(t, ChallengeRe, body)}, "decision": {decision}}
			resp2, body2 := PostForm(t, c, base+"/oauth/consent", v, base)
			if resp2.StatusCode < 300 || resp2.StatusCode > 399 {
				t.Fatalf("consent: status %d\n%s", resp2.StatusCode, body2)
			}
			u, _ := url.Parse(resp2.Header.Get("Location"))
			return u
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc := resp.Header.Get("Location")
			if strings.HasPrefix(loc, "/") {
				next = base + loc
				continue
			}
			u, _ := url.Parse(loc)
			return u
		default:
			t.Fatalf("authorize: unexpected status %d at %s\n%s", resp.StatusCode, next, body)
		}
	}
	t.Fatal("authorize: too many hops")
	return nil
}

// ClientToken gets a client_credentials access token for scope (RFC 6749
// §4.4) from base with HTTP Basic client authentication.
func ClientToken(t testing.TB, base, id, secretValue, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secretValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// APICall sends one API request and decodes a JSON answer.
func APICall(t testing.TB, method, u, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: non-JSON answer %d: %s", method, u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// BasicHeader is the Authorization header value of HTTP Basic user:pass.
func BasicHeader(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}
