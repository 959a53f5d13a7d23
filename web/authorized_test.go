package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func TestAuthorizedRevoke(t *testing.T) {
	f := newPagesFixture(t)
	ctx := context.Background()
	c := f.user(t, "u-dana", "dana")
	f.user(t, "u-eve", "eve")

	resp, body := f.do(t, c, http.MethodGet, "/authorized", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `class="empty"`) {
		t.Fatalf("empty /authorized: %d\n%s", resp.StatusCode, body)
	}

	if err := f.store.CreateClient(ctx, &storage.Client{ID: "photos", Name: "Photo <Printer>", LogoURI: "javascript:alert(1)", ClientURI: "https://photos.example/"}); err != nil {
		t.Fatal(err)
	}
	granted := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	for _, cs := range []*storage.Consent{
		{UserID: "u-dana", ClientID: "photos", Scopes: []string{"openid", "offline_access"}, CreatedAt: granted, UpdatedAt: granted},
		{UserID: "u-eve", ClientID: "photos", Scopes: []string{"openid"}, CreatedAt: granted, UpdatedAt: granted},
	} {
		if err := f.store.SaveConsent(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}

	_, body = f.do(t, c, http.MethodGet, "/authorized", nil)
	for _, want := range []string{
		"Photo &lt;Printer&gt;", `href="https://photos.example/"`, "words for offline_access", "<code>offline_access</code>",
		`<time datetime="2026-03-04T05:06:00Z" title="4 Mar 2026, 05:06 UTC">`, `action="/authorized/photos/revoke"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/authorized lacks %q", want)
		}
	}
	if strings.Contains(body, "javascript:") {
		t.Error("unsafe logo URL rendered")
	}

	resp, _ = f.do(t, c, http.MethodPost, "/authorized/photos/revoke", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/authorized" {
		t.Fatalf("revoke: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = f.follow(t, c, resp)
	if !strings.Contains(body, "Revoked access for “Photo &lt;Printer&gt;”") || !strings.Contains(body, `class="empty"`) {
		t.Fatalf("after revoke:\n%s", body)
	}
	if _, err := f.store.GetConsent(ctx, "u-dana", "photos"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("consent still there: %v", err)
	}
	if _, err := f.store.GetConsent(ctx, "u-eve", "photos"); err != nil {
		t.Fatalf("another user's consent was removed: %v", err)
	}
	if len(f.store.revoked) != 1 || f.store.revoked[0] != [2]string{"u-dana", "photos"} {
		t.Fatalf("RevokeGrants calls %v", f.store.revoked)
	}

	// Revoking again says there was nothing, and still revokes tokens.
	resp, _ = f.do(t, c, http.MethodPost, "/authorized/photos/revoke", url.Values{})
	_, body = f.follow(t, c, resp)
	if !strings.Contains(body, "did not have access") {
		t.Fatalf("second revoke:\n%s", body)
	}
}
