package oauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// TestIntrospectionBodyIsFosites holds introspectionBody to the answer
// fosite's WriteIntrospectionResponse writes for the same active token.
func TestIntrospectionBodyIsFosites(t *testing.T) {
	p, _ := newTestProvider(t)
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		req  func() *fosite.Request
	}{
		{"person's token", func() *fosite.Request {
			s := NewSession("alice")
			s.Username = "alice"
			s.SetExpiresAt(fosite.AccessToken, at.Add(time.Hour))
			return &fosite.Request{ID: "g1", RequestedAt: at, Client: &fosite.DefaultClient{ID: "c1"},
				GrantedScope: fosite.Arguments{"openid", "users:read"}, GrantedAudience: fosite.Arguments{"https://api.example"}, Session: s}
		}},
		{"exchanged from a key", func() *fosite.Request {
			s := NewSession("alice")
			s.KeyID = "k1"
			s.SetExpiresAt(fosite.AccessToken, at.Add(time.Minute))
			return &fosite.Request{ID: "g2", RequestedAt: at, Client: &fosite.DefaultClient{ID: "c1"}, GrantedScope: fosite.Arguments{"users:read"}, Session: s}
		}},
		{"client acting for itself, no scope, no expiry", func() *fosite.Request {
			return &fosite.Request{ID: "g3", RequestedAt: at, Client: &fosite.DefaultClient{ID: "c2"}, Session: NewSession("")}
		}},
		{"nothing set", func() *fosite.Request {
			return &fosite.Request{Client: &fosite.DefaultClient{}, Session: NewSession("")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ir := &fosite.IntrospectionResponse{Active: true, AccessRequester: &fosite.AccessRequest{Request: *tc.req()}, TokenUse: fosite.AccessToken}
			w := httptest.NewRecorder()
			p.f.WriteIntrospectionResponse(t.Context(), w, ir)
			var want, got any
			if err := json.Unmarshal(w.Body.Bytes(), &want); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(introspectionBody(ir.GetAccessRequester()))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			wb, _ := json.Marshal(want)
			gb, _ := json.Marshal(got)
			if !bytes.Equal(wb, gb) {
				t.Fatalf("introspectionBody = %s\nfosite writes     %s", gb, wb)
			}
		})
	}
}

// BenchmarkIntrospect is one POST /oauth/introspect of an active access
// token by a resource server, as the bench's introspect scenario sends it,
// with the read caches on as server.Build has them.
func BenchmarkIntrospect(b *testing.B) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "b.db"), 2, storage.WithReadCache(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	p := newTestProviderFor(b, db, nil, nil)
	rs := registerClient(b, p, db, ClientSpec{Name: "API", ResourceServer: true, GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	tok := clientCredentialsToken(b, p, rs)
	form := "token=" + tok + "&token_type_hint=access_token"
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/oauth/introspect", bytes.NewBufferString(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(rs.ID, rs.Secret)
		w := httptest.NewRecorder()
		p.Introspect(w, r)
		if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"active":true`)) {
			b.Fatalf("%d %s", w.Code, w.Body.String())
		}
	}
}

func TestBearerPresented(t *testing.T) {
	for _, tc := range []struct {
		name, auth, body string
		want             bool
	}{
		{"Bearer header", "Bearer abc", "token=x", true},
		{"bearer header, any case", "bEaReR abc", "token=x", true},
		{"empty bearer", "Bearer ", "token=x&access_token=y", false},
		{"access_token parameter", "", "token=x&access_token=y", true},
		{"Basic header", "Basic YTpi", "token=x", false},
		{"Basic header and access_token parameter", "Basic YTpi", "token=x&access_token=y", true},
		{"nothing", "", "token=x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := func() *http.Request {
				r := httptest.NewRequest("POST", "/oauth/introspect", bytes.NewBufferString(tc.body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.auth != "" {
					r.Header.Set("Authorization", tc.auth)
				}
				return r
			}
			want, r := fosite.AccessTokenFromRequest(req()) != "", req()
			if want != tc.want {
				t.Fatalf("fosite says %v, the table %v", want, tc.want)
			}
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if got := bearerPresented(r); got != tc.want {
				t.Fatalf("bearerPresented = %v, want %v", got, tc.want)
			}
		})
	}
}
