package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func wantClient(t *testing.T, what string, got, want *storage.Client) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.OwnerID != want.OwnerID ||
		got.SecretVersion != want.SecretVersion || got.Public != want.Public ||
		got.RequirePKCE != want.RequirePKCE || got.ResourceServer != want.ResourceServer ||
		got.TokenEndpointAuthMethod != want.TokenEndpointAuthMethod ||
		got.LogoURI != want.LogoURI || got.ClientURI != want.ClientURI {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	if !slices.Equal(got.SecretDigest, want.SecretDigest) {
		t.Errorf("%s SecretDigest = %x, want %x", what, got.SecretDigest, want.SecretDigest)
	}
	wantStrings(t, what+" RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	wantStrings(t, what+" GrantTypes", got.GrantTypes, want.GrantTypes)
	wantStrings(t, what+" ResponseTypes", got.ResponseTypes, want.ResponseTypes)
	wantStrings(t, what+" Scopes", got.Scopes, want.Scopes)
	wantStrings(t, what+" Audience", got.Audience, want.Audience)
	wantTime(t, what+" CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testClientCreateGet(t *testing.T, ctx context.Context, s storage.Store) {
	c := newClient("c1", "u1")
	c.TokenEndpointAuthMethod = "private_key_jwt"
	c.RequirePKCE, c.ResourceServer = true, true
	must(t, s.CreateClient(ctx, c), "CreateClient")
	got, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	wantClient(t, "GetClient", got, c)
	wantTime(t, "GetClient UpdatedAt", got.UpdatedAt, c.UpdatedAt)

	// A public client: no secret, empty lists.
	p := &storage.Client{ID: "pub", Name: "Public", Public: true, RedirectURIs: []string{}}
	must(t, s.CreateClient(ctx, p), "CreateClient(public)")
	got, err = s.GetClient(ctx, "pub")
	must(t, err, "GetClient(public)")
	wantClient(t, "GetClient(public)", got, p)
}

func testClientDuplicateID(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateClient(ctx, newClient("c1", "u1")), "CreateClient")
	dup := newClient("c1", "u2")
	dup.Name = "Impostor"
	wantErr(t, s.CreateClient(ctx, dup), storage.ErrConflict, "CreateClient with a taken id")
	got, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	if got.Name != "Client c1" {
		t.Errorf("the rejected duplicate changed the client: name %q", got.Name)
	}
}

func testClientNotFound(t *testing.T, ctx context.Context, s storage.Store) {
	c, err := s.GetClient(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound, "GetClient(missing)")
	if c != nil {
		t.Errorf("GetClient(missing) returned %+v with the error", c)
	}
	called := false
	err = s.UpdateClient(ctx, "nope", func(*storage.Client) error { called = true; return nil })
	wantErr(t, err, storage.ErrNotFound, "UpdateClient(missing)")
	if called {
		t.Error("UpdateClient(missing) called fn")
	}
	wantErr(t, s.DeleteClient(ctx, "nope"), storage.ErrNotFound, "DeleteClient(missing)")
}

func testClientUpdate(t *testing.T, ctx context.Context, s storage.Store) {
	c := newClient("c1", "u1")
	c.CreatedAt = past()
	must(t, s.CreateClient(ctx, c), "CreateClient")
	before, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")

	err = s.UpdateClient(ctx, "c1", func(c *storage.Client) error {
		if c.Name != "Client c1" {
			t.Errorf("fn saw name %q, want the stored one", c.Name)
		}
		c.Name = "Renamed"
		c.Scopes = append(c.Scopes, "email")
		c.SecretDigest = []byte{9, 9, 9}
		c.SecretVersion = 3
		c.Public = true
		return nil
	})
	must(t, err, "UpdateClient")
	got, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient after update")
	want := *before
	want.Name, want.SecretDigest, want.SecretVersion, want.Public = "Renamed", []byte{9, 9, 9}, 3, true
	want.Scopes = append(slices.Clone(before.Scopes), "email")
	wantClient(t, "GetClient after update", got, &want)
	if got.UpdatedAt.Before(before.UpdatedAt) {
		t.Errorf("UpdatedAt went backwards: %v -> %v", before.UpdatedAt, got.UpdatedAt)
	}
}

func testClientUpdateErrorAborts(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateClient(ctx, newClient("c1", "u1")), "CreateClient")
	before, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	err = s.UpdateClient(ctx, "c1", func(c *storage.Client) error {
		c.Name = "Should not stick"
		c.RedirectURIs = nil
		return errTest
	})
	wantErr(t, err, errTest, "UpdateClient whose fn fails")
	got, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	wantClient(t, "GetClient after aborted update", got, before)
	wantTime(t, "UpdatedAt after aborted update", got.UpdatedAt, before.UpdatedAt)
}

func testClientUpdateConcurrent(t *testing.T, ctx context.Context, s storage.Store) {
	const n = 16
	c := newClient("c1", "u1")
	c.RedirectURIs = nil
	must(t, s.CreateClient(ctx, c), "CreateClient")
	errs := runConcurrently(n, func(i int) error {
		return s.UpdateClient(ctx, "c1", func(c *storage.Client) error {
			c.RedirectURIs = append(c.RedirectURIs, fmt.Sprintf("https://example.test/cb/%02d", i))
			return nil
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateClient #%d: %v", i, err)
		}
	}
	got, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	uris := slices.Sorted(slices.Values(got.RedirectURIs))
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("https://example.test/cb/%02d", i)
	}
	if !slices.Equal(uris, want) {
		t.Errorf("after %d concurrent appends RedirectURIs = %q (%d), want all %d: an update was lost",
			n, got.RedirectURIs, len(got.RedirectURIs), n)
	}
}

func testClientDeleteCascades(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	must(t, s.CreateClient(ctx, newClient("c1", "u1")), "CreateClient(c1)")
	must(t, s.CreateClient(ctx, newClient("c2", "u1")), "CreateClient(c2)")
	exp := future()
	createRequests(t, ctx, s,
		newRequest(storage.KindCode, "code1", "g1", "c1", "alice", exp),
		newRequest(storage.KindAccess, "at1", "g1", "c1", "alice", exp),
		newRequest(storage.KindRefresh, "rt1", "g1", "c1", "alice", exp),
		newRequest(storage.KindPAR, "par1", "g2", "c1", "", exp),
		newRequest(storage.KindAccess, "at2", "g3", "c2", "alice", exp),
	)
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "bob", ClientID: "c1", Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c2", Scopes: []string{"openid"}}), "SaveConsent")

	must(t, s.DeleteClient(ctx, "c1"), "DeleteClient")

	_, err := s.GetClient(ctx, "c1")
	wantErr(t, err, storage.ErrNotFound, "GetClient after delete")
	for _, k := range []struct {
		kind storage.Kind
		sig  string
	}{{storage.KindCode, "code1"}, {storage.KindAccess, "at1"}, {storage.KindRefresh, "rt1"}, {storage.KindPAR, "par1"}} {
		wantState(t, ctx, s, k.kind, k.sig, "missing")
	}
	for _, u := range []string{"alice", "bob"} {
		_, err := s.GetConsent(ctx, u, "c1")
		wantErr(t, err, storage.ErrNotFound, "GetConsent("+u+", c1) after delete")
	}
	// The other client keeps everything.
	_, err = s.GetClient(ctx, "c2")
	must(t, err, "GetClient(c2)")
	wantState(t, ctx, s, storage.KindAccess, "at2", "active")
	_, err = s.GetConsent(ctx, "alice", "c2")
	must(t, err, "GetConsent(alice, c2)")

	wantErr(t, s.DeleteClient(ctx, "c1"), storage.ErrNotFound, "second DeleteClient")
}

func testClientListByOwner(t *testing.T, ctx context.Context, s storage.Store) {
	base := past()
	created := map[string]*storage.Client{}
	// Inserted out of age order; the list must come back oldest first.
	for _, c := range []struct {
		id    string
		owner string
		age   time.Duration
	}{
		{"c-mid", "u1", 2 * time.Hour},
		{"c-new", "u1", 1 * time.Hour},
		{"c-other", "u2", 5 * time.Hour},
		{"c-old", "u1", 3 * time.Hour},
		{"c-subsec", "u1", 3*time.Hour - 500*time.Millisecond},
	} {
		cl := newClient(c.id, c.owner)
		cl.CreatedAt = base.Add(-c.age)
		must(t, s.CreateClient(ctx, cl), "CreateClient("+c.id+")")
		created[c.id] = cl
	}
	got, err := s.ListClientsByOwner(ctx, "u1")
	must(t, err, "ListClientsByOwner")
	var ids []string
	for i := range got {
		ids = append(ids, got[i].ID)
		if want, ok := created[got[i].ID]; ok {
			wantClient(t, "listed "+got[i].ID, &got[i], want)
		}
	}
	wantStrings(t, "ListClientsByOwner(u1)", ids, []string{"c-old", "c-subsec", "c-mid", "c-new"})
	none, err := s.ListClientsByOwner(ctx, "nobody")
	must(t, err, "ListClientsByOwner(nobody)")
	if len(none) != 0 {
		t.Errorf("ListClientsByOwner(nobody) = %d clients, want none", len(none))
	}
}
