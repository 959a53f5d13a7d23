package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/passwordtest"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/storage"
)

// TestLegacyPasswordHashUpgradedOnLogin (issue 16): an account whose
// password was hashed before issue 16 (argon2id m = 64 MiB, t = 1) signs
// in with it, through the login form and through HTTP Basic; the first
// success stores a hash with the current parameters, which then verifies
// the same password on both paths. A wrong password changes nothing.
func TestLegacyPasswordHashUpgradedOnLogin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		login func(t *testing.T, s *servertest.Server, username, password string) bool
	}{
		{"login form", func(t *testing.T, s *servertest.Server, username, password string) bool {
			c := flowtest.Browser(t)
			_, page := flowtest.Get(t, c, s.URL+"/login")
			resp, _ := flowtest.PostForm(t, c, s.URL+"/login", map[string][]string{
				"username": {username}, "password": {password}, "csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)}, "next": {"/"},
			}, s.URL)
			return resp.StatusCode == http.StatusSeeOther
		}},
		{"HTTP Basic", func(t *testing.T, s *servertest.Server, username, password string) bool {
			code, _, _ := flowtest.APICall(t, http.MethodGet, s.URL+"/user/keys", flowtest.BasicHeader(username, password), "")
			return code == http.StatusOK
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := servertest.New(t)
			db := s.App.DB()
			u := &storage.User{ID: uuid.NewString(), Username: "olga", Email: "olga@example.com", PasswordHash: passwordtest.LegacyHash}
			if err := db.CreateUser(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			stored := func() string {
				got, err := db.GetUser(context.Background(), u.ID)
				if err != nil {
					t.Fatal(err)
				}
				return got.PasswordHash
			}
			if tc.login(t, s, "olga", "wrong "+passwordtest.LegacyPassword) {
				t.Fatal("a wrong password signed in")
			}
			if h := stored(); h != passwordtest.LegacyHash {
				t.Fatalf("a failed login changed the hash to %q", h)
			}
			if !tc.login(t, s, "olga", passwordtest.LegacyPassword) {
				t.Fatal("the legacy hash no longer verifies")
			}
			upgraded := stored()
			passwordtest.RequireUpgraded(t, upgraded)
			if !tc.login(t, s, "olga", passwordtest.LegacyPassword) {
				t.Fatal("the upgraded hash does not sign in")
			}
			if h := stored(); h != upgraded {
				t.Fatalf("a current hash was re-hashed again: %q", h)
			}
		})
	}
}
