package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/oauth"
)

const oidcRedirect = "http://127.0.0.1:9/cb"

// sessionClient is a Go HTTP client holding the Chromium tab's cookies for
// base: the browser's sign-in, driven further without the browser.
func (b *chrome) sessionClient(base string) *http.Client {
	b.t.Helper()
	var cookies []*network.Cookie
	get := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		cookies = res.Cookies
		return chromedp.Void{}, err
	}
	b.do("get cookies", get)
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	var hc []*http.Cookie
	for _, c := range cookies {
		hc = append(hc, &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path})
	}
	jar.SetCookies(u, hc)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// idTokenFor runs an authorization of a fresh client with c's session
// (consenting on the way) and returns the ID token's payload.
func idTokenFor(t *testing.T, s *testServer, base string, c *http.Client) map[string]any {
	t.Helper()
	id, secret := s.CreateClient(t, oauth.ClientSpec{Name: "amr check", RedirectURIs: []string{oidcRedirect}})
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {oidcRedirect}, "scope": {"openid"},
		"nonce": {"n-passkey"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	resp, body := flowtest.Get(t, c, base+"/oauth/authorize?"+q.Encode())
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="challenge"`) {
		t.Fatalf("authorize with the passkey session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	v := url.Values{"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, body)}, "challenge": {flowtest.FormValue(t, flowtest.ChallengeRe, body)}, "decision": {"allow"}}
	resp, _ = flowtest.PostForm(t, c, base+"/oauth/consent", v, base)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	cfg := oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: oidcRedirect,
		Endpoint: oauth2.Endpoint{TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, _ := tok.Extra("id_token").(string)
	parts := strings.Split(idt, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q", idt)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func wantAMR(t *testing.T, what string, claims map[string]any, acr string, amr ...string) {
	t.Helper()
	if claims["acr"] != acr || fmt.Sprint(claims["amr"]) != fmt.Sprint(amr) {
		t.Errorf("%s: id_token acr %v amr %v, want %s %v", what, claims["acr"], claims["amr"], acr, amr)
	}
}
