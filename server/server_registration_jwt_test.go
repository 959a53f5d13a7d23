package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/dpop"
)

// TestRegistrationPrivateKeyJWT: a client registers dynamically with
// token_endpoint_auth_method private_key_jwt and its public JWK Set (RFC
// 7591 §2), gets no secret, and authenticates at the token endpoint with an
// assertion signed by its key (RFC 7523 §2.2); a replayed assertion, a
// JWK Set carrying a private key and keys for another method are refused.
func TestRegistrationPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, func(c *config.Config) {
		c.OAuth.Registration.GrantTypes = []string{"client_credentials"}
		c.OAuth.Registration.Scopes = []string{"users:read"}
	})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})

	for name, body := range map[string]string{
		"a private key in jwks":     `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"ES256","jwks":` + string(priv) + `}`,
		"jwks with a secret method": `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","jwks":` + string(pub) + `}`,
		"no keys":                   `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}`,
		"jwks_uri over plain http":  `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://keys.example.test/jwks"}`,
	} {
		code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "", body)
		if code != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %v, want 400 invalid_client_metadata", name, code, m)
		}
	}

	code, reg, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "",
		`{"client_name":"Keyed","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"ES256","jwks":`+string(pub)+`}`)
	id, _ := reg["client_id"].(string)
	if code != http.StatusCreated || id == "" || reg["client_secret"] != nil || reg["token_endpoint_auth_method"] != "private_key_jwt" || reg["jwks"] == nil {
		t.Fatalf("register: %d %v", code, reg)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := josejwt.Signed(signer).Claims(map[string]any{
		"iss": id, "sub": id, "aud": s.URL + "/oauth/token", "jti": "dcr-1",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
	}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	code, tok, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/x-www-form-urlencoded", "", form.Encode())
	if code != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("token with the assertion: %d %v", code, tok)
	}
	if tt, _ := tok["token_type"].(string); !strings.EqualFold(tt, "bearer") {
		t.Errorf("token_type = %v", tok["token_type"])
	}
	// The same assertion again: jti replay (RFC 7523 §3).
	if code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/x-www-form-urlencoded", "", form.Encode()); code != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Fatalf("replayed assertion: %d %v, want 401 invalid_client", code, m)
	}
}

// TestRegistrationDPoPBound: a client registered dynamically with
// dpop_bound_access_tokens (RFC 9449 §5.2) gets no token without a DPoP
// proof, and a DPoP-bound one with it.
func TestRegistrationDPoPBound(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, func(c *config.Config) {
		c.OAuth.Registration.GrantTypes = []string{"client_credentials"}
		c.OAuth.Registration.Scopes = []string{"users:read"}
	})
	code, reg, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "",
		`{"client_name":"Bound","grant_types":["client_credentials"],"dpop_bound_access_tokens":true}`)
	id, _ := reg["client_id"].(string)
	sec, _ := reg["client_secret"].(string)
	if code != http.StatusCreated || id == "" || sec == "" || reg["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %v", code, reg)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}.Encode()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
	if code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/x-www-form-urlencoded", basic, form); code != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("token without a proof: %d %v, want 400 invalid_dpop_proof", code, m)
	}
	signer, err := dpop.NewES256Signer()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := signer.Proof(http.MethodPost, s.URL+"/oauth/token", "", "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.Header.Set("Authorization", basic)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != http.StatusOK || tok["token_type"] != "DPoP" {
		t.Fatalf("token with a proof: %d %v, want 200 token_type DPoP", resp.StatusCode, tok)
	}
}
