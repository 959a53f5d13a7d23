package web

import (
	"bytes"
	"flag"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/templates"
)

// Page-render tests: each page is rendered from web's own view models (the
// data the handlers pass) and checked against the rules every page keeps,
// the strings each test names, and a golden file in testdata. Run
// `go test ./web -run Render -update` to rewrite the golden files after an
// intended change to a template, and read the diff.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.html from the rendered pages")

const csrfMarker = `<input type="hidden" name="csrf_token" value="CSRF-TOKEN-VALUE">`

// renderNow is the clock the rendered pages' relative times count from.
var renderNow = time.Date(2026, 3, 4, 8, 6, 0, 0, time.UTC)

var testUserValue = &pageUser{ID: "usr_123", Username: "alice<b>"}

// renderPage renders page through the layout with d (its CSRF field the
// marker unless set), checks the rules every page keeps and, when golden
// is not "", compares the output with testdata/<golden>.golden.html.
func renderPage(t *testing.T, page, golden string, d pageData) string {
	t.Helper()
	tmpls, err := templates.Parse(pageFuncs(func() time.Time { return renderNow }))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tmpl, ok := tmpls[page]
	if !ok {
		t.Fatalf("no template %q", page)
	}
	if d.CSRFField == "" {
		d.CSRFField = template.HTML(csrfMarker)
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", d); err != nil {
		t.Fatalf("execute %s: %v", page, err)
	}
	out := buf.String()
	checkCommon(t, page, d, out)
	if golden != "" {
		checkGolden(t, golden, out)
	}
	return out
}

// checkGolden compares out with testdata/<name>.golden.html, or rewrites
// the file under -update.
func checkGolden(t *testing.T, name, out string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.html")
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./web -run Render -update to create it)", err)
	}
	if string(want) != out {
		t.Errorf("%s differs from %s (go test ./web -run Render -update rewrites it):\n%s", name, path, firstDiff(string(want), out))
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return ""
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
func checkCommon(t *testing.T, name string, d pageData, out string) {
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
