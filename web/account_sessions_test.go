package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var sidFieldRe = regexp.MustCompile(`name="sid" value="([^"]+)"`)

// TestSessionList: /account lists where the person is signed in, this
// browser marked; signing another session out ends it from its next
// request on and leaves this one; another person's session, this
// browser's own and an ended one cannot be signed out from the list.
func TestSessionList(t *testing.T) {
	f := newAccountFixture(t, nil)
	f.createUser(t, "ada", "ada@example.test")
	f.createUser(t, "bob", "bob@example.test")
	a, other, bob := f.browser(t), f.browser(t), f.browser(t)
	if !a.login("ada", acctPassword) || !other.login("ada", acctPassword) || !bob.login("bob", acctPassword) {
		t.Fatal("could not sign in")
	}
	_, body := a.get("/account")
	if n := strings.Count(body, `<li class="list-item">`) - 1; n != 2 { // minus the tenant row
		t.Fatalf("%d sessions listed, want 2:\n%s", n, body)
	}
	if strings.Count(body, "this browser") != 1 || !strings.Contains(body, "Go-http-client") || !strings.Contains(body, "from 127.0.0.1") {
		t.Errorf("session list:\n%s", body)
	}
	sids := sidFieldRe.FindAllStringSubmatch(body, -1)
	if len(sids) != 1 {
		t.Fatalf("%d sign-out forms, want 1 (not for this browser)", len(sids))
	}
	otherSID := sids[0][1]
	_, bobPage := bob.get("/account")
	bobSID := sidFieldRe.FindStringSubmatch(bobPage)
	if bobSID != nil {
		t.Fatalf("bob sees a sign-out form for a session that is not his")
	}

	// Not someone else's: bob cannot end ada's session.
	resp, _ := bob.post("/account/sessions/end", url.Values{"sid": {otherSID}})
	wantStatus(t, "bob ends ada's session", resp.StatusCode, http.StatusSeeOther)
	if !other.signedIn() {
		t.Fatal("another person ended ada's session")
	}

	resp, _ = a.post("/account/sessions/end", url.Values{"sid": {otherSID}})
	wantStatus(t, "end", resp.StatusCode, http.StatusSeeOther)
	_, body = a.get("/account") // this browser is still signed in
	if !strings.Contains(body, "That session is signed out.") || strings.Contains(body, `name="sid"`) {
		t.Errorf("after signing out:\n%s", body)
	}
	if other.signedIn() {
		t.Error("the signed-out session still works")
	}
	if sessions, _ := f.logout.calls(); len(sessions) != 1 || !strings.HasSuffix(sessions[0], "/"+otherSID) {
		t.Errorf("back-channel logout for the one session = %v, want only %s", sessions, otherSID)
	}
	if len(f.logout.ended) != 0 {
		t.Errorf("signing one session out told the apps every session ended: %v", f.logout.ended)
	}
	if !bob.signedIn() {
		t.Error("signing one session out ended another person's")
	}
	resp, _ = a.post("/account/sessions/end", url.Values{"sid": {otherSID}})
	wantStatus(t, "end again", resp.StatusCode, http.StatusSeeOther)
	_, body = a.get("/account")
	if !strings.Contains(body, "That session is already over.") {
		t.Errorf("ending an ended session:\n%s", body)
	}
}

// TestSessionListSignInAgain: signing in again on a browser that is
// signed in (prompt=login, max_age, acr_values, or simply /login) replaces
// its session, and the list shows the browser once: the replaced session
// is ended, not left as a row nobody can recognise.
func TestSessionListSignInAgain(t *testing.T) {
	f := newAccountFixture(t, nil)
	f.createUser(t, "ada", "ada@example.test")
	a := f.browser(t)
	if !a.login("ada", acctPassword) || !a.login("ada", acctPassword) {
		t.Fatal("could not sign in")
	}
	_, body := a.get("/account")
	if n := strings.Count(body, `<li class="list-item">`) - 1; n != 1 { // minus the tenant row
		t.Fatalf("%d sessions listed after signing in twice on one browser, want 1:\n%s", n, body)
	}
	if strings.Contains(body, `name="sid"`) {
		t.Errorf("a sign-out form for a replaced session:\n%s", body)
	}
}
