package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestAppsLogoutFields: the /apps forms register and edit the logout
// fields, and a refused URI is shown under its own field.
func TestAppsLogoutFields(t *testing.T) {
	f := newAuthorizeFixture(t)
	c := f.signIn(t, "u-ann", "ann")
	form := func(extra url.Values) url.Values {
		v := url.Values{"name": {"Shop"}, "redirect_uris": {authzRedirect}, "client_type": {"confidential"},
			"scopes": {"openid"}, "grant_types": {"authorization_code"}}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	resp, body := f.do(t, c, http.MethodPost, "/apps", form(url.Values{
		"post_logout_redirect_uris":           {" https://app.example/bye \n\nhttps://app.example/bye2\nhttps://app.example/bye"},
		"backchannel_logout_uri":              {"https://app.example/backchannel"},
		"backchannel_logout_session_required": {"on"},
	}))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d\n%s", resp.StatusCode, body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/apps/"), "/secret")
	cl, err := f.db.GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cl.PostLogoutRedirectURIs, []string{"https://app.example/bye", "https://app.example/bye2"}) ||
		cl.BackchannelLogoutURI != "https://app.example/backchannel" || !cl.BackchannelLogoutSessionRequired {
		t.Fatalf("stored %q %q %v", cl.PostLogoutRedirectURIs, cl.BackchannelLogoutURI, cl.BackchannelLogoutSessionRequired)
	}
	_, body = f.do(t, c, http.MethodGet, "/apps/"+id, nil)
	if !strings.Contains(body, ">https://app.example/bye\nhttps://app.example/bye2</textarea>") ||
		!strings.Contains(body, `value="https://app.example/backchannel"`) || !strings.Contains(body, `name="backchannel_logout_session_required" value="on" checked`) {
		t.Fatalf("edit form does not show the logout fields:\n%s", body)
	}

	edit := url.Values{"name": {"Shop"}, "redirect_uris": {authzRedirect}, "scopes": {"openid"}}
	if resp, body := f.do(t, c, http.MethodPost, "/apps/"+id, edit); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", resp.StatusCode, body)
	}
	cl, _ = f.db.GetClient(t.Context(), id)
	if len(cl.PostLogoutRedirectURIs) != 0 || cl.BackchannelLogoutURI != "" || cl.BackchannelLogoutSessionRequired {
		t.Errorf("after clearing: %q %q %v", cl.PostLogoutRedirectURIs, cl.BackchannelLogoutURI, cl.BackchannelLogoutSessionRequired)
	}

	for _, tc := range []struct {
		name  string
		extra url.Values
		where string
	}{
		{"plain http post-logout URI", url.Values{"post_logout_redirect_uris": {"http://app.example/bye"}}, `id="post-logout-error">Post-logout redirect URI`},
		{"file back-channel URI", url.Values{"backchannel_logout_uri": {"file:///etc/passwd"}}, `id="backchannel-error">Back-channel logout URI`},
		{"sid without a URI", url.Values{"backchannel_logout_session_required": {"on"}}, `id="backchannel-error">Enter the back-channel`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, c, http.MethodPost, "/apps", form(tc.extra))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.where) || strings.Contains(body, `id="redirect-error"`) {
				t.Fatalf("%d, want 400 with %s\n%s", resp.StatusCode, tc.where, body)
			}
		})
	}
}
