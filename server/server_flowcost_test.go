package server_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestAuthCodeFlowWrites counts the database writes of one whole
// authorization-code flow of a signed-out browser (login form, sign-in,
// consent already given, PKCE code exchange). On SQLite every write waits
// for the one writer, so a new write on this path costs every concurrent
// sign-in (BENCHMARKS.md, issues 12 and 13): adding one must be a choice —
// fold it into an existing transaction if it can be, else update the
// count here and measure the flow with `go run ./cmd/loadgen -scenarios authcode`.
func TestAuthCodeFlowWrites(t *testing.T) {
	e := newE2E(t)
	e.tokens(t, e.conf) // the first flow stores the consent
	var (
		mu     sync.Mutex
		writes = map[string]int{}
	)
	count := func(verb, table string) {
		mu.Lock()
		defer mu.Unlock()
		writes[verb+" "+table]++
	}
	if err := e.s.App.DB().ObserveWrites(count); err != nil {
		t.Fatal(err)
	}
	e.c = browser(t) // signed out again
	e.tokens(t, e.conf)
	mu.Lock()
	defer mu.Unlock()
	// The sign-in is counted in the usage aggregate in memory; the
	// batched flush writes those counts every 2 s in one transaction,
	// however many flows ran, and lands in this window or not by timing:
	// it is not a write of the flow.
	delete(writes, "INSERT usage_counts")
	want := map[string]int{
		// fosite's code, PKCE and OpenID Connect requests, then the access
		// and refresh tokens; the exchange ends the code and deletes the rest.
		"INSERT requests": 5, "UPDATE requests": 1, "DELETE requests": 2,
		"INSERT web_sessions":    1, // the session list and its sign-out
		"INSERT session_clients": 1, // back-channel logout
	}
	if !maps.Equal(writes, want) {
		t.Errorf("writes of one flow:\n%s\nwant:\n%s", show(writes), show(want))
	}
}

func show(m map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "  %s: %d\n", k, m[k])
	}
	return b.String()
}
