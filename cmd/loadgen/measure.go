package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Result is one scenario's measurement on one backend.
type Result struct {
	Backend      string  `json:"backend"`
	StoredKeys   int     `json:"stored_keys"` // -keys: API keys written before the server started
	Scenario     string  `json:"scenario"`
	Conns        int     `json:"conns"`
	Requests     int64   `json:"requests"` // 2xx responses (completed flows) inside the measured window
	RPS          float64 `json:"rps"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	Non2xx       int64   `json:"non_2xx"`
	Status5xx    int64   `json:"status_5xx"`
	Transport    int64   `json:"transport_errors"`
	BadBody      int64   `json:"bad_body"` // sampled 2xx bodies that failed the content check, and broken flows
	FirstError   string  `json:"first_error,omitempty"`
	RatioHealthz float64 `json:"ratio_to_healthz"`
	ServerCPU    float64 `json:"server_cpu_cores"`  // server user+sys CPU seconds / wall seconds
	LoadgenCPU   float64 `json:"loadgen_cpu_cores"` // this process's CPU seconds / wall seconds
	MachineCPU   float64 `json:"machine_cpu_cores"` // all busy CPU (/proc/stat), including other processes
	// PeakRSSMiB is the server's VmHWM after the scenario: its peak during
	// the scenario when PeakSinceStart is false (the mark was reset before
	// the warm-up), else its peak since it started.
	PeakRSSMiB     float64 `json:"server_peak_rss_mib"`
	PeakSinceStart bool    `json:"peak_rss_since_start,omitempty"`
	RSSMiB         float64 `json:"server_rss_mib"` // VmRSS at the end of the scenario
}

// measure runs sc with conns workers: warm-up first (unrecorded), then the
// measured window. What completes inside the window counts (a flow that
// started in the warm-up included), so throughput is completions per
// second even for work that takes longer than the warm-up. Each worker
// stops starting work at the window's end. The server's peak-RSS mark is
// reset first.
func measure(ctx context.Context, sc scenario, conns int, warmup, dur time.Duration, pid int) Result {
	type acc struct {
		lat                                []time.Duration
		non2xx, s5xx, transport, bad, seen int64
		firstErr                           string
	}
	resetOK := resetPeakRSS(pid)
	accs := make([]acc, conns)
	start := time.Now().Add(warmup)
	end := start.Add(dur)
	var cpu0, self0, sys0 time.Duration
	started := make(chan struct{}) // CPU counters read at the window's start
	go func() {
		defer close(started)
		select {
		case <-time.After(time.Until(start)):
		case <-ctx.Done():
		}
		cpu0, self0, sys0 = procCPU(pid), selfCPU(), machineCPU()
	}()
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
				out := sc.run(ctx, rng)
				t1 := time.Now()
				if t1.Before(start) || t1.After(end) {
					continue // finished during the warm-up or after the window closed
				}
				note := func(err error) {
					if a.firstErr == "" {
						a.firstErr = err.Error()
					}
				}
				switch {
				case out.err != nil && ctx.Err() != nil:
				case errors.Is(out.err, errFlow):
					a.bad++
					a.s5xx += int64(min(1, out.status/500))
					note(out.err)
				case out.err != nil:
					a.transport++
					note(out.err)
				case out.status < 200 || out.status > 299:
					a.non2xx++
					a.s5xx += int64(min(1, out.status/500))
					if out.status >= 500 {
						note(fmt.Errorf("HTTP %d: %.300s", out.status, out.body))
					}
				default:
					a.lat = append(a.lat, t1.Sub(t0))
					if a.seen++; out.check != nil && a.seen%50 == 1 && !out.check(out.body) {
						a.bad++
						note(fmt.Errorf("unexpected body: %.300s", out.body))
					}
				}
			}
		})
	}
	wg.Wait()
	<-started
	cpu1, self1, sys1 := procCPU(pid), selfCPU(), machineCPU()
	res := Result{Scenario: sc.name, Conns: conns, PeakRSSMiB: procStatus(pid, "VmHWM:"), PeakSinceStart: !resetOK,
		RSSMiB: procStatus(pid, "VmRSS:")}
	var lat []time.Duration
	for _, a := range accs {
		lat = append(lat, a.lat...)
		res.Non2xx += a.non2xx
		res.Status5xx += a.s5xx
		res.Transport += a.transport
		res.BadBody += a.bad
		if res.FirstError == "" {
			res.FirstError = a.firstErr
		}
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

// resetPeakRSS resets the kernel's peak-RSS mark (VmHWM) of pid to its
// current RSS by writing "5" to /proc/<pid>/clear_refs (Linux ≥ 4.0). It
// reports false where that is not permitted or not supported.
func resetPeakRSS(pid int) bool {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, err = f.WriteString("5")
	return errors.Join(err, f.Close()) == nil
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

// procStatus reads a kB field of /proc/<pid>/status (VmHWM: peak RSS, VmRSS) in MiB.
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

// printTable writes one backend's results as a Markdown table.
func printTable(w io.Writer, backend string, storedKeys int, rs []Result, o *options) {
	name := map[string]string{backendSQLite: "SQLite", backendPostgres: "PostgreSQL"}[backend]
	keys := "one API key"
	if storedKeys > 0 {
		keys = fmt.Sprintf("%d stored API keys (%d of them presented)", storedKeys, min(storedKeys, o.keySample))
	}
	fmt.Fprintf(w, "\n%s — %s, %d CPUs, %d conns (authcode %d), %v warm-up + %v per scenario, %s; "+
		"limits on but never refusing (key tier \"loadgen\", token_per_minute 100000000, login_per_minute 1000000)\n\n",
		name, runtime.Version(), runtime.NumCPU(), o.conns, o.flowConns, o.warmup, o.duration, keys)
	fmt.Fprintln(w, "| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | non-2xx | 5xx | other err | × healthz | server CPU µs/req | CPU cores server / loadgen / machine | RSS end / peak MiB |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range rs {
		ratio := "–"
		if r.RatioHealthz > 0 {
			ratio = fmt.Sprintf("%.3f", r.RatioHealthz)
		}
		peak := fmt.Sprintf("%.0f", r.PeakRSSMiB)
		if r.PeakSinceStart {
			peak += " (since start)"
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %d | %d | %d | %s | %.0f | %.2f / %.2f / %.2f | %.0f / %s |\n",
			r.Scenario, r.Requests, r.RPS, r.P50ms, r.P90ms, r.P99ms, r.Non2xx, r.Status5xx, r.Transport+r.BadBody,
			ratio, r.ServerCPU*1e6/max(r.RPS, 1), r.ServerCPU, r.LoadgenCPU, r.MachineCPU, r.RSSMiB, peak)
	}
	if i := slices.IndexFunc(rs, func(r Result) bool { return r.Scenario == "mixed" }); i >= 0 {
		var parts []string
		for _, p := range o.mix {
			parts = append(parts, fmt.Sprintf("%s %d", p.name, p.weight))
		}
		fmt.Fprintf(w, "\nmixed: %s (weights); a flow counts as one request.\n", strings.Join(parts, ", "))
	}
}
