package server_test

import (
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/oauth"
)

// TestDPoPTokenExchange: RFC 9449 §5 at the token-exchange grant. A
// proof sent with the exchange binds the new token to its key (the answer
// says token_type DPoP, so the token must not work as a Bearer token), a
// replayed proof is refused, a client registered with
// dpop_bound_access_tokens gets no token without a proof, and a
// DPoP-bound subject token is no bearer credential: it is exchanged only
// with a proof of its own key (RFC 9449 §7.1 — "a DPoP-bound token used
// as Bearer anywhere").
func TestDPoPTokenExchange(t *testing.T) {
	t.Parallel()
	e := newExchangeEnv(t, nil)
	s := e.s
	tokenURL, testURL := s.URL+"/oauth/token", s.URL+"/tokens/test"
	key, _ := dpop.NewES256Signer()
	other, _ := dpop.NewES256Signer()
	ex := func(subject url.Values, proof string, basic ...string) dpopResp {
		v := with(subject, "grant_type", oauth.GrantTypeTokenExchange, "scope", "users:read")
		if len(basic) == 0 {
			basic = []string{e.id, e.sec}
		}
		return dpopDo(t, "POST", tokenURL, "", proof, v, basic...)
	}

	// 1. An API key exchanged with a proof: the token is bound to it.
	proof := proofOf(t, key, "POST", tokenURL, "", "")
	r := ex(keySubject(e.key), proof)
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("exchange with a proof: %d %v", r.status, r.body)
	}
	bound := r.body["access_token"].(string)
	if r := dpopDo(t, "GET", testURL, "Bearer "+bound, "", nil); r.status != 401 {
		t.Fatalf("a token answered as DPoP works as Bearer: %d %v", r.status, r.body)
	}
	if r := dpopDo(t, "GET", testURL, "DPoP "+bound, proofOf(t, key, "GET", testURL, bound, ""), nil); r.status != 200 {
		t.Fatalf("bound token with its proof: %d %v", r.status, r.body)
	}
	wantError(t, "replayed proof", ex(keySubject(e.key), proof), 400, "invalid_dpop_proof")

	// 2. The bound token as subject: not without a proof of its key.
	wantError(t, "bound subject, no proof", ex(tokenSubject(bound), ""), 400, "invalid_dpop_proof")
	wantError(t, "bound subject, another key", ex(tokenSubject(bound), proofOf(t, other, "POST", tokenURL, "", "")), 400, "invalid_dpop_proof")
	r = ex(tokenSubject(bound), proofOf(t, key, "POST", tokenURL, "", ""))
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("bound subject with its key: %d %v", r.status, r.body)
	}

	// 3. A client that must use DPoP gets nothing without a proof.
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Bound exchanger", GrantTypes: []string{oauth.GrantTypeTokenExchange},
		Scopes: []string{"users:read"}, DPoPBoundAccessTokens: true})
	wantError(t, "dpop_bound_access_tokens client, no proof", ex(keySubject(e.key), "", id, sec), 400, "invalid_dpop_proof")
	r = ex(keySubject(e.key), proofOf(t, key, "POST", tokenURL, "", ""), id, sec)
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("dpop_bound_access_tokens client with a proof: %d %v", r.status, r.body)
	}
}

// TestDPoPDeviceGrant: RFC 9449 §5 at the device-code grant. The final
// poll's proof binds the access token (the answer says token_type DPoP,
// so the token must not work as a Bearer token) and, for a public
// client, the refresh token: a refresh without that key is refused.
func TestDPoPDeviceGrant(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, nil)
	tokenURL, testURL := e.s.URL+"/oauth/token", e.s.URL+"/tokens/test"
	key, _ := dpop.NewES256Signer()
	other, _ := dpop.NewES256Signer()
	r := dpopDo(t, "POST", e.s.URL+"/oauth/device_authorization", "", "", url.Values{"client_id": {e.publicID}, "scope": {"openid offline_access"}})
	if r.status != 200 {
		t.Fatalf("device authorization: %d %v", r.status, r.body)
	}
	code := r.body["device_code"].(string)
	e.approve(t, r.body["user_code"].(string), "allow")
	poll := url.Values{"grant_type": {oauth.GrantTypeDeviceCode}, "device_code": {code}, "client_id": {e.publicID}}
	r = dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", tokenURL, "", ""), poll)
	if r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("token with a proof: %d %v", r.status, r.body)
	}
	access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
	if r := dpopDo(t, "GET", testURL, "Bearer "+access, "", nil); r.status != 401 {
		t.Fatalf("a token answered as DPoP works as Bearer: %d %v", r.status, r.body)
	}
	if r := dpopDo(t, "GET", testURL, "DPoP "+access, proofOf(t, key, "GET", testURL, access, ""), nil); r.status != 200 {
		t.Fatalf("bound token with its proof: %d %v", r.status, r.body)
	}
	ref := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {e.publicID}}
	wantError(t, "refresh without the key", dpopDo(t, "POST", tokenURL, "", "", ref), 400, "invalid_dpop_proof")
	wantError(t, "refresh with another key", dpopDo(t, "POST", tokenURL, "", proofOf(t, other, "POST", tokenURL, "", ""), ref), 400, "invalid_dpop_proof")
	if r := dpopDo(t, "POST", tokenURL, "", proofOf(t, key, "POST", tokenURL, "", ""), ref); r.status != 200 || r.body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", r.status, r.body)
	}
}
