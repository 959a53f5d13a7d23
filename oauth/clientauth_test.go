package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// sendAs posts form to handler with c's credentials sent by method
// (client_secret_basic or client_secret_post) and returns the recorder.
func sendAs(t *testing.T, handler http.HandlerFunc, path string, c testClient, method string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	form = cloneForm(form)
	if method == AuthMethodPost {
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if method == AuthMethodBasic {
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	w := httptest.NewRecorder()
	handler(w, r)
	return w
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// clientAuthEndpoints are the endpoints that authenticate clients, each
// with a request that succeeds (status ok) for a client allowed there.
func clientAuthEndpoints(t *testing.T, p *Provider, tokenOf func(testClient) string) []struct {
	name, path string
	handler    http.HandlerFunc
	form       func(testClient) url.Values
	ok         int
} {
	_, challenge := pkcePair()
	return []struct {
		name, path string
		handler    http.HandlerFunc
		form       func(testClient) url.Values
		ok         int
	}{
		{"token", "/oauth/token", p.Token, func(testClient) url.Values {
			return url.Values{"grant_type": {"client_credentials"}}
		}, http.StatusOK},
		{"introspect", "/oauth/introspect", p.Introspect, func(c testClient) url.Values {
			return url.Values{"token": {tokenOf(c)}}
		}, http.StatusOK},
		{"revoke", "/oauth/revoke", p.Revoke, func(testClient) url.Values {
			return url.Values{"token": {"ory_at_unknown.unknown"}}
		}, http.StatusOK},
		{"par", "/oauth/par", p.PAR, func(testClient) url.Values {
			return url.Values{"response_type": {"code"}, "redirect_uri": {flowRedirect}, "scope": {"openid"},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		}, http.StatusCreated},
	}
}

// TestClientAuthMethodsAtEveryEndpoint (issue 12 item 5): the token,
// introspection, revocation and PAR endpoints accept exactly the methods
// a client registered — a confidential client registered without a method
// both client_secret_basic and client_secret_post (SPEC §3.1), one
// registered with a method only that one. Introspection used to take HTTP
// Basic only, so a client_secret_post client (oauth2-proxy's default) got
// 401 there. AuthMethods, which the CLI prints, states the same rule.
func TestClientAuthMethodsAtEveryEndpoint(t *testing.T) {
	p, db := newTestProvider(t)
	grants := []string{"authorization_code", "refresh_token", "client_credentials"}
	clients := map[string]testClient{
		"":              registerClient(t, p, db, ClientSpec{Name: "Both", GrantTypes: grants}),
		AuthMethodBasic: registerClient(t, p, db, ClientSpec{Name: "Basic", GrantTypes: grants, AuthMethod: AuthMethodBasic}),
		AuthMethodPost:  registerClient(t, p, db, ClientSpec{Name: "Post", GrantTypes: grants, AuthMethod: AuthMethodPost}),
	}
	ownToken := map[string]string{}
	for reg, c := range clients {
		method := reg
		if method == "" {
			method = AuthMethodBasic
		}
		w := sendAs(t, p.Token, "/oauth/token", c, method, url.Values{"grant_type": {"client_credentials"}})
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.AccessToken == "" {
			t.Fatalf("client_credentials for %q: %d %s", reg, w.Code, w.Body.String())
		}
		ownToken[c.ID] = out.AccessToken
	}
	tokenOf := func(c testClient) string { return ownToken[c.ID] }

	for _, ep := range clientAuthEndpoints(t, p, tokenOf) {
		for _, reg := range []string{"", AuthMethodBasic, AuthMethodPost} {
			for _, used := range []string{AuthMethodBasic, AuthMethodPost} {
				// What AuthMethods states (the CLI prints it) is what
				// every endpoint enforces.
				rec, err := db.GetClient(t.Context(), clients[reg].ID)
				if err != nil {
					t.Fatal(err)
				}
				allowed := slices.Contains(AuthMethods(rec), used)
				if want := reg == "" || reg == used; allowed != want {
					t.Fatalf("AuthMethods(registered %q) = %v", reg, AuthMethods(rec))
				}
				t.Run(ep.name+"/registered "+reg+"/sent "+used, func(t *testing.T) {
					w := sendAs(t, ep.handler, ep.path, clients[reg], used, ep.form(clients[reg]))
					var body map[string]any
					_ = json.Unmarshal(w.Body.Bytes(), &body)
					if allowed {
						if w.Code != ep.ok {
							t.Fatalf("%d %s, want %d", w.Code, w.Body.String(), ep.ok)
						}
						if ep.name == "introspect" && body["active"] != true {
							t.Fatalf("own token introspects %v", body)
						}
						return
					}
					if w.Code != http.StatusUnauthorized || body["error"] != "invalid_client" {
						t.Fatalf("%d %s, want 401 invalid_client", w.Code, w.Body.String())
					}
				})
			}
		}
	}
}

// TestBasicChallengeOnInvalidClient (issue 12 item 6): a 401
// invalid_client answered to a client that tried HTTP Basic carries
// `WWW-Authenticate: Basic realm=...` (RFC 6749 §5.2 MUST) at the token,
// introspection, revocation and PAR endpoints; one answered to a client
// that sent its secret in the body does not (it tried no HTTP scheme).
func TestBasicChallengeOnInvalidClient(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"authorization_code", "client_credentials"}})
	wrong := testClient{ID: c.ID, Secret: c.Secret + "x"}
	for _, ep := range clientAuthEndpoints(t, p, func(testClient) string { return "ory_at_x.x" }) {
		for _, used := range []string{AuthMethodBasic, AuthMethodPost} {
			t.Run(ep.name+"/"+used, func(t *testing.T) {
				w := sendAs(t, ep.handler, ep.path, wrong, used, ep.form(wrong))
				if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"invalid_client"`) {
					t.Fatalf("%d %s, want 401 invalid_client", w.Code, w.Body.String())
				}
				got := w.Header().Get("WWW-Authenticate")
				if used == AuthMethodBasic && got != `Basic realm="latchkey"` {
					t.Fatalf("WWW-Authenticate = %q, want a Basic challenge", got)
				}
				if used == AuthMethodPost && got != "" {
					t.Fatalf("WWW-Authenticate = %q for client_secret_post, want none", got)
				}
			})
		}
	}
}

// TestIntrospectionRefusesPublicClients: accepting the client's registered
// method must not let a public client (method none: client_id alone)
// introspect — introspection stays with confidential clients.
func TestIntrospectionRefusesPublicClients(t *testing.T) {
	p, db := newTestProvider(t)
	pub := registerClient(t, p, db, ClientSpec{Name: "SPA", Public: true})
	at := str(tokens(t, p, pub, "alice", "openid"), "access_token")
	r := httptest.NewRequest(http.MethodPost, "/oauth/introspect", strings.NewReader(url.Values{"token": {at}, "client_id": {pub.ID}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	p.Introspect(w, r)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"invalid_client"`) {
		t.Fatalf("public client introspection: %d %s, want 401 invalid_client", w.Code, w.Body.String())
	}
}

// TestBasicAndBodyNameOneClient: a client authenticated by HTTP Basic
// cannot name another client in the client_id parameter — at PAR that
// pushed an authorization request in the other client's name (fosite
// builds it for the client the parameter names), elsewhere the parameter
// was silently ignored. Every endpoint answers 401 invalid_client; the
// client's own id in the body is still fine.
func TestBasicAndBodyNameOneClient(t *testing.T) {
	p, db := newTestProvider(t)
	grants := []string{"authorization_code", "client_credentials"}
	c := registerClient(t, p, db, ClientSpec{Name: "Mallory", GrantTypes: grants})
	victim := registerClient(t, p, db, ClientSpec{Name: "Victim", Public: true})
	at := str(tokens(t, p, victim, "alice", "openid"), "access_token")
	for _, ep := range clientAuthEndpoints(t, p, func(testClient) string { return at }) {
		t.Run(ep.name, func(t *testing.T) {
			form := ep.form(c)
			form.Set("client_id", victim.ID)
			w := sendAs(t, ep.handler, ep.path, c, AuthMethodBasic, form)
			if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"invalid_client"`) {
				t.Fatalf("Basic as %s, client_id %s: %d %s, want 401 invalid_client", c.ID, victim.ID, w.Code, w.Body.String())
			}
			form.Set("client_id", c.ID)
			if w := sendAs(t, ep.handler, ep.path, c, AuthMethodBasic, form); w.Code != ep.ok {
				t.Fatalf("own client_id in the body: %d %s, want %d", w.Code, w.Body.String(), ep.ok)
			}
		})
	}
}
