package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
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
