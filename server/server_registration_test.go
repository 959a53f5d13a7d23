package server_test

// Dynamic client registration (RFC 7591/7592), resource indicators (RFC
// 8707) and protected resource metadata (RFC 9728) against the real
// server, as an MCP client meets them.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

const (
	mcpResource   = "https://mcp.example.test/mcp"
	otherResource = "https://other.example.test"
)

// newRegistrationServer runs a server with registration in mode and two
// configured resources.
func newRegistrationServer(t *testing.T, mode string, mutate func(*config.Config)) *testServer {
	t.Helper()
	return newTestServerWith(t, func(c *config.Config) {
		c.OAuth.Registration.Mode = mode
		c.OAuth.Registration.Scopes = []string{"openid", "offline_access", "users:read"}
		c.OAuth.Resources = []config.Resource{{URI: mcpResource}, {URI: otherResource}}
		c.OAuth.Registration.PerMinute = 1000
		if mutate != nil {
			mutate(c)
		}
	})
}

// rawCall sends body with contentType and auth; it returns the status,
// the decoded JSON (nil when none) and the headers.
func rawCall(t *testing.T, method, u, contentType, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, raw)
	}
	return resp.StatusCode, m, resp.Header
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	code, m, _ := rawCall(t, http.MethodGet, u, "", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, code, m)
	}
	return m
}

// introspectAs asks the resource-server client id:sec about token.
func introspectAs(t *testing.T, s *testServer, id, sec, token string) map[string]any {
	t.Helper()
	code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/introspect", "application/x-www-form-urlencoded",
		basicHeader(id, sec), url.Values{"token": {token}}.Encode())
	if code != http.StatusOK {
		t.Fatalf("introspect: %d %v", code, m)
	}
	return m
}

func audOf(m map[string]any) []string {
	var out []string
	if a, ok := m["aud"].([]any); ok {
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
	}
	return out
}

// tokenError posts form to the token endpoint and returns status and error code.
func tokenError(t *testing.T, s *testServer, form url.Values) (int, string) {
	t.Helper()
	code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/x-www-form-urlencoded", "", form.Encode())
	e, _ := m["error"].(string)
	return code, e
}

var resourceMetadataRe = regexp.MustCompile(`resource_metadata="([^"]+)"`)

// TestMCPDiscoveryChain is the MCP authorization flow as far as this
// server reaches: 401 with resource_metadata → protected resource
// metadata → authorization server metadata → dynamic registration →
// code + PKCE with resource (golang.org/x/oauth2) → a token whose
// introspected aud is the resource and which Latchkey's own API refuses →
// refresh → a request for another resource refused with invalid_target.
func TestMCPDiscoveryChain(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, nil)
	s.CreateUser(t, "mcpuser", "correct horse battery staple")
	rsID, rsSecret := s.CreateClient(t, oauth.ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	ctx := context.Background()

	// 1. The API without a token: 401 pointing at its metadata.
	code, body, h := rawCall(t, http.MethodGet, s.URL+"/v1/users/me", "", "", "")
	if code != http.StatusUnauthorized || body["error"] != "missing_api_key" {
		t.Fatalf("API without token: %d %v", code, body)
	}
	m := resourceMetadataRe.FindStringSubmatch(h.Get("WWW-Authenticate"))
	if m == nil || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge with resource_metadata", h.Get("WWW-Authenticate"))
	}
	// 2. The protected resource metadata.
	prm := getJSON(t, m[1])
	if prm["resource"] != s.URL {
		t.Errorf("resource = %v, want the issuer %s", prm["resource"], s.URL)
	}
	as, _ := prm["authorization_servers"].([]any)
	if len(as) != 1 || as[0] != s.URL {
		t.Fatalf("authorization_servers = %v", prm["authorization_servers"])
	}
	if bm, _ := prm["bearer_methods_supported"].([]any); len(bm) != 1 || bm[0] != "header" {
		t.Errorf("bearer_methods_supported = %v", prm["bearer_methods_supported"])
	}
	// 3. The authorization server metadata.
	asm := getJSON(t, as[0].(string)+"/.well-known/oauth-authorization-server")
	regURL, _ := asm["registration_endpoint"].(string)
	if regURL != s.URL+"/oauth/register" {
		t.Fatalf("registration_endpoint = %q", regURL)
	}
	// 4. Dynamic registration of a public native client with a loopback
	// redirect URI (any port).
	code, reg, _ := rawCall(t, http.MethodPost, regURL, "application/json", "", `{
		"client_name": "MCP Inspector", "redirect_uris": ["http://127.0.0.1/callback"],
		"token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
		"response_types": ["code"], "scope": "openid offline_access users:read", "software_id": "ignored"}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, reg)
	}
	clientID, _ := reg["client_id"].(string)
	if clientID == "" || reg["client_secret"] != nil || reg["registration_access_token"] == "" || reg["client_id_issued_at"] == nil ||
		reg["registration_client_uri"] != s.URL+"/oauth/register/"+clientID || reg["token_endpoint_auth_method"] != "none" {
		t.Fatalf("registration response = %v", reg)
	}

	conf := &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: "http://127.0.0.1:53682/callback", // another port than registered (RFC 8252 §7.3)
		Endpoint: oauth2.Endpoint{AuthURL: asm["authorization_endpoint"].(string), TokenURL: asm["token_endpoint"].(string),
			AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "offline_access", "users:read"},
	}
	// 5. Code + PKCE for the MCP resource and the own API together.
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("resource", mcpResource)) + "&resource=" + url.QueryEscape(s.URL)
	redirect := s.Authorize(t, browser(t), authURL, "mcpuser", "correct horse battery staple", "allow")
	authCode := redirect.Query().Get("code")
	if authCode == "" {
		t.Fatalf("no code in %s", redirect)
	}
	// A token request for a resource the authorization does not cover
	// is refused, and leaves the code usable.
	st, e := tokenError(t, s, url.Values{"grant_type": {"authorization_code"}, "code": {authCode}, "client_id": {clientID},
		"redirect_uri": {conf.RedirectURL}, "code_verifier": {verifier}, "resource": {otherResource}})
	if st != http.StatusBadRequest || e != "invalid_target" {
		t.Fatalf("code exchange for another resource: %d %q, want 400 invalid_target", st, e)
	}
	tok, err := conf.Exchange(ctx, authCode, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", mcpResource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	// 6. Its audience is the MCP resource only; Latchkey's API refuses it.
	in := introspectAs(t, s, rsID, rsSecret, tok.AccessToken)
	if in["active"] != true || !slices.Equal(audOf(in), []string{mcpResource}) {
		t.Fatalf("introspection = %v, want active with aud [%s]", in, mcpResource)
	}
	if code, body, h := rawCall(t, http.MethodGet, s.URL+"/v1/users/me", "", "Bearer "+tok.AccessToken, ""); code != http.StatusUnauthorized ||
		!strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) || !strings.Contains(h.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("own API with an MCP-audience token: %d %v %q", code, body, h.Get("WWW-Authenticate"))
	}
	// 7. Refresh narrowed to the own API: the API accepts it.
	refresh := func(resource string) *oauth2.Token {
		t.Helper()
		var opts []oauth2.AuthCodeOption
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {clientID}}
		if resource != "" {
			form.Set("resource", resource)
		}
		_ = opts
		code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/x-www-form-urlencoded", "", form.Encode())
		if code != http.StatusOK {
			t.Fatalf("refresh for %q: %d %v", resource, code, m)
		}
		next := &oauth2.Token{AccessToken: m["access_token"].(string), RefreshToken: m["refresh_token"].(string)}
		tok = next
		return next
	}
	own := refresh(s.URL)
	if got := audOf(introspectAs(t, s, rsID, rsSecret, own.AccessToken)); !slices.Equal(got, []string{s.URL}) {
		t.Fatalf("refreshed for the own API: aud %v", got)
	}
	if code, body, _ := rawCall(t, http.MethodGet, s.URL+"/v1/users/me", "", "Bearer "+own.AccessToken, ""); code != http.StatusOK {
		t.Fatalf("own API with an own-audience token: %d %v", code, body)
	}
	// The refresh token kept the whole audience: a refresh without
	// resource gets both, one with the MCP resource gets it back.
	if got := audOf(introspectAs(t, s, rsID, rsSecret, refresh("").AccessToken)); !slices.Equal(got, []string{mcpResource, s.URL}) {
		t.Fatalf("refresh without resource: aud %v, want both", got)
	}
	if got := audOf(introspectAs(t, s, rsID, rsSecret, refresh(mcpResource).AccessToken)); !slices.Equal(got, []string{mcpResource}) {
		t.Fatalf("refresh for the MCP resource: aud %v", got)
	}
	// 8. Another resource (configured, not granted) and an unknown one.
	for _, res := range []string{otherResource, "https://unknown.example.test/", "not a uri", "https://mcp.example.test/mcp#frag"} {
		st, e := tokenError(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {clientID}, "resource": {res}})
		if st != http.StatusBadRequest || e != "invalid_target" {
			t.Errorf("refresh for %q: %d %q, want 400 invalid_target", res, st, e)
		}
	}
	// The refused requests did not consume the refresh token.
	refresh("")
}

// TestResourceIndicatorsAtAuthorize: an unknown resource at the
// authorization endpoint is redirected to the client as invalid_target;
// PAR refuses it with 400; JSON token bodies accept resource arrays.
func TestResourceIndicatorsAtAuthorize(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOff, nil)
	s.CreateUser(t, "ri", "correct horse battery staple")
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "RI", RedirectURIs: []string{"https://ri.example.test/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scopes: []string{"openid", "users:read"}})
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: "https://ri.example.test/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"}}
	v := oauth2.GenerateVerifier()
	for _, res := range []string{"https://unknown.example.test", "relative/path", "https://mcp.example.test/mcp#x"} {
		u := conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", res))
		redirect := s.Authorize(t, browser(t), u, "ri", "correct horse battery staple", "allow")
		if redirect.Query().Get("error") != "invalid_target" || redirect.Query().Get("state") != "s1" {
			t.Errorf("authorize with resource %q: redirected to %s, want error=invalid_target", res, redirect)
		}
	}
	// PAR: an unknown resource is 400 invalid_target; a known one is 201.
	par := func(res ...string) (int, string) {
		form := url.Values{"client_id": {id}, "response_type": {"code"}, "redirect_uri": {conf.RedirectURL}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}, "resource": res}
		code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/par", "application/x-www-form-urlencoded", basicHeader(id, sec), form.Encode())
		e, _ := m["error"].(string)
		return code, e
	}
	if code, e := par("https://unknown.example.test"); code != http.StatusBadRequest || e != "invalid_target" {
		t.Errorf("PAR with an unknown resource: %d %q", code, e)
	}
	if code, e := par(mcpResource, otherResource); code != http.StatusCreated {
		t.Errorf("PAR with two known resources: %d %q", code, e)
	}
	// client_credentials with resources in a JSON body: aud is them.
	code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/json", basicHeader(id, sec),
		`{"grant_type": "client_credentials", "scope": "users:read", "resource": ["`+mcpResource+`", "`+otherResource+`"]}`)
	if code != http.StatusOK {
		t.Fatalf("client_credentials with resources: %d %v", code, m)
	}
	rsID, rsSecret := s.CreateClient(t, oauth.ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	if got := audOf(introspectAs(t, s, rsID, rsSecret, m["access_token"].(string))); !slices.Equal(got, []string{mcpResource, otherResource}) {
		t.Errorf("client_credentials aud = %v", got)
	}
	if code, e := tokenError(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {sec}, "resource": {"https://nope.example.test"}}); code != http.StatusBadRequest || e != "invalid_target" {
		t.Errorf("client_credentials for an unknown resource: %d %q", code, e)
	}
	// A JSON resource that is not a string array is invalid_request.
	if code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/token", "application/json", basicHeader(id, sec),
		`{"grant_type": "client_credentials", "resource": [1]}`); code != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Errorf("resource [1]: %d %v", code, m)
	}
}

// TestRegistrationBadInput: every refusal in RFC 7591 §3.2.2 / RFC 6750
// form, never a 5xx.
func TestRegistrationBadInput(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, nil)
	reg := s.URL + "/oauth/register"
	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"javascript redirect", "application/json", `{"redirect_uris": ["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"data redirect", "application/json", `{"redirect_uris": ["data:text/html,hi"]}`, 400, "invalid_redirect_uri"},
		{"wildcard host", "application/json", `{"redirect_uris": ["https://*.example.com/cb"]}`, 400, "invalid_redirect_uri"},
		{"wildcard path", "application/json", `{"redirect_uris": ["https://app.example.com/*"]}`, 400, "invalid_redirect_uri"},
		{"fragment", "application/json", `{"redirect_uris": ["https://app.example.com/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"http non-loopback", "application/json", `{"redirect_uris": ["http://app.example.com/cb"]}`, 400, "invalid_redirect_uri"},
		{"relative", "application/json", `{"redirect_uris": ["/cb"]}`, 400, "invalid_redirect_uri"},
		{"scheme without dot", "application/json", `{"redirect_uris": ["myapp:/cb"]}`, 400, "invalid_redirect_uri"},
		{"no redirect uri", "application/json", `{"client_name": "x"}`, 400, "invalid_client_metadata"},
		{"scope not allowed", "application/json", `{"redirect_uris": ["https://a.example/cb"], "scope": "keys:write"}`, 400, "invalid_client_metadata"},
		{"client_credentials not allowed", "application/json", `{"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"implicit", "application/json", `{"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}`, 400, "invalid_client_metadata"},
		{"token response type", "application/json", `{"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}`, 400, "invalid_client_metadata"},
		{"private_key_jwt", "application/json", `{"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}`, 400, "invalid_client_metadata"},
		{"wrong type", "application/json", `{"redirect_uris": "https://a.example/cb"}`, 400, "invalid_client_metadata"},
		{"malformed JSON", "application/json", `{"redirect_uris": [`, 400, "invalid_client_metadata"},
		{"not an object", "application/json", `[1,2]`, 400, "invalid_client_metadata"},
		{"two objects", "application/json", `{} {}`, 400, "invalid_client_metadata"},
		{"repeated member", "application/json", `{"redirect_uris": ["https://a.example/cb"], "redirect_uris": ["https://b.example/cb"]}`, 400, "invalid_client_metadata"},
		{"client_id sent", "application/json", `{"redirect_uris": ["https://a.example/cb"], "client_id": "mine"}`, 400, "invalid_client_metadata"},
		{"form body", "application/x-www-form-urlencoded", `redirect_uris=https://a.example/cb`, 400, "invalid_client_metadata"},
		{"no content type", "", `{"redirect_uris": ["https://a.example/cb"]}`, 400, "invalid_client_metadata"},
		{"huge body", "application/json", `{"client_name": "` + strings.Repeat("a", 70<<10) + `"}`, 413, "invalid_request"},
		{"long name", "application/json", `{"redirect_uris": ["https://a.example/cb"], "client_name": "` + strings.Repeat("n", 201) + `"}`, 400, "invalid_client_metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m, _ := rawCall(t, http.MethodPost, reg, tc.ct, "", tc.body)
			if code != tc.status || m["error"] != tc.code || m["error_description"] == "" {
				t.Errorf("%d %v, want %d %s", code, m, tc.status, tc.code)
			}
		})
	}
	// Accepted kinds: https, loopback http on any port, private-use scheme.
	code, m, _ := rawCall(t, http.MethodPost, reg, "application/json", "", `{"redirect_uris": ["https://a.example/cb",
		"http://localhost:8765/cb", "http://[::1]/cb", "http://127.0.0.1:1234/cb", "com.example.app:/oauth2redirect"]}`)
	if code != http.StatusCreated || m["token_endpoint_auth_method"] != "client_secret_basic" || m["client_secret"] == "" ||
		m["client_secret_expires_at"] != float64(0) || m["scope"] != "openid offline_access users:read" {
		t.Fatalf("registration with every allowed kind: %d %v", code, m)
	}
	// The secret works at the token endpoint is shown once: GET never shows it.
	id, token := m["client_id"].(string), m["registration_access_token"].(string)
	code, got, _ := rawCall(t, http.MethodGet, reg+"/"+id, "", "Bearer "+token, "")
	if code != http.StatusOK || got["client_secret"] != nil || got["client_id"] != id {
		t.Fatalf("GET: %d %v", code, got)
	}
	if c, _ := s.App.DB().GetClient(context.Background(), id); c == nil || c.OwnerID != "" || !c.RequirePKCE || !c.Registered() {
		t.Fatalf("stored client = %+v", c)
	}
}

// TestRegistrationManagement: RFC 7592 read, update (rotating the
// registration access token) and delete; wrong or missing tokens are 401
// invalid_token with a Bearer challenge.
func TestRegistrationManagement(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, nil)
	code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "",
		`{"client_name": "Tool", "redirect_uris": ["https://tool.example/cb"], "token_endpoint_auth_method": "client_secret_post"}`)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, m)
	}
	id, token, sec := m["client_id"].(string), m["registration_access_token"].(string), m["client_secret"].(string)
	uri := m["registration_client_uri"].(string)
	webID, _ := s.CreateClient(t, oauth.ClientSpec{Name: "Web", RedirectURIs: []string{"https://w.example/cb"}})

	for _, tc := range []struct{ name, uri, auth string }{
		{"no token", uri, ""},
		{"wrong token", uri, "Bearer " + token + "x"},
		{"basic", uri, basicHeader(id, sec)},
		{"unknown client", s.URL + "/oauth/register/nope", "Bearer " + token},
		{"client not registered dynamically", s.URL + "/oauth/register/" + webID, "Bearer " + token},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			code, m, h := rawCall(t, method, tc.uri, "application/json", tc.auth, `{"client_id": "`+id+`", "redirect_uris": ["https://x.example/cb"]}`)
			if code != http.StatusUnauthorized || m["error"] != "invalid_token" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: %d %v %q, want 401 invalid_token", tc.name, method, code, m, h.Get("WWW-Authenticate"))
			}
		}
	}
	// Update: the body must name the client; the token rotates.
	code, m, _ = rawCall(t, http.MethodPut, uri, "application/json", "Bearer "+token, `{"client_id": "other", "redirect_uris": ["https://x.example/cb"]}`)
	if code != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Errorf("PUT with another client_id: %d %v", code, m)
	}
	code, m, _ = rawCall(t, http.MethodPut, uri, "application/json", "Bearer "+token,
		`{"client_id": "`+id+`", "client_name": "Tool 2", "redirect_uris": ["https://tool.example/cb2"], "token_endpoint_auth_method": "none"}`)
	if code != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Errorf("PUT turning a confidential client public: %d %v", code, m)
	}
	code, m, _ = rawCall(t, http.MethodPut, uri, "application/json", "Bearer "+token,
		`{"client_id": "`+id+`", "client_secret": "`+sec+`", "client_name": "Tool 2", "redirect_uris": ["https://tool.example/cb2"], "token_endpoint_auth_method": "client_secret_post"}`)
	if code != http.StatusOK || m["client_name"] != "Tool 2" || m["client_secret"] != nil {
		t.Fatalf("PUT: %d %v", code, m)
	}
	next, _ := m["registration_access_token"].(string)
	if next == "" || next == token {
		t.Fatalf("PUT did not rotate the registration access token")
	}
	if code, _, _ := rawCall(t, http.MethodGet, uri, "", "Bearer "+token, ""); code != http.StatusUnauthorized {
		t.Errorf("the replaced token still works: %d", code)
	}
	code, m, _ = rawCall(t, http.MethodGet, uri, "", "Bearer "+next, "")
	if rs, _ := m["redirect_uris"].([]any); code != http.StatusOK || len(rs) != 1 || rs[0] != "https://tool.example/cb2" {
		t.Fatalf("GET after PUT: %d %v", code, m)
	}
	// The client secret still works after the update.
	if code, _ := tokenError(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {sec}}); code == http.StatusUnauthorized {
		t.Errorf("client secret refused after PUT")
	}
	// Delete: 204, then the client and its token are gone.
	if code, m, _ := rawCall(t, http.MethodDelete, uri, "", "Bearer "+next, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %v", code, m)
	}
	if code, _, _ := rawCall(t, http.MethodGet, uri, "", "Bearer "+next, ""); code != http.StatusUnauthorized {
		t.Errorf("GET after DELETE: %d, want 401", code)
	}
	if _, err := s.App.DB().GetClient(context.Background(), id); err == nil {
		t.Error("the client survived DELETE")
	}
}

// TestRegistrationModes: off (404, not in discovery), initial access
// token (missing or wrong refused with 401), the per-IP limit (429), and
// concurrent registrations.
func TestRegistrationModes(t *testing.T) {
	t.Parallel()
	t.Run("off", func(t *testing.T) {
		s := newRegistrationServer(t, config.RegistrationOff, nil)
		if code, _, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "", `{"redirect_uris": ["https://a.example/cb"]}`); code != http.StatusNotFound {
			t.Errorf("POST /oauth/register when off: %d, want 404", code)
		}
		if code, _, _ := rawCall(t, http.MethodGet, s.URL+"/oauth/register/x", "", "Bearer x", ""); code != http.StatusNotFound {
			t.Errorf("GET /oauth/register/x when off: %d, want 404", code)
		}
		if _, ok := getJSON(t, s.URL+"/.well-known/openid-configuration")["registration_endpoint"]; ok {
			t.Error("discovery lists registration_endpoint while registration is off")
		}
	})
	t.Run("initial access token", func(t *testing.T) {
		const iat = "the-initial-access-token-of-this-test-0123456789"
		sum := sha256.Sum256([]byte(iat))
		s := newRegistrationServer(t, config.RegistrationInitialAccessToken, func(c *config.Config) {
			c.OAuth.Registration.InitialAccessTokens = []string{"sha256:" + hex.EncodeToString(sum[:])}
		})
		body := `{"redirect_uris": ["https://a.example/cb"]}`
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + iat + "x", basicHeader("a", iat)} {
			code, m, h := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", auth, body)
			if code != http.StatusUnauthorized || m["error"] != "invalid_token" || h.Get("WWW-Authenticate") == "" {
				t.Errorf("register with %q: %d %v", auth, code, m)
			}
		}
		if code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "Bearer "+iat, body); code != http.StatusCreated {
			t.Errorf("register with the initial access token: %d %v", code, m)
		}
	})
	t.Run("per-IP limit and concurrency", func(t *testing.T) {
		s := newRegistrationServer(t, config.RegistrationOpen, func(c *config.Config) { c.OAuth.Registration.PerMinute = 8 })
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[string]bool{}
		statuses := map[int]int{}
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, m, _ := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "", `{"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"}`)
				mu.Lock()
				defer mu.Unlock()
				statuses[code]++
				if id, _ := m["client_id"].(string); id != "" {
					ids[id] = true
				}
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] != 8 || statuses[http.StatusTooManyRequests] != 4 || len(ids) != 8 {
			t.Fatalf("12 concurrent registrations with a limit of 8: statuses %v, %d distinct ids", statuses, len(ids))
		}
		for id := range ids {
			if _, err := s.App.DB().GetClient(context.Background(), id); err != nil {
				t.Errorf("client %s not stored: %v", id, err)
			}
		}
		_, _, h := rawCall(t, http.MethodPost, s.URL+"/oauth/register", "application/json", "", `{}`)
		if h.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
	_ = time.Second
}
