package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
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

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestGroupCommitCrash kills `latchkey serve` (SQLite, where token writes
// are group-committed: storage.WithGroupCommit) with SIGKILL while 64
// clients take client_credentials tokens and 8 apps rotate refresh tokens
// — so that batches of many request transactions are being written at the
// kill — and checks after the restart:
//
//   - every client_credentials token that was answered 200 introspects
//     active (an acknowledged token is in a committed batch);
//   - nothing is half-written: every grant holds exactly one active refresh
//     token and exactly one access token, the one issued with it (a
//     rotation deactivates the old refresh token, deletes the old access
//     token and writes both new ones in one request transaction; a batch
//     cut by the kill must lose all of it or none);
//   - where no rotation of a grant was in flight at the kill (half the
//     grants stop rotating after six), the last refresh token handed out
//     still refreshes and the access token handed out with it introspects
//     active.
func TestGroupCommitCrash(t *testing.T) {
	const user, pass = "groupcommit", "gc-long-password-0123456789"
	e := crashEnv(t)
	dbFile := filepath.Join(e["LATCHKEY_DATA_DIR"], "latchkey.db")
	cli(t, e, "user", "create", "--username", user, "--password", pass)
	ccID, ccSecret := createClient(t, e, "--name", "machine", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--grant-types", "client_credentials", "--scopes", "users:read", "--resource-server")
	webID, webSecret := createClient(t, e, "--name", "web", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--scopes", "users:read,offline_access")
	in := start(t, e)

	// Eight grants of one person, each with its refresh token.
	conf := oauthConf(in, webID, webSecret, "users:read", "offline_access")
	browser := flowtest.Browser(t)
	type grant struct {
		mu       sync.Mutex
		refresh  string // last refresh token handed out
		access   string // the access token handed out with it
		inFlight bool   // a rotation was sent and not answered
	}
	grants := make([]*grant, 8)
	for i := range grants {
		verifier := oauth2.GenerateVerifier()
		u := flowtest.Authorize(t, browser, in.URL, conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(verifier)), user, pass, "allow")
		tok, err := conf.Exchange(t.Context(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange %d: %v (refresh token %q)", i, err, tok.RefreshToken)
		}
		grants[i] = &grant{refresh: tok.RefreshToken, access: tok.AccessToken}
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	post := func(ctx context.Context, form url.Values, id, secret string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/oauth/token", strings.NewReader(form.Encode()))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body) // a cut-off body is no acknowledgement
		return resp.StatusCode, b, err
	}
	type tokenResponse struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}

	var (
		mu       sync.Mutex
		acked    []string // client_credentials tokens answered 200
		rotated  atomic.Int64
		killed   atomic.Bool
		failures atomic.Int64 // non-200 answers before the kill
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}
			for ctx.Err() == nil {
				status, b, err := post(ctx, form, ccID, ccSecret)
				var tok tokenResponse
				if err != nil || status != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
					if err == nil && !killed.Load() {
						failures.Add(1)
					}
					continue
				}
				mu.Lock()
				acked = append(acked, tok.AccessToken)
				mu.Unlock()
			}
		})
	}
	for i, g := range grants {
		wg.Go(func() {
			// Half the grants stop after a few rotations, so that at the
			// kill some have none in flight and their last tokens are
			// checked; the others rotate until the kill.
			for n := 0; ctx.Err() == nil && (i%2 == 1 || n < 6); n++ {
				g.mu.Lock()
				if killed.Load() { // nothing sent after the kill counts as in flight
					g.mu.Unlock()
					return
				}
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}
				g.inFlight = true
				g.mu.Unlock()
				status, b, err := post(ctx, form, webID, webSecret)
				var tok tokenResponse
				if err != nil {
					return // no answer: the rotation stays in flight
				}
				g.mu.Lock()
				if status == http.StatusOK && json.Unmarshal(b, &tok) == nil && tok.RefreshToken != "" {
					g.refresh, g.access, g.inFlight = tok.RefreshToken, tok.AccessToken, false
					rotated.Add(1)
					g.mu.Unlock()
					// A pause, so that some grants have no rotation in
					// flight at the kill and their last tokens are checked.
					time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
					continue
				} else {
					g.inFlight = false // refused: nothing was written
					if !killed.Load() {
						failures.Add(1)
					}
				}
				g.mu.Unlock()
			}
		})
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 && rotated.Load() >= 40 {
			break
		}
		if time.Now().After(deadline) {
			stopLoad()
			wg.Wait()
			t.Fatalf("load too slow: %d client tokens, %d rotations acknowledged", n, rotated.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
	killed.Store(true)
	in.kill()
	stopLoad()
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d token requests were refused before the kill", n)
	}
	inFlight := 0
	for _, g := range grants {
		if g.inFlight {
			inFlight++
		}
	}
	t.Logf("SIGKILL after %d client_credentials tokens and %d rotations were acknowledged; %d of %d grants had a rotation in flight",
		len(acked), rotated.Load(), inFlight, len(grants))

	checkSQLiteIntegrity(t, dbFile)
	checkGrantsWhole(t, dbFile, webID, len(grants))

	in2 := start(t, e)
	// Every acknowledged client_credentials token is there.
	var missing atomic.Int64
	next := atomic.Int64{}
	var cw sync.WaitGroup
	for range 8 {
		cw.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(acked); i = int(next.Add(1)) - 1 {
				if !active(t, in2, ccID, ccSecret, acked[i]) {
					missing.Add(1)
				}
			}
		})
	}
	cw.Wait()
	if n := missing.Load(); n > 0 {
		t.Errorf("%d of %d acknowledged client_credentials tokens are not active after the crash", n, len(acked))
	}
	// Grants without a rotation in flight keep their last tokens.
	conf2 := oauthConf(in2, webID, webSecret, "users:read", "offline_access")
	for i, g := range grants {
		if g.inFlight {
			continue
		}
		if !active(t, in2, ccID, ccSecret, g.access) {
			t.Errorf("grant %d: the last access token handed out is not active after the crash", i)
		}
		if _, err := conf2.TokenSource(t.Context(), &oauth2.Token{RefreshToken: g.refresh}).Token(); err != nil {
			t.Errorf("grant %d: the last refresh token handed out no longer refreshes: %v", i, err)
		}
	}
}

// checkGrantsWhole reads the SQLite file after a crash: every grant of
// clientID holds exactly one active refresh token and one access token,
// and that access token is the one issued with the active refresh token.
func checkGrantsWhole(t *testing.T, path, clientID string, want int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT r.request_id,
		(SELECT count(*) FROM requests x WHERE x.kind = 'refresh' AND x.request_id = r.request_id AND x.active),
		(SELECT count(*) FROM requests a WHERE a.kind = 'access' AND a.request_id = r.request_id),
		(SELECT count(*) FROM requests a JOIN requests f ON f.kind = 'refresh' AND f.request_id = r.request_id AND f.active
			AND a.kind = 'access' AND a.signature = f.access_signature)
		FROM requests r WHERE r.kind = 'refresh' AND r.client_id = ? GROUP BY r.request_id`, clientID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var activeRefresh, access, linked int
		if err := rows.Scan(&id, &activeRefresh, &access, &linked); err != nil {
			t.Fatal(err)
		}
		n++
		if activeRefresh != 1 || access != 1 || linked != 1 {
			t.Errorf("grant %s is half-written: %d active refresh tokens, %d access tokens, %d access tokens issued with the active refresh token (want 1, 1, 1)",
				id, activeRefresh, access, linked)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%d grants in the database, want %d", n, want)
	}
}
