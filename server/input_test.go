package server

import (
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// fakePager renders a recognisable stand-in for the HTML error page.
type fakePager struct{}

func (fakePager) ErrorPage(c *gin.Context, status int, code, desc string) {
	c.Data(status, "text/html; charset=utf-8", []byte("<code>"+code+"</code> "+desc))
	c.Abort()
}

// inputEngine mounts checkInput globally and checkForm on a page route,
// as New does, over handlers that answer 200.
func inputEngine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(requestID(), checkInput(fakePager{}))
	ok := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	e.GET("/user/keys/:handle", ok)
	e.POST("/oauth/token", ok)
	e.GET("/oauth/userinfo", ok)
	e.GET("/healthz", ok)
	pages := e.Group("/", checkForm(fakePager{}))
	pages.GET("/keys/:handle", ok)
	pages.POST("/login", ok)
	pages.GET("/oauth/authorize", ok)
	return e
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestBadTextIsRefusedAtTheBoundary: a NUL byte or invalid UTF-8 anywhere
// the server reads text — path, query, form, read headers, decoded Basic
// credentials — is 400 invalid_request in the endpoint's own format, and
// the handler never runs (PostgreSQL would refuse the text with a 500).
func TestBadTextIsRefusedAtTheBoundary(t *testing.T) {
	mp := func(kv ...string) (string, string) {
		var b strings.Builder
		w := multipart.NewWriter(&b)
		for i := 0; i+1 < len(kv); i += 2 {
			_ = w.WriteField(kv[i], kv[i+1])
		}
		_ = w.Close()
		return w.FormDataContentType(), b.String()
	}
	mpCT, mpBody := mp("username", "al\x00ice", "password", "x")
	mpOKCT, mpOKBody := mp("username", "alice", "password", "x")
	tests := []struct {
		name, method, target string
		header               map[string]string
		ctype, body          string
		status               int
		format               string // api, oauth, page; "" = passed through
	}{
		{name: "good API request passes", method: "GET", target: "/user/keys/ci?x=%C3%A9", status: 200},
		{name: "NUL in key handle path", method: "GET", target: "/user/keys/ab%00c", status: 400, format: "api"},
		{name: "invalid UTF-8 in key handle path", method: "GET", target: "/user/keys/ab%FFc", status: 400, format: "api"},
		{name: "overlong NUL in path", method: "GET", target: "/user/keys/%C0%80", status: 400, format: "api"},
		{name: "NUL in a query value", method: "GET", target: "/user/keys/ci?alias=a%00", status: 400, format: "api"},
		{name: "NUL in a query name", method: "GET", target: "/user/keys/ci?a%00=1", status: 400, format: "api"},
		{name: "invalid UTF-8 in Authorization", method: "GET", target: "/user/keys/ci", header: map[string]string{"Authorization": "Bearer tok\xff"}, status: 400, format: "api"},
		{name: "NUL in Basic username", method: "GET", target: "/user/keys/ci", header: map[string]string{"Authorization": basicAuth("al\x00ice", "pw")}, status: 400, format: "api"},
		{name: "invalid UTF-8 in Basic password", method: "GET", target: "/user/keys/ci", header: map[string]string{"Authorization": basicAuth("alice", "\xff")}, status: 400, format: "api"},
		{name: "good Basic passes", method: "GET", target: "/user/keys/ci", header: map[string]string{"Authorization": basicAuth("alice", "pässword")}, status: 200},
		{name: "invalid UTF-8 in X-Request-Id", method: "GET", target: "/healthz", header: map[string]string{"X-Request-Id": "\xff"}, status: 400, format: "api"},
		{name: "invalid UTF-8 in Content-Type", method: "POST", target: "/oauth/token", header: map[string]string{"Content-Type": "application/json; x=\xff"}, status: 400, format: "oauth"},
		{name: "URL-escaped NUL in Basic client id", method: "POST", target: "/oauth/token", header: map[string]string{"Authorization": basicAuth("client%00", "secret")}, status: 400, format: "oauth"},
		{name: "NUL in token endpoint query", method: "POST", target: "/oauth/token?client_id=%00", status: 400, format: "oauth"},
		{name: "userinfo carries a Bearer challenge", method: "GET", target: "/oauth/userinfo", header: map[string]string{"Authorization": "Bearer \xff"}, status: 400, format: "oauth"},
		{name: "NUL in authorize query is a page", method: "GET", target: "/oauth/authorize?state=%00", status: 400, format: "page"},
		{name: "NUL in page path", method: "GET", target: "/keys/ab%00c", status: 400, format: "page"},
		{name: "NUL in login form", method: "POST", target: "/login", ctype: "application/x-www-form-urlencoded", body: "username=al%00ice&password=x", status: 400, format: "page"},
		{name: "invalid UTF-8 in login form", method: "POST", target: "/login", ctype: "application/x-www-form-urlencoded", body: "username=alice&password=%FF", status: 400, format: "page"},
		{name: "NUL in a multipart login form", method: "POST", target: "/login", ctype: mpCT, body: mpBody, status: 400, format: "page"},
		{name: "good multipart login form passes", method: "POST", target: "/login", ctype: mpOKCT, body: mpOKBody, status: 200},
		{name: "good login form passes", method: "POST", target: "/login", ctype: "application/x-www-form-urlencoded", body: "username=z%C3%B6e&password=x", status: 200},
		{name: "unknown path is a page", method: "GET", target: "/nope%00", status: 400, format: "page"},
	}
	e := inputEngine()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://x/", strings.NewReader(tc.body))
			u, err := url.ParseRequestURI(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			r.URL, r.RequestURI = u, tc.target
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if id := rec.Header().Get("X-Request-Id"); strings.ContainsRune(id, 0xFFFD) || strings.Contains(id, "\xff") {
				t.Errorf("X-Request-Id %q echoes bad text", id)
			}
			checkRefusal(t, rec, tc.format, tc.target)
		})
	}
}

func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder, format, target string) {
	t.Helper()
	var body map[string]any
	switch format {
	case "":
		if rec.Body.String() != "ok" {
			t.Fatalf("handler did not run: %s", rec.Body)
		}
		return
	case "page":
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(rec.Body.String(), "<code>invalid_request</code>") {
			t.Fatalf("want the HTML error page, got %q %s", ct, rec.Body)
		}
		return
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "invalid_request" {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	msgField := "message" // SPEC §3.5
	if format == "oauth" {
		msgField = "error_description" // RFC 6749 §5.2
	}
	if msg, _ := body[msgField].(string); !strings.Contains(msg, "NUL byte or is not valid UTF-8") {
		t.Errorf("%s = %q", msgField, msg)
	}
	if strings.HasPrefix(target, "/oauth/userinfo") && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge (RFC 6750 §3)", rec.Header().Get("WWW-Authenticate"))
	}
}

func TestErrorFormat(t *testing.T) {
	for path, want := range map[string]int{
		"/user": formatAPI, "/user/keys/x": formatAPI, "/v1/keys/verify": formatAPI, "/tokens/generate": formatAPI,
		"/healthz": formatAPI, "/readyz": formatAPI, "/metrics": formatAPI,
		"/oauth/token": formatOAuth, "/oauth/revoke": formatOAuth, "/oauth/userinfo": formatOAuth, "/.well-known/jwks.json": formatOAuth,
		"/oauth/authorize": formatPage, "/oauth/consent": formatPage, "/oauth/logout": formatPage, "/oauth/logout/confirm": formatPage,
		"/login": formatPage, "/keys/x": formatPage, "/": formatPage,
		"/users": formatPage,
	} {
		if got := errorFormat(path); got != want {
			t.Errorf("errorFormat(%q) = %d, want %d", path, got, want)
		}
	}
}
