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

// TestPAR drives RFC 9126: push the parameters with client authentication,
// authorize with only client_id and request_uri, exchange the code; the
// request_uri is single use.
func TestPAR(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "pia", "pia-password-12345")
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Pushed", RedirectURIs: []string{"https://app.example/cb"}})
	verifier := oauth2.GenerateVerifier()
	push := func(v url.Values, user, pass string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.URL+"/oauth/par", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	params := url.Values{
		"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"https://app.example/cb"},
		"scope": {"openid profile"}, "state": {"pushed-state-1"}, "nonce": {"pushed-nonce-1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	code, m := push(params, id, sec)
	if code != http.StatusCreated || !strings.HasPrefix(m["request_uri"].(string), "urn:ietf:params:oauth:request_uri:") || m["expires_in"] == nil {
		t.Fatalf("push: %d %v", code, m)
	}
	if c, m2 := push(params, id, "wrong"); c != http.StatusUnauthorized || m2["error"] != "invalid_client" {
		t.Fatalf("push with a wrong secret: %d %v", c, m2)
	}
	if c, m2 := push(url.Values{"client_id": {id}, "response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}}, id, sec); c != http.StatusBadRequest {
		t.Fatalf("push with an unregistered redirect URI: %d %v", c, m2)
	}
	authURL := s.URL + "/oauth/authorize?" + url.Values{"client_id": {id}, "request_uri": {m["request_uri"].(string)}}.Encode()
	back := s.Authorize(t, browser(t), authURL, "pia", "pia-password-12345", "allow")
	if back.Query().Get("state") != "pushed-state-1" || back.Query().Get("code") == "" {
		t.Fatalf("redirect %s", back)
	}
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: "https://app.example/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token"}}
	tok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.Extra("id_token") == nil {
		t.Fatalf("exchange: %v", err)
	}
	resp, body := get(t, browser(t), authURL)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_request_uri") {
		t.Fatalf("reused request_uri: %d\n%s", resp.StatusCode, body)
	}
}
