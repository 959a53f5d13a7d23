package templates

import (
	"strings"
	"testing"
)

// These types mirror the data package web passes to the sign-up, account,
// apps and authorized-apps pages.
type (
	pgSignupForm   struct{ Username, Email, Password string }
	pgSignupErrors struct{ Username, Email, Password, Form string }
	pgSignupPage   struct {
		Form   pgSignupForm
		Errors pgSignupErrors
		Next   string
	}
	pgTime        struct{ Text, ISO string }
	pgTenant      struct{ ID, Name, Role string }
	pgAccountPage struct {
		ID, Username, Email, Name string
		Created                   pgTime
		Tenants                   []pgTenant
	}
	pgOption struct {
		Value, Label, Hint string
		Checked            bool
	}
	pgAppForm struct {
		Name, RedirectURIs  string
		Public, RequirePKCE bool
		Scopes, Grants      []pgOption
	}
	pgAppErrors struct{ Name, RedirectURIs, Type, Scopes, Grants, Form string }
	pgAppRow    struct {
		ID, Name, Type string
		RedirectURIs   []string
		Created        pgTime
	}
	pgAppsPage struct {
		Apps   []pgAppRow
		Form   pgAppForm
		Errors pgAppErrors
	}
	pgAppDetail struct {
		ID, Name, Type, AuthMethod string
		Public, RequirePKCE        bool
		Grants, RedirectURIs       []string
		Scopes                     []string
		Created, Updated           pgTime
	}
	pgAppPage struct {
		App    pgAppDetail
		Form   pgAppForm
		Errors pgAppErrors
	}
	pgAppSecretPage struct{ ID, Name, Secret string }
	pgAuthorizedApp struct {
		ClientID, Name, LogoURI, ClientURI string
		Known                              bool
		Scopes                             []consentScope
		Granted, Updated                   pgTime
	}
	pgAuthorizedPage struct{ Apps []pgAuthorizedApp }
)

var pgWhen = pgTime{Text: "4 Mar 2026, 05:06 UTC", ISO: "2026-03-04T05:06:00Z"}

func pgForm() pgAppForm {
	return pgAppForm{
		Name: `My <App>`, RedirectURIs: "https://a.example/cb\nhttps://a.example/cb2", RequirePKCE: true,
		Scopes: []pgOption{{Value: "openid", Label: "openid", Hint: "Confirm <you>", Checked: true}, {Value: "keys:read", Label: "keys:read"}},
		Grants: []pgOption{{Value: "authorization_code", Label: "authorization_code", Checked: true}, {Value: "client_credentials", Label: "client_credentials"}},
	}
}

func TestSignup(t *testing.T) {
	tmpls := mustParse(t)
	out := render(t, tmpls, "signup", testData{Title: "Create an account", Page: pgSignupPage{Next: "/"}})
	mustContain(t, "signup", out,
		`action="/signup"`, `name="username"`, `name="email"`, `type="email"`, `name="password"`,
		`autocomplete="new-password"`, `name="next" value="/"`, `href="/login"`, csrfMarker,
	)
	mustNotContain(t, "signup", out, "field-error", "aria-invalid", "form-error")

	out = render(t, tmpls, "signup", testData{Title: "Create an account", Page: pgSignupPage{
		Form:   pgSignupForm{Username: `bo"b`, Email: "b@<x>"},
		Errors: pgSignupErrors{Username: "taken <u>", Email: "bad email", Password: "too short", Form: "slow down"},
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

func TestAccount(t *testing.T) {
	tmpls := mustParse(t)
	out := render(t, tmpls, "account", testData{Title: "Account", User: testUserValue, Page: pgAccountPage{
		ID: "usr_123", Username: "alice<b>", Email: "a@example.com", Created: pgWhen,
		Tenants: []pgTenant{{ID: "usr_123", Name: "alice<b>'s workspace", Role: "owner"}},
	}})
	mustContain(t, "account", out,
		"<code>usr_123</code>", "a@example.com", `<time datetime="2026-03-04T05:06:00Z">4 Mar 2026, 05:06 UTC</time>`,
		"alice&lt;b&gt;&#39;s workspace", "Role: owner", `href="/apps"`, `href="/authorized"`, `href="/keys"`,
	)
	out = render(t, tmpls, "account", testData{Title: "Account", User: testUserValue, Page: pgAccountPage{ID: "usr_123"}})
	mustContain(t, "account", out, `class="empty"`, `<span class="muted">none</span>`, "unknown")
}

func TestApps(t *testing.T) {
	tmpls := mustParse(t)
	empty := render(t, tmpls, "apps", testData{Title: "Your apps", User: testUserValue, Flash: "Deleted", Page: pgAppsPage{Form: pgForm()}})
	mustContain(t, "apps", empty,
		`class="empty"`, `action="/apps"`, `name="name"`, `value="My &lt;App&gt;"`,
		"https://a.example/cb\nhttps://a.example/cb2</textarea>", `<label for="redirect_uris">`,
		`name="client_type" value="confidential" checked`, `name="client_type" value="public">`,
		`id="scope-0" name="scopes" value="openid" checked`, `id="scope-1" name="scopes" value="keys:read">`, "Confirm &lt;you&gt;",
		`id="grant-0" name="grant_types" value="authorization_code" checked`, `id="grant-1" name="grant_types" value="client_credentials">`,
		`name="require_pkce" value="on" checked`,
	)
	mustNotContain(t, "apps", empty, "field-error", "form-error")

	list := render(t, tmpls, "apps", testData{Title: "Your apps", User: testUserValue, Page: pgAppsPage{
		Apps:   []pgAppRow{{ID: "c-1", Name: "Bot <1>", Type: "Confidential", RedirectURIs: []string{"https://b.example/cb"}, Created: pgWhen}},
		Form:   pgForm(),
		Errors: pgAppErrors{Name: "name!", RedirectURIs: "uri!", Type: "type!", Scopes: "scopes!", Grants: "grants!", Form: "check below"},
	}})
	mustContain(t, "apps", list,
		`href="/apps/c-1"`, "Bot &lt;1&gt;", "<code>c-1</code>", "<code>https://b.example/cb</code>",
		`id="name-error">name!`, `id="redirect-error">uri!`, `id="type-error">type!`, `id="scopes-error">scopes!`,
		`id="grants-error">grants!`, `role="alert">check below`,
	)
	mustNotContain(t, "apps", list, `class="empty"`)
}

func TestApp(t *testing.T) {
	tmpls := mustParse(t)
	detail := pgAppDetail{
		ID: "c-1", Name: "Bot <1>", Type: "Confidential", AuthMethod: "client_secret_basic",
		Grants: []string{"client_credentials"}, Scopes: []string{"openid"}, Created: pgWhen, Updated: pgWhen,
	}
	out := render(t, tmpls, "app", testData{Title: "Bot", User: testUserValue, Flash: "Saved", Page: pgAppPage{App: detail, Form: pgForm()}})
	mustContain(t, "app", out,
		`href="/apps"`, "Bot &lt;1&gt;", `id="client-id" type="text" value="c-1" readonly`, `data-copy-target="client-id"`,
		`action="/apps/c-1/rotate"`, `action="/apps/c-1"`, `action="/apps/c-1/delete"`, "Delete app",
		`<script src="/static/copy.js"></script>`, "<dt>PKCE</dt><dd>Optional</dd>", `name="require_pkce" value="on" checked`,
	)
	if n := strings.Count(out, csrfMarker); n != 4 { // logout, rotate, edit, delete
		t.Errorf("app: %d CSRF fields, want 4", n)
	}
	// The edit form changes name, redirect URIs and scopes only.
	mustNotContain(t, "app", out, `name="grant_types"`, `name="client_type"`)

	detail.Public = true
	out = render(t, tmpls, "app", testData{Title: "Bot", User: testUserValue, Page: pgAppPage{App: detail, Form: pgForm(), Errors: pgAppErrors{RedirectURIs: "bad uri", Form: "not saved"}}})
	mustNotContain(t, "app", out, `/rotate"`)
	mustContain(t, "app", out, "no client secret", `id="redirect-error">bad uri`, `role="alert">not saved`)
}

func TestAppSecret(t *testing.T) {
	tmpls := mustParse(t)
	out := render(t, tmpls, "app_secret", testData{Title: "Secret", User: testUserValue, Flash: "Registered", Page: pgAppSecretPage{ID: "c-1", Name: "Bot", Secret: "s3cr3t"}})
	mustContain(t, "app_secret", out,
		`value="c-1"`, `<label for="client-secret">`, `readonly`, ">s3cr3t</textarea>",
		`data-copy-target="client-secret"`, `href="/apps/c-1"`, "only time", `<script src="/static/copy.js"></script>`,
	)
}

func TestAuthorized(t *testing.T) {
	tmpls := mustParse(t)
	empty := render(t, tmpls, "authorized", testData{Title: "Authorized apps", User: testUserValue, Flash: "Revoked", Page: pgAuthorizedPage{}})
	mustContain(t, "authorized", empty, `class="empty"`)
	mustNotContain(t, "authorized", empty, "/revoke")

	out := render(t, tmpls, "authorized", testData{Title: "Authorized apps", User: testUserValue, Page: pgAuthorizedPage{Apps: []pgAuthorizedApp{
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
