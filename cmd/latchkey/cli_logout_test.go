package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestCLIClientLogoutFlags: client create registers post-logout redirect
// URIs (repeatable) and a back-channel logout URI, and refuses a URI the
// rules refuse.
func TestCLIClientLogoutFlags(t *testing.T) {
	cliEnv(t)
	if code, _, errs := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errs)
	}
	code, out, errs := runCLI(t, "client", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/cb",
		"--post-logout-redirect-uri", "https://shop.example/bye", "--post-logout-redirect-uri", "https://shop.example/bye2",
		"--backchannel-logout-uri", "https://shop.example/backchannel", "--backchannel-logout-session-required")
	if code != 0 {
		t.Fatalf("client create: %d %s", code, errs)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if fmt.Sprint(c["post_logout_redirect_uris"]) != "[https://shop.example/bye https://shop.example/bye2]" ||
		c["backchannel_logout_uri"] != "https://shop.example/backchannel" || c["backchannel_logout_session_required"] != true {
		t.Fatalf("output %q", out)
	}
	for _, args := range [][]string{
		{"--post-logout-redirect-uri", "http://shop.example/bye"},
		{"--backchannel-logout-uri", "file:///etc/passwd"},
	} {
		code, _, errs := runCLI(t, append([]string{"client", "create", "--name", "Bad", "--redirect-uri", "https://shop.example/cb"}, args...)...)
		if code == 0 || !strings.Contains(errs, "logout") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal naming the logout URI", args, code, errs)
		}
	}
}
