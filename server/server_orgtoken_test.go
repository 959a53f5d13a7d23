package server_test

// OAuth tokens bound to an organization on the consent page, and
// suspended people (issue 14): the org chosen is carried by every token
// of the grant, introspection and userinfo name it with the person's
// rights now, and a person who left the organization or was suspended
// loses the tokens, the refresh and the browser session at once.

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

var orgRadioRe = regexp.MustCompile(`<input type="radio" id="org-[^"]*" name="org" value="([^"]*)"`)

// consentWith drives the browser c (signed in or not) through the consent
// page choosing org ("" = personal account) and returns the page it saw
// and the redirect back to the client.
func consentWith(t *testing.T, e *e2eEnv, c *http.Client, ar *authRequest, user, org string) (string, *http.Response) {
	t.Helper()
	resp, page := get(t, c, ar.url)
	if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		e.s.Login(t, c, user, e2ePassword)
		resp, page = get(t, c, ar.url)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="challenge"`) {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	v := url.Values{"csrf_token": {formValue(t, csrfRe, page)}, "challenge": {formValue(t, challengeRe, page)}, "decision": {"allow"}}
	if org != "-" {
		v.Set("org", org)
	}
	resp2, _ := postForm(t, c, e.s.URL+"/oauth/consent", v, e.s.URL)
	return page, resp2
}

func tokenVia(t *testing.T, e *e2eEnv, c *http.Client, user, org string) (string, *oauth2.Token) {
	t.Helper()
	// prompt=consent: remembered consent would bind the earlier choice.
	ar := newAuthRequest(t, e.conf, oauth2.SetAuthURLParam("prompt", "consent"))
	page, resp := consentWith(t, e, c, ar, user, org)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent post: %d", resp.StatusCode)
	}
	u, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := e.exchange(ar, e.code(t, ar, u))
	if err != nil {
		t.Fatal(err)
	}
	return page, tok
}

func TestOrgBoundTokens(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ctx := context.Background()
	db := e.s.App.DB()
	// Writes through the same store invalidate the server's rights caches.
	svc := orgs.New(orgs.Config{Logger: slog.New(slog.DiscardHandler)}, db)
	bob := e.s.CreateUser(t, "bob", e2ePassword)
	carol := e.s.CreateUser(t, "carol", e2ePassword)
	alice := orgs.Actor{UserID: e.user.ID}
	acme, err := svc.Create(ctx, alice, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	videos, err := svc.CreateTenant(ctx, alice, acme.ID, "Videos")
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.Create(ctx, orgs.Actor{UserID: carol.ID}, "Other")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, &storage.Membership{OrgID: acme.ID, UserID: bob.ID, Role: "member"}); err != nil {
		t.Fatal(err)
	}

	aliceB := browser(t)
	page, tok := tokenVia(t, e, aliceB, e2eUser, acme.ID)
	t.Run("the consent page offers the personal account and each organization", func(t *testing.T) {
		var got []string
		for _, m := range orgRadioRe.FindAllStringSubmatch(page, -1) {
			got = append(got, m[1])
		}
		if strings.Join(got, ",") != ","+acme.ID || !strings.Contains(page, "<legend>") || !strings.Contains(page, "Personal account") ||
			!strings.Contains(page, `id="org-personal" name="org" value="" checked`) {
			t.Fatalf("radio values %v\n%s", got, page)
		}
	})
	t.Run("introspection and userinfo name the organization and role", func(t *testing.T) {
		m := e.introspect(t, tok.AccessToken)
		if m["active"] != true || m["org_id"] != acme.ID || m["org_role"] != "owner" {
			t.Fatalf("%v", m)
		}
		ts, _ := m["tenants"].([]any)
		if len(ts) != 1 || ts[0].(map[string]any)["id"] != videos.ID || ts[0].(map[string]any)["role"] != "read-write" {
			t.Fatalf("tenants %v", m["tenants"])
		}
		code, info, _ := apiCall(t, http.MethodGet, e.s.URL+"/oauth/userinfo", "Bearer "+tok.AccessToken, "")
		org, _ := info["org"].(map[string]any)
		if code != http.StatusOK || org["id"] != acme.ID || org["name"] != "Acme" || org["role"] != "owner" {
			t.Fatalf("userinfo %d %v", code, info)
		}
	})
	t.Run("kept across refresh", func(t *testing.T) {
		tok2, err := e.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if m := e.introspect(t, tok2.AccessToken); m["org_id"] != acme.ID {
			t.Fatalf("after refresh: %v", m)
		}
	})
	t.Run("remembered consent binds the same organization without the page", func(t *testing.T) {
		ar := newAuthRequest(t, e.conf)
		resp, _ := get(t, aliceB, ar.url)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second authorization: %d, want a redirect to the app", resp.StatusCode)
		}
		u, _ := url.Parse(resp.Header.Get("Location"))
		tok2, err := e.exchange(ar, e.code(t, ar, u))
		if err != nil {
			t.Fatal(err)
		}
		if m := e.introspect(t, tok2.AccessToken); m["org_id"] != acme.ID {
			t.Fatalf("remembered grant bound to %v, want %s", m["org_id"], acme.ID)
		}
	})
	t.Run("an organization the person is not in is refused", func(t *testing.T) {
		for _, org := range []string{other.ID, "org_nonexistent", videos.ID} {
			_, resp := consentWith(t, e, aliceB, newAuthRequest(t, e.conf, oauth2.SetAuthURLParam("prompt", "consent")), e2eUser, org)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("org %s: %d, want 400", org, resp.StatusCode)
			}
		}
	})

	bobB := browser(t)
	_, personal := tokenVia(t, e, bobB, "bob", "")
	_, bobOrg := tokenVia(t, e, bobB, "bob", acme.ID)
	t.Run("personal account: no organization, the personal workspace", func(t *testing.T) {
		m := e.introspect(t, personal.AccessToken)
		ts, _ := m["tenants"].([]any)
		if m["active"] != true || m["org_id"] != nil || len(ts) != 1 || ts[0].(map[string]any)["id"] != bob.ID {
			t.Fatalf("%v", m)
		}
		if m := e.introspect(t, bobOrg.AccessToken); m["org_role"] != "member" || len(m["tenants"].([]any)) != 0 {
			t.Fatalf("member without grants: %v", m)
		}
	})
	if err := svc.Remove(ctx, alice, acme.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	t.Run("a person who left: the org token is inactive, refused, not refreshed", func(t *testing.T) {
		if m := e.introspect(t, bobOrg.AccessToken); m["active"] != false || len(m) != 1 {
			t.Fatalf("introspection %v, want only active=false", m)
		}
		if code, _, _ := apiCall(t, http.MethodGet, e.s.URL+"/tokens/test", "Bearer "+bobOrg.AccessToken, ""); code != http.StatusUnauthorized {
			t.Errorf("API: %d, want 401", code)
		}
		if _, err := e.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: bobOrg.RefreshToken}).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("refresh: %v, want invalid_grant", err)
		}
		if m := e.introspect(t, personal.AccessToken); m["active"] != true {
			t.Errorf("bob's personal token: %v", m)
		}
	})

	t.Run("a suspended person: tokens, session and sign-in", func(t *testing.T) {
		if err := svc.SuspendUser(ctx, bob.ID, true); err != nil {
			t.Fatal(err)
		}
		if m := e.introspect(t, personal.AccessToken); m["active"] != false {
			t.Errorf("introspection %v", m)
		}
		if code, _, _ := apiCall(t, http.MethodGet, e.s.URL+"/tokens/test", "Bearer "+personal.AccessToken, ""); code != http.StatusUnauthorized {
			t.Errorf("API with the token: %d, want 401", code)
		}
		if code, _, _ := apiCall(t, http.MethodGet, e.s.URL+"/user", basicHeader("bob", e2ePassword), ""); code != http.StatusUnauthorized {
			t.Errorf("API with the password: %d, want 401", code)
		}
		if resp, _ := get(t, bobB, e.s.URL+"/account"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("the browser session: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := browser(t)
		_, lp := get(t, c, e.s.URL+"/login")
		resp, body := postForm(t, c, e.s.URL+"/login", url.Values{"username": {"bob"}, "password": {"wrong-password"}, "csrf_token": {formValue(t, csrfRe, lp)}, "next": {"/"}}, e.s.URL)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "suspended") {
			t.Errorf("wrong password: %d, must not reveal the suspension", resp.StatusCode)
		}
		_, lp = get(t, c, e.s.URL+"/login")
		resp, body = postForm(t, c, e.s.URL+"/login", url.Values{"username": {"bob"}, "password": {e2ePassword}, "csrf_token": {formValue(t, csrfRe, lp)}, "next": {"/"}}, e.s.URL)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This account is suspended") {
			t.Errorf("right password: %d, want 403 saying the account is suspended", resp.StatusCode)
		}
		if err := svc.SuspendUser(ctx, bob.ID, false); err != nil {
			t.Fatal(err)
		}
		if m := e.introspect(t, personal.AccessToken); m["active"] != true {
			t.Errorf("reinstated: %v", m)
		}
	})
}

// TestRememberedConsentKeepsItsOrganization: remembered consent binds a
// later grant to the organization chosen then, without the page, and asks
// again once the person no longer belongs there.
func TestRememberedConsentKeepsItsOrganization(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ctx := context.Background()
	db := e.s.App.DB()
	svc := orgs.New(orgs.Config{Logger: slog.New(slog.DiscardHandler)}, db)
	bob := e.s.CreateUser(t, "bob", e2ePassword)
	owner := orgs.Actor{UserID: e.user.ID}
	acme, err := svc.Create(ctx, owner, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, &storage.Membership{OrgID: acme.ID, UserID: bob.ID, Role: "member"}); err != nil {
		t.Fatal(err)
	}
	conf := e.withScopes("openid", "profile")
	b := browser(t)
	first := newAuthRequest(t, conf)
	if _, resp := consentWith(t, e, b, first, "bob", acme.ID); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first consent: %d", resp.StatusCode)
	}
	again := newAuthRequest(t, conf)
	resp, _ := get(t, b, again.url)
	if resp.StatusCode != http.StatusSeeOther || strings.HasPrefix(resp.Header.Get("Location"), "/") {
		t.Fatalf("second authorization: %d %s, want a redirect to the app without the page", resp.StatusCode, resp.Header.Get("Location"))
	}
	u, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := e.exchange(again, e.code(t, again, u))
	if err != nil {
		t.Fatal(err)
	}
	if m := e.introspect(t, tok.AccessToken); m["org_id"] != acme.ID {
		t.Fatalf("the remembered grant is bound to %v, want %s", m["org_id"], acme.ID)
	}
	if err := svc.Remove(ctx, owner, acme.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	resp, page := get(t, b, newAuthRequest(t, conf).url)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="challenge"`) {
		t.Fatalf("after leaving the organization: %d, want the consent page again", resp.StatusCode)
	}
}
