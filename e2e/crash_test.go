package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestCrashDurability kills a server with SIGKILL in the middle of a
// write-heavy load and checks that everything it acknowledged survives:
// every API key whose creation was answered 201 still verifies, every key
// whose revocation was answered 204 is still refused, every access token
// that was handed out (exchanged from a key, or client_credentials) still
// introspects active; the SQLite file passes PRAGMA integrity_check before
// the restart; and the server restarts cleanly on the same data. Requests
// in flight at the kill may have gone either way and are not checked.
// Usage counters are written in batches every 2 s and may lose the last
// 2 s (documented), so they are not checked either.
//
// SIGKILL is a process crash: the kernel keeps what was written. A power
// loss is a different test (SQLite runs with synchronous=NORMAL in WAL
// mode, which may lose the last commits then).
func TestCrashDurability(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		e := crashEnv(t)
		crashAndCheck(t, e, filepath.Join(e["LATCHKEY_DATA_DIR"], "latchkey.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		e := crashEnv(t)
		e["LATCHKEY_STORAGE_DSN"] = postgresDSN(t)
		crashAndCheck(t, e, "")
	})
}

// crashEnv is an instance whose rate limits do not refuse the load.
func crashEnv(t *testing.T) env {
	e := newEnv(t)
	e["LATCHKEY_LOG_LEVEL"] = "warn"
	e["LATCHKEY_RATE_LIMITS_TOKEN_PER_MINUTE"] = "1000000"
	return e
}

// ledger records what the server acknowledged.
type ledger struct {
	mu       sync.Mutex
	keys     map[string]*ackKey // by handle
	keepers  []string           // plain keys never revoked, used for exchanges
	revoke   chan *ackKey       // created keys to revoke
	tokens   []ackToken
	attempts map[string]int // requests sent, by kind, for the failure message
}

// ackKey is a key whose creation was acknowledged.
type ackKey struct {
	handle, plain   string
	revokeAttempted bool // a DELETE was sent: without an answer the state is unknown
	revoked         bool // the DELETE was answered 204
}

// ackToken is an access token that was handed out.
type ackToken struct{ token, kind string }

func (l *ledger) counts() (created, revoked, exchanged, machine int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys {
		created++
		if k.revoked {
			revoked++
		}
	}
	for _, tk := range l.tokens {
		if tk.kind == "exchanged" {
			exchanged++
		} else {
			machine++
		}
	}
	return
}

func crashAndCheck(t *testing.T, e env, sqliteFile string) {
	const user, pass = "crash", "crash-password-0123456789"
	cli(t, e, "user", "create", "--username", user, "--password", pass)
	clientID, clientSecret := createClient(t, e, "--name", "crash", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--grant-types", "client_credentials", "--scopes", "users:read,keys:verify", "--tier", "enterprise",
		"--resource-server") // it introspects tokens exchanged from keys (issue 10)
	in := start(t, e)

	l := &ledger{keys: map[string]*ackKey{}, revoke: make(chan *ackKey, 10_000), attempts: map[string]int{}}
	hc := &http.Client{Timeout: 10 * time.Second}
	call := func(ctx context.Context, method, path, body string, auth func(*http.Request)) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, in.URL+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		auth(req)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body) // a cut-off body is no acknowledgement
		return resp.StatusCode, b, err
	}
	basic := func(r *http.Request) { r.SetBasicAuth(user, pass) }
	client := func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret)) }
	var killed atomic.Bool // requests after the kill are refused, not worth counting
	attempt := func(kind string) {
		if killed.Load() {
			return
		}
		l.mu.Lock()
		l.attempts[kind]++
		l.mu.Unlock()
	}

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	// Key creators (HTTP Basic: one argon2id check each); every other key
	// is queued for revocation, the rest are exchanged for tokens.
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				handle := fmt.Sprintf("crash-%d-%d", g, i)
				attempt("create")
				status, b, err := call(ctx, http.MethodPost, "/user/keys", `{"handle":"`+handle+`","tier":"enterprise"}`, basic)
				var k struct {
					Key    string `json:"key"`
					Handle string `json:"handle"`
				}
				if err != nil || status != http.StatusCreated || json.Unmarshal(b, &k) != nil || k.Key == "" || k.Handle != handle {
					continue
				}
				rec := &ackKey{handle: handle, plain: k.Key}
				l.mu.Lock()
				l.keys[handle] = rec
				if i%2 == 0 {
					l.keepers = append(l.keepers, k.Key)
				}
				l.mu.Unlock()
				if i%2 == 1 {
					l.revoke <- rec
				}
			}
		})
	}
	// Revoker.
	wg.Go(func() {
		for {
			var rec *ackKey
			select {
			case rec = <-l.revoke:
			case <-ctx.Done():
				return
			}
			l.mu.Lock()
			rec.revokeAttempted = true
			l.mu.Unlock()
			attempt("revoke")
			status, _, err := call(ctx, http.MethodDelete, "/user/keys/"+rec.handle, "", basic)
			if err == nil && status == http.StatusNoContent {
				l.mu.Lock()
				rec.revoked = true
				l.mu.Unlock()
			}
		}
	})
	// Exchanges of kept keys, and client_credentials tokens.
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				var status int
				var b []byte
				var err error
				kind := "machine"
				if g%2 == 0 {
					l.mu.Lock()
					n := len(l.keepers)
					var key string
					if n > 0 {
						key = l.keepers[rng.IntN(n)]
					}
					l.mu.Unlock()
					if key == "" {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					kind = "exchanged"
					attempt(kind)
					status, b, err = call(ctx, http.MethodPost, "/tokens/generate", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) })
				} else {
					attempt(kind)
					status, b, err = call(ctx, http.MethodPost, "/oauth/token", "grant_type=client_credentials&scope=users%3Aread", client)
				}
				var tok struct {
					Token       string `json:"token"`
					AccessToken string `json:"access_token"`
				}
				if err != nil || status != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.Token+tok.AccessToken == "" {
					continue
				}
				l.mu.Lock()
				l.tokens = append(l.tokens, ackToken{token: tok.Token + tok.AccessToken, kind: kind})
				l.mu.Unlock()
			}
		})
	}

	// Kill in the middle of the load, once every kind of write has been
	// acknowledged a few times (the load keeps running until the kill).
	deadline := time.Now().Add(8 * time.Second)
	for {
		c, r, x, m := l.counts()
		if c >= 10 && r >= 3 && x >= 10 && m >= 10 {
			break
		}
		if time.Now().After(deadline) {
			stopLoad()
			wg.Wait()
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("load too slow to test anything: acknowledged %d keys, %d revocations, %d exchanges, %d client tokens; sent %v",
				c, r, x, m, l.attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
	killed.Store(true)
	in.kill()
	stopLoad()
	wg.Wait()
	created, revoked, exchanged, machine := l.counts()
	t.Logf("SIGKILL after acknowledging %d keys (%d revoked), %d exchanged and %d client_credentials tokens; sent %v",
		created, revoked, exchanged, machine, l.attempts)

	if sqliteFile != "" {
		checkSQLiteIntegrity(t, sqliteFile)
	}

	in2 := start(t, e) // fails the test if it does not come up
	verifier := flowtest.ClientToken(t, in2.URL, clientID, clientSecret, "keys:verify")
	checkKeys(t, in2.URL, verifier, l)
	checkTokens(t, in2.URL, clientID, clientSecret, l)
}

// checkKeys verifies every acknowledged key through POST /v1/keys/verify:
// created → VALID, revoked → REVOKED; a key whose revocation got no answer
// may be either.
func checkKeys(t *testing.T, base, token string, l *ledger) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for handle, k := range l.keys {
		body, _ := json.Marshal(map[string]any{"key": k.plain})
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/keys/verify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Valid bool   `json:"valid"`
			Code  string `json:"code"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("verify %s: HTTP %d %v", handle, resp.StatusCode, err)
		}
		switch {
		case k.revoked && (v.Valid || v.Code != "REVOKED"):
			t.Errorf("key %s: revocation was acknowledged, after the crash verify says valid=%v code=%s", handle, v.Valid, v.Code)
		case !k.revokeAttempted && (!v.Valid || v.Code != "VALID"):
			t.Errorf("key %s: creation was acknowledged, after the crash verify says valid=%v code=%s", handle, v.Valid, v.Code)
		case k.revokeAttempted && !k.revoked && v.Code != "VALID" && v.Code != "REVOKED":
			t.Errorf("key %s: revocation in flight at the kill, after the crash verify says code=%s (want VALID or REVOKED)", handle, v.Code)
		}
	}
}

// checkTokens introspects every acknowledged access token (RFC 7662) and
// expects it active: none of them was revoked (exchanges use keys that are
// never revoked).
func checkTokens(t *testing.T, base, id, secret string, l *ledger) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, tk := range l.tokens {
		form := url.Values{"token": {tk.token}}
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Active bool `json:"active"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("introspect: HTTP %d %v", resp.StatusCode, err)
		}
		if !v.Active {
			t.Errorf("%s token #%d was handed out before the crash and is not active after it", tk.kind, i)
		}
	}
}
