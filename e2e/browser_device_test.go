package e2e

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/oauth"
)

// TestBrowserDeviceFlow (issue 15): the device authorization grant through
// the /device page in headless Chromium. golang.org/x/oauth2 asks for a
// device code and polls; the person opens verification_uri_complete, signs
// in, finds the code prefilled but must press Continue, tries a wrong code
// first (the error sits beside the field), then types the right one, sees
// the consent page naming the app and the code, and allows; the polling
// client gets its tokens. Each page is shot at 390 px and 1280 px (nothing
// wider than the phone) and audited with axe-core.
func TestBrowserDeviceFlow(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := servertest.NewWith(t, func(c *config.Config) { c.OAuth.DevicePollInterval = config.Duration(time.Second) })
	s.CreateUser(t, "dora", "violet heron quartz lantern")
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Living Room TV",
		GrantTypes: []string{oauth.GrantTypeDeviceCode, "refresh_token"}, Scopes: []string{"openid", "profile", "offline_access"}})
	conf := &oauth2.Config{
		ClientID: id, ClientSecret: sec, Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: s.URL + "/oauth/device_authorization", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	// x/oauth2's DeviceAuth sends only client_id: the secret goes in the body.
	da, err := conf.DeviceAuth(context.Background(), oauth2.SetAuthURLParam("client_secret", sec))
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		tok, err := conf.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()

	b := newChrome(t, s.URL, browserTimeout)
	b.open(da.VerificationURIComplete)
	b.wantAt("/login")
	b.fill("#username", "dora", "#password", "violet heron quartz lantern")
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/device")
	if got := b.value("#user_code"); got != da.UserCode {
		t.Fatalf("the code field holds %q, want %q prefilled", got, da.UserCode)
	}
	b.shoot("device-form")

	b.fill("#user_code", "BBBB-BBBB")
	b.click(`form[action="/device"] button[type="submit"]`)
	b.wantText("#user_code-error", "not valid")
	b.shoot("device-wrong-code")

	b.fill("#user_code", da.UserCode)
	b.click(`form[action="/device"] button[type="submit"]`)
	b.wantText("#consent-heading", "Living Room TV")
	b.wantText(".client-meta", da.UserCode)
	select {
	case r := <-done:
		t.Fatalf("the device got an answer before the person allowed: %+v %v", r.tok, r.err)
	default:
	}
	b.shoot("device-consent")
	b.click(`button[name="decision"][value="allow"]`)
	b.wantText("#device-heading", "Device connected")
	b.shoot("device-allowed")

	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("DeviceAccessToken: %v", r.err)
		}
		if r.tok.AccessToken == "" || r.tok.RefreshToken == "" || r.tok.Extra("id_token") == nil {
			t.Fatalf("token %+v, want access, refresh and ID tokens", r.tok)
		}
	case <-ctx.Done():
		t.Fatal("the polling client got no token after the approval")
	}
	b.checkConsole()
}
