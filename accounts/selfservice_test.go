package accounts_test

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

const oldPassword = "tangerine otter lamp"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type selfFixture struct {
	s      *accounts.SelfService
	db     *storage.DB
	outbox *mail.Outbox
	clock  *clock
}

func newSelfFixture(t *testing.T) *selfFixture {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	outbox := mail.NewOutbox(nil, clk.Now)
	s, err := accounts.NewSelfService(db, accounts.SelfConfig{
		Sender: outbox, BaseURL: "https://id.example.test/", Gate: secret.NewPasswordGate(2), Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &selfFixture{s: s, db: db, outbox: outbox, clock: clk}
}

func (f *selfFixture) user(t *testing.T, username, email string) *storage.User {
	t.Helper()
	u, err := accounts.New(f.db, accounts.Config{}).Create(t.Context(), accounts.NewUser{Username: username, Email: email, Password: oldPassword})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *selfFixture) reload(t *testing.T, id string) *storage.User {
	t.Helper()
	u, err := f.db.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var tokenRe = regexp.MustCompile(`https://id\.example\.test(/[a-z-]+)\?token=([A-Za-z0-9_%-]+)`)

// lastLink returns the path and token of the newest mail's link.
func (f *selfFixture) lastLink(t *testing.T, to string) (path, token string) {
	t.Helper()
	msgs := f.outbox.Messages()
	if len(msgs) == 0 {
		t.Fatal("no mail sent")
	}
	if msgs[0].To != to {
		t.Fatalf("mail to %q, want %q", msgs[0].To, to)
	}
	m := tokenRe.FindStringSubmatch(msgs[0].Text)
	if m == nil {
		t.Fatalf("no link in:\n%s", msgs[0].Text)
	}
	tok, _ := url.QueryUnescape(m[2])
	return m[1], tok
}

// TestResetPassword: a reset link is single-use, does not spend itself on
// a refused password, sets the new password, ends every session, proves
// the address, and is stored only as a digest.
func TestResetPassword(t *testing.T) {
	f := newSelfFixture(t)
	u := f.user(t, "ada", "ada@example.test")
	f.s.RequestReset(t.Context(), "ada")
	f.s.Wait()
	path, token := f.lastLink(t, "ada@example.test")
	if path != accounts.ResetPath {
		t.Fatalf("link path %q", path)
	}
	if _, err := f.db.GetEmailToken(t.Context(), storage.PurposeReset, token, f.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the raw token is a stored key (err %v): only its digest may be", err)
	}
	if got, err := f.s.CheckLink(t.Context(), storage.PurposeReset, token); err != nil || got.ID != u.ID {
		t.Fatalf("CheckLink = %v, %v", got, err)
	}
	var fe accounts.FieldErrors
	if _, err := f.s.ResetPassword(t.Context(), token, "password1234"); !errors.As(err, &fe) || fe.Message(accounts.FieldPassword) == "" {
		t.Fatalf("a common password: %v, want a field error from the sign-up rules", err)
	}
	f.clock.Add(time.Minute)
	if _, err := f.s.ResetPassword(t.Context(), token, "violet harbour engine"); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	after := f.reload(t, u.ID)
	if secret.VerifyPassword(after.PasswordHash, "violet harbour engine") != nil || secret.VerifyPassword(after.PasswordHash, oldPassword) == nil {
		t.Error("the new password does not verify, or the old one still does")
	}
	if after.SessionsNotBefore == nil || !after.SessionsNotBefore.Equal(f.clock.Now()) {
		t.Errorf("SessionsNotBefore = %v, want %v (every session ended)", after.SessionsNotBefore, f.clock.Now())
	}
	if after.EmailVerifiedAt == nil {
		t.Error("following a reset link sent to the address did not verify it")
	}
	if _, err := f.s.ResetPassword(t.Context(), token, "another fine phrase"); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("second use: %v, want ErrLinkInvalid", err)
	}
}

// TestResetLinkExpires: a reset link dies after 30 minutes; a newer
// password change kills links sent before it.
func TestResetLinkExpires(t *testing.T) {
	f := newSelfFixture(t)
	u := f.user(t, "ada", "ada@example.test")
	f.s.RequestReset(t.Context(), "ada@EXAMPLE.test")
	f.s.Wait()
	_, token := f.lastLink(t, "ada@example.test")
	f.clock.Add(accounts.DefaultResetTTL)
	if _, err := f.s.CheckLink(t.Context(), storage.PurposeReset, token); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("at 30 minutes: %v, want ErrLinkInvalid", err)
	}

	f.s.RequestReset(t.Context(), "ada")
	f.s.Wait()
	_, token = f.lastLink(t, "ada@example.test")
	if err := f.s.ChangePassword(t.Context(), u, oldPassword, "violet harbour engine"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CheckLink(t.Context(), storage.PurposeReset, token); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("after a password change: %v, want ErrLinkInvalid", err)
	}
}

// TestRequestResetUnknown: nobody, and an account without email, get no
// mail; the call itself never says which.
func TestRequestResetUnknown(t *testing.T) {
	f := newSelfFixture(t)
	f.user(t, "noemail", "")
	for _, who := range []string{"nobody", "nobody@example.test", "noemail", "", strings.Repeat("a", 300)} {
		f.s.RequestReset(t.Context(), who)
	}
	f.s.Wait()
	if n := len(f.outbox.Messages()); n != 0 {
		t.Errorf("%d mails sent for unknown accounts", n)
	}
}

// TestChangePassword: the current password is checked, the new one meets
// the sign-up rules, and a change ends every session.
func TestChangePassword(t *testing.T) {
	f := newSelfFixture(t)
	u := f.user(t, "ada", "ada@example.test")
	for _, tc := range []struct{ name, current, next, field string }{
		{"no current", "", "violet harbour engine", accounts.FieldCurrentPassword},
		{"wrong current", "wrong password here", "violet harbour engine", accounts.FieldCurrentPassword},
		{"short", oldPassword, "short", accounts.FieldPassword},
		{"username", oldPassword, "ada", accounts.FieldPassword},
		{"common", oldPassword, "qwerty123456", accounts.FieldPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fe accounts.FieldErrors
			if err := f.s.ChangePassword(t.Context(), u, tc.current, tc.next); !errors.As(err, &fe) || fe.Message(tc.field) == "" {
				t.Fatalf("err = %v, want a message on %s", err, tc.field)
			}
		})
	}
	if err := f.s.ChangePassword(t.Context(), u, oldPassword, "violet harbour engine"); err != nil {
		t.Fatal(err)
	}
	after := f.reload(t, u.ID)
	if secret.VerifyPassword(after.PasswordHash, "violet harbour engine") != nil || after.SessionsNotBefore == nil {
		t.Errorf("after the change: password not set or sessions not ended (%v)", after.SessionsNotBefore)
	}
}

// TestVerifyEmail: a changed address is unverified and gets a link; the
// link verifies it once; a link to an address the account no longer has
// is refused.
func TestVerifyEmail(t *testing.T) {
	f := newSelfFixture(t)
	u := f.user(t, "ada", "ada@example.test")
	var fe accounts.FieldErrors
	if _, _, err := f.s.UpdateProfile(t.Context(), u, "Ada", "not-an-address", oldPassword); !errors.As(err, &fe) || fe.Message(accounts.FieldEmail) == "" {
		t.Fatalf("bad address: %v", err)
	}
	if _, _, err := f.s.UpdateProfile(t.Context(), u, "Ada", "", oldPassword); !errors.As(err, &fe) || fe.Message(accounts.FieldEmail) == "" {
		t.Fatalf("no address: %v", err)
	}
	if err := f.s.SendVerification(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	path, oldToken := f.lastLink(t, "ada@example.test")
	if path != accounts.VerifyPath {
		t.Fatalf("link path %q", path)
	}
	u2, sent, err := f.s.UpdateProfile(t.Context(), u, "Ada Lovelace", "ada@new.example.test", oldPassword)
	if err != nil || !sent || u2.Name != "Ada Lovelace" || u2.EmailVerifiedAt != nil {
		t.Fatalf("UpdateProfile = %+v, sent %v, %v", u2, sent, err)
	}
	_, token := f.lastLink(t, "ada@new.example.test")
	if _, err := f.s.ConfirmEmail(t.Context(), oldToken); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("link to the old address: %v, want ErrLinkInvalid", err)
	}
	got, err := f.s.ConfirmEmail(t.Context(), token)
	if err != nil || got.EmailVerifiedAt == nil {
		t.Fatalf("ConfirmEmail = %+v, %v", got, err)
	}
	if _, err := f.s.ConfirmEmail(t.Context(), token); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("second use: %v, want ErrLinkInvalid", err)
	}
	_, sent, err = f.s.UpdateProfile(t.Context(), got, "Ada", "ADA@new.example.test", "")
	if err != nil || sent || f.reload(t, u.ID).EmailVerifiedAt == nil {
		t.Errorf("a change of letter case: sent %v, err %v, verification kept? want no mail, kept", sent, err)
	}
}

func TestLifetimeWords(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "30 minutes"}, {time.Hour, "1 hour"}, {24 * time.Hour, "24 hours"},
		{90 * time.Minute, "90 minutes"}, {5 * time.Minute, "5 minutes"},
	} {
		if got := accounts.LifetimeWords(tc.d); got != tc.want {
			t.Errorf("LifetimeWords(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestResetLinkDiesWithAddressChange: a reset link mailed to an address
// stops working once the account's address changes — whoever still reads
// the old mailbox (the reason it was changed) cannot take the account.
func TestResetLinkDiesWithAddressChange(t *testing.T) {
	f := newSelfFixture(t)
	u := f.user(t, "ada", "ada@old.example.test")
	f.s.RequestReset(t.Context(), "ada")
	f.s.Wait()
	_, token := f.lastLink(t, "ada@old.example.test")
	if _, _, err := f.s.UpdateProfile(t.Context(), u, "Ada", "ada@new.example.test", oldPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CheckLink(t.Context(), storage.PurposeReset, token); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("CheckLink after the address changed: %v, want ErrLinkInvalid", err)
	}
	if _, err := f.s.ResetPassword(t.Context(), token, "violet harbour engine"); !errors.Is(err, accounts.ErrLinkInvalid) {
		t.Errorf("ResetPassword after the address changed: %v, want ErrLinkInvalid", err)
	}
	if secret.VerifyPassword(f.reload(t, u.ID).PasswordHash, oldPassword) != nil {
		t.Error("the password was replaced through a link to the old address")
	}
}

// TestEmailChangeNeedsPassword: a session alone cannot move the account's
// address (where reset links go) — the current password must come with a
// new one; a name change or a change of letter case needs none.
func TestEmailChangeNeedsPassword(t *testing.T) {
	f := newSelfFixture(t)
	u := f.user(t, "ada", "ada@example.test")
	for _, current := range []string{"", "not the password"} {
		var fe accounts.FieldErrors
		if _, _, err := f.s.UpdateProfile(t.Context(), u, "Ada", "eve@evil.example.test", current); !errors.As(err, &fe) || fe.Message(accounts.FieldCurrentPassword) == "" {
			t.Errorf("new address with password %q: %v, want a field error on the current password", current, err)
		}
	}
	if got := f.reload(t, u.ID); got.Email != "ada@example.test" || len(f.outbox.Messages()) != 0 {
		t.Fatalf("the address became %q (mails %d) without the password", got.Email, len(f.outbox.Messages()))
	}
	if got, _, err := f.s.UpdateProfile(t.Context(), u, "Ada L", "ADA@example.test", ""); err != nil || got.Name != "Ada L" {
		t.Errorf("a name change: %+v, %v, want saved without the password", got, err)
	}
	if got, sent, err := f.s.UpdateProfile(t.Context(), u, "Ada", "ada@new.example.test", oldPassword); err != nil || got.Email != "ada@new.example.test" || !sent {
		t.Errorf("with the password: %+v, sent %v, %v", got, sent, err)
	}
}
