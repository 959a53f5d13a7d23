package server_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/oauth"
)

// dpopResp is one answer of a DPoP test request.
type dpopResp struct {
	status int
	body   map[string]any
	header http.Header
}

// dpopDo sends method to u with an optional Authorization value, DPoP
// proof and form body (basic = "id:secret" for HTTP Basic); it fails the
// test on a 5xx, which bad input must never produce.
func dpopDo(t *testing.T, method, u, authz, proof string, form url.Values, basic ...string) dpopResp {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, raw)
	}
	return dpopResp{status: resp.StatusCode, body: m, header: resp.Header}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func proofOf(t *testing.T, s *dpop.Signer, method, u, token, nonce string) string {
	t.Helper()
	p, err := s.Proof(method, u, token, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantError(t *testing.T, what string, r dpopResp, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("%s: %d %v, want %d %s", what, r.status, r.body, status, code)
	}
}

// TestE2EDPoPPublicClient: a public client binds its code with dpop_jkt
// (RFC 9449 §10), gets DPoP-bound access and refresh tokens (§5), uses the
// access token at the API and userinfo with proofs (§7.1), and refreshes
// with the same key; every misuse on the way is refused with the RFC's
// error codes (never a 5xx): a code redeemed without a proof or with
// another key, a bound token sent as Bearer, replayed proofs, wrong
// htm/htu, an ath of another token, a refresh with another key.
// Introspection shows cnf.jkt and token_type DPoP (§6.2).
func TestE2EDPoPPublicClient(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.CreateUser(t, "dora", "correct horse battery")
	const redirect = "http://127.0.0.1:9/cb"
	id, _ := s.CreateClient(t, oauth.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{redirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access", "users:read"}})
	rsID, rsSecret := s.CreateClient(t, oauth.ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, ResourceServer: true})
	key, _ := dpop.NewES256Signer()
	other, _ := dpop.NewES256Signer()
	tokenURL := s.URL + "/oauth/token"

	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "scope": {"openid offline_access users:read"},
		"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"dpop_jkt": {key.JKT()}}
	// A malformed dpop_jkt is refused at once.
	bad := url.Values{}
	for k, v := range q {
		bad[k] = v
	}
	bad.Set("dpop_jkt", "not-a-thumbprint")
	if r := dpopDo(t, "GET", s.URL+"/oauth/authorize?"+bad.Encode(), "", "", nil); r.status < 300 || r.status >= 400 ||
		!strings.Contains(r.header.Get("Location"), "error=invalid_request") {
		t.Fatalf("bad dpop_jkt: %d %v", r.status, r.header.Get("Location"))
	}
	back := s.Authorize(t, browser(t), s.URL+"/oauth/authorize?"+q.Encode(), "dora", "correct horse battery", "allow")
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", back)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {id}, "code_verifier": {verifier}}
	wantError(t, "code bound by dpop_jkt, no proof", dpopDo(t, "POST", tokenURL, "", "", exchange), 400, "invalid_dpop_proof")
	wantError(t, "code bound by dpop_jkt, another key", dpopDo(t, "POST", tokenURL, "", proofOf(t, other, "POST", tokenURL, "", ""), exchange), 400, "invalid_dpop_proof")
	wantError(t, "proof for the wrong htu", dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", s.URL+"/oauth/revoke", "", ""), exchange), 400, "invalid_dpop_proof")
	wantError(t, "proof for the wrong htm", dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "GET", tokenURL, "", ""), exchange), 400, "invalid_dpop_proof")
	good := proofOf(t, key, "POST", tokenURL, "", "")
	r := dpopDo(t, "POST", tokenURL, "", good, exchange)
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("exchange: %d %v", r.status, r.body)
	}
	access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
	if refresh == "" {
		t.Fatal("no refresh token")
	}

	// Latchkey's API (§7.1).
	testURL := s.URL + "/tokens/test"
	r = dpopDo(t, "GET", testURL, "DPoP "+access, proofOf(t, key, "GET", testURL, access, ""), nil)
	if r.status != 200 || r.body["valid"] != true {
		t.Fatalf("API with DPoP: %d %v", r.status, r.body)
	}
	r = dpopDo(t, "GET", testURL, "Bearer "+access, "", nil)
	if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "DPoP algs=") || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("bound token as Bearer: %d %v %q", r.status, r.body, r.header.Get("WWW-Authenticate"))
	}
	r = dpopDo(t, "GET", testURL, "Bearer "+access, proofOf(t, key, "GET", testURL, access, ""), nil)
	if r.status != 401 {
		t.Fatalf("bound token as Bearer, with a proof: %d", r.status)
	}
	replayed := proofOf(t, key, "GET", testURL, access, "")
	if r = dpopDo(t, "GET", testURL, "DPoP "+access, replayed, nil); r.status != 200 {
		t.Fatalf("first use: %d", r.status)
	}
	for _, tc := range []struct{ name, proof string }{
		{"replayed proof", replayed},
		{"no proof", ""},
		{"wrong htm", proofOf(t, key, "POST", testURL, access, "")},
		{"wrong htu", proofOf(t, key, "GET", s.URL+"/v1/users/me", access, "")},
		{"ath of another token", proofOf(t, key, "GET", testURL, "ory_at_other", "")},
		{"no ath", proofOf(t, key, "GET", testURL, "", "")},
		{"another key", proofOf(t, other, "GET", testURL, access, "")},
		{"garbage", "eyJhbGciOiJub25lIn0.e30."},
	} {
		r := dpopDo(t, "GET", testURL, "DPoP "+access, tc.proof, nil)
		ch := r.header.Get("WWW-Authenticate")
		if r.status != 401 || r.body["error"] != "invalid_dpop_proof" || !strings.Contains(ch, `error="invalid_dpop_proof"`) || !strings.Contains(ch, "ES256") {
			t.Errorf("API, %s: %d %v %q", tc.name, r.status, r.body, ch)
		}
	}
	// Userinfo is a protected resource too.
	uiURL := s.URL + "/oauth/userinfo"
	if r = dpopDo(t, "GET", uiURL, "DPoP "+access, proofOf(t, key, "GET", uiURL, access, ""), nil); r.status != 200 || r.body["sub"] == nil {
		t.Fatalf("userinfo with DPoP: %d %v", r.status, r.body)
	}
	if r = dpopDo(t, "GET", uiURL, "Bearer "+access, "", nil); r.status != 401 {
		t.Fatalf("userinfo with the bound token as Bearer: %d", r.status)
	}

	// Introspection (§6.2).
	r = dpopDo(t, "POST", s.URL+"/oauth/introspect", "", "", url.Values{"token": {access}}, rsID, rsSecret)
	cnf, _ := r.body["cnf"].(map[string]any)
	if r.status != 200 || r.body["active"] != true || r.body["token_type"] != "DPoP" || cnf["jkt"] != key.JKT() {
		t.Fatalf("introspection: %d %v", r.status, r.body)
	}

	// Refresh (§5): a public client's refresh token is bound to its key.
	ref := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {id}}
	wantError(t, "refresh without a proof", dpopDo(t, "POST", tokenURL, "", "", ref), 400, "invalid_dpop_proof")
	wantError(t, "refresh with another key", dpopDo(t, "POST", tokenURL, "", proofOf(t, other, "POST", tokenURL, "", ""), ref), 400, "invalid_dpop_proof")
	wantError(t, "refresh with a replayed proof", dpopDo(t, "POST", tokenURL, "", good, ref), 400, "invalid_dpop_proof")
	r = dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", tokenURL, "", ""), ref)
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the same key: %d %v", r.status, r.body)
	}
	access2 := r.body["access_token"].(string)
	if r = dpopDo(t, "GET", testURL, "DPoP "+access2, proofOf(t, key, "GET", testURL, access2, ""), nil); r.status != 200 {
		t.Fatalf("refreshed token at the API: %d %v", r.status, r.body)
	}
}

// TestE2EDPoPNonceAndRequiredClient: with oauth.dpop.require_nonce a proof
// without the server's nonce is answered use_dpop_nonce with a DPoP-Nonce
// header, at the token endpoint (400, RFC 9449 §8) and at the API (401
// with WWW-Authenticate DPoP error="use_dpop_nonce", §9); a client
// registered with dpop_bound_access_tokens cannot get a token without a
// proof (§5.2); proofs that are not asymmetric signatures by a public
// key are refused; a DPoP-bound JWT access token carries cnf.jkt (§6.1).
func TestE2EDPoPNonceAndRequiredClient(t *testing.T) {
	t.Parallel()
	s := newTestServerWith(t, func(c *config.Config) { c.OAuth.DPoP.RequireNonce = true })
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Bound", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"},
		ResourceServer: true, DPoPBoundAccessTokens: true, JWTAccessTokens: true})
	key, _ := dpop.NewES256Signer()
	tokenURL := s.URL + "/oauth/token"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"keys:verify"}}

	wantError(t, "required DPoP, no proof", dpopDo(t, "POST", tokenURL, "", "", form, id, sec), 400, "invalid_dpop_proof")
	r := dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", tokenURL, "", ""), form, id, sec)
	wantError(t, "no nonce", r, 400, "use_dpop_nonce")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	wantError(t, "forged nonce", dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", tokenURL, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), form, id, sec), 400, "use_dpop_nonce")

	jwk := key.JWK()
	claims := func() map[string]any {
		return map[string]any{"jti": strings.Repeat("j", 8) + nonce[:8] + randomSuffix(t), "htm": "POST", "htu": tokenURL, "iat": key.Now().Unix(), "nonce": nonce}
	}
	withHeaders := func(h map[string]any) string {
		p, err := key.Sign(h, claims())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	hs256 := func() string {
		opts := (&jose.SignerOptions{}).WithType(dpop.ProofType).WithHeader("jwk", jwk)
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("s", 32))}, opts)
		raw, _ := json.Marshal(claims())
		obj, _ := sig.Sign(raw)
		out, _ := obj.CompactSerialize()
		return out
	}
	b64 := func(v any) string { raw, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(raw) }
	for _, tc := range []struct{ name, proof string }{
		{"alg none", b64(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": jwk}) + "." + b64(claims()) + "."},
		{"HS256", hs256()},
		{"jwk without a key", withHeaders(map[string]any{"typ": dpop.ProofType})},
		{"typ JWT", withHeaders(map[string]any{"typ": "JWT", "jwk": jwk})},
		{"signature cut", strings.Join(strings.Split(proofOf(t, key, "POST", tokenURL, "", nonce), ".")[:2], ".") + ".AAAA"},
	} {
		wantError(t, tc.name, dpopDo(t, "POST", tokenURL, "", tc.proof, form, id, sec), 400, "invalid_dpop_proof")
	}

	r = dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", tokenURL, "", nonce), form, id, sec)
	if r.status != 200 || r.body["token_type"] != "DPoP" || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %v", r.status, r.body)
	}
	access := r.body["access_token"].(string)
	// The JWT access token names its key (RFC 9449 §6.1).
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", access)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var at struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if json.Unmarshal(raw, &at) != nil || at.Cnf.JKT != key.JKT() {
		t.Fatalf("JWT claims %s", raw)
	}

	verifyURL := s.URL + "/v1/keys/verify"
	call := func(proof string) dpopResp {
		req, _ := http.NewRequest("POST", verifyURL, strings.NewReader(`{"key":"lk_live_nothing"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "DPoP "+access)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return dpopResp{status: resp.StatusCode, body: m, header: resp.Header}
	}
	r = call(proofOf(t, key, "POST", verifyURL, access, ""))
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("API without nonce: %d %v %v", r.status, r.body, r.header)
	}
	r = call(proofOf(t, key, "POST", verifyURL, access, r.header.Get("DPoP-Nonce")))
	if r.status != 200 {
		t.Fatalf("API with nonce: %d %v", r.status, r.body)
	}
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	s, err := dpop.NewES256Signer() // a fresh thumbprint is random enough
	if err != nil {
		t.Fatal(err)
	}
	return s.JKT()[:12]
}
