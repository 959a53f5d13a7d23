package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestBrowserKeyFormScopes: the /keys form gives a key exactly the scopes
// ticked, at a desktop and a phone width. The form opens on the
// least-privileged preset; ticking a box switches the radio to Custom, and
// picking a preset ticks its boxes (keyform.js under the CSP). The scopes
// are read back over the API, not from the page.
func TestBrowserKeyFormScopes(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	const password = "kay-long-password-2026"
	s.CreateUser(t, "kay", password)
	b := newChrome(t, s.URL, browserTimeout)

	b.open("/login?next=/keys")
	b.fill("#username", "kay", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/keys")

	for _, v := range shotWidths {
		handle := fmt.Sprintf("only-users-%d", v.width)
		opts := []chromedp.EmulateViewportOption{}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("viewport", chromedp.EmulateViewport(v.width, v.height, opts...))
		b.open("/keys")
		if !b.checked("#preset-ro") {
			t.Fatalf("%dpx: the form does not open on read-only", v.width)
		}
		// The boxes show the preset: every :read scope, nothing else.
		if !b.checked(`input[name="scopes"][value="keys:read"]`) || b.checked(`input[name="scopes"][value="keys:write"]`) {
			t.Fatalf("%dpx: the boxes do not show the read-only preset", v.width)
		}
		// Read-write ticks every box; unticking one switches to Custom.
		b.check("#preset-rw", true)
		if !b.checked(`input[name="scopes"][value="keys:write"]`) {
			t.Fatalf("%dpx: picking read-write did not tick keys:write", v.width)
		}
		for _, sc := range []string{"keys:read", "keys:write", "keys:verify", "org:read", "org:admin"} {
			b.check(`input[name="scopes"][value="`+sc+`"]`, false)
		}
		if !b.checked("#preset-custom") {
			t.Fatalf("%dpx: unticking a box did not switch to Custom", v.width)
		}
		b.fill("#handle", handle)
		b.shoot("keyform-custom")
		if resp := b.click(`form[action="/keys"] button[type="submit"]`); resp.Status != http.StatusCreated {
			t.Fatalf("%dpx: create: status %d", v.width, resp.Status)
		}
		if got := keyScopesOf(t, s.URL, "kay", password, handle); !slices.Equal(got, []string{"users:read"}) {
			t.Fatalf("%dpx: the key carries %v, want exactly [users:read]", v.width, got)
		}
	}
	b.do("viewport", chromedp.EmulateViewport(1280, 900))
	b.checkConsole()
}

// keyScopesOf lists the user's keys over the API (HTTP Basic) and returns
// the scopes of the one named handle.
func keyScopesOf(t *testing.T, base, user, password, handle string) []string {
	t.Helper()
	code, body, _ := apiCall(t, "GET", base+"/user/keys", flowtest.BasicHeader(user, password), "")
	if code != http.StatusOK {
		t.Fatalf("list keys: %d %v", code, body)
	}
	list, _ := body["keys"].([]any)
	for _, k := range list {
		m, _ := k.(map[string]any)
		if m["handle"] != handle {
			continue
		}
		var out []string
		for _, sc := range m["scopes"].([]any) {
			out = append(out, sc.(string))
		}
		slices.Sort(out)
		return out
	}
	t.Fatalf("no key %q in %v", handle, body)
	return nil
}
