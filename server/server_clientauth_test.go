package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

// TestE2EClientSecretPostAtEveryEndpoint (issue 12 items 5, 6), over HTTP
// as oauth2-proxy and openid-client send it: a resource-server client
// created without naming a method authenticates with client_secret_post at
// the token, introspection, revocation and PAR endpoints; with a wrong
// secret sent by HTTP Basic each answers 401 invalid_client with
// WWW-Authenticate: Basic.
func TestE2EClientSecretPostAtEveryEndpoint(t *testing.T) {
	s := newTestServer(t)
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "rs", RedirectURIs: []string{"https://rs.example/cb"},
		GrantTypes: []string{"authorization_code", "client_credentials"}, Scopes: []string{"openid", "keys:verify"}, ResourceServer: true})
	send := func(path string, form url.Values, basic bool, secret string) (*http.Response, map[string]any) {
		t.Helper()
		if !basic {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
		}
		req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, tok := send("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, false, sec)
	at, _ := tok["access_token"].(string)
	if resp.StatusCode != http.StatusOK || at == "" {
		t.Fatalf("token with client_secret_post: %d %v", resp.StatusCode, tok)
	}
	if _, ok := tok["scope"]; ok {
		t.Errorf("client_credentials without scope answered scope %q", tok["scope"])
	}
	if resp, m := send("/oauth/introspect", url.Values{"token": {at}}, false, sec); resp.StatusCode != http.StatusOK || m["active"] != true {
		t.Fatalf("introspect with client_secret_post: %d %v", resp.StatusCode, m)
	}
	par := url.Values{"response_type": {"code"}, "redirect_uri": {"https://rs.example/cb"}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	if resp, m := send("/oauth/par", par, false, sec); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PAR with client_secret_post: %d %v", resp.StatusCode, m)
	}
	if resp, m := send("/oauth/revoke", url.Values{"token": {at}}, false, sec); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke with client_secret_post: %d %v", resp.StatusCode, m)
	}
	if _, m := send("/oauth/introspect", url.Values{"token": {at}}, false, sec); m["active"] != false {
		t.Fatalf("revoked token introspects %v", m)
	}

	for path, form := range map[string]url.Values{
		"/oauth/token": {"grant_type": {"client_credentials"}}, "/oauth/introspect": {"token": {at}},
		"/oauth/revoke": {"token": {at}}, "/oauth/par": par,
	} {
		resp, m := send(path, form, true, sec+"x")
		if resp.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" ||
			resp.Header.Get("WWW-Authenticate") != `Basic realm="latchkey"` {
			t.Errorf("%s with a wrong Basic secret: %d %v, WWW-Authenticate %q", path, resp.StatusCode, m, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
