package web

import (
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		d    time.Duration // t = now - d
		want string
	}{
		{"now", 0, "just now"},
		{"seconds ago", 59 * time.Second, "just now"},
		{"seconds ahead", -30 * time.Second, "in under a minute"},
		{"one minute", time.Minute, "1 minute ago"},
		{"minutes", 59 * time.Minute, "59 minutes ago"},
		{"one hour", time.Hour, "1 hour ago"},
		{"hours", 3*time.Hour + 59*time.Minute, "3 hours ago"},
		{"one day", 24 * time.Hour, "1 day ago"},
		{"days ahead", -6*24*time.Hour - time.Hour, "in 6 days"},
		{"44 days", 44 * 24 * time.Hour, "44 days ago"},
		{"months ahead", -90 * 24 * time.Hour, "in 3 months"},
		{"90 days less a minute", -90*24*time.Hour + time.Minute, "in 3 months"},
		{"7 days less a minute", -7*24*time.Hour + time.Minute, "in 7 days"},
		{"six and a half days", 6*24*time.Hour + 12*time.Hour, "7 days ago"},
		{"one year", 400 * 24 * time.Hour, "13 months ago"},
		{"years", 3 * 366 * 24 * time.Hour, "3 years ago"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := relativeTime(now.Add(-tc.d), now); got != tc.want {
				t.Errorf("relativeTime(now-%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    any
		want string
	}{{0, "0 keys"}, {1, "1 key"}, {2, "2 keys"}, {int64(1), "1 key"}, {int64(21), "21 keys"}} {
		if got := plural(tc.n, "key", "keys"); got != tc.want {
			t.Errorf("plural(%v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestWhen: every form of a moment renders as one <time> element with
// the RFC 3339 value and the absolute time in its title; a missing one
// as the escaped fallback.
func TestWhen(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	when := pageFuncs(func() time.Time { return now })["when"].(func(any, ...string) (template.HTML, error))
	at := now.Add(-3 * time.Hour).In(time.FixedZone("X", 3600))
	const want = `<time datetime="2026-03-04T09:00:00Z" title="4 Mar 2026, 09:00 UTC">3 hours ago</time>`
	var nilTime *time.Time
	for _, tc := range []struct {
		name  string
		v     any
		empty []string
		want  string
	}{
		{"time", at, nil, want},
		{"pointer", &at, nil, want},
		{"pageTime", newPageTime(at), nil, want},
		{"nil pointer", nilTime, []string{"never"}, "never"},
		{"zero", time.Time{}, []string{"<never>"}, "&lt;never&gt;"},
		{"zero pageTime", pageTime{}, nil, ""},
		{"nil", nil, []string{"unknown"}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := when(tc.v, tc.empty...)
			if err != nil || string(got) != tc.want {
				t.Errorf("when(%v) = %q, %v; want %q", tc.v, got, err, tc.want)
			}
		})
	}
	if _, err := when("yesterday"); err == nil {
		t.Error("when(string): no error")
	}
}

func TestKeyEventText(t *testing.T) {
	for typ, want := range map[string]string{"new_ip": "Used from a new IP address", "exchanged": "Exchanged for a one-hour token", "created": "Created", "future_kind": "future_kind"} {
		if got := keyEventText(typ); got != want {
			t.Errorf("keyEventText(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestSection(t *testing.T) {
	for path, want := range map[string]string{"/": "", "/keys": "keys", "/keys/deploy": "keys", "/apps/x/secret": "apps",
		"/authorized": "authorized", "/account": "account", "/keysx": "", "/oauth/authorize": "", "/login": ""} {
		if got := section(path); got != want {
			t.Errorf("section(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRedirectHost(t *testing.T) {
	for uri, want := range map[string]string{
		"https://app.example:8443/cb?x=1": "app.example", "http://127.0.0.1:9000/cb": "127.0.0.1",
		"com.example.app:/callback": "com.example.app", "": "", "%zz": "",
	} {
		if got := redirectHost(uri); got != want {
			t.Errorf("redirectHost(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestRenderNav: a signed-in page carries the site navigation with its own
// section marked current; a signed-out page has none.
func TestRenderNav(t *testing.T) {
	out := renderPage(t, "authorized", "", pageData{Title: "Authorized apps", User: testUserValue, Section: "authorized", Page: authorizedPage{}})
	mustContain(t, "authorized", out, `<nav class="site-nav" aria-label="Main">`, `<a href="/keys">Keys</a>`, `<a href="/apps">Apps</a>`,
		`<a href="/authorized" aria-current="page">Authorized apps</a>`, `<a href="/account">Account</a>`)
	if n := strings.Count(out, `aria-current="page"`); n != 1 {
		t.Errorf("%d links marked current, want 1", n)
	}
	anon := renderPage(t, "login", "", pageData{Title: "Sign in", Page: loginPage{Next: "/"}})
	mustNotContain(t, "login", anon, "site-nav")
	mustContain(t, "login", anon, `<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`)
}

// TestKeyRowExpiresSoon: a working key expiring within seven days is
// flagged for the list; a later, absent or past expiry and a revoked key
// are not.
func TestKeyRowExpiresSoon(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	h := &Handler{cfg: Config{Now: func() time.Time { return now }}}
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	day := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		expires *time.Time
		revoked *time.Time
		want    bool
	}{
		{"in an hour", at(time.Hour), nil, true},
		{"in seven days", at(7 * day), nil, true},
		{"in eight days", at(8 * day), nil, false},
		{"never", nil, nil, false},
		{"expired", at(-time.Hour), nil, false},
		{"revoked", at(day), at(-time.Minute), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.row(&storage.APIKey{Handle: "k", CreatedAt: now.Add(-day), ExpiresAt: tc.expires, RevokedAt: tc.revoked})
			if r.ExpiresSoon != tc.want {
				t.Errorf("ExpiresSoon = %v (status %s), want %v", r.ExpiresSoon, r.Status, tc.want)
			}
		})
	}
}
