package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/cmd/loadgen/keyfill"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// Backends loadgen runs on.
const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

const (
	benchUser     = "bench"
	benchPassword = "bench-password-0123456789"
	redirectURI   = "http://127.0.0.1:9/cb"
	flowScope     = "openid users:read"
)

// creds are an OAuth client's credentials.
type creds struct{ id, secret string }

// server is one `latchkey serve` process and what was set up for it.
type server struct {
	backend        string
	base, bin, dir string
	env            []string
	cfg            *config.Config // the server's configuration, read from env as it reads it
	cmd            *exec.Cmd
	done           chan struct{}
	dropSchema     func()
	pprofBase      string // the server's net/http/pprof listener ("" = none)

	machine, web creds    // client_credentials client; authorization-code client
	jwtMachine   creds    // client_credentials client with RFC 9068 JWT access tokens
	flowUsers    []string // usernames for the flows (password benchPassword)
	storedKeys   []string // the sample of stored keys the key scenarios present
}

// newServer prepares the environment of a server on backend in dir: a free
// loopback port, its own data directory and, on PostgreSQL, a fresh schema
// in the database named by pgDSN. The returned server (non-nil once
// something needs undoing) must be stopped even when err != nil.
func newServer(ctx context.Context, bin, dir, backend, pgDSN string, set []string, pprof bool) (*server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{backend: backend, base: "http://" + addr, bin: bin, dir: dir, done: make(chan struct{})}
	for _, kv := range os.Environ() { // a caller's LATCHKEY_* (or LATCHKEY_CONFIG) must not leak in
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "LATCHKEY_CONFIG="+filepath.Join(dir, "no-config.yaml"),
		"LATCHKEY_SERVER_ADDR="+addr, "LATCHKEY_SERVER_ISSUER="+s.base,
		"LATCHKEY_DATA_DIR="+filepath.Join(dir, "data"), "LATCHKEY_LOG_LEVEL=warn",
		// Rate limits stay on but never refuse the bench, so the numbers
		// measure the limiter's cost, not its refusals: the token endpoint
		// allows 100,000,000 per client per minute, the keys are on the
		// "loadgen" tier, and login_per_minute (which counts only failed
		// logins) is raised as a safety net for the flows.
		"LATCHKEY_RATE_LIMITS_TOKEN_PER_MINUTE=100000000",
		"LATCHKEY_RATE_LIMITS_LOGIN_PER_MINUTE=1000000",
		`LATCHKEY_RATE_LIMITS_TIERS=[{"name":"free","requests_per_hour":1000,"burst":50},`+
			`{"name":"pro","requests_per_hour":10000,"burst":200},{"name":"enterprise","requests_per_hour":0,"burst":1000},`+
			`{"name":"loadgen","requests_per_hour":2000000000,"burst":1000000}]`)
	if backend == backendPostgres {
		dsn, drop, err := freshSchema(ctx, pgDSN)
		if err != nil {
			return nil, err
		}
		s.dropSchema = drop
		s.env = append(s.env, "LATCHKEY_STORAGE_DSN="+dsn)
	}
	if pprof {
		paddr, err := freePort()
		if err != nil {
			return s, err
		}
		s.pprofBase = "http://" + paddr
		s.env = append(s.env, "LATCHKEY_METRICS_PPROF_ADDR="+paddr)
	}
	s.env = append(s.env, set...) // last wins, for the server and for config.Load
	if s.cfg, err = config.Load("", s.env); err != nil {
		return s, fmt.Errorf("configuration: %w", err)
	}
	return s, nil
}

// freePort returns a loopback host:port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// profile starts fetching a CPU profile of the server covering the
// scenario's measured window (after the warm-up, for -duration) into
// -cpuprofile's directory; the returned function waits for it. Without
// -cpuprofile it does nothing.
func (s *server) profile(ctx context.Context, o *options, keys int, scenario string) (wait func() error) {
	if s.pprofBase == "" || o.cpuProfile == "" {
		return func() error { return nil }
	}
	errc := make(chan error, 1)
	go func() {
		select {
		case <-time.After(o.warmup):
		case <-ctx.Done():
			errc <- ctx.Err()
			return
		}
		secs := max(1, int(o.duration.Round(time.Second)/time.Second))
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.pprofBase, secs), nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(o.cpuProfile, fmt.Sprintf("%s-%d-%s.pprof", s.backend, keys, scenario)), body, 0o644)
		}
		errc <- err
	}()
	return func() error { return <-errc }
}

// freshSchema creates a schema with a random name in the PostgreSQL
// database named by base and returns a DSN using it (search_path) and a
// function dropping it.
func freshSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-postgres: want a postgres:// URL, got %q", redactDSN(base))
	}
	db, err := postgres.Open(base, 2)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "loadgen_" + hex.EncodeToString(b)
	if err := db.Writer().WithContext(ctx).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = db.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.Writer().WithContext(dctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: drop schema %s: %v\n", schema, err)
		}
		_ = db.Close()
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// redactDSN hides a password in a DSN for messages.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(unparsable DSN)"
}

// prepare sets up everything the scenarios need before the server starts:
// the user "bench" and the two clients through the CLI (the first command
// migrates the database and creates the secrets), the flow users, and the
// stored keys (one without -keys), written straight into the database.
func (s *server) prepare(ctx context.Context, o *options, keys int) error {
	if _, err := s.cli(ctx, "user", "create", "--username", benchUser, "--password", benchPassword); err != nil {
		return err
	}
	var err error
	// "bench" is a resource server: it introspects every token and may
	// verify keys (/v1/keys/verify answers only resource servers).
	if s.machine, err = s.createClient(ctx, "bench", "client_credentials", "users:read,keys:verify", "--resource-server"); err != nil {
		return err
	}
	if s.jwtMachine, err = s.createClient(ctx, "bench-jwt", "client_credentials", "users:read", "--jwt-access-tokens"); err != nil {
		return err
	}
	if s.web, err = s.createClient(ctx, "bench-web", "authorization_code", strings.ReplaceAll(flowScope, " ", ",")); err != nil {
		return err
	}
	var db *storage.DB
	if s.cfg.IsPostgres() {
		db, err = postgres.Open(s.cfg.Storage.DSN, 4)
	} else {
		db, err = sqlite.Open(s.cfg.ResolvedDSN(), 4)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	// One argon2id hash for the whole pool: the flows pay for the check
	// at login, not for making the hash here.
	hash, err := secret.HashPassword(benchPassword)
	if err != nil {
		return err
	}
	for i := range o.users {
		name := fmt.Sprintf("bench-flow-%03d", i)
		if err := db.CreateUser(ctx, &storage.User{ID: uuid.NewString(), Username: name, PasswordHash: hash}); err != nil {
			return fmt.Errorf("flow user: %w", err)
		}
		s.flowUsers = append(s.flowUsers, name)
	}
	orgIDs, err := s.fillOrgs(ctx, db, o.orgs)
	if err != nil {
		return err
	}
	return s.fillKeys(ctx, db, max(keys, 1), o.keySample, orgIDs)
}

// fillOrgs creates n organizations of 10 tenants each, owned by
// "bench-owner", with "bench" a member holding read-write on three of the
// tenants, and returns their ids.
func (s *server) fillOrgs(ctx context.Context, db *storage.DB, n int) ([]string, error) {
	if n == 0 {
		return nil, nil
	}
	start := time.Now()
	owner := &storage.User{ID: uuid.NewString(), Username: "bench-owner", PasswordHash: "unusable"}
	if err := db.CreateUser(ctx, owner); err != nil {
		return nil, fmt.Errorf("org owner: %w", err)
	}
	bench, err := db.GetUserByUsername(ctx, benchUser)
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("org_bench%06d", i)
		err := db.InTx(ctx, func(ctx context.Context) error {
			if err := db.CreateOrg(ctx, &storage.Organization{ID: ids[i], Name: fmt.Sprintf("Bench org %d", i)}, owner.ID); err != nil {
				return err
			}
			if err := db.AddMember(ctx, &storage.Membership{OrgID: ids[i], UserID: bench.ID, Role: "member"}); err != nil {
				return err
			}
			for t := range 10 {
				tn := &storage.Tenant{ID: fmt.Sprintf("tnt_bench%06d_%02d", i, t), OrgID: ids[i], Name: fmt.Sprintf("tenant %02d", t)}
				if err := db.CreateTenant(ctx, tn); err != nil {
					return err
				}
				if t < 3 {
					if err := db.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: ids[i], TenantID: tn.ID, UserID: bench.ID, Role: "read-write"}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("org %d: %w", i, err)
		}
	}
	fmt.Fprintf(os.Stderr, "loadgen: %s: stored %d organizations × 10 tenants in %v\n", s.backend, n, time.Since(start).Round(time.Millisecond))
	return ids, nil
}

// fillKeys writes n keys of "bench" (bound to orgIDs round robin, if any) on the "loadgen" tier with every
// fine-grained scope (what a key created without scopes by its owner
// gets), digested under the pepper the server will use, and keeps sample
// of them for the key scenarios.
func (s *server) fillKeys(ctx context.Context, db *storage.DB, n, sample int, orgIDs []string) error {
	sec, err := s.cfg.EnsureSecrets() // the CLI made them; this reads them
	if err != nil {
		return err
	}
	hasher, err := secret.NewHasher(sec.PepperVersion, map[int][]byte{sec.PepperVersion: sec.Pepper})
	if err != nil {
		return err
	}
	u, err := db.GetUserByUsername(ctx, benchUser)
	if err != nil {
		return err
	}
	var scopes []string
	for _, sc := range s.cfg.OAuth.Scopes {
		if strings.Contains(sc.Name, ":") {
			scopes = append(scopes, sc.Name)
		}
	}
	start := time.Now()
	s.storedKeys, err = keyfill.Fill(ctx, db, keyfill.Spec{
		N: n, UserID: u.ID, Tier: "loadgen", Scopes: scopes,
		Format: keys.NewFormat(s.cfg.Keys.Prefix), Hasher: hasher, Sample: sample, OrgIDs: orgIDs,
	})
	if err != nil {
		return err
	}
	if n > 1 {
		fmt.Fprintf(os.Stderr, "loadgen: %s: stored %d keys in %v\n", s.backend, n, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// cli runs a latchkey command with the server's environment and returns its output.
func (s *server) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = s.dir, s.env, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("latchkey %s %s: %w", args[0], args[1], err)
	}
	return out, nil
}

// createClient registers a confidential client with the CLI.
func (s *server) createClient(ctx context.Context, name, grants, scopes string, flags ...string) (creds, error) {
	out, err := s.cli(ctx, append([]string{"client", "create", "--name", name, "--redirect-uri", redirectURI,
		"--grant-types", grants, "--scopes", scopes}, flags...)...)
	if err != nil {
		return creds{}, err
	}
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		return creds{}, fmt.Errorf("client create: unexpected output %q", out)
	}
	return creds{c.ClientID, c.ClientSecret}, nil
}

// start runs `latchkey serve` and waits until /healthz answers.
func (s *server) start(ctx context.Context) error {
	logf, err := os.Create(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return err
	}
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = s.dir, s.env, logf, logf
	if err := s.cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	go func() { _ = s.cmd.Wait(); _ = logf.Close(); close(s.done) }()
	timeout := time.After(30 * time.Second)
	for {
		if status, _, err := do(ctx, http.DefaultClient, s.req(http.MethodGet, "/healthz", "")); err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-s.done:
			s.dumpLog()
			return errors.New("the server exited during start-up")
		case <-timeout:
			s.dumpLog()
			return errors.New("the server did not answer /healthz within 30s")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// req builds a request to the server; a body makes it a form POST.
func (s *server) req(method, path, body string) *http.Request {
	r, _ := http.NewRequest(method, s.base+path, strings.NewReader(body)) // base is a valid URL
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

// stop sends SIGTERM, waits up to 10s (then kills) and drops the schema.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.dropSchema != nil {
		s.dropSchema()
	}
}

func (s *server) dumpLog() {
	if b, err := os.ReadFile(filepath.Join(s.dir, "server.log")); err == nil && len(b) > 0 {
		const tail = 4000
		fmt.Fprintf(os.Stderr, "--- %s server log (last %d bytes) ---\n%s\n", s.backend, tail, b[max(0, len(b)-tail):])
	}
}
