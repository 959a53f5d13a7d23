// Command loadgen measures the whole Latchkey server on loopback.
//
// It builds the server binary once and, for each backend — SQLite always
// (unless -sqlite=false), then PostgreSQL when -postgres names a database —
// starts `latchkey serve` on 127.0.0.1 with a fresh data directory (and, on
// PostgreSQL, a fresh schema it creates and drops, named in the DSN's
// search_path) and no config file, so defaults apply. Before the server
// starts it creates the user "bench" and two clients with the CLI, a pool
// of -users users for the authorization-code flows, and writes API keys of
// "bench" straight into the database (one, or -keys N; real digests under
// the server's pepper, see cmd/loadgen/keyfill), so that no argon2id check
// made during set-up is in the server's memory when the first scenario
// starts. Then it drives each
// scenario for a fixed duration with -conns concurrent workers sharing one
// keep-alive transport:
//
//	healthz             GET /healthz (baseline: HTTP stack and middleware only)
//	client_credentials  POST /oauth/token grant_type=client_credentials (one INSERT per token)
//	client_credentials_jwt  the same for a client with RFC 9068 JWT access tokens (a signature per token)
//	introspect          POST /oauth/introspect for one of -tokens pre-minted tokens (reads only)
//	introspect_dpop     the same for -tokens DPoP-bound tokens (RFC 9449; cnf.jkt in the answer)
//	users_me_key        GET /v1/users/me with an API key (Bearer): verification + one user read
//	tokens_generate     POST /tokens/generate with an API key (one INSERT per token)
//	authcode            the whole authorization-code flow with PKCE S256 as a browser and
//	                    an app do it: /oauth/authorize → login form (CSRF) → consent form →
//	                    code → token exchange; one completed exchange counts as one request
//	authcode_session    the same flow for a browser that is signed in and has consented
//	                    before (each of -conns workers signs one in during set-up):
//	                    /oauth/authorize → redirect with code → token exchange; no password
//	mixed               the scenarios above drawn at random in fixed proportions (-mix)
//
// The key scenarios present one stored key (always a cache hit), or with
// -keys N a key drawn at random from -key-sample keys sampled from the N
// stored ones (so that a run with 1,000 and one with 1,000,000 stored keys
// verify the same number of distinct keys); -keys 1000,1000000 runs each
// backend once per count, one after the other. At most -flow-conns flows run
// at once, in authcode and in mixed (a login is one argon2id run holding
// 12 MiB): authcode runs with -flow-conns workers, and in mixed a worker
// that draws a flow waits for a free slot, the wait counted in its latency.
//
// Rate limits stay on, set so that they never refuse the bench: the keys
// are on a "loadgen" tier (2,000,000,000/hour, burst 1,000,000),
// token_per_minute is 100,000,000 and login_per_minute is 1,000,000 (only
// failed logins count against it; it is raised as a safety net).
//
// Only 2xx responses count as successes; every 50th 2xx body per worker is
// checked (an access_token, "active":true, …), and every flow step is
// checked. Any 5xx, transport error, bad body or broken flow makes the exit
// status non-zero. Per scenario it reports throughput, latency percentiles,
// the CPU used by the server, by loadgen itself and by the whole machine
// (from /proc: on a shared machine other processes skew the numbers, and
// the machine column shows it), the server's RSS at the end and its peak
// during the scenario (the kernel's high-water mark VmHWM, reset before
// each scenario through /proc/<pid>/clear_refs; where that is refused the
// peak is since start and marked so), and the ratio of its requests/s to
// /healthz's on the same backend in the same run. The results are printed
// as one Markdown table per backend and, with -json FILE, written as JSON.
// The servers are stopped (and the schema dropped) at exit and on Ctrl-C.
// Usage (from anywhere inside the module):
//
//	go run ./cmd/loadgen -duration 10s -conns 64
//	go run ./cmd/loadgen -postgres "$LATCHKEY_TEST_POSTGRES_DSN"
//	go run ./cmd/loadgen -keys 1000,1000000 -scenarios healthz,users_me_key,tokens_generate
//	go run ./cmd/loadgen -keys 1000000 -orgs 1000 -scenarios healthz,users_me_key
//
// With -orgs N the stored keys are bound to N organizations of 10 tenants
// each (round robin), owned by "bench-owner", in which "bench" is a member
// with read-write grants on three tenants: each verification then also
// resolves the owner's rights in the key's organization (issue 14's
// flatness check).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/buildflags"
)

// options are the command-line settings.
type options struct {
	duration, warmup                time.Duration
	conns, flowConns, tokens, users int
	keyCounts                       []int // -keys: one run per count and backend
	keySample                       int
	// orgs: with -orgs N the stored keys are personal keys of "bench" bound
	// to N organizations of 10 tenants each, so every key verification
	// also resolves its owner's rights in the key's organization.
	orgs         int
	scenarios    []string
	mix          []mixPart
	postgres     string
	sqlite, keep bool
	jsonOut      string
	// set are extra LATCHKEY_* settings for the server (-set); sample is
	// the interval of the timeline printed during each scenario (-sample).
	set    []string
	sample time.Duration
	// cpuProfile is the directory -cpuprofile writes one CPU profile of
	// the server per scenario into ("" = no profiling).
	cpuProfile string
}

// mixPart is one scenario's share of the mixed scenario.
type mixPart struct {
	name   string
	weight int
}

const (
	defaultScenarios = "healthz,client_credentials,client_credentials_jwt,introspect,introspect_dpop,users_me_key,tokens_generate,authcode,authcode_session,mixed"
	defaultMix       = "users_me_key=40,introspect=25,client_credentials=15,tokens_generate=10,authcode=10"
)

func main() { os.Exit(run()) }

func run() int {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each scenario")
	flag.IntVar(&o.conns, "conns", 64, "concurrent workers (and keep-alive connections)")
	flag.IntVar(&o.flowConns, "flow-conns", 8, "most authorization-code flows (logins) at once; the authcode scenario's workers")
	flag.IntVar(&o.tokens, "tokens", 1000, "access tokens minted for the introspection scenarios")
	flag.IntVar(&o.users, "users", 16, "users created for the authorization-code flows")
	keyCounts := flag.String("keys", "0", "API keys written into the database before the server starts (0: one key); "+
		"a comma-separated list runs each backend once per count")
	flag.IntVar(&o.orgs, "orgs", 0, "organizations (10 tenants each) the stored keys are bound to, round robin; \"bench\" is a member with read-write on 3 tenants of each (0: keys outside organizations)")
	flag.IntVar(&o.keySample, "key-sample", 1000, "with -keys: how many of the stored keys the key scenarios present")
	scenarios := flag.String("scenarios", defaultScenarios, "comma-separated scenarios to run, in this order")
	mix := flag.String("mix", defaultMix, "the mixed scenario's proportions: scenario=weight,…")
	flag.StringVar(&o.postgres, "postgres", "", "PostgreSQL DSN: also run every scenario on PostgreSQL, in a fresh schema")
	flag.BoolVar(&o.sqlite, "sqlite", true, "run the scenarios on SQLite")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binary, data, server logs)")
	flag.Func("set", "extra server setting LATCHKEY_NAME=value (repeatable; e.g. short token lifespans for a soak run)", func(v string) error {
		if !strings.HasPrefix(v, "LATCHKEY_") || !strings.Contains(v, "=") {
			return errors.New("want LATCHKEY_NAME=value")
		}
		o.set = append(o.set, v)
		return nil
	})
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the server per scenario (its measured window) into this directory, "+
		"as BACKEND-KEYS-SCENARIO.pprof (read with `go tool pprof -top DIR/sqlite-0-introspect.pprof`); "+
		"the server then serves net/http/pprof on a second loopback port (metrics.pprof_addr)")
	flag.DurationVar(&o.sample, "sample", 0, "during each scenario, print a timeline line this often: server RSS, Go heap, "+
		"stored rows per table (a soak run's evidence); 0 = none")
	flag.Parse()
	usage := func(msg string) int { fmt.Fprintln(os.Stderr, "loadgen:", msg); return 2 }
	if o.conns < 1 || o.flowConns < 1 || o.duration <= 0 || o.warmup < 0 || o.tokens < 1 || o.users < 1 || o.keySample < 1 || o.orgs < 0 {
		return usage("-conns, -flow-conns, -duration, -tokens, -users and -key-sample must be positive; -warmup not negative")
	}
	var err error
	if o.keyCounts, err = parseCounts(*keyCounts); err != nil {
		return usage(err.Error())
	}
	if o.scenarios, err = parseScenarios(*scenarios); err != nil {
		return usage(err.Error())
	}
	if o.mix, err = parseMix(*mix); err != nil {
		return usage(err.Error())
	}
	if !o.sqlite && o.postgres == "" {
		return usage("nothing to run: -sqlite=false and no -postgres")
	}
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return usage("-cpuprofile: " + err.Error())
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "loadgen:", err); return 1 }

	dir, err := os.MkdirTemp("", "latchkey-loadgen-")
	if err != nil {
		return fail(err)
	}
	if o.keep {
		defer fmt.Fprintln(os.Stderr, "loadgen: kept", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin, err := build(ctx, dir)
	if err != nil {
		return fail(err)
	}
	var backends []string
	if o.sqlite {
		backends = append(backends, backendSQLite)
	}
	if o.postgres != "" {
		backends = append(backends, backendPostgres)
	}
	var all []Result
	failed := false
	for _, be := range backends {
		for _, n := range o.keyCounts {
			res, bad, err := runBackend(ctx, &o, bin, filepath.Join(dir, fmt.Sprintf("%s-%d", be, n)), be, n)
			if ctx.Err() != nil { // partial windows: no numbers rather than wrong ones
				fmt.Fprintln(os.Stderr, "loadgen: interrupted")
				return 130
			}
			if err != nil {
				return fail(fmt.Errorf("%s: %w", be, err))
			}
			printTable(os.Stdout, be, n, res, &o)
			all = append(all, res...)
			failed = failed || bad
		}
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"date": time.Now().UTC().Format(time.RFC3339), "go": runtime.Version(), "cpus": runtime.NumCPU(),
			"conns": o.conns, "flow_conns": o.flowConns, "duration": o.duration.String(), "warmup": o.warmup.String(),
			"mix": *mix, "results": all,
		}, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return fail(err)
		}
	}
	if failed {
		fmt.Fprintln(os.Stderr, "loadgen: FAIL: 5xx responses, transport errors, bad bodies or broken flows (server log above)")
		return 1
	}
	return 0
}

// runBackend starts a server on backend with keys stored API keys, runs
// every scenario and stops it. bad reports 5xx responses, transport
// errors, bad bodies or broken flows (the server log's tail is printed
// then).
func runBackend(ctx context.Context, o *options, bin, dir, backend string, keys int) (results []Result, bad bool, err error) {
	s, err := newServer(ctx, bin, dir, backend, o.postgres, o.set, o.cpuProfile != "")
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.prepare(ctx, o, keys); err != nil {
		return nil, false, err
	}
	if err := s.start(ctx); err != nil {
		return nil, false, err
	}
	scenarios := newBench(s, o).scenarios()
	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		sc := scenarios[name]
		if sc.setup != nil {
			if err := sc.setup(ctx); err != nil {
				return nil, false, fmt.Errorf("%s: set-up: %w", name, err)
			}
		}
		conns := o.conns
		if sc.conns > 0 {
			conns = sc.conns
		}
		fmt.Fprintf(os.Stderr, "loadgen: %s: %s: %d conns, %v warm-up + %v …\n", backend, name, conns, o.warmup, o.duration)
		stopSampling := s.timeline(ctx, os.Stdout, name, o.sample)
		profiled := s.profile(ctx, o, keys, name)
		res := measure(ctx, sc, conns, o.warmup, o.duration, s.cmd.Process.Pid)
		stopSampling()
		if err := profiled(); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %s: %s: CPU profile: %v\n", backend, name, err)
		}
		res.Backend, res.StoredKeys = backend, keys
		if res.Status5xx > 0 || res.Transport > 0 || res.BadBody > 0 {
			bad = true
			if res.FirstError != "" {
				fmt.Fprintf(os.Stderr, "loadgen: %s: %s: first error: %s\n", backend, name, res.FirstError)
			}
		}
		results = append(results, res)
	}
	if i := slices.IndexFunc(results, func(r Result) bool { return r.Scenario == "healthz" }); i >= 0 && results[i].RPS > 0 {
		for j := range results {
			results[j].RatioHealthz = results[j].RPS / results[i].RPS
		}
	}
	if bad {
		s.dumpLog()
	}
	return results, bad, nil
}

// build compiles the server binary of the enclosing module into dir.
func build(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if err != nil || root == "." || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", errors.New("run inside the latchkey module (go env GOMOD found no go.mod)")
	}
	bin := filepath.Join(dir, "latchkey")
	cmd := exec.CommandContext(ctx, "go", buildflags.BuildArgs(bin, "./cmd/latchkey")...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

func parseScenarios(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(strings.Split(defaultScenarios, ","), name) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, defaultScenarios)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, errors.New("-scenarios names no scenario")
	}
	return out, nil
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-keys: %q is not a count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseMix(s string) ([]mixPart, error) {
	var out []mixPart
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		weight, err := strconv.Atoi(w)
		if !ok || err != nil || weight < 1 {
			return nil, fmt.Errorf("-mix: %q is not scenario=weight with a positive weight", part)
		}
		if name == "mixed" || !slices.Contains(strings.Split(defaultScenarios, ","), name) {
			return nil, fmt.Errorf("-mix: unknown scenario %q", name)
		}
		out = append(out, mixPart{name: name, weight: weight})
	}
	return out, nil
}
