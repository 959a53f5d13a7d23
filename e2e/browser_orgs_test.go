package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestBrowserOrganizationJourney: person A signs up, creates an
// organization and a tenant, invites B and copies the link; B signs up
// from the link and accepts, makes a personal key in the organization;
// the key reaches no tenant until A grants B the tenant, then reaches it
// (GET /v1/workspace with the key), and stops reaching it once A revokes
// the grant — all in headless Chromium, each page shot at phone and
// desktop widths and checked by axe-core.
func TestBrowserOrganizationJourney(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	// Two people, thirteen pages shot and audited twice: three times the
	// budget of a one-page test (the whole journey's deadline).
	b := newChrome(t, s.URL, 3*browserTimeout)
	const passA, passB = "amber quarry violin seventy", "basalt meadow trumpet ninety"

	// A signs up and creates an organization.
	b.open("/signup")
	b.fill("#username", "ada", "#email", "ada@example.com", "#password", passA)
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.open("/orgs")
	b.wantText(".empty", "not in any organization")
	b.shoot("orgs-empty")
	if resp := b.click(`form[action="/orgs"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("empty name: status %d", resp.Status)
	}
	b.wantText("#org-name-error", "Name is required")
	b.fill("#org-name", "Acme Robotics")
	b.click(`form[action="/orgs"] button[type="submit"]`)
	here := func() string { return strings.SplitN(strings.TrimPrefix(b.location(), s.URL), "?", 2)[0] }
	orgPath := here()
	if !strings.HasPrefix(orgPath, "/orgs/org_") {
		t.Fatalf("after create: at %s", orgPath)
	}
	b.wantText("#org-heading", "Acme Robotics", "owner")
	b.wantText(".org-switch summary", "Acme Robotics")
	b.shoot("org")

	// A tenant.
	b.open(orgPath + "/tenants")
	b.wantText(".empty", "no tenants yet")
	b.fill("#tenant-name", "production")
	b.click(`form[action="` + orgPath + `/tenants"] button[type="submit"]`)
	tenantPath := here()
	tenantID := strings.TrimPrefix(tenantPath, orgPath+"/tenants/")
	if !strings.HasPrefix(tenantID, "tnt_") {
		t.Fatalf("after creating the tenant: at %s", tenantPath)
	}
	b.wantText(".flash", "Created the tenant")
	b.shoot("org-tenant-new")

	// The invitation link, shown once, copied.
	b.open(orgPath + "/members")
	b.fill("#invite-email", "bea@example.com")
	if resp := b.click(`form[action="` + orgPath + `/invitations"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("invite: status %d", resp.Status)
	}
	link := b.value("#invite-link")
	if !strings.HasPrefix(link, s.URL+"/invitations/lki_") {
		t.Fatalf("invitation link %q", link)
	}
	b.press(`button[data-copy-target="invite-link"]`)
	b.waitCopied("invite-link")
	b.shoot("org-invitation-link")
	b.open(orgPath + "/members")
	b.wantText("#invitations-heading + .list", "bea@example.com", "member")
	b.shoot("org-members")
	b.click(`form[action="/logout"] button[type="submit"]`)

	// B follows the link signed out, signs up from it and comes back.
	invitePath := strings.TrimPrefix(link, s.URL)
	b.open(invitePath)
	b.wantText("#invitation-heading", "Acme Robotics")
	b.wantText(".details", "ada", "member", "bea@example.com")
	b.shoot("invitation-signed-out")
	b.click(`a[href^="/signup"]`)
	b.wantAt("/signup")
	b.fill("#username", "bea", "#email", "bea@example.com", "#password", passB)
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.wantAt(invitePath)
	b.shoot("invitation")
	if resp := b.click(`form[action="` + invitePath + `"] button[type="submit"]`); resp.Status != http.StatusOK {
		t.Fatalf("accept: status %d: %s", resp.Status, b.text("main"))
	}
	b.wantAt(orgPath)
	b.wantText(".flash", "You joined as member")
	b.wantText("#org-heading", "member")

	// B's personal key in the organization.
	b.open(orgPath + "/keys")
	b.fill("#org-key-handle", "bea-ci")
	if resp := b.click(`form[action="` + orgPath + `/keys"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("create key: status %d", resp.Status)
	}
	key := b.value("#new-key")
	if !strings.HasPrefix(key, "lk_live_") {
		t.Fatalf("key on the page: %q", key)
	}
	b.shoot("org-key-created")
	reaches := func() (bool, map[string]any) {
		code, ws, _ := apiCall(t, "GET", s.URL+"/v1/workspace", "Bearer "+key, "")
		if code != http.StatusOK {
			t.Fatalf("GET /v1/workspace with the key: %d %v", code, ws)
		}
		if ws["id"] == tenantID {
			return true, ws
		}
		ts, _ := ws["tenants"].([]any)
		for _, x := range ts {
			if m, _ := x.(map[string]any); m["id"] == tenantID {
				return true, ws
			}
		}
		return false, ws
	}
	waitReach := func(want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, ws := reaches()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the key reaches the tenant = %v, want %v (%v)", what, got, want, ws)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitReach(false, "before the grant")
	b.open(orgPath + "/tenants")
	b.wantText(".empty", "do not reach any tenant")
	b.shoot("org-tenants-member")
	b.click(`form[action="/logout"] button[type="submit"]`)

	// A grants B the tenant: B's key reaches it.
	b.open("/login?next=" + url.QueryEscape(tenantPath))
	b.fill("#username", "ada", "#password", passA)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt(tenantPath)
	b.wantText("#grant-user", "bea")
	b.click(`form[action="` + tenantPath + `/grants"] button[type="submit"]`)
	b.wantText(".flash", "Granted read-only access")
	b.wantText("#grants-heading ~ .list", "bea", "read-only")
	b.shoot("org-tenant-granted")
	waitReach(true, "after the grant")

	// A revokes the grant, confirming first: the key stops reaching it.
	b.click(`form[action$="/revoke"] button[type="submit"]`)
	b.wantText("#confirm-heading", "Revoke bea's access to production?")
	b.shoot("org-confirm")
	b.click(`form[action$="/revoke"] button[type="submit"]`)
	b.wantText(".flash", "Revoked bea's access")
	waitReach(false, "after revoking the grant")

	// The audit log and the tenants on A's account page.
	b.open(orgPath + "/audit")
	b.wantText(".table", "tenant.granted", "tenant.revoked", "member.joined", "key.created")
	b.shoot("org-audit")
	b.open("/account")
	b.wantText("#account-tenants", "ada's workspace", "production", "Acme Robotics", tenantID)
	b.shoot("account-tenants")
	b.checkConsole()
}
