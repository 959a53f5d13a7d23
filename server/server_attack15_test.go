package server_test

// Findings of the attack15 review of the device grant, dynamic
// registration, resource indicators, JWT access tokens and JWT client
// authentication: each test failed before its fix.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

// registerKeyedClient registers a private_key_jwt client for
// client_credentials with a fresh ES256 key and returns its id and signer.
func registerKeyedClient(t *testing.T, s *testServer, name string) (string, jose.Signer) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	code, reg, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "",
		`{"client_name":"`+name+`","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"ES256","jwks":`+string(pub)+`}`)
	id, _ := reg["client_id"].(string)
	if code != http.StatusCreated || id == "" {
		t.Fatalf("register: %d %v", code, reg)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	return id, signer
}

// assertionToken asks for a client_credentials token with an assertion
// of jti signed by signer for client id.
func assertionToken(t *testing.T, s *testServer, id string, signer jose.Signer, jti string) (int, map[string]any) {
	t.Helper()
	assertion, err := josejwt.Signed(signer).Claims(map[string]any{
		"iss": id, "sub": id, "aud": s.URL + "/oauth/token", "jti": jti,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
	}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/x-www-form-urlencoded", "", form.Encode())
	return code, m
}

// TestAttackAssertionJTIPerClient: the replay cache of client assertions
// (RFC 7523 §3) is per client — one client's jti does not lock another
// client out — and a long jti (up to the 200 characters checkAssertion
// allows) is remembered on every backend instead of failing with a 5xx
// (PostgreSQL's jti column holds 128 characters); a replay of either is
// still refused.
func TestAttackAssertionJTIPerClient(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := newRegistrationServer(t, config.RegistrationOpen, func(c *config.Config) {
				b.Configure(t, c)
				c.OAuth.Registration.GrantTypes = []string{"client_credentials"}
				c.OAuth.Registration.Scopes = []string{"users:read"}
			})
			a, signA := registerKeyedClient(t, s, "A")
			bID, signB := registerKeyedClient(t, s, "B")
			if code, m := assertionToken(t, s, a, signA, "shared-jti"); code != http.StatusOK {
				t.Fatalf("A: %d %v", code, m)
			}
			if code, m := assertionToken(t, s, bID, signB, "shared-jti"); code != http.StatusOK {
				t.Fatalf("B with the jti A used: %d %v, want 200 (jtis are per client)", code, m)
			}
			long := strings.Repeat("j", 200)
			if code, m := assertionToken(t, s, a, signA, long); code != http.StatusOK {
				t.Fatalf("A with a 200-character jti: %d %v", code, m)
			}
			for _, jti := range []string{"shared-jti", long} {
				if code, m := assertionToken(t, s, a, signA, jti); code != http.StatusUnauthorized || m["error"] != "invalid_client" {
					t.Fatalf("A replaying jti %.10q: %d %v, want 401 invalid_client", jti, code, m)
				}
			}
		})
	}
}

// TestAttackConsentNamesDynamicClientsUnverified: anyone may register a
// client when registration is open, naming it and its logo as they like
// (RFC 7591 §5 warns of exactly this impersonation). Its consent page
// must not vouch for it as the operator's ("Registered by this
// Latchkey’s operator", what a client from `latchkey client create` says)
// but say that it registered itself and that its name is unverified.
func TestAttackConsentNamesDynamicClientsUnverified(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, nil)
	s.CreateUser(t, "victim", "correct horse battery staple")
	code, reg, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "", `{
		"client_name": "Latchkey Account Security", "redirect_uris": ["https://evil.example/cb"],
		"token_endpoint_auth_method": "none", "scope": "openid users:read"}`)
	id, _ := reg["client_id"].(string)
	if code != http.StatusCreated || id == "" {
		t.Fatalf("register: %d %v", code, reg)
	}
	c := browser(t)
	s.Login(t, c, "victim", "correct horse battery staple")
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"https://evil.example/cb"},
		"scope": {"openid users:read"}, "state": {"st"}, "code_challenge_method": {"S256"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}
	resp, page := get(t, c, s.URL+"/oauth/authorize?"+q.Encode())
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="challenge"`) {
		t.Fatalf("authorize: %d, want the consent page\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "Registered by this Latchkey’s operator") {
		t.Error("the consent page of a self-registered client says the operator registered it")
	}
	if !strings.Contains(page, "not verified") {
		t.Error("the consent page of a self-registered client does not say its name is not verified")
	}

	// An operator's client still reads as the operator's.
	opID, _ := s.CreateClient(t, oauth.ClientSpec{Name: "Operator App", RedirectURIs: []string{e2eRedirect}, Scopes: []string{"openid", "users:read"}})
	q.Set("client_id", opID)
	q.Set("redirect_uri", e2eRedirect)
	if _, page := get(t, c, s.URL+"/oauth/authorize?"+q.Encode()); !strings.Contains(page, "Registered by this Latchkey’s operator") || strings.Contains(page, "not verified") {
		t.Errorf("the operator's client's consent page changed:\n%s", page)
	}
}

// deviceToken polls once with the device client of e, with extra
// parameters, and returns the status and body.
func deviceToken(t *testing.T, e *deviceEnv, deviceCode string, extra url.Values) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {oauth.GrantTypeDeviceCode}, "device_code": {deviceCode}}
	for k, vs := range extra {
		v[k] = vs
	}
	resp, b := postValues(t, e.s.URL+"/oauth/token", v, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
	return resp.StatusCode, decodeObject(t, b)
}

// TestAttackDeviceGrantHonoursResource: RFC 8707 resource indicators
// reach the device grant as they reach the code flow. Before, the device
// code's token request accepted resource=<MCP server> and ignored it: the
// token had no audience, so it was refused by the MCP server it was
// asked for and accepted by Latchkey's own API (a token leaked by that
// resource server could be replayed at the API). Now the resource named
// at the device authorization request or at the token request becomes
// the token's audience, and a resource the device authorization did not
// name is invalid_target.
func TestAttackDeviceGrantHonoursResource(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, func(c *config.Config) {
		c.OAuth.Resources = []config.Resource{{URI: mcpResource}, {URI: otherResource}}
	})
	introspectAud := func(token string) any {
		t.Helper()
		resp, b := postValues(t, e.s.URL+"/oauth/introspect", url.Values{"token": {token}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
		m := decodeObject(t, b)
		if resp.StatusCode != http.StatusOK || m["active"] != true {
			t.Fatalf("introspect: %d %v", resp.StatusCode, m)
		}
		return m["aud"]
	}
	atAPI := func(token string) int {
		t.Helper()
		code, _, _ := rawCall(t, http.MethodGet, e.s.URL+"/v1/users/me", "", "Bearer "+token, "")
		return code
	}

	// The resource named only at the token request.
	da := e.deviceAuth(t)
	e.approve(t, da.UserCode, "allow")
	code, tok := deviceToken(t, e, da.DeviceCode, url.Values{"resource": {mcpResource}})
	access, _ := tok["access_token"].(string)
	if code != http.StatusOK || access == "" {
		t.Fatalf("device token with resource: %d %v", code, tok)
	}
	if aud := introspectAud(access); !strings.Contains(fmt.Sprint(aud), mcpResource) {
		t.Errorf("aud of the device token for %s = %v", mcpResource, aud)
	}
	if got := atAPI(access); got != http.StatusUnauthorized {
		t.Errorf("Latchkey's API with a token for %s: %d, want 401", mcpResource, got)
	}

	// Named at the device authorization request: another one at the
	// token request is invalid_target, and the code stays usable.
	dr, b := postValues(t, e.s.URL+"/oauth/device_authorization", url.Values{"client_id": {e.conf.ClientID},
		"scope": {"openid offline_access"}, "resource": {mcpResource}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
	dm := decodeObject(t, b)
	deviceCode, _ := dm["device_code"].(string)
	userCode, _ := dm["user_code"].(string)
	if dr.StatusCode != http.StatusOK || deviceCode == "" {
		t.Fatalf("device authorization with resource: %d %v", dr.StatusCode, dm)
	}
	e.approve(t, userCode, "allow")
	if code, m := deviceToken(t, e, deviceCode, url.Values{"resource": {otherResource}}); code != http.StatusBadRequest || m["error"] != "invalid_target" {
		t.Fatalf("device token for a resource not named at authorization: %d %v, want 400 invalid_target", code, m)
	}
	code, tok = deviceToken(t, e, deviceCode, nil)
	access, _ = tok["access_token"].(string)
	if code != http.StatusOK || access == "" {
		t.Fatalf("device token: %d %v", code, tok)
	}
	if aud := introspectAud(access); !strings.Contains(fmt.Sprint(aud), mcpResource) {
		t.Errorf("aud of the device token = %v, want %s", aud, mcpResource)
	}
	if got := atAPI(access); got != http.StatusUnauthorized {
		t.Errorf("Latchkey's API with a token for %s: %d, want 401", mcpResource, got)
	}
	// Its refresh keeps the audience.
	rt, _ := tok["refresh_token"].(string)
	resp, rb := postValues(t, e.s.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}},
		basicAuth(e.conf.ClientID, e.conf.ClientSecret))
	rm := decodeObject(t, rb)
	next, _ := rm["access_token"].(string)
	if resp.StatusCode != http.StatusOK || next == "" {
		t.Fatalf("refresh: %d %v", resp.StatusCode, rm)
	}
	if aud := introspectAud(next); !strings.Contains(fmt.Sprint(aud), mcpResource) {
		t.Errorf("aud of the refreshed device token = %v, want %s", aud, mcpResource)
	}

	// An unknown resource at the device authorization request.
	dr, b = postValues(t, e.s.URL+"/oauth/device_authorization", url.Values{"client_id": {e.conf.ClientID},
		"resource": {"https://unknown.example"}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
	if dm := decodeObject(t, b); dr.StatusCode != http.StatusBadRequest || dm["error"] != "invalid_target" {
		t.Fatalf("device authorization for an unknown resource: %d %v, want 400 invalid_target", dr.StatusCode, dm)
	}
}

// TestAttackUserinfoRefusesForeignAudience: a token audience-restricted
// to another resource (RFC 8707) is refused by Latchkey's API and must be
// by its userinfo endpoint too, else the resource server the token was
// sent to could replay it there and read the person's identity claims;
// a token for no resource or for the issuer still works.
func TestAttackUserinfoRefusesForeignAudience(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, func(c *config.Config) {
		c.OAuth.Resources = []config.Resource{{URI: mcpResource}}
	})
	for _, tc := range []struct {
		name     string
		resource url.Values
		want     int
	}{
		{"no resource", nil, http.StatusOK},
		{"the issuer", url.Values{"resource": {e.s.URL}}, http.StatusOK},
		{"another resource", url.Values{"resource": {mcpResource}}, http.StatusUnauthorized},
	} {
		da := e.deviceAuth(t)
		e.approve(t, da.UserCode, "allow")
		code, tok := deviceToken(t, e, da.DeviceCode, tc.resource)
		access, _ := tok["access_token"].(string)
		if code != http.StatusOK || access == "" {
			t.Fatalf("%s: device token: %d %v", tc.name, code, tok)
		}
		if got, m, _ := rawCall(t, http.MethodGet, e.s.URL+"/oauth/userinfo", "", "Bearer "+access, ""); got != tc.want {
			t.Errorf("%s: userinfo: %d %v, want %d", tc.name, got, m, tc.want)
		}
	}
}

// TestAttackDevicePollRace: polls racing on an approved device code get
// the tokens exactly once; the others invalid_grant, never a 5xx.
func TestAttackDevicePollRace(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newDeviceEnv(t, func(c *config.Config) { b.Configure(t, c) })
			da := e.deviceAuth(t)
			e.approve(t, da.UserCode, "allow")
			const n = 8
			codes := make(chan int, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := url.Values{"grant_type": {oauth.GrantTypeDeviceCode}, "device_code": {da.DeviceCode}}
					resp, _ := postValues(t, e.s.URL+"/oauth/token", v, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
					codes <- resp.StatusCode
				}()
			}
			wg.Wait()
			close(codes)
			ok := 0
			for c := range codes {
				switch c {
				case http.StatusOK:
					ok++
				case http.StatusBadRequest, http.StatusTooManyRequests:
				default:
					t.Errorf("racing poll: %d", c)
				}
			}
			if ok != 1 {
				t.Errorf("%d polls got tokens, want exactly 1", ok)
			}
		})
	}
}
