package keywarn_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/smtptest"
	"github.com/latchkey/latchkey/keywarn"
	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

const site = "https://id.example.test"

// start is the injected clock's first reading.
var start = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fakeSender records messages; while fail is set it refuses them.
type fakeSender struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error
	// onSend, if set, runs before each send.
	onSend func()
}

func (f *fakeSender) Send(_ context.Context, m mail.Message) error {
	if f.onSend != nil {
		f.onSend()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.msgs = append(f.msgs, m)
	return nil
}

func (f *fakeSender) take() []mail.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.msgs
	f.msgs = nil
	return out
}

// newDB returns a store with a verified owner "ada", an unverified owner
// "bob", and for each key (handle → time until expiry) a key of ada's;
// bob has one key expiring in an hour.
func newDB(t *testing.T, keys map[string]time.Duration) *storage.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "w.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := t.Context()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ada", "bob"} {
		if err := db.CreateUser(ctx, &storage.User{ID: u, Username: u, Email: u + "@example.test", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.VerifyEmail(ctx, "ada", "ada@example.test", start.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	n := byte(0)
	add := func(user, handle string, in time.Duration) {
		n++
		exp := start.Add(in)
		if err := db.CreateAPIKey(ctx, &storage.APIKey{ID: user + "-" + handle, UserID: user, Handle: handle,
			Display: "lk_live_" + handle[:2] + "x9", Environment: "live", Tier: "free", Digest: bytes.Repeat([]byte{n}, 32),
			PepperVersion: 1, ExpiresAt: &exp, CreatedAt: start.Add(-30 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for h, in := range keys {
		add("ada", h, in)
	}
	add("bob", "unverified", time.Hour)
	return db
}

func newWarner(t *testing.T, db *storage.DB, s mail.Sender, clk *clock, batch int, onMail func(bool)) *keywarn.Warner {
	t.Helper()
	w, err := keywarn.New(keywarn.Config{Sender: s, BaseURL: site, Batch: batch, Now: clk.now, OnMail: onMail}, db)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func runOnce(t *testing.T, w *keywarn.Warner, want int) {
	t.Helper()
	n, err := w.RunOnce(t.Context())
	if err != nil || n != want {
		t.Fatalf("RunOnce = %d, %v; want %d mails", n, err, want)
	}
}

// TestRunOnceMailsEachKeyOnce: the verified owner gets one mail per key
// expiring within the week — naming the key, its prefix and expiry and
// linking to its page — and no second one; a key further off is mailed
// about once the clock brings it within the week; the unverified owner
// gets nothing.
func TestRunOnceMailsEachKeyOnce(t *testing.T) {
	db := newDB(t, map[string]time.Duration{"ci-deploy": 2*24*time.Hour + time.Hour, "later": 10 * 24 * time.Hour})
	clk, s := &clock{t: start}, &fakeSender{}
	var sent []bool
	w := newWarner(t, db, s, clk, 0, func(ok bool) { sent = append(sent, ok) })

	runOnce(t, w, 1)
	msgs := s.take()
	m := msgs[0]
	if m.To != "ada@example.test" || m.Subject != `Your Latchkey API key "ci-deploy" expires in 2 days` {
		t.Errorf("mail to %q subject %q", m.To, m.Subject)
	}
	for _, want := range []string{"lk_live_cix9", "Tue, 24 Nov 2026 13:00 UTC", site + "/keys/ci-deploy", "Hello ada,"} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("mail lacks %q:\n%s\n%s", want, m.Text, m.HTML)
		}
	}
	runOnce(t, w, 0)
	clk.add(3 * 24 * time.Hour) // "later" is 7 days off now; "ci-deploy" has expired
	runOnce(t, w, 1)
	if msgs = s.take(); !strings.Contains(msgs[0].Text, site+"/keys/later") || !strings.Contains(msgs[0].Subject, "in 7 days") {
		t.Errorf("second mail: %s\n%s", msgs[0].Subject, msgs[0].Text)
	}
	runOnce(t, w, 0)
	if len(sent) != 2 || !sent[0] || !sent[1] {
		t.Errorf("OnMail calls %v, want two sent", sent)
	}
}

// TestRunOnceRetriesFailedMail: a mail the server refused is released, so
// the next pass sends it.
func TestRunOnceRetriesFailedMail(t *testing.T) {
	db := newDB(t, map[string]time.Duration{"ci": 30 * time.Minute})
	clk, s := &clock{t: start}, &fakeSender{fail: errors.New("451 try later")}
	var sent []bool
	w := newWarner(t, db, s, clk, 0, func(ok bool) { sent = append(sent, ok) })
	runOnce(t, w, 0)
	s.fail = nil
	runOnce(t, w, 1)
	if m := s.take(); len(m) != 1 || !strings.Contains(m[0].Subject, "within the hour") {
		t.Errorf("retried mail: %+v", m)
	}
	if len(sent) != 2 || sent[0] || !sent[1] {
		t.Errorf("OnMail calls %v, want failed then sent", sent)
	}
}

// TestRunOnceBatch: a pass mails at most Batch keys, soonest first; the
// rest wait for the next pass.
func TestRunOnceBatch(t *testing.T) {
	db := newDB(t, map[string]time.Duration{"aa": 3 * time.Hour, "bb": 2 * time.Hour, "cc": time.Hour})
	clk, s := &clock{t: start}, &fakeSender{}
	w := newWarner(t, db, s, clk, 2, nil)
	runOnce(t, w, 2)
	if m := s.take(); !strings.Contains(m[0].Subject, `"cc"`) || !strings.Contains(m[1].Subject, `"bb"`) {
		t.Errorf("first batch: %q, %q", m[0].Subject, m[1].Subject)
	}
	runOnce(t, w, 1)
	runOnce(t, w, 0)
}

// TestRunOnceShutdownReleases: keys claimed but not mailed when the pass
// is cancelled (shutdown) are released, not left marked as warned.
func TestRunOnceShutdownReleases(t *testing.T) {
	db := newDB(t, map[string]time.Duration{"aa": 3 * time.Hour, "bb": 2 * time.Hour})
	clk := &clock{t: start}
	ctx, cancel := context.WithCancel(t.Context())
	s := &fakeSender{fail: context.Canceled, onSend: cancel}
	w := newWarner(t, db, s, clk, 0, nil)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Fatalf("sent %d while cancelled", n)
	}
	s.fail, s.onSend = nil, nil
	runOnce(t, w, 2)
}

// TestSMTPDeliversWarning: through a real SMTP server, the owner receives
// the warning for the right key, its link pointing at the key's page.
func TestSMTPDeliversWarning(t *testing.T) {
	db := newDB(t, map[string]time.Duration{"billing": 5 * 24 * time.Hour, "other": 20 * 24 * time.Hour})
	srv := smtptest.Start(t, "mailer", "s3cret")
	sender, err := mail.NewSMTP(srv.URL(), "Latchkey <no-reply@id.example.test>")
	if err != nil {
		t.Fatal(err)
	}
	w := newWarner(t, db, sender, &clock{t: start}, 0, nil)
	runOnce(t, w, 1)
	got := srv.Next(t, 5*time.Second)
	if len(got.To) != 1 || got.To[0] != "ada@example.test" || !strings.Contains(got.Subject, `"billing"`) {
		t.Errorf("received to %q subject %q", got.To, got.Subject)
	}
	if l := got.Link("/keys/"); l != site+"/keys/billing" {
		t.Errorf("link %q, want the billing key's page", l)
	}
	if !strings.Contains(got.Text, "lk_live_bix9") || !strings.Contains(got.HTML, "Open the key") {
		t.Errorf("mail lacks the prefix or the HTML part:\n%s", got.Raw)
	}
	if srv.Pending() != 0 {
		t.Error("more than one mail arrived")
	}
}
