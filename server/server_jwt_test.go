package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

// TestE2EJWTAccessTokens: with oauth.jwt_access_tokens the server starts
// and issues RFC 9068 tokens that go-oidc's verifier accepts with the
// served JWKS (iss, aud = the issuer, exp, signature); Latchkey's own API
// accepts them until they are revoked; after `keys rotate` the old token
// still works and new tokens are ES256 under the new kid.
func TestE2EJWTAccessTokens(t *testing.T) {
	t.Parallel()
	s := newTestServerWith(t, func(c *config.Config) { c.OAuth.JWTAccessTokens = true })
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read", "keys:verify"}, ResourceServer: true})
	cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: s.URL + "/oauth/token", Scopes: []string{"keys:verify"}}
	verifier := oidc.NewVerifier(s.URL, oidc.NewRemoteKeySet(context.Background(), s.URL+"/.well-known/jwks.json"),
		&oidc.Config{ClientID: s.URL, SupportedSigningAlgs: []string{"RS256", "ES256"}})
	token := func() string {
		t.Helper()
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifier.Verify(context.Background(), tok.AccessToken); err != nil {
			t.Fatalf("go-oidc: %v", err)
		}
		return tok.AccessToken
	}
	verify := func(tok string) int {
		code, _, _ := apiCall(t, "POST", s.URL+"/v1/keys/verify", "Bearer "+tok, `{"key":"lk_live_nothing"}`)
		return code
	}
	first := token()
	if code := verify(first); code != http.StatusOK {
		t.Fatalf("API refused the JWT access token: %d", code)
	}
	kid, err := s.App.RotateSigningKey(t.Context(), oauth.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	second := token()
	if !strings.Contains(second, ".") || verify(second) != http.StatusOK || verify(first) != http.StatusOK {
		t.Fatal("tokens of the old or new key refused after rotation")
	}
	keys := s.App.SigningKeys(t.Context())
	if len(keys) != 2 || keys[0].KID != kid || keys[0].Alg != "ES256" || !keys[0].Signing {
		t.Fatalf("keys %+v", keys)
	}
	// Revocation reaches the API.
	resp, err := http.PostForm(s.URL+"/oauth/revoke", url.Values{"token": {first}, "client_id": {id}, "client_secret": {sec}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if code := verify(first); code != http.StatusUnauthorized {
		t.Errorf("revoked JWT: %d, want 401", code)
	}
}
