package interop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// goOIDCRedirect is the registered redirect URI of the go-oidc client;
// nothing listens there — the test reads the code off the redirect.
const goOIDCRedirect = "http://127.0.0.1:9/callback"

// TestGoOIDC signs the person in through the real login and consent pages
// for a relying party built the way go-oidc's README shows
// (github.com/coreos/go-oidc/v3 with golang.org/x/oauth2): discovery via
// oidc.NewProvider, code + PKCE (RFC 7636) with state and nonce, the ID
// token checked by IDTokenVerifier.Verify (signature against the JWKS,
// iss, aud, exp; OpenID Connect Core §3.1.3.7), the nonce compared, the
// access token checked against at_hash (§3.1.3.8), the claims against
// UserInfo (§5.3), and a refresh through oauth2.TokenSource (RFC 6749 §6)
// whose new ID token verifies too.
func TestGoOIDC(t *testing.T) {
	s := startServer(t)
	c := s.createClient(t, "--name", "go-oidc app", "--redirect-uri", goOIDCRedirect,
		"--scopes", "openid,profile,email,offline_access", "--auth-method", "client_secret_basic")
	ctx := t.Context()

	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("oidc.NewProvider(%s): %v", s.URL, err)
	}
	conf := &oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: goOIDCRedirect, Endpoint: provider.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: c.ID})

	state, nonce, pkce := random(t), random(t), oauth2.GenerateVerifier()
	browser := flowtest.Browser(t)
	back := flowtest.Authorize(t, browser, s.URL,
		conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)), personName, personPassword, "allow")
	q := back.Query()
	if got := back.Scheme + "://" + back.Host + back.Path; got != goOIDCRedirect || q.Get("state") != state || q.Get("iss") != s.URL || q.Get("code") == "" {
		t.Fatalf("authorization response %s: want %s with code, state %q and iss %q", back, goOIDCRedirect, state, s.URL)
	}

	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "bearer" && tok.TokenType != "Bearer" {
		t.Fatalf("token response: type %q, refresh token %t; want Bearer with a refresh token", tok.TokenType, tok.RefreshToken != "")
	}
	idt := verifyIDToken(t, verifier, tok)
	if idt.Nonce != nonce {
		t.Errorf("id_token nonce %q, want %q", idt.Nonce, nonce)
	}
	if idt.AccessTokenHash == "" {
		t.Error("id_token has no at_hash")
	} else if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("VerifyAccessToken (at_hash): %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken + "x"); err == nil {
		t.Error("VerifyAccessToken accepted a different access token")
	}
	var claims struct {
		Username string `json:"preferred_username"`
		Email    string `json:"email"`
		Name     string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Username != personName || claims.Email != personEmail {
		t.Errorf("id_token claims %+v (%v), want preferred_username %q and email %q", claims, err, personName, personEmail)
	}

	t.Run("UserInfo", func(t *testing.T) {
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("UserInfo: %v", err)
		}
		var ui struct {
			Username string `json:"preferred_username"`
		}
		if err := info.Claims(&ui); err != nil {
			t.Fatal(err)
		}
		if info.Subject != idt.Subject || info.Email != personEmail || ui.Username != personName {
			t.Errorf("userinfo sub %q email %q preferred_username %q; want %q, %q, %q", info.Subject, info.Email, ui.Username, idt.Subject, personEmail, personName)
		}
	})

	t.Run("refresh through TokenSource", func(t *testing.T) {
		stale := *tok
		stale.Expiry = time.Now().Add(-time.Minute) // make TokenSource refresh now
		fresh, err := conf.TokenSource(ctx, &stale).Token()
		if err != nil {
			t.Fatalf("TokenSource refresh: %v", err)
		}
		if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
			t.Fatal("refresh did not give a new access token and a rotated refresh token")
		}
		if _, ok := fresh.Extra("id_token").(string); ok {
			refreshed := verifyIDToken(t, verifier, fresh)
			if refreshed.Subject != idt.Subject {
				t.Errorf("refreshed id_token sub %q, want %q", refreshed.Subject, idt.Subject)
			}
			if refreshed.AccessTokenHash != "" {
				if err := refreshed.VerifyAccessToken(fresh.AccessToken); err != nil {
					t.Errorf("refreshed id_token at_hash: %v", err)
				}
			}
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err != nil {
			t.Errorf("UserInfo with the refreshed token: %v", err)
		}
		// RFC 9700 §4.14.2: the rotated refresh token is dead.
		_, err = conf.TokenSource(context.Background(), &stale).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("reusing the rotated refresh token: %v, want invalid_grant", err)
		}
	})

	t.Run("Verify refuses a token for another client", func(t *testing.T) {
		other := provider.Verifier(&oidc.Config{ClientID: "someone-else"})
		if _, err := other.Verify(ctx, tok.Extra("id_token").(string)); err == nil {
			t.Error("an ID token for this client verified for another audience")
		}
	})

	t.Run("no state, short nonce", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		u, _ := url.Parse(conf.AuthCodeURL("", oidc.Nonce("n"), oauth2.S256ChallengeOption(pkce)))
		q := u.Query()
		q.Del("state") // x/oauth2 always sends state=; this client sends none
		u.RawQuery = q.Encode()
		back := flowtest.Authorize(t, browser, s.URL, u.String(), personName, personPassword, "allow")
		if _, has := back.Query()["state"]; has || back.Query().Get("code") == "" {
			t.Fatalf("authorization response %s: want a code and no state", back)
		}
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if idt := verifyIDToken(t, verifier, tok); idt.Nonce != "n" {
			t.Errorf("nonce %q, want %q", idt.Nonce, "n")
		}
	})
}

// verifyIDToken runs go-oidc's verification on tok's id_token.
func verifyIDToken(t *testing.T, v *oidc.IDTokenVerifier, tok *oauth2.Token) *oidc.IDToken {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response has no id_token")
	}
	idt, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("IDTokenVerifier.Verify: %v", err)
	}
	return idt
}

// random returns 16 random bytes, base64url-encoded.
func random(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
