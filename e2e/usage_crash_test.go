package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestUsageSurvivesRestart runs `latchkey serve` and counts a key's
// requests through restarts: after SIGTERM (graceful shutdown flushes)
// nothing is lost; after SIGKILL at most the requests of the last flush
// window (2 s, usage.FlushInterval) are — those counted before the last
// flush stay.
func TestUsageSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	e["LATCHKEY_LOG_LEVEL"] = "warn"
	cli(t, e, "user", "create", "--username", "cyd", "--password", "cy-long-password-1")
	in := start(t, e)
	owner := basic("cyd", "cy-long-password-1")
	code, k, _ := api(t, "POST", in.URL+"/user/keys", owner, map[string]any{"handle": "ci", "tier": "pro"})
	if code != http.StatusCreated {
		t.Fatalf("create key: %d %v", code, k)
	}
	key := k["key"].(string)
	send := func(in *instance, n int) {
		for range n {
			if code, _, _ := api(t, "GET", in.URL+"/user", bearer(key), nil); code != http.StatusOK {
				t.Fatalf("GET /user: %d", code)
			}
		}
	}
	allowed := func(in *instance) int {
		code, body, _ := api(t, "GET", in.URL+"/user/keys/ci/usage", owner, nil)
		if code != http.StatusOK {
			t.Fatalf("usage: %d %v", code, body)
		}
		return int(body["totals"].(map[string]any)["allowed"].(float64))
	}
	waitFor := func(in *instance, want int) {
		deadline := time.Now().Add(10 * time.Second)
		for allowed(in) != want {
			if time.Now().After(deadline) {
				t.Fatalf("allowed = %d, want %d", allowed(in), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	send(in, 10)
	waitFor(in, 10) // flushed
	send(in, 7)
	in.kill() // SIGKILL: the last flush window may be lost
	in = start(t, e)
	got := allowed(in)
	if got < 10 || got > 17 {
		t.Fatalf("after SIGKILL: allowed = %d, want 10 (flushed) to 17", got)
	}
	t.Logf("after SIGKILL: %d of the 7 requests of the last window were kept", got-10)

	send(in, 5)
	if err := in.terminate(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	in = start(t, e)
	if after := allowed(in); after != got+5 {
		t.Fatalf("after SIGTERM: allowed = %d, want %d (a graceful shutdown loses nothing)", after, got+5)
	}
}
