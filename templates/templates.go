// Package templates holds Latchkey's server-rendered HTML pages and their
// static assets, embedded into the binary.
//
// Every page is rendered through the "layout" template defined in
// layout.html; the page file supplies the "content" block. The data passed to
// ExecuteTemplate is expected to provide the fields Title, CSRFField, User
// (nil or a value with Username and ID), Flash, Section (the navigation
// entry marked current) and Page (the page-specific data). Besides
// html/template's built-in functions the pages call "when" (a moment as a
// <time> element with relative words) and "plural" ("1 key", "2 keys"),
// which the FuncMap given to Parse must define (web's pageFuncs).
package templates

import (
	"embed"
	"fmt"
	"html/template"
	texttemplate "text/template"
)

// FS holds the page templates (*.html), static assets (static/*) and the
// mail templates (mail/NAME.txt and mail/NAME.html).
//
//go:embed *.html static mail
var FS embed.FS

// pages lists the page names; each is parsed from "<name>.html".
var pages = []string{"login", "consent", "error", "home", "keys", "key", "key_secret", "signup", "account", "apps", "app", "app_secret", "authorized", "api_docs", "logout",
	"forgot", "reset", "verify", "devmail", "account_deleted",
	"two_factor", "login_two_factor", "recovery_codes", "admin",
	"orgs", "org", "org_confirm", "org_members", "org_tenants", "org_tenant", "org_audit", "org_keys", "org_apps", "invitation", "device"}

// Parse parses layout.html, partials.html (the named templates pages
// share, such as "app-form") and chart.html ("usage-chart") together with each page file and returns one
// *template.Template per page name (every page web renders: "login",
// "consent", "keys", "apps", …), each executable as ExecuteTemplate(w, "layout", data).
func Parse(funcs template.FuncMap) (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(pages))
	for _, name := range pages {
		t, err := template.New(name).Funcs(funcs).ParseFS(FS, "layout.html", "partials.html", "chart.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", name, err)
		}
		if t.Lookup("layout") == nil {
			return nil, fmt.Errorf("templates: %s: no \"layout\" template defined", name)
		}
		out[name] = t
	}
	return out, nil
}

// ParseMail parses the mail templates: every mail/NAME.txt (plain text,
// first line "Subject: …") into text, every mail/NAME.html into html, each
// executable by its file name ("reset.txt", "reset.html").
func ParseMail() (text *texttemplate.Template, html *template.Template, err error) {
	text, err = texttemplate.New("mail").Option("missingkey=error").ParseFS(FS, "mail/*.txt")
	if err != nil {
		return nil, nil, fmt.Errorf("templates: parse mail text: %w", err)
	}
	html, err = template.New("mail").Option("missingkey=error").ParseFS(FS, "mail/*.html")
	if err != nil {
		return nil, nil, fmt.Errorf("templates: parse mail html: %w", err)
	}
	return text, html, nil
}
