package openapitest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rl is a complete set of rate-limit headers.
func rl(h http.Header) http.Header {
	h.Set("X-RateLimit-Limit", "1000")
	h.Set("X-RateLimit-Remaining", "999")
	h.Set("X-RateLimit-Reset", "1767272400")
	h.Set("RateLimit-Policy", `"free";q=1000;w=3600`)
	h.Set("RateLimit", `"free";r=999;t=3600`)
	return h
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}

const goodUser = `{"id":"u1","username":"alice","email":"a@example.com","name":"Alice","created_at":"2026-01-01T12:00:00.123456789Z","tenants":[{"id":"u1","name":"alice's workspace","role":"owner"}]}`

// TestCheckCatchesWrongResponses: each deliberately wrong response is
// refused — the checks the harness hook relies on can fail.
func TestCheckCatchesWrongResponses(t *testing.T) {
	v := MustNew(t)
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		want               string // "" = valid
		undocumented       bool
	}{
		{name: "valid user", method: "GET", path: "/v1/users/me", status: 200, header: rl(jsonHeader()), body: goodUser},
		{name: "field missing", method: "GET", path: "/v1/users/me", status: 200, header: rl(jsonHeader()),
			body: `{"id":"u1","username":"alice","email":"","name":"","created_at":"2026-01-01T12:00:00Z"}`, want: "tenants"},
		{name: "field not documented", method: "GET", path: "/user", status: 200, header: rl(jsonHeader()),
			body: strings.Replace(goodUser, `"id":"u1",`, `"id":"u1","password_hash":"x",`, 1), want: "password_hash"},
		{name: "wrong type", method: "GET", path: "/v1/workspace", status: 200, header: rl(jsonHeader()),
			body: `{"id":1,"name":"w","role":"owner"}`, want: "id"},
		{name: "rate-limit header not a number", method: "GET", path: "/v1/workspace", status: 200,
			header: func() http.Header { h := rl(jsonHeader()); h.Set("X-RateLimit-Remaining", "lots"); return h }(),
			body:   `{"id":"1","name":"w","role":"owner"}`, want: "X-RateLimit-Remaining"},
		{name: "token without no-store", method: "POST", path: "/tokens/generate", status: 200, header: rl(jsonHeader()),
			body: `{"token":"t","token_type":"Bearer","expires_in":3600,"expires_at":"2026-01-01T13:00:00Z","scope":""}`, want: "Cache-Control"},
		{name: "ETag missing", method: "GET", path: "/openapi.json", status: 200,
			header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"public"}},
			body:   `{"openapi":"3.1.0","info":{},"paths":{}}`, want: "ETag"},
		{name: "undocumented status", method: "GET", path: "/user/keys", status: 418, header: jsonHeader(),
			body: `{"error":"invalid_request","message":"teapot"}`, undocumented: true},
		{name: "undocumented route", method: "GET", path: "/v1/secret-admin", status: 200, header: jsonHeader(),
			body: `{}`, undocumented: true},
		{name: "undocumented method", method: "PUT", path: "/user/keys", status: 200, header: jsonHeader(),
			body: `{}`, undocumented: true},
		{name: "error code not in SPEC §3.5", method: "GET", path: "/user/keys/x", status: 404, header: jsonHeader(),
			body: `{"error":"no_such_key","message":"No."}`, want: "error"},
		{name: "401 without WWW-Authenticate", method: "GET", path: "/tokens/test", status: 401, header: jsonHeader(),
			body: `{"error":"missing_api_key","message":"Send a key."}`, want: "WWW-Authenticate"},
		{name: "429 without Retry-After", method: "GET", path: "/tokens/test", status: 429, header: jsonHeader(),
			body: `{"error":"rate_limit_exceeded","message":"Later."}`, want: "Retry-After"},
		{name: "OAuth error without error", method: "POST", path: "/oauth/token", status: 400, header: jsonHeader(),
			body: `{"error_description":"x"}`, want: "error"},
		{name: "no-route 404 with the API error body", method: "GET", path: "/nope", status: 404, header: jsonHeader(),
			body: `{"error":"not_found","message":"No such endpoint."}`},
		{name: "no-route 404 with another body", method: "GET", path: "/nope", status: 404, header: jsonHeader(),
			body: `{"detail":"missing"}`, want: "Error"},
		{name: "HTML page not in the document", method: "GET", path: "/keys", status: 200,
			header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, body: "<html></html>"},
		{name: "204 with a body", method: "DELETE", path: "/user/keys/x", status: 204, header: jsonHeader(),
			body: `{"ok":true}`, want: "does not describe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			err := v.Check(req, tc.status, tc.header, []byte(tc.body))
			switch {
			case tc.undocumented:
				if !errors.Is(err, ErrUndocumented) {
					t.Fatalf("err = %v, want ErrUndocumented", err)
				}
			case tc.want == "" && err != nil:
				t.Fatalf("valid response refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// fakeT records Errorf calls.
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Errorf(format string, args ...any) { f.errs = append(f.errs, format) }
func (f *fakeT) Helper()                           {}

// TestHandlerFailsTheTest: the harness wrapper reports a wrong response
// to the test and still delivers it unchanged.
func TestHandlerFailsTheTest(t *testing.T) {
	v := MustNew(t)
	ft := &fakeT{TB: t}
	h := v.Handler(ft, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"status":"fine"}`)) // healthz answers {"status":"ok"}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if len(ft.errs) != 1 {
		t.Fatalf("errors reported = %d, want 1", len(ft.errs))
	}
	if rec.Code != 200 || rec.Body.String() != `{"status":"fine"}` || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("response changed: %d %q", rec.Code, rec.Body.String())
	}
}

// TestClientFailsTheTest: the checking client reports a wrong response
// and still returns it whole.
func TestClientFailsTheTest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"fine"}`))
	}))
	defer srv.Close()
	ft := &fakeT{TB: t}
	resp, err := MustNew(t).Client(ft).Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(ft.errs) != 1 || string(b) != `{"status":"fine"}` {
		t.Fatalf("errors %d, body %q", len(ft.errs), b)
	}
}
