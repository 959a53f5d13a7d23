package twofactor

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestService(t *testing.T) (*Service, *storage.DB, *clock) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "2fa.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{3}, 32)})
	a, _ := secret.DeriveAEAD(bytes.Repeat([]byte{9}, 32), SealLabel)
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)}
	s, err := New(Config{Issuer: "latchkey.test", Sealer: a, Hasher: h, Now: clk.now}, db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db, clk
}

func codeAt(t *testing.T, sec string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(sec, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled returns a user with a confirmed authenticator, its secret and
// recovery codes. The confirming code used the step of clk's now.
func enrolled(t *testing.T, s *Service, clk *clock) (string, []string) {
	t.Helper()
	e, err := s.BeginTOTP(t.Context(), "u1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(t.Context(), "u1", codeAt(t, e.Secret, clk.now()))
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return e.Secret, codes
}

func TestEnrolmentSealsSecretAndShowsQR(t *testing.T) {
	s, db, _ := newTestService(t)
	e, err := s.BeginTOTP(t.Context(), "u1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.QR, "data:image/png;base64,") || !strings.Contains(e.URL, "otpauth://totp/") ||
		!strings.Contains(e.URL, "secret="+e.Secret) {
		t.Errorf("enrolment = %+v", e)
	}
	f, err := db.GetTOTP(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(f.Sealed, []byte(e.Secret)) {
		t.Error("the stored secret is in plain text")
	}
	again, err := s.PendingTOTP(t.Context(), "u1", "alice")
	if err != nil || again.Secret != e.Secret {
		t.Errorf("PendingTOTP = %+v, %v; want the same secret", again, err)
	}
	if st, _ := s.Status(t.Context(), "u1"); st.Enabled() || !st.Pending {
		t.Errorf("an unconfirmed enrolment: status %+v, want pending and not enabled", st)
	}
	if _, err := s.ConfirmTOTP(t.Context(), "u1", "000000x"); !errors.Is(err, ErrBadCode) {
		t.Errorf("ConfirmTOTP(bad) = %v, want ErrBadCode", err)
	}
}

func TestConfirmTurnsOnAndGivesTenCodes(t *testing.T) {
	s, _, clk := newTestService(t)
	_, codes := enrolled(t, s, clk)
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), RecoveryCodeCount)
	}
	st, err := s.Status(t.Context(), "u1")
	if err != nil || !st.Enabled() || st.RecoveryLeft != 10 || st.Pending {
		t.Errorf("status after confirm = %+v, %v", st, err)
	}
	if _, err := s.BeginTOTP(t.Context(), "u1", "alice"); !errors.Is(err, ErrAlreadyOn) {
		t.Errorf("BeginTOTP while on = %v, want ErrAlreadyOn", err)
	}
}

// TestVerifyWindow: a code of the step before or after now is accepted
// (clock drift), two steps away is not.
func TestVerifyWindow(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration
		want   error
	}{
		{"Now", 0, nil},
		{"PreviousStep", -30 * time.Second, nil},
		{"NextStep", 30 * time.Second, nil},
		{"TwoStepsAgo", -60 * time.Second, ErrBadCode},
		{"TwoStepsAhead", 60 * time.Second, ErrBadCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, clk := newTestService(t)
			sec, _ := enrolled(t, s, clk)
			clk.add(5 * time.Minute) // well past the confirming step
			if err := s.VerifyTOTP(t.Context(), "u1", codeAt(t, sec, clk.now().Add(tc.offset))); !errors.Is(err, tc.want) {
				t.Errorf("VerifyTOTP = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyReplay: a code is accepted once within its step; a code of an
// earlier step than the last used one is refused too; the confirming
// code cannot sign in.
func TestVerifyReplay(t *testing.T) {
	s, _, clk := newTestService(t)
	sec, _ := enrolled(t, s, clk)
	if err := s.VerifyTOTP(t.Context(), "u1", codeAt(t, sec, clk.now())); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("the confirming code again = %v, want ErrCodeUsed", err)
	}
	clk.add(time.Minute)
	code := codeAt(t, sec, clk.now())
	if err := s.VerifyTOTP(t.Context(), "u1", code); err != nil {
		t.Fatalf("first use: %v", err)
	}
	clk.add(10 * time.Second)
	if err := s.VerifyTOTP(t.Context(), "u1", code); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("replay in the same step = %v, want ErrCodeUsed", err)
	}
	if err := s.VerifyTOTP(t.Context(), "u1", codeAt(t, sec, clk.now().Add(-30*time.Second))); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("the previous step's code after a later one = %v, want ErrCodeUsed", err)
	}
	if err := s.VerifyTOTP(t.Context(), "u1", codeAt(t, sec, clk.now().Add(30*time.Second))); err != nil {
		t.Errorf("the next step's code: %v", err)
	}
}

func TestRecoveryCodeSingleUse(t *testing.T) {
	s, _, clk := newTestService(t)
	_, codes := enrolled(t, s, clk)
	if err := s.Verify(t.Context(), "u1", strings.ToUpper(codes[3])); err != nil {
		t.Fatalf("recovery code (typed in capitals): %v", err)
	}
	if err := s.Verify(t.Context(), "u1", codes[3]); !errors.Is(err, ErrBadCode) {
		t.Errorf("the same code again = %v, want ErrBadCode", err)
	}
	if err := s.UseRecoveryCode(t.Context(), "u2", codes[4]); !errors.Is(err, ErrBadCode) {
		t.Errorf("another user's code = %v, want ErrBadCode", err)
	}
	if err := s.Verify(t.Context(), "u1", strings.ReplaceAll(codes[4], "-", " ")); err != nil {
		t.Errorf("another code, with a space: %v", err)
	}
	if st, _ := s.Status(t.Context(), "u1"); st.RecoveryLeft != 8 {
		t.Errorf("RecoveryLeft = %d, want 8", st.RecoveryLeft)
	}
	fresh, err := s.NewRecoveryCodes(t.Context(), "u1")
	if err != nil || len(fresh) != 10 {
		t.Fatalf("NewRecoveryCodes = %d, %v", len(fresh), err)
	}
	if err := s.Verify(t.Context(), "u1", codes[5]); !errors.Is(err, ErrBadCode) {
		t.Errorf("an old code after regenerating = %v, want ErrBadCode", err)
	}
}

func TestDisableTOTP(t *testing.T) {
	s, _, clk := newTestService(t)
	_, codes := enrolled(t, s, clk)
	if err := s.DisableTOTP(t.Context(), "u1"); err != nil {
		t.Fatal(err)
	}
	if on, _ := s.Enabled(t.Context(), "u1"); on {
		t.Error("still enabled after DisableTOTP")
	}
	if err := s.Verify(t.Context(), "u1", codes[0]); !errors.Is(err, ErrBadCode) {
		t.Errorf("a recovery code after disabling = %v, want ErrBadCode", err)
	}
}
