package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodeTimeout bounds `npm ci` and `node --test` each.
const nodeTimeout = 5 * time.Minute

// TestNodeOpenIDClient runs the Node suite in node/ (openid-client and
// playwright-core, pinned in node/package-lock.json) against a real
// `latchkey serve`: `npm ci` with npm's cache outside the repository, then
// `node --test`, with the server, the person and the clients passed in
// INTEROP_* variables. The clients: "basic" (client_secret_basic),
// "post" (client_secret_post), "public" (none, PKCE) and "resource" (a
// resource server, the only kind that may introspect every token). All
// redirect to one callback URI whose server the Node tests run. The
// Chromium tests in the suite skip, saying so, when there is no Chromium.
func TestNodeOpenIDClient(t *testing.T) {
	requireInterop(t, "the Node suite (openid-client, playwright-core)")
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node or npm not found; install Node.js 20+ with npm (.ci/run installs them) to run the openid-client suite")
	}
	if v, err := exec.Command(node, "--version").Output(); err != nil || nodeMajor(string(v)) < 20 {
		t.Skipf("node --version: %q (%v); the openid-client suite needs Node.js 20 or later", strings.TrimSpace(string(v)), err)
	}
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	npmCache := cacheDir(t, "npm")

	s := startServer(t)
	port := freePort(t)
	callback := fmt.Sprintf("http://127.0.0.1:%d/cb", port)
	postLogout := fmt.Sprintf("http://127.0.0.1:%d/logged-out", port)
	logout := s.logoutArgs(t, postLogout)
	if logout == nil {
		postLogout = ""
		t.Log("this Latchkey has no RP-initiated logout yet (no end_session_endpoint or no `client create --post-logout-redirect-uri`): the logout tests will skip")
	}
	base := []string{"--redirect-uri", callback, "--scopes", "openid,profile,email,offline_access"}
	clients := map[string]client{
		"basic":  s.createClient(t, append(append([]string{"--name", "openid-client basic", "--auth-method", "client_secret_basic"}, base...), logout...)...),
		"post":   s.createClient(t, append(append([]string{"--name", "openid-client post", "--auth-method", "client_secret_post"}, base...), logout...)...),
		"public": s.createClient(t, append(append([]string{"--name", "openid-client public", "--public"}, base...), logout...)...),
		"resource": s.createClient(t, "--name", "resource server", "--resource-server", "--redirect-uri", callback,
			"--grant-types", "client_credentials", "--scopes", "openid"),
	}
	clientsJSON, err := json.Marshal(clients)
	if err != nil {
		t.Fatal(err)
	}

	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"npm_config_cache=" + npmCache, "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false",
		"INTEROP_ISSUER=" + s.URL, "INTEROP_USERNAME=" + personName, "INTEROP_PASSWORD=" + personPassword,
		"INTEROP_EMAIL=" + personEmail, "INTEROP_CALLBACK=" + callback, "INTEROP_POST_LOGOUT=" + postLogout,
		"INTEROP_CLIENTS=" + string(clientsJSON),
	}
	if chromium := findChromium(); chromium != "" {
		env = append(env, "INTEROP_CHROMIUM="+chromium)
	} else {
		t.Log("chromium not found (apt-get install -y chromium, or set LATCHKEY_TEST_CHROMIUM): the form_post browser tests will skip")
	}

	run := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
		}
	}
	run(npm, "ci", "--prefer-offline", "--no-audit", "--no-fund")
	// One file at a time: every file's callback server listens on the one
	// registered redirect URI.
	run(node, "--test", "--test-concurrency=1", "--test-reporter=spec")
}

// nodeMajor returns the major version of a `node --version` answer
// ("v20.20.2" → 20), or 0.
func nodeMajor(v string) int {
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}

// findChromium returns LATCHKEY_TEST_CHROMIUM (as e2e does) or the first
// Chromium on PATH, or "".
func findChromium() string {
	if p := os.Getenv("LATCHKEY_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
