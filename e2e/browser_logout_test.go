package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

// TestBrowserRPInitiatedLogout (issue 12 item 4): a person signs in to an
// app through the code flow; the app sends them to end_session_endpoint
// with id_token_hint, post_logout_redirect_uri and state (OpenID Connect
// RP-Initiated Logout 1.0 §2); they land back on the app's URL with the
// state, the copied session cookie no longer works for pages or the API,
// and the app's back-channel endpoint got a logout token (Back-Channel
// Logout 1.0 §2.4) verifiable against the JWKS, naming the session (sid)
// of the ID token, the person (sub) and the app (aud).
func TestBrowserRPInitiatedLogout(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)

	logoutTokens := make(chan string, 4)
	backchannel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			logoutTokens <- r.PostFormValue("logout_token")
		}
	}))
	t.Cleanup(backchannel.Close)

	type landing struct{ query url.Values }
	landed := make(chan landing, 2)
	idTokens := make(chan string, 2)
	var conf oauth2.Config
	var verifier string
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	mux.HandleFunc("/cb", func(w http.ResponseWriter, r *http.Request) {
		tok, err := conf.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		idt, _ := tok.Extra("id_token").(string)
		idTokens <- idt
		// The app signs the person out again at once, as a "Sign out" button would.
		q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {app.URL + "/bye"}, "state": {"st-xyz"}}
		http.Redirect(w, r, s.URL+"/oauth/logout?"+q.Encode(), http.StatusSeeOther)
	})
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		landed <- landing{r.URL.Query()}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>App</title><p>Goodbye.</p>"))
	})

	clientID, clientSecret := s.CreateClient(t, oauth.ClientSpec{
		Name: "Logout App", RedirectURIs: []string{app.URL + "/cb"}, Scopes: []string{"openid", "profile"},
		PostLogoutRedirectURIs: []string{app.URL + "/bye"}, BackchannelLogoutURI: backchannel.URL + "/backchannel",
	})
	conf = oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: app.URL + "/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "profile"},
	}
	verifier = oauth2.GenerateVerifier()

	b := newChrome(t, s.URL, browserTimeout)
	b.open("/signup")
	b.fill("#username", "dora", "#email", "dora@example.com", "#password", "amber falcon pebble orchard")
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.wantAt("/")
	session := sessionCookie(t, b)
	if st := cookieStatus(t, s.URL+"/account", session); st != http.StatusOK {
		t.Fatalf("before logout: /account with the session cookie = %d, want 200", st)
	}
	if st := cookieStatus(t, s.URL+"/v1/users/me", session); st != http.StatusOK {
		t.Fatalf("before logout: API with the session cookie = %d, want 200", st)
	}

	b.open(conf.AuthCodeURL("login-state", oauth2.S256ChallengeOption(verifier)))
	b.wantText("#consent-heading", "Logout App")
	b.click(`button[name="decision"][value="allow"]`)

	var idt string
	select {
	case idt = <-idTokens:
	case <-time.After(10 * time.Second):
		t.Fatalf("the app never got its code (at %s)", b.location())
	}
	var l landing
	select {
	case l = <-landed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the browser never returned to the app's post-logout URI (at %s)", b.location())
	}
	if l.query.Get("state") != "st-xyz" {
		t.Errorf("post-logout landing query %v, want state=st-xyz", l.query)
	}
	if loc := b.location(); !strings.HasPrefix(loc, app.URL+"/bye?") {
		t.Errorf("browser at %s, want the app's /bye", loc)
	}

	if st := cookieStatus(t, s.URL+"/account", session); st != http.StatusSeeOther {
		t.Errorf("after logout: /account with the old session cookie = %d, want 303 to sign in", st)
	}
	if st := cookieStatus(t, s.URL+"/v1/users/me", session); st != http.StatusUnauthorized {
		t.Errorf("after logout: API with the old session cookie = %d, want 401", st)
	}

	var lt string
	select {
	case lt = <-logoutTokens:
	case <-time.After(10 * time.Second):
		t.Fatal("the app's back-channel endpoint got no logout token")
	}
	claims := verifyWithJWKS(t, s.URL, lt, "logout+jwt")
	id := unverifiedClaims(t, idt)
	if claims["sid"] == nil || claims["sid"] != id["sid"] || claims["sub"] != id["sub"] || claims["aud"] != clientID || claims["iss"] != s.URL {
		t.Errorf("logout token claims %v; id_token sid %v sub %v; want the same sid and sub, aud %s", claims, id["sid"], id["sub"], clientID)
	}
	ev, _ := claims["events"].(map[string]any)
	if _, ok := ev["http://schemas.openid.net/event/backchannel-logout"]; !ok {
		t.Errorf("events = %v", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("logout token carries a nonce")
	}

	// Without an id_token_hint the person is asked first: a plain form,
	// posted with its CSRF token, then back to the app with the state.
	b.open("/login")
	b.fill("#username", "dora", "#password", "amber falcon pebble orchard")
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/")
	q := url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {app.URL + "/bye"}, "state": {"again"}}
	b.open("/oauth/logout?" + q.Encode())
	b.wantText("#logout-heading", "Sign out of Latchkey?")
	b.wantText("main", "Logout App")
	b.shoot("logout-confirm")
	b.click(`form[action="/oauth/logout/confirm"] button[type="submit"]`)
	select {
	case l = <-landed:
	case <-time.After(10 * time.Second):
		t.Fatalf("confirming did not return to the app (at %s)", b.location())
	}
	if l.query.Get("state") != "again" {
		t.Errorf("after confirming: landing query %v, want state=again", l.query)
	}
	b.open("/account")
	b.wantAt("/login")
	b.checkConsole()
}

// sessionCookie returns the browser's Latchkey session cookie (HttpOnly,
// so read through the DevTools protocol).
func sessionCookie(t *testing.T, b *chrome) *http.Cookie {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if strings.Contains(c.Name, "latchkey_session") {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatalf("no session cookie among %d", len(res.Cookies))
	return nil
}

// cookieStatus GETs u with only the cookie, following no redirect.
func cookieStatus(t *testing.T, u string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.AddCookie(c)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// verifyWithJWKS checks tok's signature against the issuer's published
// keys and its typ header, and returns its claims.
func verifyWithJWKS(t *testing.T, issuer, tok, typ string) map[string]any {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok)
	if err != nil {
		t.Fatalf("not a JWS: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != typ {
		t.Errorf("typ = %v, want %s", h.ExtraHeaders["typ"], typ)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("JWKS has no key %q", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature does not verify against the JWKS: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func unverifiedClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(tok)
	if err != nil {
		t.Fatalf("id_token is not a JWS: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
