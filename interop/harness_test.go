package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/buildflags"
)

// The person every test signs in as (created with `latchkey user create`).
const (
	personName     = "alice"
	personPassword = "alice-interop-password-1"
	personEmail    = "alice@example.com"
)

// interopEnv is the variable `make interop` sets to run the slow suites
// (Node, oauth2-proxy); without it they skip.
const interopEnv = "LATCHKEY_TEST_INTEROP"

// binary is the latchkey executable TestMain builds once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "latchkey")
	build := exec.Command("go", buildflags.BuildArgs(binary, "../cmd/latchkey")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building latchkey: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireInterop skips t unless `make interop` is running it.
func requireInterop(t *testing.T, what string) {
	t.Helper()
	if os.Getenv(interopEnv) == "" {
		t.Skipf("%s runs under `make interop` (it sets %s=1); skipping", what, interopEnv)
	}
}

// server is one running `latchkey serve` process on a free loopback port,
// with its own data directory and the person already created.
type server struct {
	URL  string
	env  []string
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
}

// startServer creates the person with `latchkey user create`, starts
// `latchkey serve` configured only by LATCHKEY_* variables (as an operator
// would) and waits until /healthz answers. The process is killed when the
// test ends, and its log is printed if the test failed.
func startServer(t *testing.T) *server {
	t.Helper()
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := &server{URL: url, logs: &syncBuffer{}, done: make(chan struct{})}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"LATCHKEY_CONFIG=/nonexistent/latchkey.yaml",
		"LATCHKEY_SERVER_ADDR=" + strings.TrimPrefix(url, "http://"),
		"LATCHKEY_SERVER_ISSUER=" + url,
		"LATCHKEY_DATA_DIR=" + t.TempDir(),
		"LATCHKEY_LOG_LEVEL=info",
	}
	s.cli(t, "user", "create", "--username", personName, "--password", personPassword, "--email", personEmail, "--name", "Alice Example")
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	go func() { exitErr = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("log of latchkey serve at %s:\n%s", s.URL, s.logs.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-s.done:
			t.Fatalf("latchkey serve exited: %v\n%s", exitErr, s.logs.String())
		default:
		}
		if resp, err := http.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
	}
	t.Fatalf("latchkey serve did not answer /healthz within 30s\n%s", s.logs.String())
	return nil
}

// cli runs a latchkey command against the server's data directory and
// returns its standard output.
func (s *server) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("latchkey %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// client is an OAuth client made by `latchkey client create`.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client with `latchkey client create ARGS
// --output json`.
func (s *server) createClient(t *testing.T, args ...string) client {
	t.Helper()
	out := s.cli(t, append(append([]string{"client", "create"}, args...), "--output", "json")...)
	var c client
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		t.Fatalf("client create: %v %q", err, out)
	}
	return c
}

// hasLogout reports whether this Latchkey has RP-initiated logout: an
// end_session_endpoint in discovery and `client create
// --post-logout-redirect-uri`. Tests of logout skip without it.
func (s *server) hasLogout(t *testing.T) bool {
	t.Helper()
	d := s.discovery(t)
	if _, ok := d["end_session_endpoint"].(string); !ok {
		return false
	}
	help, _ := exec.Command(binary, "client", "create", "--help").CombinedOutput()
	return strings.Contains(string(help), "--post-logout-redirect-uri")
}

// logoutArgs returns the `client create` flags registering uri as a
// post-logout redirect URI, or none when this Latchkey has no logout.
func (s *server) logoutArgs(t *testing.T, uri string) []string {
	t.Helper()
	if !s.hasLogout(t) {
		return nil
	}
	return []string{"--post-logout-redirect-uri", uri}
}

// discovery fetches the OpenID Connect discovery document.
func (s *server) discovery(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d %v", resp.StatusCode, err)
	}
	return d
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// cacheDir is where the slow suites keep what they download or build
// (npm's cache, the oauth2-proxy binary): LATCHKEY_TEST_INTEROP_CACHE, or
// latchkey-interop in the user cache directory. Never inside the
// repository.
func cacheDir(t *testing.T, sub string) string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_INTEROP_CACHE")
	if base == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache directory (%v); set LATCHKEY_TEST_INTEROP_CACHE", err)
		}
		base = filepath.Join(uc, "latchkey-interop")
	}
	dir := filepath.Join(base, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// syncBuffer collects a process's output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
