package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestOnTokenIssued checks that issued tokens, and only those, are reported
// with their grant.
func TestOnTokenIssued(t *testing.T) {
	p, db := newTestProvider(t)
	var grants []string
	p.cfg.OnTokenIssued = func(g string) { grants = append(grants, g) }
	rec, sec, err := p.NewClientRecord(ClientSpec{Name: "M2M", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	token := func(secretValue string) int {
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rec.ID, secretValue)
		w := httptest.NewRecorder()
		p.Token(w, req)
		return w.Code
	}
	if code := token(sec + "x"); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", code)
	}
	if len(grants) != 0 {
		t.Fatalf("a refused request was counted: %v", grants)
	}
	if code := token(sec); code != http.StatusOK {
		t.Fatalf("client_credentials: %d", code)
	}
	if _, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "k1", UserID: "u1", Scopes: []string{"users:read"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"client_credentials", GrantAPIKeyExchange}; !slices.Equal(grants, want) {
		t.Fatalf("reported %v, want %v", grants, want)
	}
}
