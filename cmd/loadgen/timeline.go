package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// timeline prints, every interval while a scenario runs, one Markdown row:
// elapsed time, the server's RSS and Go heap in use (from its /metrics),
// and the rows stored in the tables the janitor keeps in check. It is the
// evidence of a soak run: memory and table sizes that level off. It
// returns the function that stops it; interval 0 prints nothing.
func (s *server) timeline(ctx context.Context, w io.Writer, scenario string, interval time.Duration) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	var db *storage.DB
	var err error
	if s.cfg.IsPostgres() {
		db, err = postgres.Open(s.cfg.Storage.DSN, 1)
	} else {
		db, err = sqlite.Open(s.cfg.ResolvedDSN(), 1)
	}
	if err != nil {
		fmt.Fprintf(w, "timeline: %v\n", err)
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	fmt.Fprintf(w, "\n%s timeline (%s)\n\n| t | RSS MiB | Go heap MiB | access | refresh | code+pkce+oidc | JTIs | key events | 5xx so far |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n", scenario, s.backend)
	go func() {
		defer close(done)
		defer db.Close()
		start := time.Now()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			kinds := map[string]int64{}
			var rows []struct {
				Kind string
				N    int64
			}
			_ = db.Writer().WithContext(ctx).Raw("SELECT kind, count(*) AS n FROM requests GROUP BY kind").Scan(&rows).Error
			for _, r := range rows {
				kinds[r.Kind] = r.N
			}
			var jtis, events int64
			_ = db.Writer().WithContext(ctx).Raw("SELECT count(*) FROM used_jtis").Scan(&jtis).Error
			_ = db.Writer().WithContext(ctx).Raw("SELECT count(*) FROM key_events").Scan(&events).Error
			m := s.scrape(ctx, "go_memstats_heap_inuse_bytes", `latchkey_http_requests_total{`)
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %d | %d | %d | %d | %d | %.0f |\n",
				time.Since(start).Round(time.Second), procStatus(s.cmd.Process.Pid, "VmRSS:"), m["go_memstats_heap_inuse_bytes"]/(1<<20),
				kinds["access"], kinds["refresh"], kinds["code"]+kinds["pkce"]+kinds["oidc"], jtis, events, m["5xx"])
		}
	}()
	return func() { cancel(); <-done }
}

// scrape reads gauges from the server's /metrics: each named series, and
// under "5xx" the sum of the request counters with a 5xx status.
func (s *server) scrape(ctx context.Context, gauge, counterPrefix string) map[string]float64 {
	out := map[string]float64{}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, gauge+" "):
			out[gauge] = v
		case strings.HasPrefix(line, counterPrefix) && strings.Contains(line, `status="5`):
			out["5xx"] += v
		}
	}
	return out
}
