package templates

import (
	"bytes"
	"html/template"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// These types mirror the data package web passes to the templates.
type testUser struct {
	ID       string
	Username string
}

type testData struct {
	Title     string
	CSRFField template.HTML
	User      *testUser
	Flash     string
	Page      any
}

type loginPage struct {
	Username string
	Next     string
	Error    string
}

type consentClient struct {
	Name, ID, LogoURI, ClientURI string
}

type consentScope struct {
	Name, Description string
}

type consentPage struct {
	Client    consentClient
	Scopes    []consentScope
	Challenge string
}

type errorPage struct {
	Status      int
	Error       string
	Description string
}

type homePage struct {
	Issuer string
}

const csrfMarker = `<input type="hidden" name="csrf_token" value="CSRF-TOKEN-VALUE">`

var testUserValue = &testUser{ID: "usr_123", Username: "alice<b>"}

func mustParse(t *testing.T) map[string]*template.Template {
	t.Helper()
	tmpls, err := Parse(template.FuncMap{"unused": func() string { return "" }})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tmpls
}

func render(t *testing.T, tmpls map[string]*template.Template, name string, d testData) string {
	t.Helper()
	tmpl, ok := tmpls[name]
	if !ok {
		t.Fatalf("no template %q", name)
	}
	if d.CSRFField == "" {
		d.CSRFField = template.HTML(csrfMarker)
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", d); err != nil {
		t.Fatalf("execute %s: %v", name, err)
	}
	out := buf.String()
	checkCommon(t, name, d, out)
	return out
}

var (
	formRe  = regexp.MustCompile(`(?s)<form\b[^>]*>.*?</form>`)
	inputRe = regexp.MustCompile(`<input\b[^>]*>`)
	idRe    = regexp.MustCompile(`\bid="([^"]+)"`)
	typeRe  = regexp.MustCompile(`\btype="([^"]+)"`)
	// staticScriptRe matches an external script from /static/, the only
	// script a page may carry.
	staticScriptRe = regexp.MustCompile(`<script src="/static/[a-z0-9_-]+\.js"( defer)?></script>`)
)

// checkCommon asserts the rules that hold for every rendered page.
func checkCommon(t *testing.T, name string, d testData, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	// Scripts only from our own static files (the CSP has no 'unsafe-inline').
	lower = staticScriptRe.ReplaceAllString(lower, "")
	for _, bad := range []string{"<script", "style=", "<style"} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s: output contains %q", name, bad)
		}
	}
	for _, want := range []string{
		"<!DOCTYPE html>",
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<link rel="stylesheet" href="/static/style.css">`,
		`<a class="brand" href="/">Latchkey</a>`,
		"· Latchkey</title>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: output lacks %q", name, want)
		}
	}
	// Every form carries the CSRF field and uses POST.
	for _, f := range formRe.FindAllString(out, -1) {
		if !strings.Contains(f, csrfMarker) {
			t.Errorf("%s: form without CSRF field: %s", name, f)
		}
		if !strings.Contains(f, `method="post"`) {
			t.Errorf("%s: form not POST: %s", name, f)
		}
	}
	// Every visible input has a label pointing at it.
	for _, in := range inputRe.FindAllString(out, -1) {
		if m := typeRe.FindStringSubmatch(in); m != nil && m[1] == "hidden" {
			continue
		}
		id := idRe.FindStringSubmatch(in)
		if id == nil {
			t.Errorf("%s: input without id: %s", name, in)
			continue
		}
		if !strings.Contains(out, `<label for="`+id[1]+`">`) {
			t.Errorf("%s: input %q has no <label for>", name, id[1])
		}
	}
	// Header reflects the session.
	if d.User != nil {
		if !strings.Contains(out, "Signed in as <strong>alice&lt;b&gt;</strong>") {
			t.Errorf("%s: signed-in header missing or unescaped", name)
		}
		if !strings.Contains(out, `action="/logout"`) {
			t.Errorf("%s: logout form missing", name)
		}
	} else {
		if strings.Contains(out, "Signed in as") || strings.Contains(out, "/logout") {
			t.Errorf("%s: anonymous page shows session UI", name)
		}
	}
	if d.Flash != "" {
		if !strings.Contains(out, `<div class="flash" role="status">`) {
			t.Errorf("%s: flash missing", name)
		}
	} else if strings.Contains(out, `role="status"`) {
		t.Errorf("%s: empty flash rendered", name)
	}
}

func mustContain(t *testing.T, name, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q", name, w)
		}
	}
}

func mustNotContain(t *testing.T, name, out string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(out, b) {
			t.Errorf("%s: output unexpectedly contains %q", name, b)
		}
	}
}

func TestParse(t *testing.T) {
	for _, funcs := range []template.FuncMap{nil, {"x": func() int { return 1 }}} {
		tmpls, err := Parse(funcs)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if len(tmpls) != len(pages) {
			t.Errorf("got %d templates, want %d", len(tmpls), len(pages))
		}
		for _, name := range pages {
			if tmpls[name] == nil || tmpls[name].Lookup("layout") == nil {
				t.Errorf("template %q missing or without layout", name)
			}
		}
	}
}

func TestStaticEmbedded(t *testing.T) {
	b, err := fs.ReadFile(FS, "static/style.css")
	if err != nil {
		t.Fatalf("read style.css: %v", err)
	}
	if n := bytes.Count(b, []byte("\n")); n == 0 || n >= 400 {
		t.Errorf("style.css has %d lines", n)
	}
}

func TestLogin(t *testing.T) {
	tmpls := mustParse(t)
	for _, u := range []*testUser{nil, testUserValue} {
		out := render(t, tmpls, "login", testData{
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
			csrfMarker,
		)
		mustNotContain(t, "login", out, `bob"><x`)
	}
	out := render(t, tmpls, "login", testData{Title: "Sign in", Page: loginPage{}})
	mustNotContain(t, "login", out, "aria-describedby", "password-error")
}

func TestConsent(t *testing.T) {
	tmpls := mustParse(t)
	page := consentPage{
		Client: consentClient{
			Name:      "<script>alert(1)</script>",
			ID:        "client-abc",
			LogoURI:   "https://app.example/logo.png",
			ClientURI: "https://app.example/",
		},
		Scopes: []consentScope{
			{Name: "openid", Description: "Confirm who you are"},
			{Name: "keys:read", Description: "Read your API keys <b>"},
		},
		Challenge: "chal<123>",
	}
	for _, u := range []*testUser{nil, testUserValue} {
		out := render(t, tmpls, "consent", testData{Title: "Authorize", User: u, Page: page})
		mustContain(t, "consent", out,
			`action="/oauth/consent"`,
			`name="decision" value="allow"`, ">Allow</button>",
			`name="decision" value="deny"`, ">Deny</button>",
			`name="challenge" value="chal&lt;123&gt;"`,
			"&lt;script&gt;alert(1)&lt;/script&gt;</span> wants to access your Latchkey account",
			`<img class="client-logo" src="https://app.example/logo.png" alt="&lt;script&gt;alert(1)&lt;/script&gt; logo"`,
			`href="https://app.example/"`,
			"<code>client-abc</code>",
			"Confirm who you are", "<code>openid</code>",
			"Read your API keys &lt;b&gt;", "<code>keys:read</code>",
			"revoke",
			csrfMarker,
		)
		if n := strings.Count(out, `action="/oauth/consent"`); n != 1 {
			t.Errorf("consent: %d consent forms, want 1", n)
		}
	}

	// No logo and no client link when the URIs are empty.
	page.Client.LogoURI, page.Client.ClientURI = "", ""
	out := render(t, tmpls, "consent", testData{Title: "Authorize", Page: page})
	mustNotContain(t, "consent", out, "<img", "app.example")

	// Dangerous URL schemes are neutralised by html/template.
	page.Client.LogoURI, page.Client.ClientURI = "javascript:alert(1)", "javascript:alert(2)"
	out = render(t, tmpls, "consent", testData{Title: "Authorize", Page: page})
	mustNotContain(t, "consent", out, `href="javascript:`, `src="javascript:`)
}

func TestError(t *testing.T) {
	tmpls := mustParse(t)
	for _, u := range []*testUser{nil, testUserValue} {
		out := render(t, tmpls, "error", testData{
			Title: "Error",
			User:  u,
			Page: errorPage{
				Status:      400,
				Error:       "invalid_request",
				Description: `The redirect_uri "https://evil.example/cb?<x>" is not registered.`,
			},
		})
		mustContain(t, "error", out,
			"<code>invalid_request</code>",
			"Error 400",
			"https://evil.example/cb?&lt;x&gt;",
			`href="/"`,
		)
		mustNotContain(t, "error", out, `href="https://evil.example`, "<x>")
	}
	for _, st := range []int{0, 401, 403, 404, 429, 500, 503} {
		render(t, tmpls, "error", testData{Title: "Error", Page: errorPage{Status: st}})
	}
}

func TestHome(t *testing.T) {
	tmpls := mustParse(t)
	anon := render(t, tmpls, "home", testData{Title: "Home", Page: homePage{Issuer: "https://id.example"}})
	mustContain(t, "home", anon, `href="/login"`, ">Sign in</a>", "<code>https://id.example</code>")
	mustNotContain(t, "home", anon, `href="/keys"`, `href="/account"`)

	in := render(t, tmpls, "home", testData{Title: "Home", User: testUserValue, Flash: "Welcome back", Page: homePage{Issuer: "https://id.example"}})
	mustContain(t, "home", in,
		`href="/account"`, `href="/keys"`, `href="/apps"`, `href="/authorized"`,
		`href="/.well-known/openid-configuration"`,
		"Welcome, alice&lt;b&gt;", "<code>usr_123</code>",
		"Welcome back",
	)
	mustNotContain(t, "home", in, `href="/login"`)
}
