package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/internal/textcheck"
	"github.com/latchkey/latchkey/storage"
)

// errPGText is what PostgreSQL answers for a NUL byte or invalid UTF-8 in
// a text parameter (SQLite stores both).
var errPGText = errors.New(`ERROR: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`)

// pgTextBackend is the SQLite backend refusing text as PostgreSQL does, so
// a test on SQLite sees the 500 a PostgreSQL deployment would.
type pgTextBackend struct {
	Backend
}

func pgText(args ...string) error {
	for _, a := range args {
		if !textcheck.Valid(a) {
			return errPGText
		}
	}
	return nil
}

func (b pgTextBackend) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := pgText(id); err != nil {
		return nil, err
	}
	return b.Backend.GetClient(ctx, id)
}

func (b pgTextBackend) CreateRequest(ctx context.Context, r *storage.Request) error {
	if err := pgText(string(r.Kind), r.Signature, r.RequestID, r.ClientID, r.Subject, r.AccessSignature); err != nil {
		return err
	}
	return b.Backend.CreateRequest(ctx, r)
}

func (b pgTextBackend) GetRequest(ctx context.Context, kind storage.Kind, sig string) (*storage.Request, error) {
	if err := pgText(sig); err != nil {
		return nil, err
	}
	return b.Backend.GetRequest(ctx, kind, sig)
}

func (b pgTextBackend) DeactivateRequest(ctx context.Context, kind storage.Kind, sig string) error {
	if err := pgText(sig); err != nil {
		return err
	}
	return b.Backend.DeactivateRequest(ctx, kind, sig)
}

func (b pgTextBackend) DeleteRequest(ctx context.Context, kind storage.Kind, sig string) error {
	if err := pgText(sig); err != nil {
		return err
	}
	return b.Backend.DeleteRequest(ctx, kind, sig)
}

func (b pgTextBackend) DeactivateByRequestID(ctx context.Context, kind storage.Kind, id string) (int64, error) {
	if err := pgText(id); err != nil {
		return 0, err
	}
	return b.Backend.DeactivateByRequestID(ctx, kind, id)
}

func (b pgTextBackend) DeleteByRequestID(ctx context.Context, kind storage.Kind, id string) (int64, error) {
	if err := pgText(id); err != nil {
		return 0, err
	}
	return b.Backend.DeleteByRequestID(ctx, kind, id)
}

func (b pgTextBackend) RevokeGrants(ctx context.Context, subject, clientID string) error {
	if err := pgText(subject, clientID); err != nil {
		return err
	}
	return b.Backend.RevokeGrants(ctx, subject, clientID)
}

func (b pgTextBackend) MarkJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := pgText(jti); err != nil {
		return err
	}
	return b.Backend.MarkJTI(ctx, jti, exp)
}

func (b pgTextBackend) JTIKnown(ctx context.Context, jti string) (bool, error) {
	if err := pgText(jti); err != nil {
		return false, err
	}
	return b.Backend.JTIKnown(ctx, jti)
}

// newPGTextProvider returns a provider over pgTextBackend with one
// confidential client allowed every grant the provider serves.
func newPGTextProvider(t testing.TB) (p *Provider, clientID, clientSecret string) {
	t.Helper()
	p, db := newTestProviderOn(t, func(db *storage.DB) Backend { return pgTextBackend{db} })
	rec, plain, err := p.NewClientRecord(ClientSpec{Name: "App", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scopes: []string{"openid", "offline_access", "users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return p, rec.ID, plain
}

func protocolPost(h http.HandlerFunc, path, ctype, body, basicUser, basicPass string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if basicUser != "" {
		r.SetBasicAuth(basicUser, basicPass)
	}
	rec := httptest.NewRecorder()
	h(rec, r)
	return rec
}

// TestNULInTokenRequestIs400: a NUL byte or invalid UTF-8 in any parameter
// of a protocol POST body — form or JSON — is RFC 6749 §5.2
// invalid_request, on a store that refuses such text as PostgreSQL does
// (before the fix: 500 server_error for codes and refresh tokens).
func TestNULInTokenRequestIs400(t *testing.T) {
	p, id, sec := newPGTextProvider(t)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	enc := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	tests := []struct {
		name     string
		endpoint http.HandlerFunc
		ctype    string
		body     string
		basic    bool
		status   int
	}{
		{"code", p.Token, form, enc("grant_type", "authorization_code", "code", "ory_ac_x.sig\x00", "redirect_uri", "https://app.example/cb"), true, 400},
		{"refresh token", p.Token, form, enc("grant_type", "refresh_token", "refresh_token", "ory_rt_x.\xff\xfe"), true, 400},
		{"client_id in the body", p.Token, form, enc("grant_type", "client_credentials", "client_id", id+"\x00", "client_secret", sec), false, 400},
		{"grant type", p.Token, form, enc("grant_type", "client_credentials\x00"), true, 400},
		{"parameter name", p.Token, form, enc("grant_type", "client_credentials", "x\x00", "1"), true, 400},
		{"JSON NUL escape", p.Token, js, `{"grant_type":"refresh_token","refresh_token":"ory_rt_x.a\u0000"}`, true, 400},
		{"JSON invalid UTF-8", p.Token, js, "{\"grant_type\":\"client_credentials\",\"scope\":\"users:read\xff\"}", true, 400},
		{"revoke", p.Revoke, form, enc("token", "ory_at_x.\x00"), true, 400},
		{"introspect", p.Introspect, form, enc("token", "ory_at_x.\x00"), true, 400},
		{"PAR", p.PAR, form, enc("response_type", "code", "client_id", id, "redirect_uri", "https://app.example/cb", "state", "\x00"), true, 400},
		{"good text still works", p.Token, form, enc("grant_type", "client_credentials", "scope", "users:read"), true, 200},
		{"unicode that is valid text is an ordinary bad grant", p.Token, form, enc("grant_type", "refresh_token", "refresh_token", "ory_rt_x.🔥"), true, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := "", ""
			if tc.basic {
				user, pass = id, sec
			}
			rec := protocolPost(tc.endpoint, "/oauth/x", tc.ctype, tc.body, user, pass)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			if tc.status == 400 {
				want := "invalid_request"
				if strings.HasPrefix(tc.name, "unicode") {
					want = "invalid_grant"
				}
				if body["error"] != want {
					t.Fatalf("error %v, want %s: %s", body["error"], want, rec.Body)
				}
			}
		})
	}
}

func TestCheckBodyText(t *testing.T) {
	if err := checkBodyText("application/json", []byte(`{"a":"\u0000"}`), url.Values{"a": {"\x00"}}); !errors.Is(err, fosite.ErrInvalidRequest) {
		t.Fatalf("JSON NUL: %v", err)
	}
	// The JSON decoder turns invalid bytes into U+FFFD: the raw body decides.
	if err := checkBodyText("application/json", []byte("{\"a\":\"\xff\"}"), url.Values{"a": {"\uFFFD"}}); !errors.Is(err, fosite.ErrInvalidRequest) {
		t.Fatalf("JSON invalid UTF-8: %v", err)
	}
	if err := checkBodyText("application/x-www-form-urlencoded", []byte("a=%FF"), url.Values{"a": {"\xff"}}); !errors.Is(err, fosite.ErrInvalidRequest) {
		t.Fatalf("form invalid UTF-8: %v", err)
	}
	if err := checkBodyText("application/x-www-form-urlencoded", []byte("a=%C3%A9"), url.Values{"a": {"é"}}); err != nil {
		t.Fatalf("good form: %v", err)
	}
}

// FuzzTokenEndpoint drives POST /oauth/token with any body and content
// type, with or without the client's HTTP Basic credentials, on a store
// that refuses text as PostgreSQL does: the endpoint never panics, never
// answers 5xx, and always answers RFC 6749 JSON (§5.1 or §5.2).
func FuzzTokenEndpoint(f *testing.F) {
	p, id, sec := newPGTextProvider(f)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	for _, s := range []struct {
		ctype, body string
		basic       bool
	}{
		{form, "grant_type=client_credentials&scope=users%3Aread", true},
		{form, "grant_type=client_credentials&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(sec), false},
		{js, `{"grant_type":"client_credentials","client_id":"` + id + `","client_secret":"` + sec + `","scope":["users:read"]}`, false},
		{form, "grant_type=authorization_code&code=ory_ac_abc.def&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=x", true},
		{form, "grant_type=refresh_token&refresh_token=ory_rt_abc.def%00", true},
		{form, "grant_type=client_credentials&grant_type=client_credentials", true},
		{form, "grant_type=password&username=a&password=b", true},
		{form, "a=%zz", true},
		{js, `{"grant_type":{"a":1}}`, true},
		{js, `{"grant_type":"refresh_token","refresh_token":"x.\u0000"}`, true},
		{js, `[1,2]`, true},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n", true},
		{"text/plain", "grant_type=client_credentials", true},
		{"", "", false},
		{"application/x-www-form-urlencoded; charset=\xff", "grant_type=client_credentials", true},
	} {
		f.Add(s.ctype, []byte(s.body), s.basic)
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte, basic bool) {
		user, pass := "", ""
		if basic {
			user, pass = id, sec
		}
		rec := protocolPost(p.Token, "/oauth/token", ctype, string(body), user, pass)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q %q: %s", rec.Code, ctype, body, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			if out["access_token"] == nil || out["token_type"] != "bearer" {
				t.Fatalf("200 without a token: %s", rec.Body)
			}
		} else if s, _ := out["error"].(string); s == "" {
			t.Fatalf("status %d without an RFC 6749 error: %s", rec.Code, rec.Body)
		}
	})
}
