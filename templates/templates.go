// Package templates holds Latchkey's server-rendered HTML pages and their
// static assets, embedded into the binary.
//
// Every page is rendered through the "layout" template defined in
// layout.html; the page file supplies the "content" block. The data passed to
// ExecuteTemplate is expected to provide the fields Title, CSRFField, User
// (nil or a value with Username and ID), Flash and Page (the page-specific
// data). The templates use only html/template's built-in functions, so the
// FuncMap given to Parse may be nil.
package templates

import (
	"embed"
	"fmt"
	"html/template"
)

// FS holds the page templates (*.html) and static assets (static/*).
//
//go:embed *.html static
var FS embed.FS

// pages lists the page names; each is parsed from "<name>.html".
var pages = []string{"login", "consent", "error", "home", "keys", "key", "key_secret", "signup", "account", "apps", "app", "app_secret", "authorized", "api_docs",
	"two_factor", "login_two_factor", "recovery_codes"}

// Parse parses layout.html and partials.html (the named templates pages
// share, such as "app-form") together with each page file and returns one
// *template.Template per page name (every page web renders: "login",
// "consent", "keys", "apps", …), each executable as ExecuteTemplate(w, "layout", data).
func Parse(funcs template.FuncMap) (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(pages))
	for _, name := range pages {
		t, err := template.New(name).Funcs(funcs).ParseFS(FS, "layout.html", "partials.html", name+".html")
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
