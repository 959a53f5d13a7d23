package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

func TestSmokeCodeFlow(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "alice", "alice-password-123")
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "App", RedirectURIs: []string{"http://127.0.0.1:9/cb"}})
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: "http://127.0.0.1:9/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token"},
		Scopes:   []string{"openid", "offline_access", "profile"}}
	verifier := oauth2.GenerateVerifier()
	u := s.Authorize(t, browser(t), conf.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-123456789")), "alice", "alice-password-123", "allow")
	t.Log(u)
	if u.Query().Get("iss") != s.URL {
		t.Fatalf("iss = %q", u.Query().Get("iss"))
	}
	tok, err := conf.Exchange(context.Background(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("token response %+v", tok)
	}
	// A refresh token is never a bearer credential (RFC 6749 §1.5), even
	// though fosite's introspection falls back to it.
	for _, path := range []string{"/tokens/test", "/oauth/userinfo"} {
		if code, _, _ := apiCall(t, "GET", s.URL+path, "Bearer "+tok.RefreshToken, ""); code != 401 {
			t.Fatalf("refresh token as bearer at %s: %d", path, code)
		}
		if code, _, _ := apiCall(t, "GET", s.URL+path, "Bearer "+tok.AccessToken, ""); code != 200 {
			t.Fatalf("access token at %s: %d", path, code)
		}
	}
	for _, tc := range []struct{ token, use, typ string }{{tok.AccessToken, "access_token", "Bearer"}, {tok.RefreshToken, "refresh_token", ""}} {
		req, _ := http.NewRequest("POST", s.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tc.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, sec)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		typ, _ := m["token_type"].(string)
		if m["active"] != true || m["token_use"] != tc.use || typ != tc.typ {
			t.Fatalf("introspection of %s: %v", tc.use, m)
		}
	}
}
