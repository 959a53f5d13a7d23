package e2e

import (
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

// TestBrowserSignupKeepsAuthorizeRequest: a person without an account is
// sent by an app to /oauth/authorize, lands on the login page, follows
// "Create an account", signs up and arrives at the consent page of that
// same request; allowing sends the code (and the app's state) to the
// app's redirect URI, and the code exchanges for a token.
func TestBrowserSignupKeepsAuthorizeRequest(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	app := newClientApp(t)
	clientID, clientSecret := s.CreateClient(t, oauth.ClientSpec{
		Name: "Photo Printer", RedirectURIs: []string{app.URL + "/cb"}, Scopes: []string{"openid", "profile"},
	})
	b := newChrome(t, s.URL, browserTimeout)
	conf := oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: app.URL + "/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "profile"},
	}
	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:16]

	b.open(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	b.wantAt("/login")
	b.click(`a[href^="/signup"]`)
	b.wantAt("/signup")
	b.fill("#username", "dana", "#email", "dana@example.com", "#password", "violet harbour piano lantern")
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.wantAt("/oauth/authorize")
	b.wantText("#consent-heading", "Photo Printer")
	b.wantText(".session-user", "dana")
	b.shoot("signup-consent")

	b.click(`button[name="decision"][value="allow"]`)
	q := app.callback(t)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	tok, err := conf.Exchange(b.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if st := tokenTest(t, s, tok.AccessToken); st != http.StatusOK {
		t.Fatalf("the token from the code: %d", st)
	}
	b.checkConsole()
}
