package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"time"

	"github.com/latchkey/latchkey/internal/flowtest"

	_ "github.com/mattn/go-sqlite3"
)

// TestServeAndTerminate starts a real process, checks it serves and
// answers readiness, and that SIGTERM ends it cleanly (exit status 0).
func TestServeAndTerminate(t *testing.T) {
	in := start(t, newEnv(t))
	resp, err := http.Get(in.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body["database"] != "ok" {
		t.Fatalf("/readyz = %d %v", resp.StatusCode, body)
	}
	if err := in.terminate(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestGracefulShutdown sends SIGTERM while a request is in flight (its
// body only half sent) and checks that the server stops accepting new
// connections, completes the in-flight request, flushes the batched key
// usage counts, closes the database and exits 0; after a restart the key
// made by the in-flight request works and every use was counted.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t)
	in := start(t, e)
	const user, pass = "grace", "graceful-password-1"
	cli(t, e, "user", "create", "--username", user, "--password", pass)

	code, k, _ := api(t, "POST", in.URL+"/user/keys", basic(user, pass), map[string]any{"handle": "counted"})
	if code != http.StatusCreated {
		t.Fatalf("create key: %d %v", code, k)
	}
	key := k["key"].(string)
	const uses = 7
	for range uses {
		if code, body, _ := api(t, "GET", in.URL+"/v1/users/me", bearer(key), nil); code != http.StatusOK {
			t.Fatalf("/v1/users/me: %d %v", code, body)
		}
	}

	// An in-flight request: headers and half the body sent.
	conn, err := net.Dial("tcp", strings.TrimPrefix(in.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"handle":"in-flight","alias":"sent across a shutdown"}`
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /user/keys HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		strings.TrimPrefix(in.URL, "http://"), basicAuth(user, pass), len(body), body[:half])
	time.Sleep(200 * time.Millisecond) // let the server start handling it

	if err := in.cmd.Process.Signal(sigterm); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(in.URL, "http://"), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-in.done:
		t.Fatalf("the server exited with a request in flight: %v", in.err)
	default:
	}

	// The rest of the body arrives; the request completes.
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	var made map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&made)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || made["key"] == nil {
		t.Fatalf("in-flight request answered %d %v, want 201 with the key", resp.StatusCode, made)
	}
	select {
	case <-in.done:
		if in.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", in.err, in.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20 s of SIGTERM")
	}
	if !strings.Contains(in.logs.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", in.logs.String())
	}

	// The database was closed cleanly: SQLite checkpointed and integrity holds.
	checkSQLiteIntegrity(t, filepath.Join(e["LATCHKEY_DATA_DIR"], "latchkey.db"))

	again := start(t, e)
	if code, body, _ := api(t, "GET", again.URL+"/v1/users/me", bearer(made["key"].(string)), nil); code != http.StatusOK {
		t.Fatalf("the key made during shutdown does not work after restart: %d %v", code, body)
	}
	code, got, _ := api(t, "GET", again.URL+"/user/keys/counted", basic(user, pass), nil)
	if code != http.StatusOK {
		t.Fatalf("get key: %d %v", code, got)
	}
	if n, _ := got["usage_count"].(float64); n != uses {
		t.Errorf("usage_count after a graceful restart = %v, want %d (batched counts are flushed on SIGTERM)", got["usage_count"], uses)
	}
	if got["last_used_at"] == nil {
		t.Error("last_used_at not recorded")
	}
}

// TestJanitorRunsInServe checks that `latchkey serve` runs the janitor on
// its schedule: expired access tokens disappear from the database and the
// pass is logged with its counts.
func TestJanitorRunsInServe(t *testing.T) {
	e := newEnv(t)
	e["LATCHKEY_JANITOR_INTERVAL"] = "1s"
	e["LATCHKEY_OAUTH_ACCESS_TOKEN_LIFESPAN"] = "1s"
	in := start(t, e)
	id, secret := createClient(t, e, "--name", "jan", "--redirect-uri", "http://127.0.0.1:9/cb", "--grant-types", "client_credentials", "--scopes", "keys:verify")
	const tokens = 5
	for range tokens {
		flowtest.ClientToken(t, in.URL, id, secret, "keys:verify")
	}
	db := filepath.Join(e["LATCHKEY_DATA_DIR"], "latchkey.db")
	if n := countRows(t, db, "SELECT count(*) FROM requests WHERE kind = 'access'"); n != tokens {
		t.Fatalf("%d access tokens stored, want %d", n, tokens)
	}
	deadline := time.Now().Add(10 * time.Second)
	for countRows(t, db, "SELECT count(*) FROM requests WHERE kind = 'access'") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("expired access tokens still stored 10 s later\n%s", in.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(in.logs.String(), `"access_tokens":`) {
		if time.Now().After(deadline) {
			t.Fatalf("no janitor log line with the access_tokens count:\n%s", in.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, page := flowtest.Get(t, http.DefaultClient, in.URL+"/metrics")
	if want := fmt.Sprintf(`latchkey_janitor_purged_rows_total{table="access_tokens"} %d`, tokens); !strings.Contains(page, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// countRows runs a count query on a SQLite file through a read-only connection.
func countRows(t testing.TB, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkSQLiteIntegrity runs PRAGMA integrity_check on a SQLite file.
func checkSQLiteIntegrity(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, %v", res, err)
	}
}
