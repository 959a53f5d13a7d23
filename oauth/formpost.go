package oauth

import (
	"html/template"
	"net/url"
	"sort"
)

// formPostScript is the path of the script that submits the form_post
// page; the page carries no inline script, which the CSP
// (script-src 'self') would block.
const formPostScript = "/static/form_post.js"

// formPostPage replaces fosite's form_post page (OAuth 2.0 Form Post
// Response Mode §2), whose inline onload handler our CSP blocks: the form
// is submitted by formPostScript, and a visible button submits it when
// scripts do not run.
const formPostPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Returning to the app</title>
<link rel="stylesheet" href="/static/style.css">
<script src="` + formPostScript + `" defer></script>
</head>
<body>
<main>
<form method="post" action="{{action .RedirURL}}" id="form-post">
{{range fields .Parameters}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<p>Returning you to the app…</p>
<button type="submit">Continue</button>
</form>
</main>
</body>
</html>
`

type formField struct{ Name, Value string }

// formPostTemplate is the form_post page for issuer. Its fields are the
// response parameters made right by responseParams (iss added, an empty
// state removed), in a stable order.
func formPostTemplate(issuer string) *template.Template {
	return template.Must(template.New("form_post").Funcs(template.FuncMap{
		// The action is a redirect URI fosite matched exactly against the
		// client's registration, which refuses javascript: and similar
		// schemes; marking it safe keeps private-use schemes (RFC 8252
		// §7.1) from being rewritten.
		"action": func(s string) template.URL { return template.URL(s) }, //nolint:gosec // registered redirect URI
		"fields": func(params url.Values) []formField {
			v := url.Values{}
			for k, vs := range params {
				v[k] = vs
			}
			responseParams(v, issuer)
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var out []formField
			for _, k := range keys {
				for _, val := range v[k] {
					out = append(out, formField{k, val})
				}
			}
			return out
		},
	}).Parse(formPostPage))
}
