package web

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// TestDeleteAccount: the account goes only with the CSRF token, the
// password and the username typed out; then the person's keys, apps,
// grants, sessions and mailed links are gone, the apps are told, this
// browser lands on the signed-out page, the username is free, and
// another person is untouched.
func TestDeleteAccount(t *testing.T) {
	f := newAccountFixture(t, nil)
	ada := f.createUser(t, "ada", "ada@example.test")
	bob := f.createUser(t, "bob", "bob@example.test")
	ctx := t.Context()
	key := &storage.APIKey{ID: "k-ada", UserID: ada.ID, Handle: "main", Display: "lk_live_abcd", Environment: "live", Tier: "free", Digest: bytes.Repeat([]byte{1}, 32), PepperVersion: 1}
	if err := f.db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	bobKey := &storage.APIKey{ID: "k-bob", UserID: bob.ID, Handle: "main", Display: "lk_live_efgh", Environment: "live", Tier: "free", Digest: bytes.Repeat([]byte{2}, 32), PepperVersion: 1}
	if err := f.db.CreateAPIKey(ctx, bobKey); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*storage.Client{{ID: "ada-app", Name: "Ada's app", OwnerID: ada.ID}, {ID: "other-app", Name: "Other", OwnerID: "carol"}} {
		if err := f.db.CreateClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.SaveConsent(ctx, &storage.Consent{UserID: ada.ID, ClientID: "other-app", Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	a, a2, b := f.browser(t), f.browser(t), f.browser(t)
	if !a.login("ada", acctPassword) || !a2.login("ada", acctPassword) || !b.login("bob", acctPassword) {
		t.Fatal("could not sign in")
	}
	_, page := a.get("/account")
	if !strings.Contains(page, `action="/account/delete"`) || !strings.Contains(page, `name="confirm_username"`) {
		t.Fatalf("no delete form on /account:\n%s", page)
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"no confirmation", url.Values{"current_password": {acctPassword}}, http.StatusBadRequest, "Type your username, ada, to confirm."},
		{"wrong username", url.Values{"current_password": {acctPassword}, "confirm_username": {"bob"}}, http.StatusBadRequest, "That is not your username."},
		{"no password", url.Values{"confirm_username": {"ada"}}, http.StatusBadRequest, "Enter your current password."},
		{"wrong password", url.Values{"current_password": {"not my password at all"}, "confirm_username": {"ada"}}, http.StatusUnauthorized, "That is not your current password."},
		{"no CSRF token", url.Values{"csrf_token": {"forged"}, "current_password": {acctPassword}, "confirm_username": {"ada"}}, http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.get("/account")
			resp, body := a.post("/account/delete", tc.form)
			wantStatus(t, tc.name, resp.StatusCode, tc.status)
			if !strings.Contains(body, tc.says) {
				t.Errorf("page does not say %q:\n%s", tc.says, body)
			}
			if _, err := f.db.GetUser(ctx, ada.ID); err != nil {
				t.Fatalf("the account went without confirmation: %v", err)
			}
		})
	}

	a.get("/account")
	resp, _ := a.post("/account/delete", url.Values{"current_password": {acctPassword}, "confirm_username": {"ada"}})
	wantStatus(t, "delete", resp.StatusCode, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != DeletedPath {
		t.Fatalf("Location = %q, want %s", loc, DeletedPath)
	}
	status, body := a.get(DeletedPath)
	if status != http.StatusOK || !strings.Contains(body, "Your account was deleted") || strings.Contains(body, "ada") {
		t.Errorf("signed-out page (%d):\n%s", status, body)
	}
	if a.signedIn() || a2.signedIn() {
		t.Error("a session of the deleted account still works")
	}
	if !b.signedIn() {
		t.Error("bob was signed out")
	}
	if _, err := f.db.GetUser(ctx, ada.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("user after delete: %v", err)
	}
	if _, err := f.db.GetAPIKey(ctx, "k-ada"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("her key after delete: %v", err)
	}
	if _, err := f.db.GetClient(ctx, "ada-app"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("her app after delete: %v", err)
	}
	if cs, _ := f.db.ListConsents(ctx, ada.ID); len(cs) != 0 {
		t.Errorf("her consents after delete: %+v", cs)
	}
	if k, err := f.db.GetAPIKey(ctx, "k-bob"); err != nil || k.RevokedAt != nil {
		t.Errorf("bob's key: %+v, %v", k, err)
	}
	if _, revoked := f.logout.calls(); !slices.Equal(revoked, []string{ada.ID + "/other-app"}) {
		t.Errorf("grants revoked reported = %v, want her grant to other-app", revoked)
	}
	if !f.logout.endedFor(ada.ID) || f.logout.endedFor(bob.ID) {
		t.Errorf("sessions ended reported for %v", f.logout.ended)
	}
	again := f.createUser(t, "ada", "ada@example.test") // the username is free
	if again.ID == ada.ID {
		t.Error("the new account reuses the deleted id")
	}
}
