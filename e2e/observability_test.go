package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/keys"
)

// TestServeObservability checks the real binary's wiring: /metrics behind
// LATCHKEY_METRICS_TOKEN, and JSON log lines on stderr that carry the
// request id and no credential.
func TestServeObservability(t *testing.T) {
	const token = "e2e-metrics-token-5d1c8f"
	e := newEnv(t)
	e["LATCHKEY_METRICS_TOKEN"] = token
	e["LATCHKEY_LOG_LEVEL"] = "debug" // 4xx access lines are logged at debug
	in := start(t, e)

	get := func(path string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", in.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/metrics"); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d", code)
	}
	code, body := get("/metrics", "Authorization", "Bearer "+token)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{`latchkey_http_requests_total{method="GET",route="/healthz",status="200"}`,
		`go_sql_open_connections{db_name="writer"}`, "process_cpu_seconds_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A 401 is logged (at debug level), with the request id and the key in
	// the path redacted.
	key, _ := keys.NewFormat("lk").New(keys.EnvLive)
	if code, _ := get("/user/keys/"+key, "X-Request-Id", "e2e-obs-1"); code != http.StatusUnauthorized {
		t.Fatalf("GET /user/keys/<key>: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(in.logs.String(), `"request_id":"e2e-obs-1"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	logs := in.logs.String()
	var line string
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, `"request_id":"e2e-obs-1"`) {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, `"path":"/user/keys/[REDACTED]"`) || !strings.Contains(line, `"status":401`) {
		t.Fatalf("no redacted access-log line with the request id:\n%s", logs)
	}
	if strings.Contains(logs, key[len("lk_live_"):]) {
		t.Fatalf("the key is in the logs:\n%s", logs)
	}
}
