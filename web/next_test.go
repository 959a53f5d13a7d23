package web

import "testing"

// TestSafeNextRefusesControlCharacters: url.Parse checks for control
// characters only before the fragment, so "/#\x04" (found by FuzzSafeNext)
// or "/#\x00" passed safeNext into the Location header and the page.
func TestSafeNextRefusesControlCharacters(t *testing.T) {
	for _, in := range []string{"/#\x04", "/#\x00", "/#a\x7f", "/x#\x1b[31m", "/#\u0085"} {
		if got := safeNext(in); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", in, got)
		}
	}
	if got := safeNext("/keys#frag"); got != "/keys#frag" {
		t.Errorf("safeNext kept %q, want the fragment kept", got)
	}
}
