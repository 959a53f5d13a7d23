package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

// TestBrowserUsageCharts: the key page's, the app page's and the
// operator's overview's charts render in headless Chromium at a phone and
// a desktop width (screenshots, axe), and each chart's text alternative —
// the summary its SVG is labelled by, and the data table — states the same
// numbers as the JSON API.
func TestBrowserUsageCharts(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := servertest.NewWith(t, func(c *config.Config) {
		c.RateLimits.Tiers = append(c.RateLimits.Tiers, config.Tier{Name: "small", RequestsPerHour: 20, Burst: 20})
	})
	ctx := context.Background()
	const password = "una-long-password-2026"
	u := s.CreateUser(t, "una", password)
	hash, err := secret.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.App.DB().CreateUser(ctx, &storage.User{ID: "root-1", Username: "root", PasswordHash: hash, Admin: true}); err != nil {
		t.Fatal(err)
	}
	pw := "Basic " + basicAuth("una", password)
	code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"deploy","tier":"small","scopes":["users:read"]}`)
	if code != 201 {
		t.Fatalf("create key: %d %v", code, k)
	}
	key, keyID := k["key"].(string), k["id"].(string)
	// Some history, as earlier flushes would have written it, so the bars
	// have shape: the last days, a few outcomes.
	now := time.Now().UTC()
	var past []storage.UsageDelta
	for h := 1; h < 7*24; h += 5 {
		at := now.Add(-time.Duration(h) * time.Hour)
		past = append(past, storage.UsageDelta{Subject: storage.UsageKey, SubjectID: keyID, Outcome: storage.OutcomeAllowed, At: at, N: int64(10 + h%37)})
		if h%3 == 0 {
			past = append(past, storage.UsageDelta{Subject: storage.UsageKey, SubjectID: keyID, Outcome: storage.OutcomeRateLimited, At: at, N: int64(h % 11)})
		}
		if h%7 == 0 {
			past = append(past, storage.UsageDelta{Subject: storage.UsageKey, SubjectID: keyID, Outcome: storage.OutcomeScopeDenied, At: at, N: 2})
		}
	}
	if err := s.App.DB().RecordUsage(ctx, nil, past); err != nil {
		t.Fatal(err)
	}
	// And live traffic through the three paths.
	for i, step := range []struct {
		n    int
		path string
		want int
	}{{6, "/user", 200}, {3, "/user/keys", 403}, {11, "/user", 200}, {4, "/user", 429}} {
		for range step.n {
			if code, _, _ := apiCall(t, "GET", s.URL+step.path, "Bearer "+key, ""); code != step.want {
				t.Fatalf("step %d: GET %s = %d, want %d", i, step.path, code, step.want)
			}
		}
	}
	app, appSecret := s.CreateClient(t, oauth.ClientSpec{Name: "Nightly report", OwnerID: u.ID, GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	tok := flowtest.ClientToken(t, s.URL, app, appSecret, "users:read")
	for range 4 {
		apiCall(t, "GET", s.URL+"/tokens/test", "Bearer "+tok, "")
	}

	// The API's totals, once the flush has carried the live traffic: the
	// history plus 17 allowed, 4 rate-limited and 3 scope-refused.
	want := map[string]float64{"allowed": 17, "rate_limited": 4, "scope_denied": 3}
	for _, d := range past {
		want[d.Outcome] += float64(d.N)
	}
	var totals map[string]any
	deadline := time.Now().Add(5 * usage.FlushInterval)
	for {
		_, body, _ := apiCall(t, "GET", s.URL+"/user/keys/deploy/usage", pw, "")
		totals = body["totals"].(map[string]any)
		if totals["allowed"] == want["allowed"] && totals["rate_limited"] == want["rate_limited"] && totals["scope_denied"] == want["scope_denied"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live traffic never reached the aggregate: %v", totals)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for hour := storage.BucketStart(storage.BucketHour, time.Now()); ; {
		rows, err := s.App.DB().UsageSeries(ctx, storage.UsageClient, app, storage.BucketHour, hour.Add(-time.Hour), hour.Add(time.Hour))
		if err == nil && len(rows) == 1 && rows[0].Count == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app's traffic never reached the aggregate: %+v %v", rows, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	allowed, limited, scope := int64(totals["allowed"].(float64)), int64(totals["rate_limited"].(float64)), int64(totals["scope_denied"].(float64))
	summary := fmt.Sprintf("%s requests (%s allowed, %s refused by rate limit, %s refused by scope)",
		usage.Thousands(allowed+limited+scope), usage.Thousands(allowed), usage.Thousands(limited), usage.Thousands(scope))

	b := newChrome(t, s.URL, browserTimeout)
	b.open("/login")
	b.fill("#username", "una", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.open("/keys/deploy")
	b.wantText("#usage-summary", summary)
	b.checkChart("#usage", allowed+limited+scope)
	b.wantText(".headroom", "Tier small", "Left now")
	b.shoot("key-usage-hourly")
	b.open("/keys/deploy?usage=day")
	b.wantText("#usage-summary", "by the day: "+summary)
	b.checkChart("#usage", allowed+limited+scope)
	b.shoot("key-usage-daily")

	b.open("/apps/" + app)
	b.wantText("#usage-summary", "4 requests (4 allowed, 0 refused by rate limit, 0 refused by scope)")
	b.checkChart("#usage", 4)
	b.shoot("app-usage")

	b.click(`form[action="/logout"] button[type="submit"]`)
	b.open("/login")
	b.fill("#username", "root", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.open("/admin")
	b.wantText(".overview", "Busiest API keys", "deploy", "Nightly report", "API requests refused by rate limit")
	b.shoot("admin-overview")
}

// checkChart checks the chart in the section css at both widths: the SVG
// is drawn (wider than tall, within the viewport, bars present), and its
// data table adds up to total.
func (b *chrome) checkChart(css string, total int64) {
	b.t.Helper()
	for _, v := range shotWidths {
		opts := []chromedp.EmulateViewportOption{}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("viewport", chromedp.EmulateViewport(v.width, v.height, opts...))
		js := fmt.Sprintf(`(() => {
			const s = document.querySelector(%q + " svg.usage-chart"), r = s.getBoundingClientRect();
			const label = (s.getAttribute("aria-labelledby") || "").split(" ").map(id => document.getElementById(id).textContent).join(" ");
			let sum = 0;
			document.querySelectorAll(%q + " .usage-table tbody tr").forEach(tr => { sum += Number(tr.lastElementChild.textContent.replace(/,/g, "")); });
			return [Math.round(r.width), Math.round(r.height), s.querySelectorAll("rect").length, sum, label.length];
		})()`, css, css)
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]int64](js))
		if err != nil {
			b.t.Fatalf("chart %s: %v", css, err)
		}
		w, h, rects, sum, label := got[0], got[1], got[2], got[3], got[4]
		if w < 200 || w > v.width || h < 100 || rects == 0 || label < 40 {
			b.t.Errorf("chart %s at %dpx: %dx%d, %d bars, label %d characters", css, v.width, w, h, rects, label)
		}
		if sum != total {
			b.t.Errorf("chart %s: the data table adds up to %d, the API says %d", css, sum, total)
		}
	}
	b.do("viewport", chromedp.EmulateViewport(1280, 900))
	if !strings.HasPrefix(css, "#") {
		b.t.Fatalf("checkChart wants an id selector, got %q", css)
	}
}
