package web

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

var pgWhen = newPageTime(time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC))

func pgForm() appFormView {
	return appFormView{
		Action: "/apps",
		Name:   `My <App>`, RedirectURIs: "https://a.example/cb\nhttps://a.example/cb2", RequirePKCE: true,
		Scopes: []option{{Value: "openid", Label: "openid", Hint: "Confirm <you>", Checked: true}, {Value: "keys:read", Label: "keys:read"}},
		Grants: []option{{Value: "authorization_code", Label: "authorization_code", Checked: true}, {Value: "client_credentials", Label: "client_credentials"}},
	}
}

func TestRenderSignup(t *testing.T) {
	out := renderPage(t, "signup", "signup", pageData{Title: "Create an account", Page: signupPage{Next: "/"}})
	mustContain(t, "signup", out,
		`action="/signup"`, `name="username"`, `name="email"`, `type="email"`, `name="password"`,
		`autocomplete="new-password"`, `name="next" value="/"`, `href="/login"`, csrfMarker,
	)
	mustNotContain(t, "signup", out, "field-error", "aria-invalid", "form-error")

	out = renderPage(t, "signup", "signup-errors", pageData{Title: "Create an account", Page: signupPage{
		Form:   signupForm{Username: `bo"b`, Email: "b@<x>"},
		Errors: signupErrors{Username: "taken <u>", Email: "bad email", Password: "too short", Form: "slow down"},
		Next:   "/oauth/authorize?a=1&b=2",
	}})
	mustContain(t, "signup", out,
		`value="bo&#34;b"`, `value="b@&lt;x&gt;"`,
		`aria-describedby="username-hint username-error"`, `id="username-error">taken &lt;u&gt;</p>`,
		`aria-describedby="email-error"`, `id="email-error">bad email</p>`,
		`id="password-error">too short</p>`, `role="alert">slow down</p>`,
		`href="/login?next=%2foauth%2fauthorize%3fa%3d1%26b%3d2"`,
	)
	if n := strings.Count(out, `aria-invalid="true"`); n != 3 {
		t.Errorf("signup: %d invalid fields marked, want 3", n)
	}
}

func TestRenderAccount(t *testing.T) {
	out := renderPage(t, "account", "account", pageData{Title: "Account", User: testUserValue, Page: accountPage{
		ID: "usr_123", Username: "alice<b>", Email: "a@example.com", Created: pgWhen,
		Tenants: []accountTenant{{ID: "usr_123", Name: "alice<b>'s workspace", Role: "owner"}, {ID: "tnt_abc", Name: "prod <1>", Role: "read-only", Org: "Acme <co>", OrgID: "org_x", OrgRole: "member"}},
	}})
	mustContain(t, "account", out,
		"<code>usr_123</code>", "a@example.com", `<time datetime="2026-03-04T05:06:00Z" title="4 Mar 2026, 05:06 UTC">`,
		"alice&lt;b&gt;&#39;s workspace", "Personal workspace · role: owner", "Acme &lt;co&gt;</a> (you are member) · access: read-only", `<code id="copy-tnt_abc" class="select-all">tnt_abc</code>`, `href="/apps"`, `href="/authorized"`, `href="/keys"`,
	)
	out = renderPage(t, "account", "account-empty", pageData{Title: "Account", User: testUserValue, Page: accountPage{ID: "usr_123"}})
	mustContain(t, "account", out, `class="empty"`, `<span class="muted">none</span>`, "unknown")
}

func TestRenderApps(t *testing.T) {
	empty := renderPage(t, "apps", "apps-empty", pageData{Title: "Your apps", User: testUserValue, Flash: "Deleted", Page: appsPage{Form: pgForm()}})
	mustContain(t, "apps", empty,
		`class="empty"`, `action="/apps"`, `name="name"`, `value="My &lt;App&gt;"`,
		"https://a.example/cb\nhttps://a.example/cb2</textarea>", `<label for="redirect_uris">`,
		`name="client_type" value="confidential" checked`, `name="client_type" value="public">`,
		`id="scope-0" name="scopes" value="openid" checked`, `id="scope-1" name="scopes" value="keys:read">`, "Confirm &lt;you&gt;",
		`id="grant-0" name="grant_types" value="authorization_code" checked`, `id="grant-1" name="grant_types" value="client_credentials">`,
		`name="require_pkce" value="on" checked`,
	)
	mustNotContain(t, "apps", empty, "field-error", "form-error", "Save changes", "always requires PKCE")
	mustContain(t, "apps", empty, ">Register app</button>", `aria-labelledby="register-heading"`)

	list := renderPage(t, "apps", "apps-errors", pageData{Title: "Your apps", User: testUserValue, Page: appsPage{
		Apps:   []appRow{{ID: "c-1", Name: "Bot <1>", Type: "Confidential", RedirectURIs: []string{"https://b.example/cb"}, Created: pgWhen}},
		Form:   pgForm(),
		Errors: appErrors{Name: "name!", RedirectURIs: "uri!", Type: "type!", Scopes: "scopes!", Grants: "grants!", Form: "check below"},
	}})
	mustContain(t, "apps", list,
		`href="/apps/c-1"`, "Bot &lt;1&gt;", "<code>c-1</code>", "<code>https://b.example/cb</code>",
		`id="name-error">name!`, `id="redirect-error">uri!`, `id="type-error">type!`, `id="scopes-error">scopes!`,
		`id="grants-error">grants!`, `role="alert">check below`,
	)
	mustNotContain(t, "apps", list, `class="empty"`)
}

func TestRenderApp(t *testing.T) {
	detail := appDetail{
		ID: "c-1", Name: "Bot <1>", Type: "Confidential", AuthMethod: "client_secret_basic",
		Grants: []string{"client_credentials"}, Scopes: []string{"openid"}, Created: pgWhen, Updated: pgWhen,
	}
	form := pgForm()
	form.Action, form.Edit = "/apps/c-1", true
	h := &Handler{cfg: Config{Now: func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }}}
	card := h.secretCard(&storage.Client{}, appActions{})
	out := renderPage(t, "app", "app", pageData{Title: "Bot", User: testUserValue, Flash: "Saved", Page: appPage{App: detail, Form: form, Secret: card}})
	mustContain(t, "app", out,
		`href="/apps"`, "Bot &lt;1&gt;", `id="client-id" type="text" value="c-1" readonly`, `data-copy-target="client-id"`,
		`action="/apps/c-1/rotate"`, `action="/apps/c-1"`, `action="/apps/c-1/delete"`, "Delete app",
		`<script src="/static/copy.js"></script>`, "<dt>PKCE</dt><dd>Optional</dd>", `name="require_pkce" value="on" checked`,
	)
	if n := strings.Count(out, csrfMarker); n != 4 { // logout, rotate, edit, delete
		t.Errorf("app: %d CSRF fields, want 4", n)
	}
	// Rotating and deleting ask first; without a previous secret there is no grace to end.
	mustContain(t, "app", out, `<option value="3600" selected>In 1 hour</option>`, `<option value="0">Now (it stops at once)</option>`,
		`id="confirm-rotate" name="confirm" value="yes" required>`, `name="confirm_name" type="text" value="" required`,
		"Type the app’s name, <strong>Bot &lt;1&gt;</strong>, to confirm")
	mustNotContain(t, "app", out, "/end-grace", `id="previous-secret"`, "aria-invalid")

	// A previous secret in grace, and each confirmation refused.
	until := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	act := appActions{Grace: "86400", RotateError: "tick rotate", EndGraceError: "tick end", DeleteError: "type name", DeleteName: "Bot <2>"}
	card = h.secretCard(&storage.Client{PreviousSecretDigest: []byte("d"), PreviousSecretExpiresAt: &until}, act)
	out = renderPage(t, "app", "app-grace-errors", pageData{Title: "Bot", User: testUserValue, Page: appPage{App: detail, Form: form, Secret: card, Actions: act}})
	mustContain(t, "app", out,
		`id="previous-secret"`, `it stops <time datetime="2026-11-27T09:00:00Z" title="27 Nov 2026, 09:00 UTC">`, `action="/apps/c-1/end-grace"`,
		`<option value="86400" selected>`, `id="rotate-error">tick rotate`, `id="end-grace-error">tick end`, `id="delete-error">type name`,
		`value="Bot &lt;2&gt;" required`, `aria-describedby="rotate-error"`, `aria-describedby="end-grace-error"`, `aria-describedby="delete-error"`,
	)
	if n := strings.Count(out, csrfMarker); n != 5 { // logout, end grace, rotate, edit, delete
		t.Errorf("app in grace: %d CSRF fields, want 5", n)
	}
	// The edit form changes name, redirect URIs and scopes only.
	mustNotContain(t, "app", out, `name="grant_types"`, `name="client_type"`)

	detail.Public = true
	out = renderPage(t, "app", "app-public-errors", pageData{Title: "Bot", User: testUserValue, Page: appPage{App: detail, Form: form, Errors: appErrors{RedirectURIs: "bad uri", Form: "not saved"}}})
	mustNotContain(t, "app", out, `/rotate"`)
	mustContain(t, "app", out, "no client secret", `id="redirect-error">bad uri`, `role="alert">not saved`)

	// A public app's PKCE is fixed: no checkbox, a sentence instead.
	form.Public = true
	out = renderPage(t, "app", "app-public", pageData{Title: "Bot", User: testUserValue, Page: appPage{App: detail, Form: form}})
	mustContain(t, "app", out, "A public app always requires PKCE.", ">Save changes</button>", `aria-labelledby="edit-heading"`)
	mustNotContain(t, "app", out, `name="require_pkce"`, "Register app")
}

func TestRenderAppSecret(t *testing.T) {
	out := renderPage(t, "app_secret", "app_secret", pageData{Title: "Secret", User: testUserValue, Flash: "Registered", Page: appSecretPage{ID: "c-1", Name: "Bot", Secret: "s3cr3t"}})
	mustContain(t, "app_secret", out,
		`value="c-1"`, `<label for="client-secret">`, `readonly`, ">s3cr3t</textarea>",
		`data-copy-target="client-secret"`, `href="/apps/c-1"`, "only time", `<script src="/static/copy.js"></script>`,
	)
}

func TestRenderAuthorized(t *testing.T) {
	empty := renderPage(t, "authorized", "authorized-empty", pageData{Title: "Authorized apps", User: testUserValue, Flash: "Revoked", Page: authorizedPage{}})
	mustContain(t, "authorized", empty, `class="empty"`)
	mustNotContain(t, "authorized", empty, "/revoke")

	out := renderPage(t, "authorized", "authorized", pageData{Title: "Authorized apps", User: testUserValue, Page: authorizedPage{Apps: []authorizedApp{
		{ClientID: "c-1", Name: "Photos <x>", Known: true, LogoURI: "https://p.example/logo.png", ClientURI: "https://p.example/",
			Scopes: []consentScope{{Name: "openid", Description: "Confirm who you are"}, {Name: "custom"}}, Granted: pgWhen, Updated: pgWhen},
		{ClientID: "gone", Name: "gone", Granted: pgWhen},
	}}})
	mustContain(t, "authorized", out,
		"Photos &lt;x&gt;", `src="https://p.example/logo.png"`, `href="https://p.example/"`,
		"Confirm who you are <code>openid</code>", "custom <code>custom</code>",
		`action="/authorized/c-1/revoke"`, `action="/authorized/gone/revoke"`, "no longer registered", "updated <time",
	)
	mustNotContain(t, "authorized", out, `class="empty"`)
}

func TestRenderLogin(t *testing.T) {
	for _, u := range []*pageUser{nil, testUserValue} {
		golden := "login-error"
		if u != nil {
			golden = "login-error-signed-in"
		}
		out := renderPage(t, "login", golden, pageData{
			Title: "Sign in",
			User:  u,
			Flash: "You have been signed out.",
			Page:  loginPage{Username: `bob"><x`, Next: "/oauth/authorize?a=1&b=<2>", Error: "Wrong username or password."},
		})
		mustContain(t, "login", out,
			"<title>Sign in · Latchkey</title>",
			`action="/login"`,
			`name="username"`, `autocomplete="username"`,
			`name="password"`, `autocomplete="current-password"`,
			`value="bob&#34;&gt;&lt;x"`,
			`name="next" value="/oauth/authorize?a=1&amp;b=&lt;2&gt;"`,
			`aria-describedby="password-error"`,
			`id="password-error">Wrong username or password.</p>`,
			">Sign in</button>",
			// Signing up keeps the request the person came with (an
			// authorization request lost here never returns a code).
			`href="/signup?next=%2foauth%2fauthorize%3fa%3d1%26b%3d%3c2%3e">Create an account`,
			csrfMarker,
		)
		mustNotContain(t, "login", out, `bob"><x`)
	}
	out := renderPage(t, "login", "login", pageData{Title: "Sign in", Page: loginPage{Next: "/"}})
	mustContain(t, "login", out, `href="/signup">Create an account`, "Sign in to Latchkey</h1>")
	mustNotContain(t, "login", out, "aria-describedby", "password-error", "continue to")

	// During an authorization request the page names the app.
	app := renderPage(t, "login", "login-app", pageData{Title: "Sign in", Page: loginPage{Next: "/oauth/authorize?client_id=x", App: "Photo <Printer>"}})
	mustContain(t, "login", app, `Sign in to continue to <span class="client-name">Photo &lt;Printer&gt;</span></h1>`)
}

func TestRenderConsent(t *testing.T) {
	page := consentPage{
		Client: consentClient{
			Name:         "<script>alert(1)</script>",
			ID:           "client-abc",
			LogoURI:      "https://app.example/logo.png",
			ClientURI:    "https://app.example/",
			RedirectHost: "cb.app.example",
			Owner:        "carol<",
		},
		Resume: "/oauth/authorize?client_id=client-abc&scope=openid",
		Scopes: []consentScope{
			{Name: "openid", Description: "Confirm who you are"},
			{Name: "keys:read", Description: "Read your API keys <b>"},
		},
		Challenge: "chal<123>",
	}
	for _, u := range []*pageUser{nil, testUserValue} {
		golden := "consent"
		if u != nil {
			golden = "consent-signed-in"
		}
		out := renderPage(t, "consent", golden, pageData{Title: "Authorize", User: u, Page: page})
		mustContain(t, "consent", out,
			`action="/oauth/consent"`,
			`name="decision" value="allow"`, ">Allow</button>",
			`name="decision" value="deny"`, ">Deny</button>",
			`name="challenge" value="chal&lt;123&gt;"`,
			"&lt;script&gt;alert(1)&lt;/script&gt;</span> wants to access your Latchkey account",
			`<img class="client-logo" src="https://app.example/logo.png" alt="&lt;script&gt;alert(1)&lt;/script&gt; logo"`,
			`href="https://app.example/"`,
			"<code>client-abc</code>",
			`Homepage <a href="https://app.example/"`,
			"Sends you back to <strong>cb.app.example</strong>",
			"Registered by <strong>carol&lt;</strong>",
			"Confirm who you are", "<code>openid</code>",
			"Read your API keys &lt;b&gt;", "<code>keys:read</code>",
			"revoke",
			csrfMarker,
		)
		if n := strings.Count(out, `action="/oauth/consent"`); n != 1 {
			t.Errorf("consent: %d consent forms, want 1", n)
		}
		if u != nil {
			// Switching account signs out and comes back to this request.
			mustContain(t, "consent", out, `<input type="hidden" name="next" value="/oauth/authorize?client_id=client-abc&amp;scope=openid">`,
				">Not you? Switch account</button>")
		}
	}

	// An app registered from the command line has no owner.
	page.Client.Owner, page.Client.RedirectHost = "", ""
	out := renderPage(t, "consent", "", pageData{Title: "Authorize", Page: page})
	mustContain(t, "consent", out, "Registered by this Latchkey’s operator")
	mustNotContain(t, "consent", out, "Sends you back to")

	// No logo and no client link when the URIs are empty.
	page.Client.LogoURI, page.Client.ClientURI = "", ""
	out = renderPage(t, "consent", "", pageData{Title: "Authorize", Page: page})
	mustNotContain(t, "consent", out, "<img", "app.example", "Homepage")

	// Dangerous URL schemes are neutralised by html/template.
	page.Client.LogoURI, page.Client.ClientURI = "javascript:alert(1)", "javascript:alert(2)"
	out = renderPage(t, "consent", "", pageData{Title: "Authorize", Page: page})
	mustNotContain(t, "consent", out, `href="javascript:`, `src="javascript:`)
}

func TestRenderError(t *testing.T) {
	for _, u := range []*pageUser{nil, testUserValue} {
		golden := "error"
		if u != nil {
			golden = "error-signed-in"
		}
		out := renderPage(t, "error", golden, pageData{
			Title: "Error",
			User:  u,
			Page: errorPage{
				Status:      400,
				Error:       "invalid_request",
				Description: "The app that sent you here sent a sign-in request Latchkey cannot accept.",
				Detail:      `The redirect_uri "https://evil.example/cb?<x>" is not registered.`,
				RequestID:   "req-1",
			},
		})
		mustContain(t, "error", out,
			`<p class="error-desc">The app that sent you here`,
			`<details class="error-details">`, "<summary>Technical details</summary>",
			"<dt>Status</dt><dd>400</dd>", "<code>invalid_request</code>",
			"https://evil.example/cb?&lt;x&gt;", "<code>req-1</code>",
			`href="/"`,
		)
		mustNotContain(t, "error", out, `href="https://evil.example`, "<x>")
	}
	for _, st := range []int{0, 401, 403, 404, 429, 500, 503} {
		renderPage(t, "error", "", pageData{Title: "Error", Page: errorPage{Status: st}})
	}
}

func TestRenderHome(t *testing.T) {
	anon := renderPage(t, "home", "home", pageData{Title: "Home", Page: homePage{Issuer: "https://id.example"}})
	mustContain(t, "home", anon, `href="/login"`, ">Sign in</a>", `href="/signup">Create an account</a>`, "<code>https://id.example</code>")
	mustNotContain(t, "home", anon, `href="/keys"`, `href="/account"`)

	in := renderPage(t, "home", "home-signed-in", pageData{Title: "Home", User: testUserValue, Flash: "Welcome back", Page: homePage{Issuer: "https://id.example"}})
	mustContain(t, "home", in,
		`href="/account"`, `href="/keys"`, `href="/apps"`, `href="/authorized"`,
		`href="/.well-known/openid-configuration"`,
		"Welcome, alice&lt;b&gt;", "<code>usr_123</code>",
		"Welcome back",
	)
	mustNotContain(t, "home", in, `href="/login"`)
}
