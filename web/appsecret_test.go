package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// pageClock is a settable clock for Config.Now.
type pageClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *pageClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *pageClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// confidentialApp stores a confidential app of owner with secret and returns its digest.
func confidentialApp(t *testing.T, f *pagesFixture, id, name, owner, secret string) []byte {
	t.Helper()
	digest, version := (&fakeRegistrar{}).HashSecret(secret)
	if err := f.store.CreateClient(context.Background(), &storage.Client{ID: id, Name: name, OwnerID: owner, RedirectURIs: []string{"https://a.example/cb"},
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid"}, SecretDigest: digest, SecretVersion: version}); err != nil {
		t.Fatal(err)
	}
	return digest
}

// TestAppRotateAsksFirst (issue 13 item 4): a rotate form without its
// ticked box, or without a valid grace, changes nothing and gets the page
// back with the request next to the field (400); a confirmed one makes a
// new secret, shown once.
func TestAppRotateAsksFirst(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-alice", "alice")
	digest := confidentialApp(t, f, "app", "Deploy Bot", "u-alice", "s0")

	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no confirmation", url.Values{"grace": {"3600"}}, `id="rotate-error">Tick the box`},
		{"confirmation not yes", url.Values{"grace": {"3600"}, "confirm": {"on"}}, `id="rotate-error">Tick the box`},
		{"no grace", url.Values{"confirm": {"yes"}}, `id="rotate-error">Choose when`},
		{"unknown grace", url.Values{"grace": {"31536000"}, "confirm": {"yes"}}, `id="rotate-error">Choose when`},
		{"empty form", url.Values{}, `id="rotate-error">`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, c, http.MethodPost, "/apps/app/rotate", tc.form)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) || !strings.Contains(body, `id="confirm-rotate" name="confirm" value="yes" required aria-invalid="true"`) {
				t.Fatalf("%d, want 400 with %q:\n%s", resp.StatusCode, tc.want, body)
			}
			if secretRe.MatchString(body) {
				t.Fatal("a refused rotation shows a secret")
			}
			got, _ := f.store.GetClient(context.Background(), "app")
			if !bytes.Equal(got.SecretDigest, digest) || got.PreviousSecretDigest != nil {
				t.Fatal("a refused rotation changed the secret")
			}
		})
	}
	// The grace chosen stays selected on the page that asks again.
	_, body := f.do(t, c, http.MethodPost, "/apps/app/rotate", url.Values{"grace": {"604800"}})
	if !strings.Contains(body, `<option value="604800" selected>`) {
		t.Fatalf("the chosen grace is not kept:\n%s", body)
	}

	resp, _ := f.do(t, c, http.MethodPost, "/apps/app/rotate", url.Values{"grace": {"0"}, "confirm": {"yes"}})
	_, body = f.follow(t, c, resp)
	m := secretRe.FindStringSubmatch(body)
	got, _ := f.store.GetClient(context.Background(), "app")
	if m == nil || bytes.Equal(got.SecretDigest, digest) || got.PreviousSecretDigest != nil || !strings.Contains(body, "The old secret no longer works") {
		t.Fatalf("rotation without grace: previous %x\n%s", got.PreviousSecretDigest, body)
	}
	if d, _ := (&fakeRegistrar{}).HashSecret(m[1]); !bytes.Equal(d, got.SecretDigest) {
		t.Fatal("the secret shown is not the one stored")
	}
}

// TestAppRotateWithGrace (issue 13 item 4): a rotation with a grace keeps
// the old secret as the previous one until then, and the app's page says
// so with a button to end it now (which asks first); once the grace is
// over (injected clock) the page no longer offers it; a second rotation
// replaces the previous secret (two at most).
func TestAppRotateWithGrace(t *testing.T) {
	f := newPagesFixture(t)
	clock := &pageClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	f.h.cfg.Now = clock.Now
	c := f.user(t, "u-alice", "alice")
	first := confidentialApp(t, f, "app", "Deploy Bot", "u-alice", "s0")

	resp, _ := f.do(t, c, http.MethodPost, "/apps/app/rotate", url.Values{"grace": {"3600"}, "confirm": {"yes"}})
	_, body := f.follow(t, c, resp)
	if !secretRe.MatchString(body) || !strings.Contains(body, "The old secret keeps working until 26 Nov 2026, 10:00 UTC.") {
		t.Fatalf("rotation with grace:\n%s", body)
	}
	got, _ := f.store.GetClient(context.Background(), "app")
	second := got.SecretDigest
	if !bytes.Equal(got.PreviousSecretDigest, first) || got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("stored previous secret %x until %v", got.PreviousSecretDigest, got.PreviousSecretExpiresAt)
	}
	_, body = f.do(t, c, http.MethodGet, "/apps/app", nil)
	for _, want := range []string{`id="previous-secret"`, `it stops <time datetime="2026-11-26T10:00:00Z" title="26 Nov 2026, 10:00 UTC">`,
		`action="/apps/app/end-grace"`, "End grace period now", "an app has at most two"} {
		if !strings.Contains(body, want) {
			t.Fatalf("app page in grace lacks %q:\n%s", want, body)
		}
	}

	// Ending it asks first.
	resp, body = f.do(t, c, http.MethodPost, "/apps/app/end-grace", url.Values{})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="end-grace-error">`) {
		t.Fatalf("end grace without confirmation: %d\n%s", resp.StatusCode, body)
	}
	if got, _ := f.store.GetClient(context.Background(), "app"); !bytes.Equal(got.PreviousSecretDigest, first) {
		t.Fatal("an unconfirmed end-grace ended it")
	}

	// After the grace the page offers nothing to end, and end-grace says so.
	clock.Add(time.Hour)
	_, body = f.do(t, c, http.MethodGet, "/apps/app", nil)
	if strings.Contains(body, `id="previous-secret"`) || strings.Contains(body, "/end-grace") {
		t.Fatalf("the page shows a previous secret past its grace:\n%s", body)
	}
	resp, _ = f.do(t, c, http.MethodPost, "/apps/app/end-grace", url.Values{"confirm": {"yes"}})
	if _, body = f.follow(t, c, resp); !strings.Contains(body, "no previous secret that still works") {
		t.Fatalf("end-grace without a previous secret:\n%s", body)
	}

	// A second rotation: the second secret becomes the previous one.
	resp, _ = f.do(t, c, http.MethodPost, "/apps/app/rotate", url.Values{"grace": {"86400"}, "confirm": {"yes"}})
	f.follow(t, c, resp)
	resp, _ = f.do(t, c, http.MethodPost, "/apps/app/rotate", url.Values{"grace": {"86400"}, "confirm": {"yes"}})
	f.follow(t, c, resp)
	got, _ = f.store.GetClient(context.Background(), "app")
	if bytes.Equal(got.PreviousSecretDigest, second) || bytes.Equal(got.PreviousSecretDigest, first) || bytes.Equal(got.PreviousSecretDigest, got.SecretDigest) || !got.PreviousSecretActive(clock.Now()) {
		t.Fatalf("after two rotations the previous secret is %x", got.PreviousSecretDigest)
	}

	// Ending it now, confirmed.
	resp, _ = f.do(t, c, http.MethodPost, "/apps/app/end-grace", url.Values{"confirm": {"yes"}})
	if _, body = f.follow(t, c, resp); !strings.Contains(body, "no longer works. Only the current one does.") || strings.Contains(body, `id="previous-secret"`) {
		t.Fatalf("after ending the grace:\n%s", body)
	}
	if got, _ := f.store.GetClient(context.Background(), "app"); got.PreviousSecretDigest != nil || got.PreviousSecretExpiresAt != nil {
		t.Fatal("end-grace left the previous secret stored")
	}
}

// TestAppDeleteAsksFirst (issue 13 item 4): deleting needs the app's name
// typed; a POST without it, or with another name, is refused with the
// request next to the field (400) and the app stays.
func TestAppDeleteAsksFirst(t *testing.T) {
	f := newPagesFixture(t)
	c := f.user(t, "u-alice", "alice")
	confidentialApp(t, f, "app", "Deploy <Bot>", "u-alice", "s0")

	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"no name", url.Values{}, []string{`id="delete-error">Type the app’s name, Deploy &lt;Bot&gt;, to delete it.`}},
		{"empty name", url.Values{"confirm_name": {""}}, []string{`id="delete-error">Type the app’s name`}},
		{"another name", url.Values{"confirm_name": {"deploy <bot>"}}, []string{`id="delete-error">That is not the app’s name.`, `value="deploy &lt;bot&gt;"`}},
		{"name with spaces around", url.Values{"confirm_name": {" Deploy <Bot>"}}, []string{`id="delete-error">That is not the app’s name.`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, c, http.MethodPost, "/apps/app/delete", tc.form)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			for _, w := range append(tc.want, `aria-invalid="true" aria-describedby="delete-error"`) {
				if !strings.Contains(body, w) {
					t.Fatalf("page lacks %q:\n%s", w, body)
				}
			}
			if _, err := f.store.GetClient(context.Background(), "app"); err != nil {
				t.Fatalf("the app was deleted: %v", err)
			}
		})
	}
	resp, _ := f.do(t, c, http.MethodPost, "/apps/app/delete", url.Values{"confirm_name": {"Deploy <Bot>"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps" {
		t.Fatalf("confirmed delete: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := f.store.GetClient(context.Background(), "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("confirmed delete left the app: %v", err)
	}
}
