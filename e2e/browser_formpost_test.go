package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

// TestBrowserFormPostSubmits (issue 12 item 2): with response_mode=form_post
// and no state, the page Latchkey answers after consent really submits in
// a browser under the server's CSP (script-src 'self'), and the app gets a
// POST with code and iss and no state. Before the fix the request was
// refused (unsupported_response_mode), and fosite's page relied on an
// inline onload handler the CSP blocks.
func TestBrowserFormPostSubmits(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	type post struct {
		method string
		form   url.Values
	}
	got := make(chan post, 2)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got <- post{r.Method, r.PostForm}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>App</title><p>Signed in.</p>"))
	}))
	t.Cleanup(app.Close)
	clientID, clientSecret := s.CreateClient(t, oauth.ClientSpec{
		Name: "Form App", RedirectURIs: []string{app.URL + "/cb"}, Scopes: []string{"openid"},
	})
	b := newChrome(t, s.URL, browserTimeout)

	b.open("/signup")
	b.fill("#username", "carol", "#email", "carol@example.com", "#password", "violet heron quartz lantern")
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.wantAt("/")

	conf := oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: app.URL + "/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"},
	}
	verifier := oauth2.GenerateVerifier()
	u, err := url.Parse(conf.AuthCodeURL("", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post")))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("state") // x/oauth2 always sends state; this client does not
	u.RawQuery = q.Encode()
	b.open(u.String())
	b.wantText("#consent-heading", "Form App")
	b.click(`button[name="decision"][value="allow"]`)

	var p post
	select {
	case p = <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("the form_post page never submitted (at %s)", b.location())
	}
	if _, hasState := p.form["state"]; p.method != http.MethodPost || p.form.Get("code") == "" || p.form.Get("iss") != s.URL || hasState {
		t.Fatalf("app got %s %v, want a POST with code and iss, no state", p.method, p.form)
	}
	if _, err := conf.Exchange(b.ctx, p.form.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	b.checkConsole()
}
