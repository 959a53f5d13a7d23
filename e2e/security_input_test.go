package e2e

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestBadTextIsNever5xxOnPostgres drives `latchkey serve` on PostgreSQL —
// which refuses NUL bytes and invalid UTF-8 in text, where SQLite stores
// them — with such text in every place a request carries it: the path (a
// key handle), a JSON value (a key's alias), the Authorization header, HTTP
// Basic credentials, the OAuth token form and JSON bodies, the login form
// (username) and the app form (client name and redirect URI). Every answer
// is 400 invalid_request in the endpoint's documented format; none is 5xx,
// nothing is stored, and the server logs no error.
func TestBadTextIsNever5xxOnPostgres(t *testing.T) {
	e := newEnv(t)
	e["LATCHKEY_STORAGE_DSN"] = postgresDSN(t)
	const user, pass = "nul", "nul-password-123"
	cli(t, e, "user", "create", "--username", user, "--password", pass)
	cid, csec := createClient(t, e, "--name", "Svc", "--redirect-uri", "https://app.example/cb",
		"--grant-types", "authorization_code,refresh_token,client_credentials")
	in := start(t, e)

	type answer struct {
		status int
		body   string
		ctype  string
	}
	send := func(method, path, ctype, body string, header map[string]string) answer {
		t.Helper()
		req, err := http.NewRequest(method, in.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b), resp.Header.Get("Content-Type")}
	}
	pw := map[string]string{"Authorization": "Basic " + basicAuth(user, pass)}
	const js, form = "application/json", "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		field                           string // the error body's description field
	}{
		{"NUL in a key handle", "GET", "/user/keys/ab%00c", "", "", pw, "message"},
		{"invalid UTF-8 in a key handle", "DELETE", "/user/keys/ab%FFc", "", "", pw, "message"},
		{"NUL in an alias", "POST", "/user/keys", js, `{"handle":"nul","alias":"a\u0000b"}`, pw, "message"},
		{"invalid UTF-8 in an alias", "POST", "/user/keys", js, "{\"handle\":\"nul\",\"alias\":\"a\xffb\"}", pw, "message"},
		{"NUL in a nested scope", "POST", "/user/keys", js, `{"handle":"nul","scopes":["\u0000"]}`, pw, "message"},
		{"NUL in a query", "GET", "/user/keys?x=%00", "", "", pw, "message"},
		{"invalid UTF-8 in a bearer token", "GET", "/tokens/test", "", "", map[string]string{"Authorization": "Bearer lk_live_\xff"}, "message"},
		{"NUL in a Basic username", "GET", "/user", "", "", map[string]string{"Authorization": "Basic " + basicAuth(user+"\x00", pass)}, "message"},
		{"NUL in a token form", "POST", "/oauth/token", form, "grant_type=authorization_code&code=ory_ac_a.b%00&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
			map[string]string{"Authorization": "Basic " + basicAuth(cid, csec)}, "error_description"},
		{"invalid UTF-8 in a token form", "POST", "/oauth/token", form, "grant_type=refresh_token&refresh_token=ory_rt_a.%FF",
			map[string]string{"Authorization": "Basic " + basicAuth(cid, csec)}, "error_description"},
		{"NUL in a token JSON body", "POST", "/oauth/token", js, `{"grant_type":"refresh_token","refresh_token":"ory_rt_a.\u0000","client_id":"` + cid + `","client_secret":"` + csec + `"}`, nil, "error_description"},
		{"NUL in a Basic client id", "POST", "/oauth/token", form, "grant_type=client_credentials",
			map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(cid+"%00:"+csec))}, "error_description"},
		{"NUL in a revoked token", "POST", "/oauth/revoke", form, "token=ory_at_a.%00", map[string]string{"Authorization": "Basic " + basicAuth(cid, csec)}, "error_description"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := send(tc.method, tc.path, tc.ctype, tc.body, tc.header)
			if a.status != http.StatusBadRequest || !strings.HasPrefix(a.ctype, "application/json") ||
				!strings.Contains(a.body, `"error":"invalid_request"`) || !strings.Contains(a.body, `"`+tc.field+`"`) {
				t.Fatalf("%d %s %s", a.status, a.ctype, a.body)
			}
		})
	}

	// The pages: the login form's username, the app form's name and
	// redirect URI, and a page path, each with a valid CSRF token.
	b := flowtest.Browser(t)
	_, page := flowtest.Get(t, b, in.URL+"/login")
	tok := flowtest.FormValue(t, flowtest.CSRFRe, page)
	pageCases := []struct {
		name, path string
		form       url.Values
	}{
		{"NUL in the login username", "/login", url.Values{"username": {user + "\x00"}, "password": {pass}}},
		{"invalid UTF-8 in the login password", "/login", url.Values{"username": {user}, "password": {pass + "\xff"}}},
	}
	for _, tc := range pageCases {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf_token", tok)
			resp, body := flowtest.PostForm(t, b, in.URL+tc.path, tc.form, in.URL)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "<code>invalid_request</code>") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	flowtest.Login(t, b, in.URL, user, pass)
	_, page = flowtest.Get(t, b, in.URL+"/apps")
	tok = flowtest.FormValue(t, flowtest.CSRFRe, page)
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"NUL in a client name", url.Values{"name": {"App\x00"}, "client_type": {"confidential"}, "redirect_uris": {"https://app.example/cb"}}},
		{"invalid UTF-8 in a redirect URI", url.Values{"name": {"App"}, "client_type": {"confidential"}, "redirect_uris": {"https://app.example/cb\xff"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf_token", tok)
			resp, body := flowtest.PostForm(t, b, in.URL+"/apps", tc.form, in.URL)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "<code>invalid_request</code>") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	if resp, body := flowtest.Get(t, b, in.URL+"/keys/ab%00c"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "<code>invalid_request</code>") {
		t.Fatalf("page path: %d %s", resp.StatusCode, body)
	}

	// Nothing was stored, the server still serves, and it logged no error.
	if code, l, _ := api(t, "GET", in.URL+"/user/keys", basic(user, pass), nil); code != http.StatusOK || len(l["keys"].([]any)) != 0 {
		t.Fatalf("keys after the refusals: %d %v", code, l)
	}
	if code, k, _ := api(t, "POST", in.URL+"/user/keys", basic(user, pass), map[string]any{"handle": "ok", "alias": "Zoë's key"}); code != http.StatusCreated {
		t.Fatalf("create a key: %d %v", code, k)
	}
	if logs := in.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, "SQLSTATE") {
		t.Fatalf("the server logged an error:\n%s", logs)
	}
}
