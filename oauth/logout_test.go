package oauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// signClaims signs claims as a JWS with key under kid (RS256).
func signClaims(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sessionIDToken runs an authorization for subject from the sign-in
// session sid and redeems it, returning the ID token.
func sessionIDToken(t *testing.T, p *Provider, c testClient, subject, sid string) string {
	t.Helper()
	q, verifier := authorizeQuery(c, "openid profile")
	loc := approveSession(t, p, q, subject, sid)
	status, body := exchange(t, p, c, loc.Query().Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	return str(body, "id_token")
}

// TestParseLogout is the id_token_hint and parameter table of OpenID
// Connect RP-Initiated Logout 1.0 §2–§3.
func TestParseLogout(t *testing.T) {
	p, db := newTestProvider(t)
	const bye = "https://app.example/bye"
	app := registerClient(t, p, db, ClientSpec{PostLogoutRedirectURIs: []string{bye, "https://app.example/bye?x=1"}})
	other := registerClient(t, p, db, ClientSpec{Name: "Other", PostLogoutRedirectURIs: []string{"https://other.example/bye"}})
	hint := sessionIDToken(t, p, app, "alice", "sid-1")
	key := p.cfg.SigningKey.(*rsa.PrivateKey)
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mut func(map[string]any)) map[string]any {
		c := map[string]any{"iss": p.cfg.Issuer, "sub": "alice", "aud": []string{app.ID}, "sid": "sid-1",
			"iat": time.Now().Add(-3 * time.Hour).Unix(), "exp": time.Now().Add(-2 * time.Hour).Unix()}
		if mut != nil {
			mut(c)
		}
		return c
	}
	expired := signClaims(t, key, "k1", claims(nil))
	forged := signClaims(t, stranger, "k1", claims(nil))
	foreign := signClaims(t, key, "k1", claims(func(c map[string]any) { c["iss"] = "https://evil.example" }))
	rotated := signClaims(t, stranger, "old-key", claims(nil))
	gone := signClaims(t, key, "k1", claims(func(c map[string]any) { c["aud"] = "deleted-app" }))
	logoutTok, err := p.LogoutToken(app.ID, "alice", "sid-1")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		form       url.Values
		wantErr    bool
		verified   bool
		wantClient string
		wantReturn string
	}{
		{"valid hint, registered URI, state", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye}, "state": {"s 1"}},
			false, true, app.ID, bye + "?state=s+1"},
		{"no state: no state=", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye}}, false, true, app.ID, bye},
		{"registered URI with a query keeps it", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye + "?x=1"}, "state": {"abc"}},
			false, true, app.ID, bye + "?x=1&state=abc"},
		{"expired hint of ours is accepted", url.Values{"id_token_hint": {expired}, "client_id": {app.ID}, "post_logout_redirect_uri": {bye}},
			false, true, app.ID, bye},
		{"hint and matching client_id", url.Values{"id_token_hint": {hint}, "client_id": {app.ID}}, false, true, app.ID, ""},
		{"client_id alone with its URI", url.Values{"client_id": {other.ID}, "post_logout_redirect_uri": {"https://other.example/bye"}, "state": {"z"}},
			false, false, other.ID, "https://other.example/bye?state=z"},
		{"nothing at all", url.Values{}, false, false, "", ""},
		{"ui_locales and logout_hint ignored", url.Values{"ui_locales": {"fr <x>"}, "logout_hint": {"alice"}}, false, false, "", ""},
		{"hint under an unknown key id is ignored", url.Values{"id_token_hint": {rotated}}, false, false, "", ""},
		{"hint that is not a JWT is ignored", url.Values{"id_token_hint": {"not-a-jwt"}}, false, false, "", ""},
		{"hint of a deleted app: sign out, no client", url.Values{"id_token_hint": {gone}}, false, true, "", ""},
		{"hint of a deleted app, with a URI", url.Values{"id_token_hint": {gone}, "post_logout_redirect_uri": {bye}}, true, false, "", ""},
		{"client_id of a deleted app", url.Values{"id_token_hint": {gone}, "client_id": {"deleted-app"}}, true, false, "", ""},
		{"forged signature", url.Values{"id_token_hint": {forged}}, true, false, "", ""},
		{"other issuer", url.Values{"id_token_hint": {foreign}}, true, false, "", ""},
		{"a logout token is not an ID token", url.Values{"id_token_hint": {logoutTok}}, true, false, "", ""},
		{"aud does not match client_id", url.Values{"id_token_hint": {hint}, "client_id": {other.ID}}, true, false, "", ""},
		{"unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}, true, false, "", ""},
		{"another client's URI", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://other.example/bye"}}, true, false, "", ""},
		{"URI prefix is not a match", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye + "/x"}}, true, false, "", ""},
		{"URI without any client", url.Values{"post_logout_redirect_uri": {bye}}, true, false, "", ""},
		{"unknown client_id", url.Values{"client_id": {"nope"}}, true, false, "", ""},
		{"state too long", url.Values{"client_id": {app.ID}, "state": {strings.Repeat("s", maxStateBytes+1)}}, true, false, "", ""},
		{"repeated parameter", url.Values{"client_id": {app.ID, other.ID}}, true, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := p.ParseLogout(t.Context(), tc.form)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidLogout) {
					t.Fatalf("ParseLogout = %+v, %v; want ErrInvalidLogout", l, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLogout: %v", err)
			}
			if l.HintVerified != tc.verified || l.ClientID != tc.wantClient || l.ReturnURL() != tc.wantReturn {
				t.Fatalf("ParseLogout = verified %v client %q return %q; want %v %q %q",
					l.HintVerified, l.ClientID, l.ReturnURL(), tc.verified, tc.wantClient, tc.wantReturn)
			}
			if l.HintVerified && (l.Subject != "alice" || l.SID != "sid-1") {
				t.Errorf("Subject, SID = %q, %q; want alice, sid-1", l.Subject, l.SID)
			}
			if f := l.Form(); f.Has("ui_locales") || f.Has("logout_hint") {
				t.Errorf("Form() = %v carries ignored parameters", f)
			}
		})
	}
}

// TestIDTokenCarriesSID: the sign-in session's id is the sid claim of the
// ID token, at the code exchange and after a refresh.
func TestIDTokenCarriesSID(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	q, verifier := authorizeQuery(c, "openid offline_access")
	loc := approveSession(t, p, q, "alice", "sid-42")
	status, body := exchange(t, p, c, loc.Query().Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	if got := idTokenClaims(t, str(body, "id_token"))["sid"]; got != "sid-42" {
		t.Errorf("id_token sid = %v, want sid-42", got)
	}
	status, body = refreshWith(t, p, c, str(body, "refresh_token"), "")
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if got := idTokenClaims(t, str(body, "id_token"))["sid"]; got != "sid-42" {
		t.Errorf("refreshed id_token sid = %v, want sid-42", got)
	}
	// Without a session id there is no sid claim.
	if _, ok := idTokenClaims(t, str(tokens(t, p, c, "bob", "openid"), "id_token"))["sid"]; ok {
		t.Error("id_token without a session has a sid claim")
	}
}

// approveSession is approve with the sign-in session sid.
func approveSession(t *testing.T, p *Provider, q url.Values, subject, sid string) *url.URL {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
	a, err := p.ParseAuthorize(r)
	if err != nil {
		t.Fatalf("ParseAuthorize: %v", err)
	}
	w := httptest.NewRecorder()
	p.WriteGrant(w, r, a, Grant{Subject: subject, Username: subject, AuthTime: time.Now(), Scopes: a.Scopes(), SessionID: sid})
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("WriteGrant: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	return loc
}

func TestBackchannelURIRule(t *testing.T) {
	p, _ := newTestProvider(t)
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/logout", true},
		{"http://app.internal:8080/backchannel?x=1", true},
		{"ftp://app.example/logout", false},
		{"file:///etc/passwd", false},
		{"gopher://app.example/", false},
		{"javascript:alert(1)", false},
		{"https://app.example/logout#frag", false},
		{"https://user:pw@app.example/logout", false},
		{"/relative", false},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			_, _, err := p.NewClientRecord(ClientSpec{Name: "A", RedirectURIs: []string{flowRedirect}, BackchannelLogoutURI: tc.uri})
			if (err == nil) != tc.ok {
				t.Fatalf("NewClientRecord(backchannel %q) err = %v, want ok=%v", tc.uri, err, tc.ok)
			}
		})
	}
	// Post-logout redirect URIs follow the redirect URI rule.
	if _, _, err := p.NewClientRecord(ClientSpec{Name: "A", RedirectURIs: []string{flowRedirect},
		PostLogoutRedirectURIs: []string{"http://evil.example/bye"}}); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("plain-http post-logout URI accepted: %v", err)
	}
	if _, _, err := p.NewClientRecord(ClientSpec{Name: "A", RedirectURIs: []string{flowRedirect},
		BackchannelLogoutSessionRequired: true}); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("session required without a URI accepted: %v", err)
	}
}
