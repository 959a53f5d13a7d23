package server_test

// End-to-end tests of the OAuth 2.0 / OpenID Connect surface (SPEC §3.1),
// driven by golang.org/x/oauth2 and a cookie-keeping browser against the
// real server (newTestServer) over SQLite.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"
)

// 1. Authorization code + PKCE S256, every browser hop checked.
func TestE2ECodeFlowPKCE(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	s := e.s

	t.Run("login, consent, code, tokens", func(t *testing.T) {
		ar := newAuthRequest(t, e.conf)
		c := browser(t)

		// No session: the authorization endpoint sends the browser to sign in.
		resp, body := get(t, c, ar.url)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
			t.Fatalf("authorize without a session: status %d Location %q, want 303 to /login\n%s", resp.StatusCode, loc, body)
		}
		lu, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		next := lu.Query().Get("next")
		if !strings.HasPrefix(next, "/oauth/authorize?") {
			t.Fatalf("login next = %q, want the authorization request", next)
		}

		// The login form, submitted with its CSRF token and next.
		resp, page := get(t, c, s.URL+loc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login page: status %d", resp.StatusCode)
		}
		if got := html.UnescapeString(formValue(t, nextRe, page)); got != next {
			t.Fatalf("login form next = %q, want %q", got, next)
		}
		resp, body = postForm(t, c, s.URL+"/login", url.Values{
			"username": {e2eUser}, "password": {e2ePassword}, "next": {next},
			"csrf_token": {formValue(t, csrfRe, page)},
		}, s.URL)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
			t.Fatalf("login: status %d Location %q, want 303 to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), next, body)
		}

		// The consent page names the client and every requested scope.
		resp, page = get(t, c, s.URL+next)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="challenge"`) {
			t.Fatalf("consent page: status %d\n%s", resp.StatusCode, page)
		}
		if !strings.Contains(page, "Web App") {
			t.Error("consent page does not name the client")
		}
		for _, sc := range e.conf.Scopes {
			if !strings.Contains(page, "<code>"+sc+"</code>") {
				t.Errorf("consent page does not list scope %q", sc)
			}
		}
		resp, body = postForm(t, c, s.URL+"/oauth/consent", url.Values{
			"csrf_token": {formValue(t, csrfRe, page)},
			"challenge":  {formValue(t, challengeRe, page)},
			"decision":   {"allow"},
		}, s.URL)
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			t.Fatalf("consent: status %d\n%s", resp.StatusCode, body)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		code := e.code(t, ar, u)

		tok, err := e.exchange(ar, code)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.AccessToken == "" {
			t.Error("no access_token")
		}
		if !strings.EqualFold(tok.TokenType, "bearer") {
			t.Errorf("token_type = %q, want Bearer", tok.TokenType)
		}
		if tok.RefreshToken == "" {
			t.Error("no refresh_token although offline_access was granted")
		}
		if idt, _ := tok.Extra("id_token").(string); strings.Count(idt, ".") != 2 {
			t.Errorf("id_token = %q, want a compact JWS", idt)
		}
		if got, want := scopeSet(tok.Extra("scope").(string)), scopeSet(strings.Join(e.conf.Scopes, " ")); !reflect.DeepEqual(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
		if d := time.Until(tok.Expiry); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("expires in %v, want about 1h", d)
		}
	})

	t.Run("no offline_access means no refresh token", func(t *testing.T) {
		tok := e.tokens(t, e.withScopes("openid", "profile"))
		if tok.AccessToken == "" {
			t.Error("no access_token")
		}
		if tok.RefreshToken != "" {
			t.Error("refresh_token issued without offline_access")
		}
	})

	t.Run("wrong client secret", func(t *testing.T) {
		ar, code := e.codeFor(t, e.conf)
		bad := *e.conf
		bad.ClientSecret = "not-the-secret"
		_, err := bad.Exchange(context.Background(), code, oauth2.VerifierOption(ar.verifier))
		wantTokenError(t, err, http.StatusUnauthorized, "invalid_client")
	})
}

// 2. The ID token verifies against the published JWKS and carries the
// expected claims.
func TestE2EIDToken(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ar, code := e.codeFor(t, e.conf)
	tok, err := e.exchange(ar, code)
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		t.Fatal("no id_token")
	}

	resp, b := call(t, http.MethodGet, e.s.URL+"/.well-known/jwks.json", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("jwks: %v\n%s", err, b)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key (kid %q)", k.KeyID)
		}
	}

	jws, err := jose.ParseSigned(idt)
	if err != nil {
		t.Fatalf("parse id_token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		t.Fatalf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != string(jose.RS256) {
		t.Errorf("alg = %q, want RS256", h.Algorithm)
	}
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q matches %d JWKS keys, want 1", h.KeyID, len(keys))
	}
	if keys[0].Algorithm != "" && keys[0].Algorithm != h.Algorithm {
		t.Errorf("JWKS key alg %q, token alg %q", keys[0].Algorithm, h.Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature does not verify with kid %q: %v", h.KeyID, err)
	}

	t.Run("tampered token fails verification", func(t *testing.T) {
		parts := strings.Split(idt, ".")
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		m["sub"] = "someone-else"
		forged, _ := json.Marshal(m)
		parts[1] = base64.RawURLEncoding.EncodeToString(forged)
		fj, err := jose.ParseSigned(strings.Join(parts, "."))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fj.Verify(keys[0]); err == nil {
			t.Fatal("a token with a modified payload verified")
		}
	})

	var claims struct {
		Iss      string          `json:"iss"`
		Aud      json.RawMessage `json:"aud"`
		Sub      string          `json:"sub"`
		Nonce    string          `json:"nonce"`
		Exp      int64           `json:"exp"`
		Iat      int64           `json:"iat"`
		AuthTime int64           `json:"auth_time"`
		AtHash   string          `json:"at_hash"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims: %v\n%s", err, payload)
	}
	var aud []string
	if err := json.Unmarshal(claims.Aud, &aud); err != nil {
		var one string
		if err := json.Unmarshal(claims.Aud, &one); err != nil {
			t.Fatalf("aud = %s", claims.Aud)
		}
		aud = []string{one}
	}
	now := time.Now().Unix()
	sum := sha256.Sum256([]byte(tok.AccessToken))
	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{"iss is the issuer", claims.Iss == e.s.URL, claims.Iss},
		{"aud contains the client id", slices.Contains(aud, e.conf.ClientID), aud},
		{"sub is the user id", claims.Sub == e.user.ID, claims.Sub},
		{"nonce round-trips", claims.Nonce == ar.nonce, claims.Nonce},
		{"iat is now", claims.Iat >= now-60 && claims.Iat <= now+5, claims.Iat},
		{"exp is in the future, at most 1h after iat", claims.Exp > now && claims.Exp > claims.Iat && claims.Exp <= claims.Iat+3600+5, claims.Exp},
		{"auth_time is set and not in the future", claims.AuthTime > 0 && claims.AuthTime <= now+5, claims.AuthTime},
		{"at_hash is the left half of SHA-256(access_token)", claims.AtHash == base64.RawURLEncoding.EncodeToString(sum[:16]), claims.AtHash},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("got %v\nclaims: %s", c.got, payload)
			}
		})
	}
}

// 3. A replayed code is refused and revokes what the first exchange issued.
func TestE2ECodeReplay(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ar, code := e.codeFor(t, e.conf)
	tok, err := e.exchange(ar, code)
	if err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	e.wantActive(t, "access token before replay", tok.AccessToken, true)

	_, err = e.exchange(ar, code)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")

	e.wantActive(t, "access token after replay", tok.AccessToken, false)
	e.wantActive(t, "refresh token after replay", tok.RefreshToken, false)
	_, err = refresh(e.conf, tok.RefreshToken)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
}

// 4. Of concurrent exchanges of one code exactly one succeeds.
func TestE2EConcurrentCodeExchange(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ar, code := e.codeFor(t, e.conf)
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.exchange(ar, code)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Errorf("exchange %d: %v", i, err)
			continue
		}
		if s := re.Response.StatusCode; s < 400 || s > 499 || re.ErrorCode != "invalid_grant" {
			t.Errorf("exchange %d: status %d error %q, want 4xx invalid_grant\n%s", i, s, re.ErrorCode, re.Body)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent exchanges succeeded, want exactly 1", ok, n)
	}
}
