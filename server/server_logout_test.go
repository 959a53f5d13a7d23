package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestE2ELogoutDiscovery: discovery advertises RP-Initiated Logout
// (end_session_endpoint) and Back-Channel Logout with sid, and no
// front-channel logout; the endpoint is served, answering a browser with
// nobody signed in and no parameters with the signed-out page, and
// refusing an unregistered post_logout_redirect_uri with an HTML error
// page rather than a redirect.
func TestE2ELogoutDiscovery(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	iss := e.s.URL
	resp, b := call(t, http.MethodGet, iss+"/.well-known/openid-configuration", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
	d := decodeObject(t, b)
	want := map[string]any{
		"end_session_endpoint":                 iss + "/oauth/logout",
		"backchannel_logout_supported":         true,
		"backchannel_logout_session_supported": true,
		"frontchannel_logout_supported":        false,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	resp, b = call(t, http.MethodGet, iss+"/oauth/logout", "", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "You are signed out") {
		t.Errorf("GET /oauth/logout: %d\n%s", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodGet, iss+"/oauth/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", "", nil, nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("unregistered post_logout_redirect_uri: %d %q %q\n%s", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"), b)
	}
}
