package web

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

// TestRenderUsage pins the key page with its usage chart and rate-limit
// headroom, and the operator's overview.
func TestRenderUsage(t *testing.T) {
	from := storage.BucketStart(storage.BucketHour, renderNow).Add(-3 * time.Hour)
	s := usage.Build([]storage.UsageCount{
		{BucketStart: from, Outcome: storage.OutcomeAllowed, Count: 12},
		{BucketStart: from.Add(2 * time.Hour), Outcome: storage.OutcomeAllowed, Count: 3},
		{BucketStart: from.Add(2 * time.Hour), Outcome: storage.OutcomeRateLimited, Count: 4},
		{BucketStart: from.Add(3 * time.Hour), Outcome: storage.OutcomeScopeDenied, Count: 1},
	}, usage.Range{Bucket: storage.BucketHour, From: from, To: from.Add(4 * time.Hour)}, usage.RequestOutcomes)
	chart := newUsageChart("usage", "Requests with this key", "request", s, usageViews("/keys/deploy", storage.BucketHour))
	row := keyRow{Handle: "deploy", Prefix: "lk_live_abcd", Environment: "live", Status: "active", Scopes: []string{"users:read"}, Created: renderNow.Add(-time.Hour)}
	limit := &keyHeadroom{Tier: "free", Limit: 1000, Remaining: 996, Reset: renderNow.Add(14 * time.Second), ResetUnix: renderNow.Add(14 * time.Second).Unix(), Burst: 50, BurstLeft: 49}
	out := renderPage(t, "key", "key-usage", pageData{Title: "Key deploy", User: testUserValue, Page: keyPage{Key: row, Active: true, Usage: &chart, Limit: limit}})
	mustContain(t, "key", out,
		`<svg class="usage-chart" viewBox="0 0 40 100" preserveAspectRatio="none" role="img" aria-labelledby="usage-heading usage-summary"`,
		`id="usage-summary">`+s.Summary("request")+`</p>`,
		"20 requests (15 allowed, 4 refused by rate limit, 1 refused by scope)",
		`<a href="/keys/deploy?usage=hour#usage" aria-current="true">`,
		`<th scope="col">Refused by rate limit</th>`, `<td>3</td><td>4</td><td>0</td><td>7</td>`,
		`Tier <strong>free</strong>: 1000 requests an hour, at most 50 in a burst.`, `id="limit-remaining">996</strong> of 1000 this hour`,
		`<link rel="stylesheet" href="/static/usage.css">`)

	o := &usage.Overview{At: renderNow, Since: renderNow.Add(-7 * 24 * time.Hour),
		Stats:       storage.InstanceStats{Users: 3, Admins: 1, Clients: 2, KeysActive: 4, KeysRevoked: 1, AccessTokens: 9},
		SignIns:     usage.Build(nil, usage.Last(storage.BucketDay, 30*24*time.Hour, renderNow), usage.SignInOutcomes),
		Refusals:    []usage.Reason{{Reason: storage.OutcomeRateLimited, Label: "API requests refused by rate limit", Count: 5}},
		BusiestKeys: []usage.Busy{{ID: "k1", Name: "deploy", Owner: "una", Total: 1234}},
		NewIPUses:   []usage.KeyEvent{{At: renderNow.Add(-time.Minute), Type: "new_ip", KeyID: "k1", Key: "deploy", Owner: "una", IP: "192.0.2.7"}},
	}
	admin := adminPage{O: o, JSON: "/v1/admin/overview", SignIns: newUsageChart("signins", "Sign-ins, last 30 days", "sign-in attempt", o.SignIns, nil),
		Keys: busyTable{Caption: "keys", Name: "Key", Rows: o.BusiestKeys}, Clients: busyTable{Caption: "clients", Name: "Client"}}
	page := renderPage(t, "admin", "admin", pageData{Title: "Overview", User: &pageUser{ID: "usr_123", Username: "alice<b>", Admin: true}, Section: "admin", Page: admin})
	mustContain(t, "admin", page, `<a href="/admin" aria-current="page">Overview</a>`, `<span class="stat">4</span> working API keys`,
		"by the day: no sign-in attempts.", `<td class="num">1234</td>`, "<code>192.0.2.7</code>", `<td class="num">5</td>`, "None in the last 7 days.")
	mustNotContain(t, "key", out, `href="/admin"`) // only administrators see the link
}
