package interop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// oauth2ProxyModule and oauth2ProxyVersion pin the oauth2-proxy the suite
// builds (and the README's "Works with" table names).
const (
	oauth2ProxyModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	oauth2ProxyVersion = "v7.15.6"
)

// TestOAuth2Proxy puts oauth2-proxy (provider oidc, PKCE S256) in front of
// a static upstream and drives a person through it: the upstream is
// refused before sign-in, Latchkey's real login and consent pages sign the
// person in, the upstream then answers with the user oauth2-proxy took
// from the ID token, and oauth2-proxy's sign_out with rd= Latchkey's
// end_session_endpoint signs the person out of both (OpenID Connect
// RP-Initiated Logout 1.0 §2, with client_id and a registered
// post_logout_redirect_uri; that part skips until Latchkey has logout).
//
// The test's person never confirmed their address (README "Account and
// email"), so email_verified: false reaches oauth2-proxy, which then runs
// with --insecure-oidc-allow-unverified-email, as it must for such people.
func TestOAuth2Proxy(t *testing.T) {
	requireInterop(t, "the oauth2-proxy test")
	proxyBin := oauth2Proxy(t)

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream: user=%s email=%s path=%s\n", r.Header.Get("X-Forwarded-User"), r.Header.Get("X-Forwarded-Email"), r.URL.Path)
	}))
	t.Cleanup(upstream.Close)

	s := startServer(t)
	// The proxy is reached as localhost and Latchkey as 127.0.0.1, so their
	// cookies stay apart in the browser's jar (cookies ignore ports).
	port := freePort(t)
	proxyURL := fmt.Sprintf("http://localhost:%d", port)
	signedOut := proxyURL + "/oauth2/sign_in"
	hasLogout := s.hasLogout(t)
	args := []string{"--name", "oauth2-proxy", "--redirect-uri", proxyURL + "/oauth2/callback", "--scopes", "openid,profile,email"}
	args = append(args, s.logoutArgs(t, signedOut)...)
	c := s.createClient(t, args...)

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	latchkeyHost := strings.TrimPrefix(s.URL, "http://")
	proxy := startProcess(t, proxyBin, proxyURL+"/ping",
		"--http-address=127.0.0.1:"+fmt.Sprint(port),
		"--provider=oidc", "--provider-display-name=Latchkey",
		"--oidc-issuer-url="+s.URL,
		"--client-id="+c.ID, "--client-secret="+c.Secret,
		"--redirect-url="+proxyURL+"/oauth2/callback",
		"--upstream="+upstream.URL,
		"--scope=openid profile email",
		"--code-challenge-method=S256",
		"--email-domain=*",
		"--insecure-oidc-allow-unverified-email",
		"--cookie-secret="+base64.RawURLEncoding.EncodeToString(secret),
		"--cookie-secure=false",
		"--skip-provider-button",
		"--whitelist-domain="+latchkeyHost,
		"--silence-ping-logging",
	)

	browser := flowtest.Browser(t)
	t.Run("the upstream is closed before sign-in", func(t *testing.T) {
		resp, _ := flowtest.Get(t, browser, proxyURL+"/private")
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the upstream answered a person who had not signed in")
		}
	})

	t.Run("sign in through Latchkey's login and consent pages", func(t *testing.T) {
		// The proxy sends the browser to Latchkey's authorization endpoint
		// (through /oauth2/start when it asks for a sign-in first).
		next := proxyURL + "/private"
		for range 4 {
			if strings.HasPrefix(next, s.URL+"/oauth/authorize") {
				break
			}
			resp, body := flowtest.Get(t, browser, next)
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("GET %s: %d, want a redirect towards Latchkey\n%s\n%s", next, resp.StatusCode, body, proxy.String())
			}
			next = loc.String()
		}
		auth, _ := url.Parse(next)
		if q := auth.Query(); q.Get("code_challenge_method") != "S256" || q.Get("client_id") != c.ID {
			t.Errorf("oauth2-proxy's authorization request %s: want client_id and S256 PKCE", auth)
		}
		back := flowtest.Authorize(t, browser, s.URL, next, personName, personPassword, "allow")
		if !strings.HasPrefix(back.String(), proxyURL+"/oauth2/callback?") || back.Query().Get("iss") != s.URL {
			t.Fatalf("back at %s, want the proxy's callback with iss", back)
		}
		resp, body := flowtest.Get(t, browser, back.String())
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("oauth2-proxy callback: %d\n%s\n%s", resp.StatusCode, body, proxy.String())
		}
		resp, body = flowtest.Get(t, browser, proxyURL+"/private")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "email="+personEmail) || !strings.Contains(body, "path=/private") {
			t.Fatalf("after sign-in the upstream answered %d %q, want 200 naming %s", resp.StatusCode, body, personEmail)
		}
	})

	t.Run("sign out of the proxy and of Latchkey", func(t *testing.T) {
		endSession, _ := s.discovery(t)["end_session_endpoint"].(string)
		rd := s.URL + "/"
		if hasLogout {
			q := url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {signedOut}, "state": {"bye"}}
			rd = endSession + "?" + q.Encode()
		}
		resp, body := flowtest.Get(t, browser, proxyURL+"/oauth2/sign_out?rd="+url.QueryEscape(rd))
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != rd {
			t.Fatalf("sign_out: %d Location %q, want 302 to %s\n%s", resp.StatusCode, loc, rd, body)
		}
		if resp, _ := flowtest.Get(t, browser, proxyURL+"/private"); resp.StatusCode == http.StatusOK {
			t.Error("the upstream still answers after sign_out")
		}
		if !hasLogout {
			t.Skip("this Latchkey has no RP-initiated logout yet (no end_session_endpoint or no `client create --post-logout-redirect-uri`); the proxy's own sign-out was checked, Latchkey's session was not ended")
		}
		back := followLogout(t, browser, s.URL, rd)
		if !strings.HasPrefix(back.String(), signedOut) || back.Query().Get("state") != "bye" {
			t.Errorf("Latchkey's logout sent the browser to %s, want %s with state=bye", back, signedOut)
		}
		if resp, _ := flowtest.Get(t, browser, s.URL+"/account"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET /account after logout: %d %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// followLogout follows Latchkey's end-session URL in the browser,
// confirming on a logout page if Latchkey shows one (its form other than
// the header's plain sign-out, with the CSRF token and hidden fields),
// until the browser leaves Latchkey.
func followLogout(t *testing.T, browser *http.Client, base, next string) *url.URL {
	t.Helper()
	for range 6 {
		resp, body := flowtest.Get(t, browser, next)
		if loc, err := resp.Location(); err == nil {
			if !strings.HasPrefix(loc.String(), base) {
				return loc
			}
			next = loc.String()
			continue
		}
		var confirm *htmlForm
		for _, f := range htmlForms(body) {
			if f.action != "/logout" && f.fields.Has("csrf_token") {
				confirm = &f
				break
			}
		}
		if resp.StatusCode != http.StatusOK || confirm == nil {
			t.Fatalf("logout at %s: %d, want a redirect or a confirmation form\n%s", next, resp.StatusCode, body)
		}
		resp, body = flowtest.PostForm(t, browser, base+confirm.action, confirm.fields, base)
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("logout confirmation: %d\n%s", resp.StatusCode, body)
		}
		if !strings.HasPrefix(loc.String(), base) {
			return loc
		}
		next = loc.String()
	}
	t.Fatal("logout: too many hops")
	return nil
}

// htmlForm is a POST form of one of Latchkey's pages: its action path and
// the values its hidden inputs send (html/template output, not general HTML).
type htmlForm struct {
	action string
	fields url.Values
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="(/[^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

func htmlForms(body string) []htmlForm {
	var out []htmlForm
	for _, m := range formRe.FindAllStringSubmatch(body, -1) {
		f := htmlForm{action: flowtest.HTMLUnescape(m[1]), fields: url.Values{}}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			f.fields.Add(h[1], flowtest.HTMLUnescape(h[2]))
		}
		out = append(out, f)
	}
	return out
}

// oauth2Proxy returns the pinned oauth2-proxy binary, building it with `go
// install` into the cache (outside the repository) the first time. It
// skips, saying why, when the build fails (e.g. the release needs a newer
// Go than this toolchain: GOTOOLCHAIN=local forbids fetching one).
func oauth2Proxy(t *testing.T) string {
	t.Helper()
	dir := cacheDir(t, "oauth2-proxy-"+oauth2ProxyVersion)
	bin := filepath.Join(dir, "oauth2-proxy")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", oauth2ProxyModule+"@"+oauth2ProxyVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOTOOLCHAIN=local", "GOFLAGS=")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("could not build oauth2-proxy %s with %s (go install %s@%s): %v\n%s; skipping the oauth2-proxy test",
			oauth2ProxyVersion, goVersion(), oauth2ProxyModule, oauth2ProxyVersion, err, lastLines(out, 15))
	}
	t.Logf("built oauth2-proxy %s into %s in %s", oauth2ProxyVersion, dir, time.Since(start).Round(time.Second))
	return bin
}

func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startProcess runs bin with args until the test ends and waits until
// ready answers 200. Its output is returned and logged if the test fails.
func startProcess(t *testing.T, bin, ready string, args ...string) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), logs.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", filepath.Base(bin), logs.String())
		default:
		}
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return logs
			}
		}
	}
	t.Fatalf("%s did not answer %s within 30s\n%s", filepath.Base(bin), ready, logs.String())
	return nil
}
