// Command loadgen measures the whole Latchkey server on loopback.
//
// It builds the server binary, starts `latchkey serve` on 127.0.0.1 with a
// fresh SQLite data directory (and no config file, so defaults apply),
// registers a confidential client with `latchkey client create`, and then
// drives five scenarios, each for a fixed duration with -conns concurrent
// workers sharing one keep-alive http.Client:
//
//	healthz             GET /healthz (baseline: HTTP stack and middleware only)
//	client_credentials  POST /oauth/token grant_type=client_credentials (one INSERT per token)
//	introspect          POST /oauth/introspect for one of -tokens pre-minted tokens (reads only)
//	users_me_key        GET /v1/users/me with an API key (Bearer): verification + one user read
//	tokens_generate     POST /tokens/generate with an API key (one INSERT per token)
//
// Only 2xx responses count as successes; every 50th 2xx body per worker is
// checked (an access_token, "active":true). Any 5xx, transport error or bad
// body makes the exit status non-zero. Per scenario it reports throughput,
// latency percentiles, the CPU used by the server, by loadgen itself and by
// the whole machine (from /proc: on a shared machine other processes skew
// the numbers, and the machine column shows it), and the server's RSS
// (VmRSS at the end, VmHWM = peak since start). The results are printed as a
// Markdown table and, with -json FILE, written as JSON. The server is
// stopped at exit and on Ctrl-C. Usage (from anywhere inside the module):
//
//	go run ./cmd/loadgen -duration 10s -conns 64
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result is one scenario's measurement.
type Result struct {
	Scenario     string  `json:"scenario"`
	Requests     int64   `json:"requests"` // 2xx responses completed inside the measured window
	RPS          float64 `json:"rps"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	Non2xx       int64   `json:"non_2xx"`
	Status5xx    int64   `json:"status_5xx"`
	Transport    int64   `json:"transport_errors"`
	BadBody      int64   `json:"bad_body"` // sampled 2xx bodies that failed the content check
	RatioHealthz float64 `json:"ratio_to_healthz"`
	ServerCPU    float64 `json:"server_cpu_cores"`    // server user+sys CPU seconds / wall seconds
	LoadgenCPU   float64 `json:"loadgen_cpu_cores"`   // this process's CPU seconds / wall seconds
	MachineCPU   float64 `json:"machine_cpu_cores"`   // all busy CPU (/proc/stat), including other processes
	PeakRSSMiB   float64 `json:"server_peak_rss_mib"` // VmHWM: peak since the server started
	RSSMiB       float64 `json:"server_rss_mib"`      // VmRSS at the end of the scenario
}

// scenario builds requests; check (optional) validates a sampled 2xx body.
type scenario struct {
	name  string
	req   func(rng *rand.Rand) *http.Request
	check func(body []byte) bool
}

type server struct {
	base, bin, dir string
	env            []string
	cmd            *exec.Cmd
	done           chan struct{}
}

func main() { os.Exit(run()) }

func run() int {
	duration := flag.Duration("duration", 10*time.Second, "measured duration of each scenario")
	conns := flag.Int("conns", 64, "concurrent workers (and keep-alive connections)")
	warmup := flag.Duration("warmup", time.Second, "unmeasured warm-up before each scenario")
	tokens := flag.Int("tokens", 1000, "access tokens minted for the introspection scenario")
	only := flag.String("scenarios", "healthz,client_credentials,introspect,users_me_key,tokens_generate", "comma-separated scenarios to run")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	keep := flag.Bool("keep", false, "keep the temporary directory (binary, data, server.log)")
	flag.Parse()
	if *conns < 1 || *duration <= 0 || *warmup < 0 || *tokens < 1 {
		fmt.Fprintln(os.Stderr, "loadgen: -conns, -duration and -tokens must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "loadgen:", err); return 1 }

	srv, err := startServer(ctx)
	if srv != nil {
		defer srv.stop(*keep)
	}
	if err != nil {
		return fail(err)
	}
	id, sec, err := srv.createClient(ctx)
	if err != nil {
		return fail(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	form := func(path, body string) *http.Request {
		r := srv.req(http.MethodPost, path, body)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec)) // RFC 6749 §2.3.1
		return r
	}
	apiKey, err := srv.createKey(ctx, hc)
	if err != nil {
		return fail(err)
	}
	keyReq := func(method, path string) *http.Request {
		r := srv.req(method, path, "")
		r.Header.Set("Authorization", "Bearer "+apiKey)
		return r
	}
	ccBody := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}.Encode()
	var introBodies []string // filled lazily: minting is part of the introspect scenario's set-up

	all := []scenario{
		{name: "healthz", req: func(*rand.Rand) *http.Request { return srv.req(http.MethodGet, "/healthz", "") }},
		{name: "client_credentials", req: func(*rand.Rand) *http.Request { return form("/oauth/token", ccBody) },
			check: func(b []byte) bool { return bytes.Contains(b, []byte(`"access_token":"`)) }},
		{name: "introspect", req: func(rng *rand.Rand) *http.Request {
			return form("/oauth/introspect", introBodies[rng.IntN(len(introBodies))])
		}, check: func(b []byte) bool { return bytes.Contains(b, []byte(`"active":true`)) }},
		{name: "users_me_key", req: func(*rand.Rand) *http.Request { return keyReq(http.MethodGet, "/v1/users/me") },
			check: func(b []byte) bool { return bytes.Contains(b, []byte(`"username":"bench"`)) }},
		{name: "tokens_generate", req: func(*rand.Rand) *http.Request { return keyReq(http.MethodPost, "/tokens/generate") },
			check: func(b []byte) bool { return bytes.Contains(b, []byte(`"token":"`)) }},
	}
	var results []Result
	failed := false
	for _, sc := range all {
		if !slices.Contains(strings.Split(*only, ","), sc.name) || ctx.Err() != nil {
			continue
		}
		if sc.name == "introspect" {
			if introBodies, err = mint(ctx, hc, form, ccBody, *tokens, *conns); err != nil {
				return fail(fmt.Errorf("minting tokens: %w", err))
			}
		}
		fmt.Fprintf(os.Stderr, "loadgen: %s: %d conns, %v warm-up + %v …\n", sc.name, *conns, *warmup, *duration)
		res := measure(ctx, hc, sc, *conns, *warmup, *duration, srv.cmd.Process.Pid)
		if res.Status5xx > 0 || res.Transport > 0 || res.BadBody > 0 {
			failed = true
		}
		results = append(results, res)
	}
	if ctx.Err() != nil { // partial windows: no numbers rather than wrong ones
		fmt.Fprintln(os.Stderr, "loadgen: interrupted")
		return 130
	}
	for i := range results {
		if results[0].Scenario == "healthz" && results[0].RPS > 0 {
			results[i].RatioHealthz = results[i].RPS / results[0].RPS
		}
	}
	printTable(os.Stdout, results, *conns, *duration)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"date": time.Now().UTC().Format(time.RFC3339), "go": runtime.Version(), "cpus": runtime.NumCPU(),
			"conns": *conns, "duration": duration.String(), "warmup": warmup.String(), "results": results,
		}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fail(err)
		}
	}
	if failed {
		srv.dumpLog()
		fmt.Fprintln(os.Stderr, "loadgen: FAIL: 5xx responses, transport errors or bad bodies (server log above)")
		return 1
	}
	return 0
}

// startServer builds the binary into a temporary directory and starts it on
// a free loopback port. The returned server (non-nil once the directory
// exists) must be stopped even when err != nil.
func startServer(ctx context.Context) (*server, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if err != nil || root == "." || strings.TrimSpace(string(gomod)) == os.DevNull {
		return nil, errors.New("run inside the latchkey module (go env GOMOD found no go.mod)")
	}
	dir, err := os.MkdirTemp("", "latchkey-loadgen-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, bin: filepath.Join(dir, "latchkey"), done: make(chan struct{})}
	build := exec.CommandContext(ctx, "go", "build", "-o", s.bin, ".")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return s, fmt.Errorf("go build: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s.base = "http://" + addr
	for _, kv := range os.Environ() { // a caller's LATCHKEY_* (or LATCHKEY_CONFIG) must not leak in
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "LATCHKEY_SERVER_ADDR="+addr, "LATCHKEY_SERVER_ISSUER="+s.base,
		"LATCHKEY_DATA_DIR="+filepath.Join(dir, "data"), "LATCHKEY_LOG_LEVEL=warn",
		// Rate limits stay on; the token-endpoint limit and the bench key's
		// tier are too large to refuse, so the numbers measure the limiter's
		// cost, not its refusals.
		"LATCHKEY_RATE_LIMITS_TOKEN_PER_MINUTE=100000000",
		`LATCHKEY_RATE_LIMITS_TIERS=[{"name":"free","requests_per_hour":1000,"burst":50},`+
			`{"name":"pro","requests_per_hour":10000,"burst":200},{"name":"enterprise","requests_per_hour":0,"burst":1000},`+
			`{"name":"loadgen","requests_per_hour":2000000000,"burst":1000000}]`)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return s, err
	}
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = dir, s.env, logf, logf
	if err := s.cmd.Start(); err != nil {
		return s, err
	}
	go func() { _ = s.cmd.Wait(); _ = logf.Close(); close(s.done) }()
	timeout := time.After(30 * time.Second)
	for {
		if status, _, err := do(ctx, http.DefaultClient, s.req(http.MethodGet, "/healthz", "")); err == nil && status == http.StatusOK {
			return s, nil
		}
		select {
		case <-s.done:
			s.dumpLog()
			return s, errors.New("the server exited during start-up")
		case <-timeout:
			s.dumpLog()
			return s, errors.New("the server did not answer /healthz within 30s")
		case <-ctx.Done():
			return s, ctx.Err()
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

// createClient registers the benchmark client with the CLI and returns its credentials.
func (s *server) createClient(ctx context.Context) (id, secret string, err error) {
	cmd := exec.CommandContext(ctx, s.bin, "client", "create", "--name", "bench", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--grant-types", "client_credentials", "--scopes", "users:read,keys:verify")
	cmd.Dir, cmd.Env, cmd.Stderr = s.dir, s.env, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("client create: %w", err)
	}
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		return "", "", fmt.Errorf("client create: unexpected output %q", out)
	}
	return c.ClientID, c.ClientSecret, nil
}

// createKey creates the user "bench" with the CLI and, as that user (HTTP
// Basic), an API key with its full rights; it returns the key.
func (s *server) createKey(ctx context.Context, hc *http.Client) (string, error) {
	const pass = "bench-password-0123456789"
	cmd := exec.CommandContext(ctx, s.bin, "user", "create", "--username", "bench", "--password", pass)
	cmd.Dir, cmd.Env, cmd.Stderr = s.dir, s.env, os.Stderr
	if out, err := cmd.Output(); err != nil {
		return "", fmt.Errorf("user create: %w (%s)", err, out)
	}
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/user/keys", strings.NewReader(`{"handle":"bench","tier":"loadgen"}`))
	r.Header.Set("Content-Type", "application/json")
	r.SetBasicAuth("bench", pass)
	code, body, err := do(ctx, hc, r)
	if err != nil || code != http.StatusCreated {
		return "", fmt.Errorf("create key: %d %v %s", code, err, body)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("create key: unexpected answer %s", body)
	}
	return k.Key, nil
}

// stop sends SIGTERM, waits up to 10s (then kills) and removes the directory unless keep.
func (s *server) stop(keep bool) {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if keep {
		fmt.Fprintln(os.Stderr, "loadgen: kept", s.dir)
		return
	}
	_ = os.RemoveAll(s.dir)
}

func (s *server) dumpLog() {
	if b, err := os.ReadFile(filepath.Join(s.dir, "server.log")); err == nil && len(b) > 0 {
		const tail = 4000
		fmt.Fprintf(os.Stderr, "--- server log (last %d bytes) ---\n%s\n", tail, b[max(0, len(b)-tail):])
	}
}

// mint issues n access tokens with the client credentials grant and returns
// the introspection request bodies for them.
func mint(ctx context.Context, hc *http.Client, form func(string, string) *http.Request, ccBody string, n, conns int) ([]string, error) {
	bodies, errs := make([]string, n), make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conns, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				status, b, err := do(ctx, hc, form("/oauth/token", ccBody))
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				if err == nil && (status != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "") {
					err = fmt.Errorf("token endpoint: HTTP %d: %.200s", status, b)
				}
				bodies[i], errs[i] = url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode(), err
			}
		})
	}
	wg.Wait()
	return bodies, errors.Join(ctx.Err(), errors.Join(errs...))
}

// do sends r and reads the whole body so the connection is reused.
func do(ctx context.Context, hc *http.Client, r *http.Request) (int, []byte, error) {
	resp, err := hc.Do(r.WithContext(ctx))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// measure runs sc with conns workers: warm-up first (unrecorded), then the
// measured window. Each worker stops by itself at the window's end.
func measure(ctx context.Context, hc *http.Client, sc scenario, conns int, warmup, dur time.Duration, pid int) Result {
	type acc struct {
		lat                                []time.Duration
		non2xx, s5xx, transport, bad, seen int64
	}
	accs := make([]acc, conns)
	start := time.Now().Add(warmup)
	end := start.Add(dur)
	var cpu0, self0, sys0 time.Duration
	var once sync.Once
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			a := &accs[w]
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				if !t0.Before(start) {
					once.Do(func() { cpu0, self0, sys0 = procCPU(pid), selfCPU(), machineCPU() })
				}
				status, body, err := do(ctx, hc, sc.req(rng))
				t1 := time.Now()
				if t0.Before(start) || t1.After(end) {
					continue // warm-up, or finished after the window closed
				}
				switch {
				case err != nil && ctx.Err() == nil:
					a.transport++
				case err != nil:
				case status < 200 || status > 299:
					a.non2xx++
					a.s5xx += int64(min(1, status/500))
				default:
					a.lat = append(a.lat, t1.Sub(t0))
					if a.seen++; sc.check != nil && a.seen%50 == 1 && !sc.check(body) {
						a.bad++
					}
				}
			}
		})
	}
	wg.Wait()
	cpu1, self1, sys1 := procCPU(pid), selfCPU(), machineCPU()
	res := Result{Scenario: sc.name, PeakRSSMiB: procStatus(pid, "VmHWM:"), RSSMiB: procStatus(pid, "VmRSS:")}
	var lat []time.Duration
	for _, a := range accs {
		lat = append(lat, a.lat...)
		res.Non2xx += a.non2xx
		res.Status5xx += a.s5xx
		res.Transport += a.transport
		res.BadBody += a.bad
	}
	slices.Sort(lat)
	res.Requests = int64(len(lat))
	res.RPS = float64(len(lat)) / dur.Seconds()
	res.P50ms, res.P90ms, res.P99ms = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99)
	res.ServerCPU = (cpu1 - cpu0).Seconds() / dur.Seconds()
	res.LoadgenCPU = (self1 - self0).Seconds() / dur.Seconds()
	res.MachineCPU = (sys1 - sys0).Seconds() / dur.Seconds()
	return res
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Microseconds()) / 1000
}

// ticks sums the given fields (clock ticks, USER_HZ = 100 on Linux).
func ticks(fields []string, idx ...int) time.Duration {
	var n int64
	for _, i := range idx {
		if i < len(fields) {
			v, _ := strconv.ParseInt(fields[i], 10, 64)
			n += v
		}
	}
	return time.Duration(n) * time.Second / 100
}

// procCPU returns the user+system CPU time of pid (/proc/<pid>/stat fields 14 and 15).
func procCPU(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return ticks(strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])), 11, 12) // from field 3 on
}

// machineCPU returns the busy CPU time of the whole machine: user nice
// system irq softirq steal from the first line of /proc/stat.
func machineCPU() time.Duration {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	return ticks(strings.Fields(line), 1, 2, 3, 6, 7, 8)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a kB field of /proc/<pid>/status (VmHWM: peak RSS since start, VmRSS) in MiB.
func procStatus(pid int, field string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func printTable(w io.Writer, rs []Result, conns int, dur time.Duration) {
	fmt.Fprintf(w, "\n%s, %d CPUs, %d conns, %v per scenario, SQLite\n\n", runtime.Version(), runtime.NumCPU(), conns, dur)
	fmt.Fprintln(w, "| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | non-2xx | 5xx | other err | × healthz | server CPU µs/req | CPU cores server / loadgen / machine | RSS end / peak MiB |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %d | %d | %d | %.3f | %.0f | %.2f / %.2f / %.2f | %.0f / %.0f |\n",
			r.Scenario, r.Requests, r.RPS, r.P50ms, r.P90ms, r.P99ms, r.Non2xx, r.Status5xx, r.Transport+r.BadBody,
			r.RatioHealthz, r.ServerCPU*1e6/max(r.RPS, 1), r.ServerCPU, r.LoadgenCPU, r.MachineCPU, r.RSSMiB, r.PeakRSSMiB)
	}
}
