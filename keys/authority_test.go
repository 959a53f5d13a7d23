package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }

// TestRotateWithKeysWriteOnlyCannotExceedCaller (issue 10, high 1): a
// credential holding only keys:write can neither rotate, change nor revoke
// a key with more rights, and without keys:read it cannot tell such a key
// from a handle that does not exist.
func TestRotateWithKeysWriteOnlyCannotExceedCaller(t *testing.T) {
	s, _, _, _ := newService(t, false)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "admin", Scopes: []string{"read-write"}}); err != nil {
		t.Fatal(err)
	}
	writeOnly := Authority{Scopes: []string{"keys:write"}}
	writeRead := Authority{Scopes: []string{"keys:write", "keys:read"}, CanRead: true}
	alias := "pwned"
	ops := []struct {
		name string
		do   func(a Authority, handle string) error
	}{
		{"rotate", func(a Authority, h string) error { _, _, err := s.Rotate(ctx, "u1", h, a, time.Hour, ""); return err }},
		{"update", func(a Authority, h string) error {
			_, err := s.Update(ctx, "u1", h, a, Patch{Alias: &alias})
			return err
		}},
		{"update nothing", func(a Authority, h string) error { _, err := s.Update(ctx, "u1", h, a, Patch{}); return err }},
		{"revoke", func(a Authority, h string) error { _, err := s.Revoke(ctx, "u1", h, a, ""); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			broader := op.do(writeOnly, "admin")
			missing := op.do(writeOnly, "no-such-key")
			if !errors.Is(broader, ErrForbidden) || !errors.Is(missing, ErrForbidden) || broader.Error() != missing.Error() {
				t.Fatalf("without keys:read: broader key → %v, missing key → %v; want the same ErrForbidden", broader, missing)
			}
			if err := op.do(writeRead, "admin"); !errors.Is(err, ErrForbidden) {
				t.Fatalf("with keys:read, broader key → %v, want ErrForbidden", err)
			}
			if err := op.do(writeRead, "no-such-key"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("with keys:read, missing key → %v, want ErrNotFound", err)
			}
		})
	}
	k, err := s.Get(ctx, "u1", "admin")
	if err != nil || k.RevokedAt != nil || k.ReplacedBy != "" || k.Alias == alias {
		t.Fatalf("the broader key was changed: %+v %v", k, err)
	}
	// Within the caller's rights every operation works.
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "narrow", Scopes: []string{"keys:write"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rotate(ctx, "u1", "narrow", writeOnly, 0, ""); err != nil {
		t.Fatalf("rotating a key within the caller: %v", err)
	}
}

// TestKeyNeverOutlivesCreatingCredential (issue 10, low: children never
// outlive their parent): a credential whose expiry bound is T (a key
// ending at T, or a token of it) creates keys ending no later than T (T
// when no expiry is asked for), records itself as their parent, and
// cannot rotate a key that outlives it.
func TestKeyNeverOutlivesCreatingCredential(t *testing.T) {
	s, _, clk, _ := newService(t, false)
	ctx := t.Context()
	end := clk.now().Add(time.Hour)
	parent, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "parent", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := Authority{Scopes: allScopes, ExpiresAt: &end, CanRead: true, KeyID: parent.ID, GrantID: "g1", ClientID: "c1"}
	tests := []struct {
		name      string
		expiresIn time.Duration
		want      time.Time
	}{
		{"no expiry asked for", 0, end},
		{"longer than the credential", 30 * 24 * time.Hour, end},
		{"shorter than the credential", 10 * time.Minute, clk.now().Add(10 * time.Minute)},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, _, err := s.Create(ctx, "u1", a, CreateRequest{Handle: fmt.Sprintf("child%d", i), ExpiresIn: tc.expiresIn})
			if err != nil {
				t.Fatal(err)
			}
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(tc.want) {
				t.Fatalf("expires_at %v, want %v", k.ExpiresAt, tc.want)
			}
			if k.ParentKeyID != parent.ID || k.ParentGrantID != "g1" || k.ParentClientID != "c1" {
				t.Fatalf("lineage not recorded: %+v", k)
			}
		})
	}
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "forever"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rotate(ctx, "u1", "forever", a, 0, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("an expiring credential rotated a key without expiry: %v", err)
	}
	ended := Authority{Scopes: allScopes, ExpiresAt: ptr(clk.now().Add(-time.Second))}
	if _, _, err := s.Create(ctx, "u1", ended, CreateRequest{Handle: "late"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a credential that has ended created a key: %v", err)
	}
}

// TestPatchRefusesRevokedExpiredAndRotatedOutKeys (issue 10, low): a PATCH
// never revives a key — a rotated-out key stays retired even with a new
// expires_in — and a credential can only shorten a key's life.
func TestPatchRefusesRevokedExpiredAndRotatedOutKeys(t *testing.T) {
	s, _, clk, _ := newService(t, false)
	ctx := t.Context()
	for _, h := range []string{"rotated", "revoked", "expired", "mine"} {
		if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: h, ExpiresIn: 2 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := s.Get(ctx, "u1", "rotated")
	if _, _, err := s.Rotate(ctx, "u1", "rotated", owner, time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	retired, _ := s.store.GetAPIKey(ctx, old.ID)
	if _, err := s.Revoke(ctx, "u1", "revoked", owner, ""); err != nil {
		t.Fatal(err)
	}
	expired, _ := s.Get(ctx, "u1", "expired")
	if err := s.store.UpdateAPIKey(ctx, expired.ID, func(r *storage.APIKey) error { r.ExpiresAt = ptr(clk.now().Add(-time.Second)); return nil }); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		handle string
		want   error
	}{{retired.Handle, ErrRotated}, {"revoked", ErrRevoked}, {"expired", ErrExpired}} {
		if _, err := s.Update(ctx, "u1", tc.handle, owner, Patch{ExpiresIn: &day}); !errors.Is(err, tc.want) {
			t.Fatalf("PATCH expires_in on %s: %v, want %v", tc.handle, err, tc.want)
		}
	}
	if _, _, err := s.Rotate(ctx, "u1", retired.Handle, owner, 0, ""); !errors.Is(err, ErrRotated) {
		t.Fatalf("rotating a rotated-out key again: %v", err)
	}
	clk.add(2 * time.Minute)
	if _, err := s.Update(ctx, "u1", retired.Handle, owner, Patch{ExpiresIn: &day}); !errors.Is(err, ErrRotated) {
		t.Fatalf("reviving a rotated-out key after its grace: %v", err)
	}

	self, _ := s.Get(ctx, "u1", "mine")
	key := Authority{Scopes: self.Scopes, ExpiresAt: self.ExpiresAt, CanRead: true, KeyID: self.ID}
	if _, err := s.Update(ctx, "u1", "mine", key, Patch{ExpiresIn: &day}); !errors.Is(err, ErrExpiryExtended) {
		t.Fatalf("a key extended its own expiry: %v", err)
	}
	short := 10 * time.Minute
	if k, err := s.Update(ctx, "u1", "mine", key, Patch{ExpiresIn: &short}); err != nil || !k.ExpiresAt.Equal(clk.now().Add(short)) {
		t.Fatalf("a key shortening its own expiry: %+v %v", k, err)
	}
	if k, err := s.Update(ctx, "u1", "mine", owner, Patch{ExpiresIn: &day}); err != nil || !k.ExpiresAt.Equal(clk.now().Add(day)) {
		t.Fatalf("the owner signed in may set any expiry: %+v %v", k, err)
	}
}

// TestConcurrentRotationsOneWinner (issue 10, low): concurrent rotations
// of one key never fail with an unexplained error: each key is replaced at
// most once, the losers get ErrRotated (409), and the handle ends on the
// one key that was not replaced. SQLite here; PostgreSQL in
// TestConcurrentRotationsOneWinnerPostgres.
func TestConcurrentRotationsOneWinner(t *testing.T) {
	s, _, _, _ := newService(t, false)
	concurrentRotations(t, s)
}

func concurrentRotations(t *testing.T, s *Service) {
	t.Helper()
	ctx := t.Context()
	first, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "hot"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []*storage.APIKey
	var losses []error
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			k, _, err := s.Rotate(ctx, "u1", "hot", owner, time.Hour, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				losses = append(losses, err)
				return
			}
			wins = append(wins, k)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range losses {
		if !errors.Is(err, ErrRotated) {
			t.Errorf("a losing rotation failed with %v, want ErrRotated", err)
		}
	}
	if len(wins) == 0 || len(wins)+len(losses) != n {
		t.Fatalf("%d rotations won and %d lost of %d", len(wins), len(losses), n)
	}
	// Each winner replaced a different key: the chain is linear.
	replaced := map[string]bool{}
	for _, w := range wins {
		if replaced[w.RotatedFrom] {
			t.Fatalf("key %s was replaced twice", w.RotatedFrom)
		}
		replaced[w.RotatedFrom] = true
	}
	ks, err := s.List(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, k := range ks {
		if k.Handle == "hot" {
			live++
			if k.ReplacedBy != "" {
				t.Fatalf("the handle is on a replaced key %+v", k)
			}
		} else if !strings.HasPrefix(k.Handle, "hot~") || k.ReplacedBy == "" {
			t.Fatalf("retired key %+v", k)
		}
	}
	if live != 1 || len(ks) != len(wins)+1 || !replaced[first.ID] {
		t.Fatalf("%d keys named hot, %d keys in all, first replaced %v", live, len(ks), replaced[first.ID])
	}
}

// TestRevokeParentRevokesChildrenTransitively (issue 10, low: keys minted
// by a key survive its revocation): revoking a key revokes every key it
// created, and theirs; rotating it limits them to the old key's grace;
// narrowing it narrows them.
func TestRevokeParentRevokesChildrenTransitively(t *testing.T) {
	s, _, clk, _ := newService(t, false)
	ctx := t.Context()
	as := func(k *storage.APIKey) Authority {
		return Authority{Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, CanRead: true, KeyID: k.ID}
	}
	parent, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	child, _, err := s.Create(ctx, "u1", as(parent), CreateRequest{Handle: "child"})
	if err != nil {
		t.Fatal(err)
	}
	_, grandPlain, err := s.Create(ctx, "u1", as(child), CreateRequest{Handle: "grandchild", Scopes: []string{"keys:read", "users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if child.ParentKeyID != parent.ID {
		t.Fatalf("child's parent %q, want %q", child.ParentKeyID, parent.ID)
	}

	t.Run("narrowing the parent narrows its descendants", func(t *testing.T) {
		if _, err := s.Update(ctx, "u1", "parent", owner, Patch{Scopes: []string{"keys:read", "keys:write"}}); err != nil {
			t.Fatal(err)
		}
		g, err := s.Verify(ctx, grandPlain, "")
		if err != nil || !slices.Equal(g.Scopes, []string{"keys:read"}) {
			t.Fatalf("grandchild after narrowing: %v %v", g.Scopes, err)
		}
	})
	t.Run("rotating the parent limits its descendants to the grace", func(t *testing.T) {
		if _, _, err := s.Rotate(ctx, "u1", "parent", owner, time.Hour, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, grandPlain, ""); err != nil {
			t.Fatalf("inside the grace: %v", err)
		}
		clk.add(time.Hour)
		if _, err := s.Verify(ctx, grandPlain, ""); !errors.Is(err, ErrExpired) {
			t.Fatalf("after the parent's grace: %v", err)
		}
	})

	// A second family, revoked.
	p2, _, _ := s.Create(ctx, "u1", owner, CreateRequest{Handle: "p2"})
	c2, c2Plain, _ := s.Create(ctx, "u1", as(p2), CreateRequest{Handle: "c2"})
	_, g2Plain, _ := s.Create(ctx, "u1", as(c2), CreateRequest{Handle: "g2"})
	for _, plain := range []string{c2Plain, g2Plain} { // cached as valid
		if _, err := s.Verify(ctx, plain, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Revoke(ctx, "u1", "p2", owner, ""); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{c2Plain, g2Plain} {
		if _, err := s.Verify(ctx, plain, ""); !errors.Is(err, ErrRevoked) {
			t.Fatalf("a descendant of a revoked key: %v", err)
		}
	}
}

// TestCurrentFollowsTheKey (issue 10, medium 5): Current, which tokens
// exchanged from a key are checked against on every use, reports the key
// as it is now — narrowed, rotated out, revoked — through the cache.
func TestCurrentFollowsTheKey(t *testing.T) {
	s, cs, clk, _ := newService(t, false)
	ctx := t.Context()
	k, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "k", ExpiresIn: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	getByID := func() int64 { return cs.idLookups.Load() }
	for range 3 {
		if cur, err := s.Current(ctx, k.ID); err != nil || len(cur.Scopes) != len(allScopes) {
			t.Fatalf("Current: %+v %v", cur, err)
		}
	}
	if n := getByID(); n != 1 {
		t.Fatalf("%d lookups by id for 3 uses within the TTL, want 1", n)
	}
	if _, err := s.Update(ctx, "u1", "k", owner, Patch{Scopes: []string{"users:read"}}); err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Current(ctx, k.ID); err != nil || !slices.Equal(cur.Scopes, []string{"users:read"}) {
		t.Fatalf("after narrowing: %v %v", cur.Scopes, err)
	}
	if _, _, err := s.Rotate(ctx, "u1", "k", owner, time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Current(ctx, k.ID); err != nil {
		t.Fatalf("inside the rotation's grace: %v", err)
	}
	clk.add(time.Minute)
	if _, err := s.Current(ctx, k.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the rotation's grace: %v", err)
	}
	k2, _, _ := s.Create(ctx, "u1", owner, CreateRequest{Handle: "k2"})
	if _, err := s.Current(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, "u1", "k2", owner, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Current(ctx, k2.ID); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revocation: %v", err)
	}
	if _, err := s.Current(ctx, "no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestNewIPAuditIsBounded (issue 10, low): a key used from ever new
// addresses writes at most NewIPEventsPerMinute audit entries a minute,
// reports how many it skipped, and remembers addresses in a bounded LRU.
func TestNewIPAuditIsBounded(t *testing.T) {
	s, _, clk, _ := newService(t, false)
	ctx := t.Context()
	k, plain, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := s.Verify(ctx, plain, fmt.Sprintf("10.1.%d.%d", i/256, i%256)); err != nil {
			t.Fatal(err)
		}
	}
	countNewIP := func() (n int, details []string) {
		evs, err := s.store.ListKeyEvents(ctx, k.ID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == "new_ip" {
				n++
				details = append(details, e.Detail)
			}
		}
		return n, details
	}
	if n, _ := countNewIP(); n != s.cfg.NewIPEventsPerMinute {
		t.Fatalf("%d new_ip entries for 500 new addresses in a minute, want %d", n, s.cfg.NewIPEventsPerMinute)
	}
	clk.add(time.Minute)
	if _, err := s.Verify(ctx, plain, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	n, details := countNewIP()
	if n != s.cfg.NewIPEventsPerMinute+1 || !strings.Contains(details[0], "490 more new addresses") {
		t.Fatalf("the next minute: %d entries, newest %q", n, details[0])
	}
	// A known address is not audited again.
	if _, err := s.Verify(ctx, plain, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n2, _ := countNewIP(); n2 != n {
		t.Fatal("a known address was audited again")
	}
	s.usage.mu.Lock()
	remembered := s.usage.seen.Len()
	s.usage.mu.Unlock()
	if remembered > seenMax {
		t.Fatalf("%d addresses remembered, bound %d", remembered, seenMax)
	}
}

// TestRotationByAnotherCredentialIsItsChild: rotating is minting — the
// caller receives the new secret — so when a credential rotates a key
// other than itself, the new key records that credential as its parent
// and is revoked with it. Before the fix the new key kept the old key's
// lineage, so a leaked keys:write key rotated its siblings (long grace,
// the owner's copy kept working) and its holder kept working keys after
// the owner revoked the leaked one. A key (or its token) rotating itself,
// and the owner, keep the lineage as before.
func TestRotationByAnotherCredentialIsItsChild(t *testing.T) {
	s, _, _, _ := newService(t, false)
	ctx := t.Context()
	leaked, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci", Scopes: []string{"keys:write", "users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "deploy", Scopes: []string{"keys:write", "users:read"}}); err != nil {
		t.Fatal(err)
	}
	as := func(k *storage.APIKey) Authority {
		return Authority{Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, KeyID: k.ID}
	}
	rotated, plain, err := s.Rotate(ctx, "u1", "deploy", as(leaked), 30*24*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ParentKeyID != leaked.ID {
		t.Errorf("a key rotated by another key has parent %q, want the rotating key %q", rotated.ParentKeyID, leaked.ID)
	}
	if _, err := s.Revoke(ctx, "u1", "ci", owner, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, plain, ""); !errors.Is(err, ErrRevoked) {
		t.Fatalf("the key the leaked credential rotated, after the owner revoked it: %v, want ErrRevoked", err)
	}

	// A key rotating itself, and the owner, keep the lineage.
	self, _, _ := s.Create(ctx, "u1", owner, CreateRequest{Handle: "self", Scopes: []string{"keys:write"}})
	next, _, err := s.Rotate(ctx, "u1", "self", as(self), 0, "")
	if err != nil || next.ParentKeyID != "" {
		t.Fatalf("a key rotating itself: parent %q, %v; want no parent", next.ParentKeyID, err)
	}
	child, _, _ := s.Create(ctx, "u1", as(next), CreateRequest{Handle: "child", Scopes: []string{"keys:write"}})
	again, _, err := s.Rotate(ctx, "u1", "child", owner, 0, "")
	if err != nil || again.ParentKeyID != child.ParentKeyID {
		t.Fatalf("the owner rotating a child: parent %q, %v; want %q", again.ParentKeyID, err, child.ParentKeyID)
	}
}

// lookupHook runs after (once) each GetAPIKeyByHandle returns, to put a
// concurrent change between a request's lookup and its write.
type lookupHook struct {
	Store
	after func()
}

func (l *lookupHook) GetAPIKeyByHandle(ctx context.Context, userID, handle string) (*storage.APIKey, error) {
	k, err := l.Store.GetAPIKeyByHandle(ctx, userID, handle)
	if f := l.after; f != nil {
		l.after = nil
		f()
	}
	return k, err
}

// TestRevokeRacingRotationIsConflict: DELETE /user/keys/{handle} looks
// the key up, then revokes it. When a rotation moved the handle to a new
// key in between, the revoke used to land on the rotated-out key and
// answer success while the handle's new key stayed valid (seen on
// PostgreSQL: DELETE 204, the key under the handle still active). It is
// ErrRotated (409) now, like PATCH; revoking a rotated-out key by its
// dated handle still works.
func TestRevokeRacingRotationIsConflict(t *testing.T) {
	base, cs, _, _ := newService(t, false)
	hook := &lookupHook{Store: cs}
	s := New(base.cfg, hook)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx := t.Context()
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci"}); err != nil {
		t.Fatal(err)
	}
	var newPlain string
	hook.after = func() {
		_, p, err := s.Rotate(ctx, "u1", "ci", owner, time.Hour, "")
		if err != nil {
			t.Errorf("concurrent rotation: %v", err)
		}
		newPlain = p
	}
	_, err := s.Revoke(ctx, "u1", "ci", owner, "")
	if _, verr := s.Verify(ctx, newPlain, ""); err == nil && verr == nil {
		t.Fatal("revoke answered success, yet the key now under the handle is valid")
	}
	if !errors.Is(err, ErrRotated) {
		t.Fatalf("revoke racing a rotation: %v, want ErrRotated", err)
	}
	ks, _ := s.List(ctx, "u1")
	for i := range ks {
		if ks[i].ReplacedBy != "" {
			if _, err := s.Revoke(ctx, "u1", ks[i].Handle, owner, ""); err != nil {
				t.Fatalf("revoking the rotated-out key by its dated handle: %v", err)
			}
		}
	}
}

// TestRotateRacingPatchKeepsTheNarrowing: a rotation copies the key's
// scopes and expiry to the new key. When a PATCH narrowed the key between
// the rotation's lookup and its write, the new key used to get the scopes
// and expiry from before the PATCH — the PATCH answered 200, and the key
// under the handle had its old rights back. The new key is built from the
// row as locked now.
func TestRotateRacingPatchKeepsTheNarrowing(t *testing.T) {
	base, cs, clk, _ := newService(t, false)
	hook := &lookupHook{Store: cs}
	s := New(base.cfg, hook)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx := t.Context()
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci", Scopes: []string{"read-write"}}); err != nil {
		t.Fatal(err)
	}
	hook.after = func() {
		d := time.Hour
		if _, err := s.Update(ctx, "u1", "ci", owner, Patch{Scopes: []string{"users:read"}, ExpiresIn: &d}); err != nil {
			t.Errorf("concurrent narrowing: %v", err)
		}
	}
	fresh, _, err := s.Rotate(ctx, "u1", "ci", owner, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	want := clk.now().UTC().Add(time.Hour).Truncate(time.Second)
	if !slices.Equal(fresh.Scopes, []string{"users:read"}) || fresh.ExpiresAt == nil || !fresh.ExpiresAt.Equal(want) {
		t.Fatalf("rotated key after a concurrent narrowing: scopes %v expires %v; want [users:read] %v", fresh.Scopes, fresh.ExpiresAt, want)
	}
}
