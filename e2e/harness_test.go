// Package e2e holds process-level tests: they build the latchkey binary
// once, start real `latchkey serve` processes on loopback (on SQLite, or on
// the PostgreSQL named by LATCHKEY_TEST_POSTGRES_DSN and the Redis named by
// LATCHKEY_TEST_REDIS_URL), and drive them over HTTP and signals the way an
// operator and a load balancer would. The browser tests (browser*_test.go)
// drive headless Chromium (chromedp) through an in-process server
// (internal/servertest).
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/internal/buildflags"
	"github.com/latchkey/latchkey/internal/openapitest"
)

// binary is the latchkey executable built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-e2e-")
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

// env is the LATCHKEY_* environment of one instance.
type env map[string]string

func (e env) list() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LATCHKEY_CONFIG=/nonexistent/latchkey.yaml"}
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// instance is one running `latchkey serve` process.
type instance struct {
	t    testing.TB
	URL  string
	env  env
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
	err  error // the process's exit error, set once done is closed
}

// newEnv returns the environment of an instance with its own data
// directory, listening on a free loopback port whose URL is the issuer.
// Several instances that must act as one server share secrets: pass the
// first instance's data directory as LATCHKEY_DATA_DIR of the others (the
// secrets are generated there on first start).
func newEnv(t testing.TB) env {
	t.Helper()
	port := freePort(t)
	return env{
		"LATCHKEY_SERVER_ADDR":   fmt.Sprintf("127.0.0.1:%d", port),
		"LATCHKEY_SERVER_ISSUER": fmt.Sprintf("http://127.0.0.1:%d", port),
		"LATCHKEY_DATA_DIR":      t.TempDir(),
		"LATCHKEY_LOG_LEVEL":     "info",
	}
}

// start runs `latchkey serve` with e and waits until /healthz answers.
// The process is killed when the test ends.
func start(t testing.TB, e env) *instance {
	t.Helper()
	in := &instance{t: t, URL: e["LATCHKEY_SERVER_ISSUER"], env: e, logs: &syncBuffer{}, done: make(chan struct{})}
	in.cmd = exec.Command(binary, "serve")
	in.cmd.Env = e.list()
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.err = in.cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", in.URL, in.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-in.done:
			t.Fatalf("latchkey serve exited: %v\n%s", in.err, in.logs.String())
		default:
		}
		resp, err := http.Get(in.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("latchkey serve did not answer /healthz within 30s\n%s", in.logs.String())
	return nil
}

// kill ends the process with SIGKILL (no shutdown code runs) and waits.
func (in *instance) kill() {
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
}

// terminate sends SIGTERM and waits up to timeout for the process to exit,
// returning its exit error.
func (in *instance) terminate(timeout time.Duration) error {
	in.t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-in.done:
		return in.err
	case <-time.After(timeout):
		in.t.Fatalf("latchkey serve did not exit within %s of SIGTERM\n%s", timeout, in.logs.String())
		return nil
	}
}

// cli runs a latchkey command (user create, client create, migrate) with e
// and returns its standard output.
func cli(t testing.TB, e env, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.list()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("latchkey %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// createClient registers an OAuth client with `latchkey client create
// ARGS` and returns its id and secret.
func createClient(t testing.TB, e env, args ...string) (id, secret string) {
	t.Helper()
	out := cli(t, e, append([]string{"client", "create"}, args...)...)
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ClientID == "" {
		t.Fatalf("client create: %v %q", err, out)
	}
	return c.ClientID, c.ClientSecret
}

// postgresDSN returns a DSN for a fresh schema on the PostgreSQL named by
// LATCHKEY_TEST_POSTGRES_DSN (dropped when the test ends), or skips.
func postgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES_DSN is not set; skipping the PostgreSQL process test (.ci/run sets it)")
	}
	db, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("PostgreSQL at LATCHKEY_TEST_POSTGRES_DSN: %v", err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "e2e_" + hex.EncodeToString(b)
	if err := db.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.WithContext(ctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redisURL returns LATCHKEY_TEST_REDIS_URL or skips.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if u == "" {
		t.Skip("LATCHKEY_TEST_REDIS_URL is not set; skipping the Redis process test (.ci/run sets it)")
	}
	return u
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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

const sigterm = syscall.SIGTERM

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// api performs a JSON API call and returns the status and decoded body.
func api(t *testing.T, method, u string, auth func(*http.Request), body any) (int, map[string]any, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	auth(req)
	resp, err := openapitest.MustNew(t).Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

// basic authenticates as a user with HTTP Basic.
func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// bearer authenticates with a key or token.
func bearer(key string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
}

// envSchema returns the search_path (the fresh schema) of a DSN made by postgresDSN.
func envSchema(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return u.Query().Get("search_path")
}

// introspect asks /oauth/introspect at in about token as the client
// id/secret (RFC 7662 §2.1) and returns the answer's body.
func introspect(t *testing.T, in *instance, id, secret, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := openapitest.MustNew(t).Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect at %s: %d %v", in.URL, resp.StatusCode, err)
	}
	return m
}

// active reports whether introspection at in calls token active.
func active(t *testing.T, in *instance, id, secret, token string) bool {
	t.Helper()
	ok, _ := introspect(t, in, id, secret, token)["active"].(bool)
	return ok
}
