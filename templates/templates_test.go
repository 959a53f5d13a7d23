package templates

import (
	"bytes"
	"html/template"
	"io/fs"
	"testing"
)

// The pages are rendered from web's view models, with golden files, by the
// page-render tests in package web (web/render_*_test.go); these tests
// check what this package promises on its own.

// stubFuncs stand in for the functions the pages call (web's pageFuncs).
var stubFuncs = template.FuncMap{
	"when":   func(any, ...string) string { return "" },
	"plural": func(any, string, string) string { return "" },
}

func TestParse(t *testing.T) {
	if _, err := Parse(nil); err == nil {
		t.Error("Parse(nil): no error for the missing \"when\" and \"plural\"")
	}
	withExtra := template.FuncMap{"x": func() int { return 1 }}
	for k, v := range stubFuncs {
		withExtra[k] = v
	}
	for _, funcs := range []template.FuncMap{stubFuncs, withExtra} {
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
			} else if tmpls[name].Lookup("app-form") == nil {
				t.Errorf("template %q parsed without partials.html", name)
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
	if b, err := fs.ReadFile(FS, "static/favicon.svg"); err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("favicon.svg: %v", err)
	}
}
