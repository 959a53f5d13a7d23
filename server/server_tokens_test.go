package server_test

// End-to-end tests of the OAuth 2.0 / OpenID Connect surface (SPEC §3.1),
// driven by golang.org/x/oauth2 and a cookie-keeping browser against the
// real server (newTestServer) over SQLite.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/oauth"
)

// 5. Refresh tokens rotate; reusing a rotated one revokes the family.
func TestE2ERefreshRotation(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	t1 := e.tokens(t, e.conf)

	t2, err := refresh(e.conf, t1.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if t2.RefreshToken == "" || t2.RefreshToken == t1.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	if t2.AccessToken == "" || t2.AccessToken == t1.AccessToken {
		t.Fatalf("refresh did not issue a new access token")
	}
	if idt, _ := t2.Extra("id_token").(string); idt == "" {
		t.Error("refresh with openid scope returned no id_token")
	}
	e.wantActive(t, "old access token after rotation", t1.AccessToken, false)
	e.wantActive(t, "old refresh token after rotation", t1.RefreshToken, false)
	e.wantActive(t, "new access token", t2.AccessToken, true)
	e.wantActive(t, "new refresh token", t2.RefreshToken, true)
	if m := e.introspect(t, t2.AccessToken); m["sub"] != e.user.ID || m["client_id"] != e.conf.ClientID || !reflect.DeepEqual(scopeSet(m["scope"].(string)), scopeSet(strings.Join(e.conf.Scopes, " "))) {
		t.Errorf("refreshed access token introspects as %v", m)
	}

	// Reuse of the rotated token: refused, and the whole family revoked.
	_, err = refresh(e.conf, t1.RefreshToken)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
	e.wantActive(t, "newest access token after reuse", t2.AccessToken, false)
	e.wantActive(t, "newest refresh token after reuse", t2.RefreshToken, false)
	_, err = refresh(e.conf, t2.RefreshToken)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
}

// 6. client_credentials with scopes, both secret methods and a JSON body.
func TestE2EClientCredentials(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	s := e.s
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Service", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read", "keys:verify"}})
	scopes := []string{"users:read", "keys:verify"}

	checkToken := func(t *testing.T, access string, wantScopes []string) {
		t.Helper()
		m := e.introspectAs(t, id, sec, access)
		if m["active"] != true {
			t.Fatalf("client_credentials token not active: %v", m)
		}
		if m["client_id"] != id {
			t.Errorf("client_id = %v, want %s", m["client_id"], id)
		}
		if m["sub"] != id {
			t.Errorf("sub = %v, want the client id %s", m["sub"], id)
		}
		sc, _ := m["scope"].(string)
		want := slices.Clone(wantScopes)
		slices.Sort(want)
		if got := scopeSet(sc); !reflect.DeepEqual(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
	}

	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: s.URL + "/oauth/token", Scopes: scopes, AuthStyle: tc.style}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if tok.RefreshToken != "" {
				t.Error("client_credentials issued a refresh token")
			}
			checkToken(t, tok.AccessToken, scopes)
		})
	}

	t.Run("JSON body", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": sec, "scope": "users:read"})
		resp, b := call(t, http.MethodPost, s.URL+"/oauth/token", "application/json", body, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d\n%s", resp.StatusCode, b)
		}
		m := decodeObject(t, b)
		at, _ := m["access_token"].(string)
		if at == "" || !strings.EqualFold(m["token_type"].(string), "bearer") {
			t.Fatalf("token response %v", m)
		}
		checkToken(t, at, []string{"users:read"})
	})

	for _, tc := range []struct {
		name       string
		cc         clientcredentials.Config
		wantStatus int
		wantCode   string
	}{
		{"wrong secret", clientcredentials.Config{ClientID: id, ClientSecret: "wrong", AuthStyle: oauth2.AuthStyleInHeader}, http.StatusUnauthorized, "invalid_client"},
		{"scope not registered for the client", clientcredentials.Config{ClientID: id, ClientSecret: sec, Scopes: []string{"keys:write"}, AuthStyle: oauth2.AuthStyleInHeader}, http.StatusBadRequest, "invalid_scope"},
		{"client not registered for the grant", clientcredentials.Config{ClientID: e.conf.ClientID, ClientSecret: e.conf.ClientSecret, AuthStyle: oauth2.AuthStyleInHeader}, http.StatusBadRequest, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cc.TokenURL = s.URL + "/oauth/token"
			_, err := tc.cc.Token(context.Background())
			wantTokenError(t, err, tc.wantStatus, tc.wantCode)
		})
	}
}

// 7. RFC 7009 revocation.
func TestE2ERevocation(t *testing.T) {
	t.Parallel()
	e := newE2E(t)

	t.Run("access token", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		e.wantActive(t, "before revocation", tok.AccessToken, true)
		e.revoke(t, tok.AccessToken, "access_token")
		e.wantActive(t, "revoked access token", tok.AccessToken, false)
	})

	t.Run("refresh token", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		e.revoke(t, tok.RefreshToken, "refresh_token")
		e.wantActive(t, "revoked refresh token", tok.RefreshToken, false)
		_, err := refresh(e.conf, tok.RefreshToken)
		wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
		// RFC 7009 §2.1: access tokens of the same grant go too.
		e.wantActive(t, "access token of the revoked grant", tok.AccessToken, false)
	})

	t.Run("unknown token", func(t *testing.T) {
		e.revoke(t, "no-such-token-"+randomString(t), "")
	})

	t.Run("another client cannot revoke", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		id2, sec2 := e.s.CreateClient(t, oauth.ClientSpec{Name: "Other", RedirectURIs: []string{e2eRedirect}})
		_, _ = postValues(t, e.s.URL+"/oauth/revoke", url.Values{"token": {tok.AccessToken}}, basicAuth(id2, sec2))
		e.wantActive(t, "token revoked by another client", tok.AccessToken, true)
	})

	t.Run("client authentication required", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		resp, b := postValues(t, e.s.URL+"/oauth/revoke", url.Values{"token": {tok.AccessToken}}, nil)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("revoke without client auth: status %d, want 401 or 400\n%s", resp.StatusCode, b)
		}
		e.wantActive(t, "token after unauthenticated revocation", tok.AccessToken, true)
	})
}

// 8. RFC 7662 introspection.
func TestE2EIntrospection(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	tok := e.tokens(t, e.conf)
	// A different valid access token: fosite alone would accept it as
	// the caller's Bearer credential.
	other := e.tokens(t, e.conf)
	endpoint := e.s.URL + "/oauth/introspect"

	for _, tc := range []struct {
		name    string
		prepare func(*http.Request)
	}{
		{"no authentication", nil},
		{"bearer token only", bearer(other.AccessToken)},
		{"the token itself as bearer", bearer(tok.AccessToken)},
		{"wrong client secret", basicAuth(e.conf.ClientID, "wrong-secret")},
		{"unknown client", basicAuth("no-such-client", "x")},
	} {
		t.Run("401 for "+tc.name, func(t *testing.T) {
			resp, b := postValues(t, endpoint, url.Values{"token": {tok.AccessToken}}, tc.prepare)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401\n%s", resp.StatusCode, b)
			}
			if bytes.Contains(b, []byte(`"active":true`)) {
				t.Fatalf("unauthenticated caller learned the token is active: %s", b)
			}
		})
	}

	t.Run("active access token", func(t *testing.T) {
		m := e.introspect(t, tok.AccessToken)
		if m["active"] != true {
			t.Fatalf("active = %v", m["active"])
		}
		if got, want := scopeSet(m["scope"].(string)), scopeSet(strings.Join(e.conf.Scopes, " ")); !reflect.DeepEqual(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
		if m["client_id"] != e.conf.ClientID {
			t.Errorf("client_id = %v", m["client_id"])
		}
		if m["sub"] != e.user.ID {
			t.Errorf("sub = %v, want %s", m["sub"], e.user.ID)
		}
		exp, _ := m["exp"].(float64)
		if d := time.Until(time.Unix(int64(exp), 0)); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("exp = %v (in %v), want about 1h from now", m["exp"], d)
		}
		if tt, _ := m["token_type"].(string); !strings.EqualFold(tt, "bearer") {
			t.Errorf("token_type = %v, want Bearer", m["token_type"])
		}
	})

	t.Run("refresh token", func(t *testing.T) {
		m := e.introspect(t, tok.RefreshToken)
		if m["active"] != true || m["client_id"] != e.conf.ClientID || m["sub"] != e.user.ID {
			t.Errorf("refresh token introspects as %v", m)
		}
	})

	for _, garbage := range []string{"garbage", "a.b.c", strings.Repeat("x", 2000), "ory_at_bm90LWEtdG9rZW4.c2ln"} {
		t.Run("inactive for "+garbage[:min(len(garbage), 16)], func(t *testing.T) {
			resp, b := postValues(t, endpoint, url.Values{"token": {garbage}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200\n%s", resp.StatusCode, b)
			}
			if m := decodeObject(t, b); !reflect.DeepEqual(m, map[string]any{"active": false}) {
				t.Fatalf("body %s, want {\"active\":false}", b)
			}
		})
	}
}
