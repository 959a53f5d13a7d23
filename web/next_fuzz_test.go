package web

import (
	"net/url"
	"strings"
	"testing"
)

// browserPath is how a browser reads a Location value that starts with
// "/" (WHATWG URL): tabs and newlines are removed anywhere and, the URL
// being special (http/https), a backslash counts as a slash.
func browserPath(s string) string {
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	return strings.ReplaceAll(s, "\\", "/")
}

// FuzzSafeNext: whatever the login and sign-up forms are given as next,
// safeNext never panics and keeps only a same-origin relative path — "/"
// or the input unchanged, starting with one "/" (never "//" or "/\"), with
// no scheme, host or user after url.Parse, none after a browser's reading,
// and resolving against the issuer to the issuer's own host — and no
// control character (no header splitting in Location).
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"", "/", "/keys", "/oauth/authorize?client_id=a&state=b#x", "//evil.example", "/\\evil.example",
		"/\t/evil.example", "/\n/evil.example", "\\/evil.example", "https://evil.example/", "javascript:alert(1)",
		"/%2F%2Fevil.example", "/%5Cevil.example", "/ /evil", "/a/../..//evil", "/@evil.example", "/\x00", "/\xff",
		"///evil.example", "/.//evil", " /x", "/x\r\nSet-Cookie: a=b",
	} {
		f.Add(s)
	}
	issuer, _ := url.Parse("https://issuer.example")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither the input nor /", next, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Fatalf("safeNext(%q) = %q: not a single-slash path", next, got)
		}
		if strings.HasPrefix(browserPath(got), "//") {
			t.Fatalf("safeNext(%q) = %q: a browser reads it as another host", next, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] == 0x7f {
				t.Fatalf("safeNext(%q) = %q: control character", next, got)
			}
		}
		for _, s := range []string{got, browserPath(got)} {
			u, err := url.Parse(s)
			if err != nil {
				if s == got {
					t.Fatalf("safeNext(%q) = %q: does not parse: %v", next, got, err)
				}
				continue
			}
			if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
				t.Fatalf("safeNext(%q) = %q: scheme %q host %q", next, got, u.Scheme, u.Host)
			}
			if r := issuer.ResolveReference(u); r.Host != issuer.Host || r.Scheme != issuer.Scheme {
				t.Fatalf("safeNext(%q) = %q resolves to %s", next, got, r)
			}
		}
	})
}
