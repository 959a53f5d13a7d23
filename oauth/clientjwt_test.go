package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
)

func mustRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signJWT signs claims with key under alg, kid and typ ("" = none).
func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any, typ string) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(claims).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedJWT is an alg none token (RFC 7519 §6).
func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "kid": "c1"})
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

var jtiSeq int

func assertionClaimsFor(p *Provider, id string, mutate func(map[string]any)) map[string]any {
	jtiSeq++
	c := map[string]any{
		"iss": id, "sub": id, "aud": p.Issuer() + "/oauth/token",
		"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(),
		"jti": "jti-" + time.Now().Format("150405.000000000") + "-" + string(rune('a'+jtiSeq%26)) + url.QueryEscape(time.Now().String()),
	}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func assertionGrant(id, assertion string) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id},
		"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion},
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	clock := &testClock{t: time.Now()}
	p, db, srv := newJWTProvider(t, clock, nil)
	key := mustRSA(t)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "c1", Algorithm: "RS256", Use: "sig"}}})
	c := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}, AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set)})
	if c.Secret != "" {
		t.Errorf("a private_key_jwt client got a secret")
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: "e1"}}})
	ec := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}, AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(ecSet), AuthSigningAlg: "ES256"})
	// jwks_uri, served on loopback (the test provider does not block it).
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) }))
	t.Cleanup(jwksSrv.Close)
	uc := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}, AuthMethod: AuthMethodPrivateKeyJWT, JWKSURI: jwksSrv.URL + "/jwks.json"})
	sc := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}, AuthMethod: AuthMethodSecretJWT})
	basic := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}})

	other := mustRSA(t)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	replayed := signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, nil), "")

	tests := []struct {
		name      string
		id        string
		assertion string
		want      int
	}{
		{"signed assertion", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, nil), ""), http.StatusOK},
		{"first use", c.ID, replayed, http.StatusOK},
		{"replayed jti", c.ID, replayed, http.StatusUnauthorized},
		{"aud the issuer", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { m["aud"] = p.Issuer() }), ""), http.StatusOK},
		{"no kid", c.ID, signJWT(t, jose.RS256, key, "", assertionClaimsFor(p, c.ID, nil), ""), http.StatusOK},
		{"ES256 client", ec.ID, signJWT(t, jose.ES256, ecKey, "e1", assertionClaimsFor(p, ec.ID, nil), ""), http.StatusOK},
		{"jwks_uri client", uc.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, uc.ID, nil), ""), http.StatusOK},
		{"client_secret_jwt", sc.ID, signJWT(t, jose.HS256, []byte(sc.Secret), "", assertionClaimsFor(p, sc.ID, nil), ""), http.StatusOK},
		{"client_secret_jwt wrong secret", sc.ID, signJWT(t, jose.HS256, []byte("not-the-secret-not-the-secret-xx"), "", assertionClaimsFor(p, sc.ID, nil), ""), http.StatusUnauthorized},
		{"wrong aud", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { m["aud"] = "https://other.example/token" }), ""), http.StatusUnauthorized},
		{"expired", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { m["exp"] = time.Now().Add(-time.Minute).Unix() }), ""), http.StatusUnauthorized},
		{"exp too far", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { m["exp"] = time.Now().Add(time.Hour).Unix() }), ""), http.StatusUnauthorized},
		{"no exp", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { delete(m, "exp") }), ""), http.StatusUnauthorized},
		{"no jti", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { delete(m, "jti") }), ""), http.StatusUnauthorized},
		{"wrong iss", c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, func(m map[string]any) { m["iss"] = ec.ID }), ""), http.StatusUnauthorized},
		{"wrong key", c.ID, signJWT(t, jose.RS256, other, "c1", assertionClaimsFor(p, c.ID, nil), ""), http.StatusUnauthorized},
		{"unknown kid", c.ID, signJWT(t, jose.RS256, key, "zz", assertionClaimsFor(p, c.ID, nil), ""), http.StatusUnauthorized},
		{"alg none", c.ID, unsignedJWT(assertionClaimsFor(p, c.ID, nil)), http.StatusUnauthorized},
		{"HS256 with the RSA public key", c.ID, signJWT(t, jose.HS256, pubDER, "c1", assertionClaimsFor(p, c.ID, nil), ""), http.StatusUnauthorized},
		{"ES256 for an RS256 client", c.ID, signJWT(t, jose.ES256, ecKey, "c1", assertionClaimsFor(p, c.ID, nil), ""), http.StatusUnauthorized},
		{"assertion for a secret client", basic.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, basic.ID, nil), ""), http.StatusUnauthorized},
		{"unknown client", "nobody", signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, "nobody", nil), ""), http.StatusUnauthorized},
		{"garbage", c.ID, "not.a.jwt", http.StatusUnauthorized},
		{"empty", c.ID, "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postForm(t, srv, "/oauth/token", assertionGrant(tc.id, tc.assertion), nil)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %v", status, tc.want, body)
			}
			if tc.want == http.StatusUnauthorized && body["error"] != "invalid_client" {
				t.Errorf("error %v, want invalid_client", body["error"])
			}
		})
	}
	t.Run("secret besides the assertion", func(t *testing.T) {
		f := assertionGrant(sc.ID, signJWT(t, jose.HS256, []byte(sc.Secret), "", assertionClaimsFor(p, sc.ID, nil), ""))
		f.Set("client_secret", sc.Secret)
		if status, _ := postForm(t, srv, "/oauth/token", f, nil); status != http.StatusUnauthorized {
			t.Errorf("status %d", status)
		}
	})
	t.Run("wrong assertion type", func(t *testing.T) {
		f := assertionGrant(c.ID, replayed)
		f.Set("client_assertion_type", "urn:other")
		if status, body := postForm(t, srv, "/oauth/token", f, nil); status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Errorf("status %d %v", status, body)
		}
	})
	t.Run("secret methods refuse an assertion-only client's basic auth", func(t *testing.T) {
		if status, _ := postForm(t, srv, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, &testClient{ID: c.ID, Secret: "x"}); status != http.StatusUnauthorized {
			t.Errorf("status %d", status)
		}
	})
}

func TestRegisterJWTAuth(t *testing.T) {
	p, _ := newTestProviderWith(t, func(c *Config) { c.ClientSecretSealer = testSealer(t, 3) }, nil)
	key := mustRSA(t)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "c1"}}})
	tests := []struct {
		name string
		spec ClientSpec
		ok   bool
	}{
		{"jwks", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set)}, true},
		{"jwks_uri", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT, JWKSURI: "https://app.example/jwks.json"}, true},
		{"neither", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT}, false},
		{"both", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set), JWKSURI: "https://app.example/jwks.json"}, false},
		{"http jwks_uri", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT, JWKSURI: "http://app.example/jwks.json"}, false},
		{"HS256 for private_key_jwt", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set), AuthSigningAlg: "HS256"}, false},
		{"none alg", ClientSpec{AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set), AuthSigningAlg: "none"}, false},
		{"client_secret_jwt", ClientSpec{AuthMethod: AuthMethodSecretJWT}, true},
		{"client_secret_jwt with jwks", ClientSpec{AuthMethod: AuthMethodSecretJWT, JWKS: string(set)}, false},
		{"jwks for a secret client", ClientSpec{JWKS: string(set)}, false},
		{"public private_key_jwt", ClientSpec{Public: true, AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.GrantTypes = "App", []string{"client_credentials"}
			rec, plain, err := p.NewClientRecord(tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && tc.spec.AuthMethod == AuthMethodSecretJWT && (plain == "" || len(rec.SecretSealed) == 0) {
				t.Error("client_secret_jwt client without a sealed secret")
			}
		})
	}
}

// TestValidateJWKSBoundsRSAKeySize: every client assertion is verified
// with the client's registered key before its jti is checked, so an RSA
// key of hundreds of thousands of bits (it fits the 64 KiB JWK Set, and
// open registration lets anyone register one) would make each token
// request cost seconds of CPU (RSA verification grows with the
// modulus). Keys above maxRSABits are refused at registration.
func TestValidateJWKSBoundsRSAKeySize(t *testing.T) {
	for _, tc := range []struct {
		bits int
		ok   bool
	}{{2048, true}, {maxRSABits, true}, {maxRSABits + 1, false}, {300000, false}} {
		n := new(big.Int).Lsh(big.NewInt(1), uint(tc.bits-1))
		n.SetBit(n, 0, 1) // odd: only its size matters here
		set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rsa.PublicKey{N: n, E: 65537}, KeyID: "k"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(set) > maxJWKSBytes {
			set = set[:maxJWKSBytes] // too large anyway; the size rule refuses it
		}
		if _, err := ValidateJWKS(set); (err == nil) != tc.ok {
			t.Errorf("%d-bit RSA key: err = %v, want ok=%v", tc.bits, err, tc.ok)
		}
	}
}
