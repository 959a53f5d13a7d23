package oauth

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
)

func TestScopeClaims(t *testing.T) {
	const username, name, email = "alice", "Alice Liddell", "alice@example.com"
	tests := []struct {
		name                      string
		scopes                    fosite.Arguments
		username, fullName, email string
		want                      map[string]any
	}{
		{"openid only", fosite.Arguments{"openid"}, username, name, email, map[string]any{}},
		{"no scopes", nil, username, name, email, map[string]any{}},
		{"profile", fosite.Arguments{"openid", "profile"}, username, name, email,
			map[string]any{"preferred_username": username, "name": name}},
		{"profile without a name", fosite.Arguments{"openid", "profile"}, username, "", email,
			map[string]any{"preferred_username": username}},
		{"email", fosite.Arguments{"openid", "email"}, username, name, email,
			map[string]any{"email": email, "email_verified": false}},
		{"email without an address", fosite.Arguments{"openid", "email"}, username, name, "",
			map[string]any{}},
		{"profile and email", fosite.Arguments{"openid", "profile", "email", "offline_access"}, username, name, email,
			map[string]any{"preferred_username": username, "name": name, "email": email, "email_verified": false}},
		{"other scopes release nothing", fosite.Arguments{"keys:read", "users:read"}, username, name, email,
			map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scopeClaims(tc.scopes, tc.username, tc.fullName, tc.email)
			if !maps.Equal(got, tc.want) {
				t.Errorf("scopeClaims(%v) = %v, want %v", tc.scopes, got, tc.want)
			}
		})
	}
}

// TestIDTokenEmailVerified (issue 12 item 6): the ID token carries
// email_verified beside email (OpenID Connect Core §5.1) — false, as no
// address is verified yet — and neither without the email scope.
func TestIDTokenEmailVerified(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	for _, tc := range []struct {
		scope string
		want  map[string]any
	}{
		{"openid email", map[string]any{"email": "alice@example.com", "email_verified": false}},
		{"openid profile", map[string]any{"email": nil, "email_verified": nil}},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			verifier, challenge := pkcePair()
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {tc.scope},
				"nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
			a, err := p.ParseAuthorize(r)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			p.WriteGrant(w, r, a, Grant{Subject: "alice", Username: "alice", Email: "alice@example.com", AuthTime: time.Now(), Scopes: a.Scopes()})
			loc, _ := url.Parse(w.Header().Get("Location"))
			status, body := exchange(t, p, c, loc.Query().Get("code"), verifier)
			if status != http.StatusOK {
				t.Fatalf("exchange: %d %v", status, body)
			}
			claims := idTokenClaims(t, str(body, "id_token"))
			for k, want := range tc.want {
				if got := claims[k]; got != want {
					t.Errorf("id_token %s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestAuthContext(t *testing.T) {
	tests := []struct {
		name    string
		methods []string
		acr     string
	}{
		{"Unknown", nil, ""},
		{"Password", []string{"pwd"}, ACRSingleFactor},
		{"PasswordAndTOTP", []string{"pwd", "otp"}, ACRMultiFactor},
		{"PasswordAndPasskey", []string{"pwd", "hwk"}, ACRMultiFactor},
		{"PasskeyWithUserVerification", []string{"hwk", "mfa"}, ACRMultiFactor},
		{"SyncedPasskeyWithUserVerification", []string{"swk", "mfa"}, ACRMultiFactor},
		{"PasskeyPresenceOnly", []string{"hwk"}, ACRSingleFactor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acr, amr := authContext(tc.methods)
			if acr != tc.acr || !slices.Equal(amr, tc.methods) {
				t.Errorf("authContext(%v) = %q, %v; want %q, %v", tc.methods, acr, amr, tc.acr, tc.methods)
			}
		})
	}
}

// TestIDTokenAuthContext: the ID token carries amr (RFC 8176) and acr of
// the sign-in the grant came from.
func TestIDTokenAuthContext(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	for _, tc := range []struct {
		methods []string
		acr     string
	}{
		{[]string{"pwd"}, "1"},
		{[]string{"pwd", "otp"}, "2"},
		{[]string{"hwk", "mfa"}, "2"},
	} {
		t.Run(strings.Join(tc.methods, "+"), func(t *testing.T) {
			verifier, challenge := pkcePair()
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {"openid offline_access"},
				"nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
			a, err := p.ParseAuthorize(r)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			p.WriteGrant(w, r, a, Grant{Subject: "alice", Username: "alice", AuthTime: time.Now(), Scopes: a.Scopes(), Methods: tc.methods})
			loc, _ := url.Parse(w.Header().Get("Location"))
			status, body := exchange(t, p, c, loc.Query().Get("code"), verifier)
			if status != http.StatusOK {
				t.Fatalf("exchange: %d %v", status, body)
			}
			claims := idTokenClaims(t, str(body, "id_token"))
			if claims["acr"] != tc.acr {
				t.Errorf("acr = %v, want %s", claims["acr"], tc.acr)
			}
			if got := fmt.Sprint(claims["amr"]); got != fmt.Sprint(tc.methods) {
				t.Errorf("amr = %v, want %v", got, tc.methods)
			}
		})
	}
}
