package oauth

import (
	"encoding/json"
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

	"github.com/latchkey/latchkey/storage"
)

func TestScopeClaims(t *testing.T) {
	const username, name, email = "alice", "Alice Liddell", "alice@example.com"
	tests := []struct {
		name                      string
		scopes                    fosite.Arguments
		username, fullName, email string
		verified                  bool
		want                      map[string]any
	}{
		{"openid only", fosite.Arguments{"openid"}, username, name, email, false, map[string]any{}},
		{"no scopes", nil, username, name, email, false, map[string]any{}},
		{"profile", fosite.Arguments{"openid", "profile"}, username, name, email, true,
			map[string]any{"preferred_username": username, "name": name}},
		{"profile without a name", fosite.Arguments{"openid", "profile"}, username, "", email, false,
			map[string]any{"preferred_username": username}},
		{"email, unverified", fosite.Arguments{"openid", "email"}, username, name, email, false,
			map[string]any{"email": email, "email_verified": false}},
		{"email, verified", fosite.Arguments{"openid", "email"}, username, name, email, true,
			map[string]any{"email": email, "email_verified": true}},
		{"email without an address", fosite.Arguments{"openid", "email"}, username, name, "", true,
			map[string]any{}},
		{"profile and email", fosite.Arguments{"openid", "profile", "email", "offline_access"}, username, name, email, true,
			map[string]any{"preferred_username": username, "name": name, "email": email, "email_verified": true}},
		{"other scopes release nothing", fosite.Arguments{"keys:read", "users:read"}, username, name, email, true,
			map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scopeClaims(tc.scopes, tc.username, tc.fullName, tc.email, tc.verified)
			if !maps.Equal(got, tc.want) {
				t.Errorf("scopeClaims(%v) = %v, want %v", tc.scopes, got, tc.want)
			}
		})
	}
}

// TestUserinfoEmailVerified: userinfo reads email_verified from the user
// record as it is now: false until verified, true after, false again once
// the address changes.
func TestUserinfoEmailVerified(t *testing.T) {
	p, db := newTestProvider(t)
	if err := db.CreateUser(t.Context(), &storage.User{ID: "alice", Username: "alice", Email: "alice@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	c := registerClient(t, p, db, ClientSpec{})
	at := str(tokens(t, p, c, "alice", "openid email"), "access_token")
	userinfo := func() map[string]any {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/oauth/userinfo", nil)
		r.Header.Set("Authorization", "Bearer "+at)
		w := httptest.NewRecorder()
		p.Userinfo(w, r)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK {
			t.Fatalf("userinfo %d: %s", w.Code, w.Body)
		}
		return body
	}
	if got := userinfo(); got["email"] != "alice@example.com" || got["email_verified"] != false {
		t.Errorf("before verification: %v", got)
	}
	if err := db.VerifyEmail(t.Context(), "alice", "alice@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := userinfo(); got["email_verified"] != true {
		t.Errorf("after verification: %v", got)
	}
	if _, err := db.UpdateProfile(t.Context(), "alice", "", "alice@new.example.com"); err != nil {
		t.Fatal(err)
	}
	if got := userinfo(); got["email"] != "alice@new.example.com" || got["email_verified"] != false {
		t.Errorf("after an address change: %v", got)
	}
}

// TestIDTokenEmailVerified (issue 12 item 6, issue 13): the ID token
// carries email_verified beside email (OpenID Connect Core §5.1) — as the
// grant says (Grant.EmailVerified, from the user record) — and neither
// without the email scope.
func TestIDTokenEmailVerified(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	for _, tc := range []struct {
		scope    string
		verified bool
		want     map[string]any
	}{
		{"openid email", false, map[string]any{"email": "alice@example.com", "email_verified": false}},
		{"openid email", true, map[string]any{"email": "alice@example.com", "email_verified": true}},
		{"openid profile", true, map[string]any{"email": nil, "email_verified": nil}},
	} {
		t.Run(fmt.Sprintf("%s verified=%v", tc.scope, tc.verified), func(t *testing.T) {
			verifier, challenge := pkcePair()
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {tc.scope},
				"nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
			a, err := p.ParseAuthorize(r)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			p.WriteGrant(w, r, a, Grant{Subject: "alice", Username: "alice", Email: "alice@example.com", EmailVerified: tc.verified, AuthTime: time.Now(), Scopes: a.Scopes()})
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

// TestNeedsMultiFactor: acr_values asks for more only when "2" is among
// its values and the sign-in's acr (authContext) is less.
func TestNeedsMultiFactor(t *testing.T) {
	tests := []struct {
		name      string
		acrValues []string
		methods   []string
		want      bool
	}{
		{"NoACRValues", nil, []string{"pwd"}, false},
		{"OneFactorAsked", []string{"1"}, []string{"pwd"}, false},
		{"TwoAskedPasswordOnly", []string{"2"}, []string{"pwd"}, true},
		{"TwoAmongOthers", []string{"urn:x:phr", "2"}, []string{"pwd"}, true},
		{"TwoAskedUnknownSignIn", []string{"2"}, nil, true},
		{"TwoAskedPasswordAndTOTP", []string{"2"}, []string{"pwd", "otp"}, false},
		{"TwoAskedPasskeyAlone", []string{"2"}, []string{"hwk", "mfa"}, false},
		{"OtherValueOnly", []string{"urn:x:phr"}, []string{"pwd"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsMultiFactor(tc.acrValues, tc.methods); got != tc.want {
				t.Errorf("NeedsMultiFactor(%v, %v) = %v, want %v", tc.acrValues, tc.methods, got, tc.want)
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
