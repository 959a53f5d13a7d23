package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/latchkey/latchkey/storage"
)

func testSealer(t testing.TB, b byte) cipher.AEAD {
	block, err := aes.NewCipher([]byte(strings.Repeat(string(rune(b)), 32)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newJWTProvider is a provider whose signing keys are stored (rotation
// possible) under clock, with mutate applied.
func newJWTProvider(t *testing.T, clock *testClock, mutate func(*Config)) (*Provider, *storage.DB, *httptest.Server) {
	t.Helper()
	var p *Provider
	p, db := newTestProviderWith(t, func(c *Config) {
		c.Now = clock.Now
		c.ClientSecretSealer = testSealer(t, 3)
		c.SigningKeySealer = testSealer(t, 4)
		if mutate != nil {
			mutate(c)
		}
	}, nil)
	p.cfg.SigningKeys = db
	p.ring.store, p.ring.sealer = db, p.cfg.SigningKeySealer
	if err := p.LoadSigningKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", p.Token)
	mux.HandleFunc("/oauth/introspect", p.Introspect)
	mux.HandleFunc("/oauth/revoke", p.Revoke)
	mux.HandleFunc("/.well-known/jwks.json", p.ServeJWKS)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return p, db, srv
}

func postForm(t *testing.T, srv *httptest.Server, path string, form url.Values, c *testClient) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c != nil {
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func ccToken(t *testing.T, srv *httptest.Server, c testClient) string {
	t.Helper()
	status, body := postForm(t, srv, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}, &c)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// verifyAccessJWT checks token with go-oidc's verifier against the JWKS the
// server publishes (iss, aud, exp, signature) and the RFC 9068 §2.1 typ
// header, and returns its kid and claims.
func verifyAccessJWT(t *testing.T, srv *httptest.Server, issuer, aud, token string) (string, map[string]any) {
	t.Helper()
	ks := oidc.NewRemoteKeySet(context.Background(), srv.URL+"/.well-known/jwks.json")
	v := oidc.NewVerifier(issuer, ks, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{"RS256", "ES256"}})
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("go-oidc verify: %v", err)
	}
	parsed, err := josejwt.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != AccessTokenJWTType {
		t.Fatalf("typ = %v, want at+jwt", h.ExtraHeaders[jose.HeaderType])
	}
	var claims map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	return h.KeyID, claims
}

func introspectActive(t *testing.T, srv *httptest.Server, c testClient, token string) bool {
	t.Helper()
	status, body := postForm(t, srv, "/oauth/introspect", url.Values{"token": {token}}, &c)
	if status != http.StatusOK {
		t.Fatalf("introspect: %d %v", status, body)
	}
	return body["active"] == true
}

func TestJWTAccessTokenPerClient(t *testing.T) {
	clock := &testClock{t: time.Now()}
	p, db, srv := newJWTProvider(t, clock, nil)
	jc := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}, JWTAccessTokens: true})
	oc := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}})

	tok := ccToken(t, srv, jc)
	kid, claims := verifyAccessJWT(t, srv, p.Issuer(), p.Issuer(), tok)
	if kid != "k1" {
		t.Errorf("kid %q, want the configured key k1", kid)
	}
	for _, k := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	if claims["client_id"] != jc.ID || claims["sub"] != jc.ID || claims["scope"] != "users:read" {
		t.Errorf("claims %v", claims)
	}
	if opaque := ccToken(t, srv, oc); !strings.HasPrefix(opaque, "ory_at_") {
		t.Errorf("a client without the flag got %q, want an opaque token", opaque)
	}

	// Introspection, Latchkey's own validation, revocation.
	if !introspectActive(t, srv, jc, tok) {
		t.Fatal("JWT access token inactive in introspection")
	}
	if _, err := p.ValidateAccessToken(t.Context(), tok); err != nil {
		t.Fatalf("ValidateAccessToken: %v", err)
	}
	if status, body := postForm(t, srv, "/oauth/revoke", url.Values{"token": {tok}}, &jc); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if introspectActive(t, srv, jc, tok) {
		t.Error("revoked JWT access token still active in introspection")
	}
	if _, err := p.ValidateAccessToken(t.Context(), tok); err == nil {
		t.Error("revoked JWT access token accepted by ValidateAccessToken")
	}
	// A forged token: right shape, signed by a key the server does not know.
	other := mustRSA(t)
	forged := signJWT(t, jose.RS256, other, "k1", map[string]any{"iss": p.Issuer(), "exp": time.Now().Add(time.Hour).Unix()}, AccessTokenJWTType)
	if introspectActive(t, srv, jc, forged) {
		t.Error("forged JWT active")
	}
	if _, err := p.ValidateAccessToken(t.Context(), forged); err == nil {
		t.Error("forged JWT accepted")
	}
}

func TestJWTAccessTokensGlobal(t *testing.T) {
	clock := &testClock{t: time.Now()}
	p, db, srv := newJWTProvider(t, clock, func(c *Config) { c.JWTAccessTokens = true })
	c := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}})
	tok := ccToken(t, srv, c)
	verifyAccessJWT(t, srv, p.Issuer(), p.Issuer(), tok)
	if !introspectActive(t, srv, c, tok) {
		t.Error("inactive")
	}
	// Tokens exchanged from API keys stay opaque.
	kt, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "key1", UserID: "u1", Scopes: []string{"users:read"}})
	if err != nil || !strings.HasPrefix(kt, "ory_at_") {
		t.Errorf("key token %q, %v", kt, err)
	}
}

func jwksKids(t *testing.T, srv *httptest.Server) map[string]string {
	t.Helper()
	resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		out[k.KeyID] = k.Algorithm
	}
	return out
}

func TestSigningKeyRotation(t *testing.T) {
	clock := &testClock{t: time.Now()}
	var cfg Config
	p, db, srv := newJWTProvider(t, clock, func(c *Config) { c.JWTAccessTokens = true; cfg = *c })
	c := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}})
	old := ccToken(t, srv, c)
	oldKid, _ := verifyAccessJWT(t, srv, p.Issuer(), p.Issuer(), old)

	// A second instance on the same database.
	cfg.SigningKeys = db
	p2, err := New(cfg, db, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.LoadSigningKeys(t.Context()); err != nil {
		t.Fatal(err)
	}

	newKid, err := p.RotateSigningKey(t.Context(), AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RotateSigningKey(t.Context(), "HS256"); err == nil {
		t.Error("rotate to HS256 accepted")
	}
	kids := jwksKids(t, srv)
	if kids[oldKid] != "RS256" || kids[newKid] != "ES256" {
		t.Fatalf("JWKS after rotation %v, want %s RS256 and %s ES256", kids, oldKid, newKid)
	}
	if algs := p.Discovery().IDTokenSigningAlgValuesSupported; len(algs) != 2 {
		t.Errorf("discovery algs %v", algs)
	}
	// The old token still verifies, the new one carries the new kid.
	verifyAccessJWT(t, srv, p.Issuer(), p.Issuer(), old)
	if !introspectActive(t, srv, c, old) {
		t.Error("token of the retired key inactive")
	}
	fresh := ccToken(t, srv, c)
	if kid, _ := verifyAccessJWT(t, srv, p.Issuer(), p.Issuer(), fresh); kid != newKid {
		t.Errorf("new token kid %q, want %q", kid, newKid)
	}
	// The other instance learns of the rotation (the bus's Invalidate, or
	// an unknown kid) and accepts and signs with the new key.
	if _, err := p2.ValidateAccessToken(t.Context(), fresh); err != nil {
		t.Errorf("second instance refused the new key's token: %v", err)
	}
	p2.KeyRing().Invalidate(storage.Invalidation{Topic: storage.TopicSigningKey, ID: newKid})
	if k, _ := p2.ring.signing(t.Context()); k.kid != newKid {
		t.Errorf("second instance signs with %q, want %q", k.kid, newKid)
	}

	// Once every token of the old key has expired, it leaves the JWKS.
	clock.Set(clock.Now().Add(time.Hour + time.Minute))
	kids = jwksKids(t, srv)
	if _, ok := kids[oldKid]; ok || kids[newKid] != "ES256" {
		t.Errorf("JWKS after expiry %v, want only %s", kids, newKid)
	}
	if algs := p.Discovery().IDTokenSigningAlgValuesSupported; len(algs) != 1 || algs[0] != "ES256" {
		t.Errorf("discovery algs %v, want [ES256]", algs)
	}
}

func TestValidateJWKS(t *testing.T) {
	priv := mustRSA(t)
	pubSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "a"}}})
	privSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "a"}}})
	symSet := []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"s"}]}`)
	encSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "a", Use: "enc"}}})
	tests := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"public RSA", pubSet, true},
		{"private key", privSet, false},
		{"symmetric key", symSet, false},
		{"encryption key", encSet, false},
		{"empty", []byte(`{"keys":[]}`), false},
		{"not JSON", []byte(`{`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ValidateJWKS(tc.raw)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && set.Keys[0].Use != "sig" {
				t.Errorf("use %q", set.Keys[0].Use)
			}
		})
	}
}
