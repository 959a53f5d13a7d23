package web

import (
	"testing"
	"time"
)

func TestRenderKeys(t *testing.T) {
	row := keyRow{Handle: "deploy", Alias: "Deploy <bot>", Prefix: "lk_live_abcd", Environment: "live", Status: "active",
		Scopes: []string{"keys:read"}, Created: renderNow.Add(-3 * time.Hour), Uses: 3}
	form := keyForm{
		Handle: "bad handle", Alias: "kept", Preset: "custom", Environment: "test",
		Expiry: []keyChoice{{Value: "never", Label: "Never"}, {Value: "30d", Label: "30 days", Selected: true}},
		Scopes: []keyScopeOption{{Name: "keys:read", Description: "Read your keys", Checked: true, Presets: "read-only read-write"}, {Name: "users:read", Description: "Read <you>", Presets: "read-only read-write"}},
		Errors: map[string]string{"handle": "Use letters", "scopes": "scopes!", "environment": "env!", "expires": "when?"},
	}
	out := renderPage(t, "keys", "keys", pageData{Title: "API keys", User: testUserValue, Page: keysPage{Keys: []keyRow{row}, Form: form}})
	mustContain(t, "keys", out,
		`href="/keys/deploy"`, "Deploy &lt;bot&gt;", "<code>lk_live_abcd…</code>", `action="/keys"`,
		`id="scope-0" name="scopes" value="keys:read" data-presets="read-only read-write" checked`, `id="scope-1" name="scopes" value="users:read" data-presets="read-only read-write">`, "Read &lt;you&gt;",
		`aria-describedby="handle-hint handle-error" aria-invalid="true"`, `id="handle-error">Use letters</p>`,
		`aria-describedby="access-hint scopes-error"`, `<p class="field-error" id="scopes-error">scopes!</p>`, `<p class="field-error">env!</p>`, `<p class="field-error">when?</p>`,
		`<script src="/static/keyform.js"></script>`,
		`value="custom" checked`, `<option value="test" selected>`, `<option value="30d" selected>`,
	)
	empty := renderPage(t, "keys", "keys-empty", pageData{Title: "API keys", User: testUserValue, Page: keysPage{Form: keyForm{Preset: "read-only", Environment: "live"}}})
	mustContain(t, "keys", empty, `class="empty"`)
	mustContain(t, "keys", empty, `value="read-only" checked`)
	mustNotContain(t, "keys", empty, "field-error", "aria-invalid")
	// The name rules are shown before the first submit.
	mustContain(t, "keys", empty, `aria-describedby="handle-hint"`, `<p class="field-hint" id="handle-hint">1–64 letters, digits`)

	rotating := row
	until := renderNow.Add(14 * time.Hour)
	rotating.Rotating = &until
	list := renderPage(t, "keys", "", pageData{Title: "API keys", User: testUserValue, Page: keysPage{Keys: []keyRow{rotating}, Form: form}})
	mustContain(t, "keys", list, `rotating — the previous key stops <time datetime="2026-03-04T22:06:00Z" title="4 Mar 2026, 22:06 UTC">in 14 hours</time>`)

	// Times in words, one key in the count, an expiry within a week flagged.
	used, expires := renderNow.Add(-3*time.Hour), renderNow.Add(6*24*time.Hour)
	soon := row
	soon.LastUsed, soon.Expires, soon.ExpiresSoon = &used, &expires, true
	list = renderPage(t, "keys", "keys-expiring", pageData{Title: "API keys", User: testUserValue, Page: keysPage{Keys: []keyRow{soon}, Form: form}})
	mustContain(t, "keys", list, ">1 key</caption>", `<td data-label="Last used"><time datetime="2026-03-04T05:06:00Z" title="4 Mar 2026, 05:06 UTC">3 hours ago</time></td>`,
		">in 6 days</time><br><span class=\"expires-soon\">Expires soon</span>")
	two := renderPage(t, "keys", "", pageData{Title: "API keys", User: testUserValue, Page: keysPage{Keys: []keyRow{row, soon}, Form: form}})
	mustContain(t, "keys", two, ">2 keys</caption>", `<td data-label="Expires">never</td>`, `<td data-label="Last used">never</td>`)
	mustNotContain(t, "keys", renderPage(t, "keys", "", pageData{Title: "API keys", User: testUserValue, Page: keysPage{Keys: []keyRow{row}, Form: form}}), "Expires soon")
	gone := row
	gone.Status = "revoked"
	revokedPage := renderPage(t, "key", "key-revoked", pageData{Title: "Key deploy", User: testUserValue, Page: keyPage{Key: gone, Deletable: true}})
	mustContain(t, "key", revokedPage, `action="/keys/deploy/delete"`, `<label for="confirm-delete">Yes, delete deploy</label>`)
	mustNotContain(t, "key", revokedPage, `action="/keys/deploy/rotate"`, `action="/keys/deploy/revoke"`)

	key := renderPage(t, "key", "key", pageData{Title: "Key deploy", User: testUserValue, Page: keyPage{
		Key: row, Active: true, Events: []keyEventRow{{When: renderNow.Add(-2 * time.Minute), Type: keyEventText("new_ip"), IP: "192.0.2.1"}},
		Grace: []keyChoice{{Value: "0", Label: "Now", Selected: true}, {Value: "3600", Label: "1 hour"}},
	}})
	mustContain(t, "key", key, `action="/keys/deploy/rotate"`, `action="/keys/deploy/revoke"`, "192.0.2.1", `name="confirm" value="yes"`,
		">2 minutes ago</time></span> <strong>Used from a new IP address</strong> from <code>192.0.2.1</code>", "(3 requests)")
	mustNotContain(t, "key", key, `action="/keys/deploy/delete"`)
	unused := row
	unused.Uses = 0
	mustNotContain(t, "key", renderPage(t, "key", "", pageData{Title: "Key deploy", User: testUserValue, Page: keyPage{Key: unused}}), "0 requests")

	secret := renderPage(t, "key_secret", "key_secret", pageData{Title: "New API key", User: testUserValue, Page: keySecretPage{Key: row, Secret: "lk_live_secret"}})
	mustContain(t, "key_secret", secret, `id="new-key" type="text" value="lk_live_secret"`, `data-copy-target="new-key"`)
}
