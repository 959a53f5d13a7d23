package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

func newTestProvider(t *testing.T) (*Provider, *storage.DB) {
	t.Helper()
	return newTestProviderWith(t, nil, nil)
}

// newTestProviderOn is newTestProvider with the provider's Backend made by
// wrap from the database (nil: the database itself).
func newTestProviderOn(t testing.TB, wrap func(*storage.DB) Backend) (*Provider, *storage.DB) {
	t.Helper()
	return newTestProviderWith(t, nil, wrap)
}

// newTestProviderWith is newTestProvider with configuration changes and,
// when wrap is set, the provider's storage seen through wrap.
func newTestProviderWith(t testing.TB, mutate func(*Config), wrap func(*storage.DB) Backend) (*Provider, *storage.DB) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "o.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return newTestProviderFor(t, db, mutate, wrap), db
}

// newTestProviderFor is newTestProviderWith on db, migrated already.
func newTestProviderFor(t testing.TB, db *storage.DB, mutate func(*Config), wrap func(*storage.DB) Backend) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	h, err := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Issuer: "https://issuer.example", AccessTokenLifespan: time.Hour, RefreshTokenLifespan: 24 * time.Hour,
		AuthorizeCodeLifespan: 10 * time.Minute, IDTokenLifespan: time.Hour,
		HMACKey: bytes.Repeat([]byte{7}, 32), SigningKey: key, SigningKeyID: "k1", Hasher: h, MaxBodyBytes: 1024,
		// The access-token cache is on, wired as server.Build wires it, so
		// every test here also proves it never answers for a token that
		// is gone.
		TokenCacheTTL: time.Minute,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	var backend Backend = db
	if wrap != nil {
		backend = wrap(db)
	}
	p, err := New(cfg, backend, db)
	if err != nil {
		t.Fatal(err)
	}
	db.OnChange(p.Invalidate)
	return p
}

func TestJSONToForm(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]string
		ok         bool
	}{
		{"strings", `{"grant_type":"client_credentials","client_id":"a"}`, map[string]string{"grant_type": "client_credentials", "client_id": "a"}, true},
		{"number and bool", `{"n":3,"b":true}`, map[string]string{"n": "3", "b": "true"}, true},
		{"scope array", `{"scope":["a","b"]}`, map[string]string{"scope": "a b"}, true},
		{"null dropped", `{"x":null,"y":"1"}`, map[string]string{"y": "1"}, true},
		{"other array", `{"client_id":["a","b"]}`, nil, false},
		{"nested object", `{"client_id":{"a":1}}`, nil, false},
		{"array body", `["a"]`, nil, false},
		{"broken", `{"a":`, nil, false},
		{"two objects", `{"a":"1"}{"b":"2"}`, nil, false},
		{"null body", `null`, nil, false},
		{"scope array with number", `{"scope":["a",1]}`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := jsonToForm([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			for k, v := range tc.want {
				if f.Get(k) != v {
					t.Fatalf("%s = %q, want %q", k, f.Get(k), v)
				}
			}
			if tc.ok && len(f) != len(tc.want) {
				t.Fatalf("form %v, want %v", f, tc.want)
			}
		})
	}
}

func TestNormalizeBody(t *testing.T) {
	p, _ := newTestProvider(t)
	tests := []struct {
		name, method, ct, body string
		wantErr                error
		wantTooLarge           bool
	}{
		{"form", "POST", "application/x-www-form-urlencoded", "a=1&b=2", nil, false},
		{"form with charset", "POST", "application/x-www-form-urlencoded; charset=utf-8", "a=1", nil, false},
		{"json", "POST", "application/json", `{"a":"1"}`, nil, false},
		{"duplicate", "POST", "application/x-www-form-urlencoded", "a=1&a=2", fosite.ErrInvalidRequest, false},
		{"text/plain", "POST", "text/plain", "a=1", fosite.ErrInvalidRequest, false},
		{"no content type", "POST", "", "a=1", fosite.ErrInvalidRequest, false},
		{"GET", "GET", "application/x-www-form-urlencoded", "", fosite.ErrInvalidRequest, false},
		{"too large", "POST", "application/x-www-form-urlencoded", "a=" + strings.Repeat("x", 2048), nil, true},
		{"bad escape", "POST", "application/x-www-form-urlencoded", "a=%zz", fosite.ErrInvalidRequest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/oauth/token", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			err := p.normalizeBody(httptest.NewRecorder(), r)
			switch {
			case tc.wantTooLarge:
				if !errors.Is(err, errBodyTooLarge) {
					t.Fatalf("err = %v, want too large", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if err := r.ParseForm(); err != nil || r.PostForm.Get("a") != "1" {
					t.Fatalf("rewritten body: %v %v", r.PostForm, err)
				}
			}
		})
	}
}

// TestStoreContracts pins the fosite storage contracts that make replay and
// reuse detection work.
func TestStoreContracts(t *testing.T) {
	p, _ := newTestProvider(t)
	s := p.store
	ctx := context.Background()
	req := fosite.NewRequest()
	req.Client = &client{id: "c1"}
	req.Session = NewSession("u1")
	req.Form.Set("client_secret", "never-stored")
	req.Form.Set("redirect_uri", "https://app.example/cb")
	if err := s.CreateAuthorizeCodeSession(ctx, "code-sig", req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthorizeCodeSession(ctx, "code-sig", NewSession(""))
	if err != nil || got.GetID() != req.GetID() || got.GetSession().GetSubject() != "u1" {
		t.Fatalf("get code: %v %+v", err, got)
	}
	if got.GetRequestForm().Get("client_secret") != "" || got.GetRequestForm().Get("redirect_uri") == "" {
		t.Fatalf("stored form %v", got.GetRequestForm())
	}
	if err := s.InvalidateAuthorizeCodeSession(ctx, "code-sig"); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetAuthorizeCodeSession(ctx, "code-sig", NewSession(""))
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || got == nil || got.GetID() != req.GetID() {
		t.Fatalf("used code must come back with ErrInvalidatedAuthorizeCode and the request: %v %v", err, got)
	}
	if err := s.InvalidateAuthorizeCodeSession(ctx, "code-sig"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("second invalidation: %v", err)
	}
	if _, err := s.GetAuthorizeCodeSession(ctx, "missing", NewSession("")); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("missing code: %v", err)
	}

	if err := s.CreateAccessTokenSession(ctx, "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshTokenSession(ctx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateRefreshToken(ctx, req.GetID(), "rt-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-1", NewSession("")); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("rotation must delete the old access token: %v", err)
	}
	got, err = s.GetRefreshTokenSession(ctx, "rt-1", NewSession(""))
	if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != req.GetID() {
		t.Fatalf("rotated refresh token must come back with ErrInactiveToken and the request: %v %v", err, got)
	}
	if err := s.RotateRefreshToken(ctx, req.GetID(), "rt-1"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("second rotation: %v", err)
	}
	if err := s.CreateRefreshTokenSession(ctx, "rt-2", "at-2", req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccessTokenSession(ctx, "at-2", req); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeRefreshToken(ctx, req.GetID()); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAccessToken(ctx, req.GetID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt-2", NewSession("")); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("family revocation: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-2", NewSession("")); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("family revocation of access token: %v", err)
	}
	if err := s.SetClientAssertionJWT(ctx, "jti-1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ClientAssertionJWTValid(ctx, "jti-1"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("known jti: %v", err)
	}
	if err := s.SetClientAssertionJWT(ctx, "jti-1", time.Now().Add(time.Minute)); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("replayed jti: %v", err)
	}
}

func TestIssWriter(t *testing.T) {
	tests := []struct{ loc, want string }{
		{"https://app.example/cb?code=x&state=s", "https://app.example/cb?code=x&iss=https%3A%2F%2Fissuer.example&state=s"},
		{"https://app.example/cb#code=x", "https://app.example/cb#code=x&iss=https%3A%2F%2Fissuer.example"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		w := issWriter{ResponseWriter: rec, iss: "https://issuer.example"}
		w.Header().Set("Location", tc.loc)
		w.WriteHeader(http.StatusSeeOther)
		if got := rec.Header().Get("Location"); got != tc.want {
			t.Errorf("Location = %q, want %q", got, tc.want)
		}
	}
}

// TestJSONRepeatedParameterRefused: a JSON token-endpoint body naming a
// parameter twice (also through an escape) is invalid_request, as the
// same parameter twice in a form is (RFC 6749 §3.2). Before the fix the
// JSON decoder kept the last value silently, so the two body formats
// disagreed and a filter reading the first value saw another request
// than the server.
func TestJSONRepeatedParameterRefused(t *testing.T) {
	for _, body := range []string{
		`{"grant_type":"client_credentials","client_id":"a","client_id":"b"}`,
		`{"client_id":"a","client\u005fid":"b"}`,
		`{"scope":"a","scope":["b"]}`,
		`{"x":null,"x":"1"}`,
	} {
		if f, err := jsonToForm([]byte(body)); err == nil {
			t.Errorf("%s: accepted as %v", body, f)
		}
	}
	if _, err := jsonToForm([]byte(`{"a":"1","b":{"a":1}}`)); err == nil {
		t.Error("nested object must still be refused")
	}
}
