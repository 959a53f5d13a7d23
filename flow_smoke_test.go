package main

import (
	"context"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

func TestSmokeCodeFlow(t *testing.T) {
	s := newTestServer(t)
	s.createUser(t, "alice", "alice-password-123")
	id, sec := s.createClient(t, oauth.ClientSpec{Name: "App", RedirectURIs: []string{"http://127.0.0.1:9/cb"}})
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: "http://127.0.0.1:9/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token"},
		Scopes:   []string{"openid", "offline_access", "profile"}}
	verifier := oauth2.GenerateVerifier()
	u := s.authorize(t, browser(t), conf.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-123456789")), "alice", "alice-password-123", "allow")
	t.Log(u)
	if u.Query().Get("iss") != s.URL {
		t.Fatalf("iss = %q", u.Query().Get("iss"))
	}
	tok, err := conf.Exchange(context.Background(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v id_token=%v", tok, tok.Extra("id_token") != nil)
}
