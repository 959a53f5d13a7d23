package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAppsRequirePKCE: the register form offers "Require PKCE" ticked, so
// new apps require PKCE unless the owner unticks it; the owner can change
// it later, except on a public app (always required); no form field makes
// an app a resource server (introspection of every token is the
// operator's to grant, by CLI).
func TestAppsRequirePKCE(t *testing.T) {
	f := newAuthorizeFixture(t)
	c := f.signIn(t, "u-ann", "ann")
	_, body := f.do(t, c, http.MethodGet, "/apps", nil)
	if !strings.Contains(body, `name="require_pkce" value="on" checked`) {
		t.Fatalf("the register form does not offer Require PKCE ticked:\n%s", body)
	}
	register := func(name, clientType string, extra url.Values) string {
		t.Helper()
		form := url.Values{"name": {name}, "redirect_uris": {authzRedirect}, "client_type": {clientType},
			"scopes": {"openid"}, "grant_types": {"authorization_code"}}
		for k, v := range extra {
			form[k] = v
		}
		resp, body := f.do(t, c, http.MethodPost, "/apps", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("register %s: %d\n%s", name, resp.StatusCode, body)
		}
		return strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/apps/"), "/secret")
	}
	ticked := register("Ticked", "confidential", url.Values{"require_pkce": {"on"}, "resource_server": {"on"}})
	unticked := register("Unticked", "confidential", nil)
	public := register("SPA", "public", nil)
	for _, tc := range []struct {
		id         string
		pkce       bool
		detailText string
	}{{ticked, true, "Required"}, {unticked, false, "Optional"}, {public, true, "Required"}} {
		cl, err := f.db.GetClient(t.Context(), tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if cl.RequirePKCE != tc.pkce || cl.ResourceServer {
			t.Errorf("%s: require_pkce=%v resource_server=%v, want %v and false", cl.Name, cl.RequirePKCE, cl.ResourceServer, tc.pkce)
		}
		if _, body := f.do(t, c, http.MethodGet, "/apps/"+tc.id, nil); !strings.Contains(body, "<dt>PKCE</dt><dd>"+tc.detailText+"</dd>") {
			t.Errorf("%s page does not say PKCE %s", cl.Name, tc.detailText)
		}
	}

	edit := func(id string, extra url.Values) {
		t.Helper()
		form := url.Values{"name": {"Edited"}, "redirect_uris": {authzRedirect}, "scopes": {"openid"}}
		for k, v := range extra {
			form[k] = v
		}
		if resp, body := f.do(t, c, http.MethodPost, "/apps/"+id, form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("edit: %d\n%s", resp.StatusCode, body)
		}
	}
	edit(ticked, url.Values{"resource_server": {"on"}})
	edit(unticked, url.Values{"require_pkce": {"on"}})
	edit(public, nil)
	for _, tc := range []struct {
		id   string
		pkce bool
	}{{ticked, false}, {unticked, true}, {public, true}} {
		cl, _ := f.db.GetClient(t.Context(), tc.id)
		if cl.RequirePKCE != tc.pkce || cl.ResourceServer {
			t.Errorf("after edit %s (public %v): require_pkce=%v resource_server=%v, want %v and false",
				tc.id, cl.Public, cl.RequirePKCE, cl.ResourceServer, tc.pkce)
		}
	}
}
