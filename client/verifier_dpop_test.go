package client_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/oauth"
)

// TestVerifierDPoPAgainstServer: the middleware admits a DPoP-bound token
// (RFC 9449) from a real Latchkey server only as "Authorization: DPoP"
// with a proof of its key for this request, and refuses it as Bearer, with
// a replayed proof, with wrong htm/htu, an ath of another token, another
// key's proof; a bearer token sent with the DPoP scheme is refused too.
func TestVerifierDPoPAgainstServer(t *testing.T) {
	t.Parallel()
	s := servertest.New(t)
	rsID, rsSecret := s.CreateClient(t, oauth.ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"keys:verify"}, ResourceServer: true})
	appID, appSecret := s.CreateClient(t, oauth.ClientSpec{Name: "App", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	key, _ := dpop.NewES256Signer()
	other, _ := dpop.NewES256Signer()

	token := func(proof string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(appID, appSecret)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("token: %d %v", resp.StatusCode, m)
		}
		return m
	}
	p, _ := key.Proof("POST", s.URL+"/oauth/token", "", "")
	bound := token(p)["access_token"].(string)
	bearer := token("")["access_token"].(string)

	v := client.NewVerifier(s.URL, rsID, rsSecret, client.WithPublicURL("https://rs.example"))
	h := v.Middleware("users:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := client.IdentityFrom(r.Context())
		_, _ = w.Write([]byte(id.DPoPJKT))
	}))
	const rsURL = "https://rs.example/things"
	call := func(authz, proof string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://internal:8080/things?page=2", nil)
		r.Header.Set("Authorization", authz)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	mk := func(s *dpop.Signer, method, u, tok string) string {
		p, err := s.Proof(method, u, tok, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := mk(key, "GET", rsURL, bound)
	if w := call("DPoP "+bound, first); w.Code != 200 || w.Body.String() != key.JKT() {
		t.Fatalf("bound token with its proof: %d %s", w.Code, w.Body)
	}
	if w := call("Bearer "+bearer, ""); w.Code != 200 {
		t.Fatalf("bearer token: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct{ name, authz, proof, code string }{
		{"bound token as Bearer", "Bearer " + bound, "", "invalid_token"},
		{"bound token as Bearer with a proof", "Bearer " + bound, mk(key, "GET", rsURL, bound), "invalid_token"},
		{"replayed proof", "DPoP " + bound, first, "invalid_dpop_proof"},
		{"no proof", "DPoP " + bound, "", "invalid_dpop_proof"},
		{"wrong htm", "DPoP " + bound, mk(key, "POST", rsURL, bound), "invalid_dpop_proof"},
		{"wrong htu", "DPoP " + bound, mk(key, "GET", "https://rs.example/other", bound), "invalid_dpop_proof"},
		{"ath of another token", "DPoP " + bound, mk(key, "GET", rsURL, bearer), "invalid_dpop_proof"},
		{"another key", "DPoP " + bound, mk(other, "GET", rsURL, bound), "invalid_dpop_proof"},
		{"bearer token with the DPoP scheme", "DPoP " + bearer, mk(key, "GET", rsURL, bearer), "invalid_token"},
	} {
		w := call(tc.authz, tc.proof)
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		ch := w.Header().Get("WWW-Authenticate")
		if w.Code != 401 || body["error"] != tc.code || !strings.HasPrefix(ch, "DPoP algs=") {
			t.Errorf("%s: %d %v %q", tc.name, w.Code, body, ch)
		}
	}
}
