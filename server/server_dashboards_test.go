package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/latchkey/latchkey/oauth"
)

// The operator's files under deploy/: a Grafana dashboard and Prometheus
// alert rules over the server's metrics.
const (
	grafanaDashboard = "../deploy/grafana/latchkey.json"
	alertRules       = "../deploy/prometheus/latchkey-alerts.yml"
)

// scrapeLabels is what a scrape exposes: each series name (histograms as
// their _bucket, _sum and _count series) with the label names it carries.
type scrapeLabels map[string][]string

func exposed(sc scrape) scrapeLabels {
	out := scrapeLabels{}
	add := func(name string, m *dto.Metric, extra ...string) {
		names := slices.Clone(extra)
		for _, l := range m.GetLabel() {
			names = append(names, l.GetName())
		}
		for _, n := range names {
			if !slices.Contains(out[name], n) {
				out[name] = append(out[name], n)
			}
		}
		if out[name] == nil {
			out[name] = []string{}
		}
	}
	for name, mf := range sc {
		for _, m := range mf.GetMetric() {
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
				continue
			}
			add(name, m)
		}
	}
	return out
}

// Label names Prometheus adds at scrape time, absent from /metrics.
var scrapeTimeLabels = []string{"job", "instance"}

var (
	quotedRe   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricRe   = regexp.MustCompile(`\b(?:latchkey|go|process)_[a-zA-Z0-9_]+`)
	selectorRe = regexp.MustCompile(`\b((?:latchkey|go|process)_[a-zA-Z0-9_]+)\s*\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// checkExpr reports every metric expr queries that the scrape lacks, and
// every label a selector matches on that the metric does not carry.
func checkExpr(expr string, have scrapeLabels) []string {
	var problems []string
	bare := quotedRe.ReplaceAllString(expr, `""`)
	for _, name := range metricRe.FindAllString(bare, -1) {
		if _, ok := have[name]; !ok {
			problems = append(problems, "metric "+name+" is not in /metrics")
		}
	}
	for _, m := range selectorRe.FindAllStringSubmatch(expr, -1) {
		labels, ok := have[m[1]]
		if !ok {
			continue
		}
		for _, lm := range matcherRe.FindAllStringSubmatch(quotedRe.ReplaceAllString(m[2], `""`), -1) {
			if l := lm[1]; !slices.Contains(labels, l) && !slices.Contains(scrapeTimeLabels, l) {
				problems = append(problems, fmt.Sprintf("metric %s has no label %q (it has %v)", m[1], l, labels))
			}
		}
	}
	return problems
}

// dashboardExprs returns every PromQL expression of the dashboard: the
// panels' targets (rows' nested panels too) and the template variables'
// queries, each named by where it is.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		UID        string            `json:"uid"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	out := map[string]string{}
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, r := range ps {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", grafanaDashboard, err)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			for i, tg := range p.Targets {
				out[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out["variable "+v.Name] = v.Definition
		}
	}
	if d.UID == "" || len(out) < 10 {
		t.Fatalf("%s: uid %q, %d expressions", grafanaDashboard, d.UID, len(out))
	}
	return out
}

// alertExprs returns each alert rule's expression by alert name, after
// checking each rule has what an on-call person needs.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.For == "" || r.Labels["severity"] == "" ||
				r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %q: needs alert, expr, for, labels.severity, annotations.summary and description", r.Alert)
			}
			out["alert "+r.Alert] = r.Expr
		}
	}
	for _, want := range []string{"LatchkeyHigh5xxRate", "LatchkeyRateLimiterErrors", "LatchkeyInvalidationListenerDown", "LatchkeyAPILatencyP99High"} {
		if _, ok := out["alert "+want]; !ok {
			t.Errorf("no alert %s", want)
		}
	}
	return out
}

// TestDashboardsQueryRealMetrics: every metric and label the Grafana
// dashboard and the alert rules query is in /metrics of a running server
// that has served some traffic, so renaming a metric or a label fails
// here rather than blanking a panel or silencing an alert.
func TestDashboardsQueryRealMetrics(t *testing.T) {
	s := newTestServerWith(t, withTinyTier)
	s.CreateUser(t, "dash", "dash-password-123")
	pw := basicHeader("dash", "dash-password-123")
	key := createTierKey(t, s, pw, "d", "tiny", `["users:read"]`)
	for range 5 { // 3 allowed, then 429s: request, duration and refusal series
		apiCall(t, "GET", s.URL+"/user", "Bearer "+key, "")
	}
	cid, csecret := s.CreateClient(t, oauth.ClientSpec{Name: "Dash", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	clientToken(t, s, cid, csecret, "users:read")
	have := exposed(scrapeMetrics(t, s, ""))

	exprs := dashboardExprs(t)
	for k, v := range alertExprs(t) {
		exprs[k] = v
	}
	for where, expr := range exprs {
		for _, p := range checkExpr(expr, have) {
			t.Errorf("%s: %s\n  expr: %s", where, p, expr)
		}
	}

	// The check itself can fail.
	for _, bad := range []string{`rate(latchkey_http_requests_totl[5m])`, `latchkey_http_requests_total{rout="/user"}`} {
		if len(checkExpr(bad, have)) == 0 {
			t.Errorf("checkExpr(%q) found nothing wrong", bad)
		}
	}
}
