package server_test

// The MCP authorization flow end to end (issue 15): a client meets a 401
// carrying the protected resource metadata, discovers Latchkey, registers
// dynamically, runs code + PKCE with resource, and calls an MCP resource
// server that checks the RFC 9068 JWT access token offline (signature
// from the JWKS, iss, aud = its own resource identifier, typ at+jwt);
// the refreshed token works too, and another resource refuses it.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
)

// jwtResourceServer is a resource server that accepts only RFC 9068
// access tokens Latchkey signed for resource (RFC 9068 §4: typ at+jwt,
// iss, aud, exp, signature from the JWKS). It answers 401 with the RFC
// 9728 hint otherwise.
func jwtResourceServer(t *testing.T, issuer, resource string) *httptest.Server {
	t.Helper()
	verifier := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(context.Background(), issuer+"/.well-known/jwks.json"),
		&oidc.Config{ClientID: resource, SupportedSigningAlgs: []string{"RS256", "ES256"}})
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(why string) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="`+resource+`/.well-known/oauth-protected-resource"`)
			http.Error(w, why, http.StatusUnauthorized)
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			refuse("no token")
			return
		}
		head, _, _ := strings.Cut(tok, ".")
		raw, err := base64.RawURLEncoding.DecodeString(head)
		var h struct{ Typ string }
		if err != nil || json.Unmarshal(raw, &h) != nil || !strings.EqualFold(h.Typ, "at+jwt") {
			refuse("not an RFC 9068 access token")
			return
		}
		idt, err := verifier.Verify(r.Context(), tok)
		if err != nil {
			refuse(err.Error())
			return
		}
		var claims struct {
			Scope    string `json:"scope"`
			ClientID string `json:"client_id"`
		}
		if err := idt.Claims(&claims); err != nil || !strings.Contains(" "+claims.Scope+" ", " users:read ") {
			refuse("scope")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": idt.Subject, "client_id": claims.ClientID})
	}))
	t.Cleanup(rs.Close)
	return rs
}

func TestMCPFlowWithJWTAccessTokens(t *testing.T) {
	t.Parallel()
	s := newRegistrationServer(t, config.RegistrationOpen, func(c *config.Config) { c.OAuth.JWTAccessTokens = true })
	s.CreateUser(t, "mcpjwt", "correct horse battery staple")
	ctx := context.Background()
	mcp := jwtResourceServer(t, s.URL, mcpResource)
	other := jwtResourceServer(t, s.URL, otherResource)

	// The MCP client starts at Latchkey's API without a token.
	code, _, h := rawCall(t, http.MethodGet, s.URL+"/v1/users/me", "", "", "")
	m := resourceMetadataRe.FindStringSubmatch(h.Get("WWW-Authenticate"))
	if code != http.StatusUnauthorized || m == nil {
		t.Fatalf("API without a token: %d, WWW-Authenticate %q", code, h.Get("WWW-Authenticate"))
	}
	prm := getJSON(t, m[1])
	as, _ := prm["authorization_servers"].([]any)
	if len(as) != 1 {
		t.Fatalf("protected resource metadata: %v", prm)
	}
	asm := getJSON(t, as[0].(string)+"/.well-known/oauth-authorization-server")
	code, reg, _ := rawCall(t, http.MethodPost, asm["registration_endpoint"].(string), "application/json", "", `{
		"client_name": "MCP client", "redirect_uris": ["http://127.0.0.1/callback"],
		"token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
		"scope": "openid offline_access users:read"}`)
	clientID, _ := reg["client_id"].(string)
	if code != http.StatusCreated || clientID == "" {
		t.Fatalf("register: %d %v", code, reg)
	}
	conf := &oauth2.Config{
		ClientID: clientID, RedirectURL: "http://127.0.0.1:41234/callback",
		Endpoint: oauth2.Endpoint{AuthURL: asm["authorization_endpoint"].(string), TokenURL: asm["token_endpoint"].(string),
			AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "offline_access", "users:read"},
	}
	verifier := oauth2.GenerateVerifier()
	redirect := s.Authorize(t, browser(t), conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("resource", mcpResource)), "mcpjwt", "correct horse battery staple", "allow")
	tok, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", mcpResource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("access token %q is not a JWT", tok.AccessToken)
	}

	call := func(rs *httptest.Server, access string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, rs.URL+"/tools", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := call(mcp, tok.AccessToken); code != http.StatusOK || !strings.Contains(body, clientID) {
		t.Fatalf("MCP resource with its token: %d %s", code, body)
	}
	// The same token at another resource: its audience is not that one.
	if code, body := call(other, tok.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("other resource with the MCP token: %d %s, want 401", code, body)
	}
	// Refresh (x/oauth2's token source) keeps the MCP audience.
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.AccessToken == tok.AccessToken {
		t.Fatal("refresh returned the same access token")
	}
	if code, body := call(mcp, next.AccessToken); code != http.StatusOK {
		t.Fatalf("MCP resource with the refreshed token: %d %s", code, body)
	}
	// A token for the other resource cannot be had: it was not granted.
	st, e := tokenError(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken},
		"client_id": {clientID}, "resource": {otherResource}})
	if st != http.StatusBadRequest || e != "invalid_target" {
		t.Fatalf("refresh for the other resource: %d %q, want 400 invalid_target", st, e)
	}
}
