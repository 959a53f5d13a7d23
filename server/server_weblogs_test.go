package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/server"
)

// logBuffer collects everything the server logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loggedServer is newTestServer with every log line, at debug level,
// captured in memory through the logger `latchkey serve` uses (JSON,
// request ids from the context, credentials redacted).
func loggedServer(t *testing.T) (*testServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := config.Defaults()
	cfg.Log.Level = "debug"
	return startTestServer(t, nil, server.NewLogger(cfg, logs)), logs
}

// (h) a full flow — sign-up, login, consent, code exchange, refresh, key
// creation and exchange — with failures (wrong secrets and passwords,
// malformed keys, keys where they are refused or in the URL) never logs a
// secret, and every line logged during a request carries its request_id.
func TestWebSecurityNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	s, logs := loggedServer(t)
	// Lines logged while the server was wired (e.g. "database migrated")
	// belong to no request.
	startup := strings.Count(logs.String(), "\n")
	s.CreateUser(t, "alice", alicePassword)
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Logged App", RedirectURIs: []string{redirectURI},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}})
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "offline_access", "profile", "email"}}
	sensitive := map[string]string{"client secret": sec, "password": alicePassword}

	// A wrong password, then the real flow.
	c := browser(t)
	wrongPassword := "Wrong-Password-" + randomToken(t)[:12]
	sensitive["wrong password"] = wrongPassword
	csrfToken := fetchCSRF(t, s, c)
	sensitive["csrf token"] = csrfToken
	resp, body := loginPost(t, s, c, "alice", wrongPassword, csrfToken, "/")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", resp.StatusCode)
	}
	if strings.Contains(body, wrongPassword) {
		t.Error("the login page echoes the password")
	}
	verifier := oauth2.GenerateVerifier()
	sensitive["code verifier"] = verifier
	u := s.Authorize(t, c, conf.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-123456789")), "alice", alicePassword, "allow")
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", u)
	}
	sensitive["code"] = code
	issuer, _ := url.Parse(s.URL)
	for _, ck := range c.Jar.Cookies(issuer) {
		sensitive["cookie "+ck.Name] = ck.Value
	}

	// Failures that carry secret-looking values.
	for _, v := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "client_id": {id}, "client_secret": {sec + "-typo"}, "code_verifier": {verifier}},
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI + "/x"}, "client_id": {id}, "client_secret": {sec}, "code_verifier": {verifier}},
		{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "client_id": {id}, "client_secret": {sec}},
	} {
		resp, body := postForm(t, http.DefaultClient, s.URL+"/oauth/token", v, "")
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("bad token request: status %d\n%s", resp.StatusCode, body)
		}
		if strings.Contains(body, sec) || strings.Contains(body, alicePassword) {
			t.Errorf("token error echoes a secret: %s", body)
		}
	}
	sensitive["mistyped secret"] = sec + "-typo"

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	sensitive["access token"] = tok.AccessToken
	sensitive["refresh token"] = tok.RefreshToken
	if idt, ok := tok.Extra("id_token").(string); ok && idt != "" {
		sensitive["id token"] = idt
	} else {
		t.Error("no id_token")
	}

	tok2, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	sensitive["refreshed access token"] = tok2.AccessToken
	sensitive["refreshed refresh token"] = tok2.RefreshToken

	call := func(method, path string, v url.Values, prepare func(*http.Request)) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if prepare != nil {
			prepare(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass)) }
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if st, b := call("POST", "/oauth/introspect", url.Values{"token": {tok2.AccessToken}}, basic(id, sec)); st != 200 || !strings.Contains(b, `"active":true`) {
		t.Errorf("introspect: %d %s", st, b)
	}
	if st, _ := call("POST", "/oauth/introspect", url.Values{"token": {tok2.AccessToken}}, basic(id, sec+"-typo")); st != 401 {
		t.Errorf("introspect with a wrong secret: %d", st)
	}
	if st, b := call("GET", "/oauth/userinfo", nil, bearer(tok2.AccessToken)); st != 200 {
		t.Errorf("userinfo: %d %s", st, b)
	}
	if st, _ := call("GET", "/oauth/userinfo", nil, bearer(tok.AccessToken+"x")); st != 401 {
		t.Errorf("userinfo with a broken token: %d", st)
	}
	if st, b := call("POST", "/oauth/revoke", url.Values{"token": {tok2.RefreshToken}}, basic(id, sec)); st != 200 {
		t.Errorf("revoke: %d %s", st, b)
	}
	if st, _ := call("POST", "/oauth/revoke", url.Values{"token": {tok2.AccessToken}}, basic(id, sec+"-typo")); st != 401 {
		t.Errorf("revoke with a wrong secret: %d", st)
	}
	cc, ccBody := call("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(id, sec))
	if cc != 200 {
		t.Fatalf("client_credentials: %d %s", cc, ccBody)
	}
	var ccTok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(ccBody), &ccTok)
	sensitive["client credentials token"] = ccTok.AccessToken
	// Reusing the rotated refresh token is refused (and revokes the family).
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("rotated refresh token accepted")
	}
	// Replaying the code is refused (and revokes what it issued).
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("code replay accepted")
	}

	// Sign-up through the form, with a request id of our own.
	bob := browser(t)
	_, page := get(t, bob, s.URL+"/signup")
	bobPassword := "Bob-Password-" + randomToken(t)[:12]
	sensitive["sign-up password"] = bobPassword
	signupID := "ws-signup-" + randomToken(t)[:8]
	req, _ := http.NewRequest("POST", s.URL+"/signup", strings.NewReader(url.Values{"username": {"bob"}, "email": {"bob@example.com"},
		"password": {bobPassword}, "csrf_token": {formValue(t, csrfRe, page)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	req.Header.Set("X-Request-Id", signupID)
	if resp, err := bob.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, ck := range bob.Jar.Cookies(issuer) {
		sensitive["sign-up cookie "+ck.Name] = ck.Value
	}

	// An API key: created (password), exchanged, and presented wrongly.
	apiPassword := basic("alice", alicePassword)
	keyStatus, keyBody := call("POST", "/user/keys", nil, func(r *http.Request) {
		apiPassword(r)
		r.Header.Set("Content-Type", "application/json")
		r.Body = io.NopCloser(strings.NewReader(`{"handle":"ci","scopes":["users:read"]}`))
	})
	var created struct {
		Key string `json:"key"`
	}
	if _ = json.Unmarshal([]byte(keyBody), &created); keyStatus != 201 || created.Key == "" {
		t.Fatalf("create key: %d %s", keyStatus, keyBody)
	}
	apiKey := created.Key
	sensitive["api key"] = apiKey
	genStatus, genBody := call("POST", "/tokens/generate", nil, bearer(apiKey))
	var exchanged struct {
		Token string `json:"token"`
	}
	if _ = json.Unmarshal([]byte(genBody), &exchanged); genStatus != 200 || exchanged.Token == "" {
		t.Fatalf("key exchange: %d %s", genStatus, genBody)
	}
	sensitive["exchanged token"] = exchanged.Token
	malformed := apiKey[:len(apiKey)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(apiKey, "A")]
	sensitive["malformed key"] = malformed
	wrongAPIPassword := "Wrong-Api-Password-" + randomToken(t)[:8]
	sensitive["wrong API password"] = wrongAPIPassword
	for _, bad := range []struct {
		what, method, path string
		prepare            func(*http.Request)
		want               int
	}{
		{"key with a broken checksum", "GET", "/v1/users/me", bearer(malformed), 401},
		{"wrong password", "GET", "/v1/users/me", basic("alice", wrongAPIPassword), 401},
		{"key as introspection credentials", "POST", "/oauth/introspect", bearer(apiKey), 401},
		{"key at userinfo", "GET", "/oauth/userinfo", bearer(apiKey), 401},
		{"key in the query string", "GET", "/v1/users/me?api_key=" + url.QueryEscape(apiKey), nil, 400},
		{"key in the path", "GET", "/user/keys/" + apiKey, apiPassword, 404},
		{"exchanged token in the path", "GET", "/user/keys/" + exchanged.Token, apiPassword, 404},
	} {
		if st, b := call(bad.method, bad.path, url.Values{"token": {apiKey}}, bad.prepare); st != bad.want {
			t.Errorf("%s: %d %s, want %d", bad.what, st, b, bad.want)
		}
	}
	if st, b := call("GET", "/v1/users/me", nil, bearer(apiKey)); st != 200 {
		t.Errorf("key call: %d %s", st, b)
	}

	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) || !strings.Contains(out, "/oauth/token") {
		t.Fatalf("captured no request logs at debug level; the check would be vacuous:\n%s", out)
	}
	// The access log writes paths; the credentials in them are redacted.
	if !strings.Contains(out, `"path":"/user/keys/[REDACTED]"`) {
		t.Errorf("no redacted path in the access log")
	}
	// Every line after start-up was logged during a request: each carries the id.
	var signupLines int
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON log line: %s", line)
			continue
		}
		id, _ := rec["request_id"].(string)
		if id == "" && i >= startup {
			t.Errorf("line without request_id: %s", line)
		}
		if id == signupID {
			signupLines++
			if rec["msg"] != "request" && rec["msg"] != "signup" {
				t.Errorf("unexpected line for the sign-up request: %s", line)
			}
		}
	}
	if signupLines != 2 { // the handler's "signup" line and the access log line
		t.Errorf("%d lines carry the sign-up's request id %s, want 2", signupLines, signupID)
	}
	for what, v := range sensitive {
		if v == "" {
			t.Errorf("%s is empty; the check would be vacuous", what)
			continue
		}
		// Check the value and each dot-separated part (the HMAC signature
		// of a token is what a log would most likely show).
		for _, part := range append([]string{v}, strings.Split(v, ".")...) {
			if len(part) >= 12 && strings.Contains(out, part) {
				t.Errorf("the logs contain the %s (%q)", what, part)
			}
		}
		if esc := url.QueryEscape(v); esc != v && strings.Contains(out, esc) {
			t.Errorf("the logs contain the URL-encoded %s", what)
		}
	}
	if t.Failed() {
		t.Logf("captured logs:\n%s", out)
	}
}
