package web

import "testing"

func TestRenderLogout(t *testing.T) {
	out := renderPage(t, "logout", "logout-confirm", pageData{Title: "Sign out", User: testUserValue, Page: logoutPage{
		ClientName: `Shop <&>`,
		Fields:     []hiddenField{{Name: "client_id", Value: "c1"}, {Name: "state", Value: `x"><script>`}},
	}})
	mustContain(t, "logout-confirm", out,
		"Sign out of Latchkey?", `Shop &lt;&amp;&gt;</span> asks you to sign out`,
		`<form method="post" action="/oauth/logout/confirm">`, csrfMarker,
		`name="client_id" value="c1"`, `name="state" value="x&#34;&gt;&lt;script&gt;"`,
		`type="submit" class="btn btn-primary">Sign out</button>`, `href="/">Stay signed in</a>`,
	)
	out = renderPage(t, "logout", "logout-done", pageData{Title: "Signed out", Page: logoutPage{SignedOut: true, ClientName: "Shop"}})
	mustContain(t, "logout-done", out, "You are signed out", `for <span class="client-name">Shop</span>`, `href="/login"`)
	mustNotContain(t, "logout-done", out, "/oauth/logout/confirm")
}

func TestRenderAppLogoutFields(t *testing.T) {
	f := pgForm()
	f.PostLogoutURIs, f.BackchannelURI, f.BackchannelSID = "https://a.example/bye\nhttps://a.example/bye2", "https://a.example/bc?x=<1>", true
	out := renderPage(t, "apps", "", pageData{Title: "Your apps", User: testUserValue, Page: appsPage{Form: f,
		Errors: appErrors{PostLogoutURIs: "bad <uri>", BackchannelURI: "bad bc"}}})
	mustContain(t, "apps", out,
		`name="post_logout_redirect_uris"`, ">https://a.example/bye\nhttps://a.example/bye2</textarea>",
		`aria-describedby="post-logout-hint post-logout-error" aria-invalid="true"`, `id="post-logout-error">bad &lt;uri&gt;</p>`,
		`name="backchannel_logout_uri" type="url" value="https://a.example/bc?x=&lt;1&gt;"`, `id="backchannel-error">bad bc</p>`,
		`name="backchannel_logout_session_required" value="on" checked`,
	)
}
