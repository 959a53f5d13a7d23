package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unsetenv removes k for the test and restores it afterwards.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

var bannerCmdRe = regexp.MustCompile(`(?m)^  ((?:[A-Z_]+=\S+ )+)(\S+) user create `)

// TestBannerCommandWorksFromAnotherDirectory: the banner's `user create`
// line carries the config file and the data directory as absolute paths,
// so pasted in another directory it writes to the server's database — not
// to a new one under that directory's ./data.
func TestBannerCommandWorksFromAnotherDirectory(t *testing.T) {
	for _, k := range []string{"LATCHKEY_CONFIG", "LATCHKEY_DATA_DIR", "LATCHKEY_STORAGE_DSN"} {
		unsetenv(t, k)
	}
	serverDir, otherDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(serverDir, "config.yaml"), []byte("data_dir: ./lkdata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(serverDir)
	if code, _, errs := runCLI(t, "user", "create", "--username", "alice", "--password", "a-long-password-1"); code != 0 {
		t.Fatalf("user create in the server's directory: %d %s", code, errs)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	printBanner(&buf, cfg, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080})
	banner := buf.String()
	for _, want := range []string{"/signup", "/login", "/keys", "/apps", "/authorized", "/account", "/docs/api"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %s:\n%s", want, banner)
		}
	}
	m := bannerCmdRe.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no user create line with environment:\n%s", banner)
	}
	if !filepath.IsAbs(m[2]) {
		t.Errorf("binary %q is not an absolute path", m[2])
	}
	wantEnv := map[string]string{
		"LATCHKEY_CONFIG":   filepath.Join(serverDir, "config.yaml"),
		"LATCHKEY_DATA_DIR": filepath.Join(serverDir, "lkdata"),
	}
	for _, kv := range strings.Fields(m[1]) {
		k, v, _ := strings.Cut(kv, "=")
		if w, ok := wantEnv[k]; !ok || !sameFile(v, w) {
			t.Errorf("banner sets %s=%s, want %s", k, v, w)
		}
		delete(wantEnv, k)
		t.Setenv(k, v)
	}
	if len(wantEnv) > 0 {
		t.Errorf("banner does not set %v", wantEnv)
	}

	// Pasted in another directory: the same database (alice exists), no new one.
	t.Chdir(otherDir)
	if code, _, errs := runCLI(t, "user", "create", "--username", "alice", "--password", "a-long-password-2"); code == 0 || !strings.Contains(errs, "alice") {
		t.Errorf("user create from another directory did not find the server's alice: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, "user", "create", "--username", "bob", "--password", "a-long-password-3"); code != 0 {
		t.Fatalf("user create from another directory: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(otherDir, "lkdata")); err == nil {
		t.Error("a new data directory was made in the other directory")
	}
}

// sameFile compares paths after resolving symlinks (macOS /var → /private/var).
func sameFile(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

// TestShellQuote: a quoted value reaches a POSIX shell unchanged.
func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"/plain/path", "/with space/data", "/it's/here", "$HOME;rm -rf x", "/a/b=c"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) = %s → %q, %v", s, shellQuote(s), out, err)
		}
	}
}
