// Package storagetest is the storage conformance suite: one set of tests,
// written against the storage.Store contract, that every backend runs (the
// dex model). A backend's test calls Run with a function that opens a fresh,
// migrated, empty store and registers its clean-up with t.Cleanup.
//
// The open function takes no options, so the suite cannot inject a clock:
// tests that depend on expiry use explicit times far in the past or future.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// subtestTimeout bounds every subtest, so a backend that deadlocks (for
// example a call that escapes its transaction on a one-writer pool) fails
// instead of hanging the whole run.
const subtestTimeout = 30 * time.Second

// Run runs the conformance suite: one named subtest per contract of
// storage.Store, each against a fresh store returned by open.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s storage.Store)
	}{
		{"Ping", testPing},
		{"Close", testClose},

		{"Users/CreateGet", testUserCreateGet},
		{"Users/DuplicateUsername", testUserDuplicateUsername},
		{"Users/DuplicateID", testUserDuplicateID},
		{"Users/NotFound", testUserNotFound},

		{"Clients/CreateGet", testClientCreateGet},
		{"Clients/DuplicateID", testClientDuplicateID},
		{"Clients/NotFound", testClientNotFound},
		{"Clients/Update", testClientUpdate},
		{"Clients/UpdateErrorAborts", testClientUpdateErrorAborts},
		{"Clients/UpdateConcurrent", testClientUpdateConcurrent},
		{"Clients/DeleteCascades", testClientDeleteCascades},
		{"Clients/ListByOwner", testClientListByOwner},

		{"Requests/CreateGet", testRequestCreateGet},
		{"Requests/DuplicateSignature", testRequestDuplicate},
		{"Requests/NotFound", testRequestNotFound},
		{"Requests/GetInactive", testRequestGetInactive},
		{"Requests/Deactivate", testRequestDeactivate},
		{"Requests/DeactivateConcurrent", testRequestDeactivateConcurrent},
		{"Requests/DeleteIdempotent", testRequestDeleteIdempotent},
		{"Requests/DeactivateByRequestID", testRequestDeactivateByRequestID},
		{"Requests/DeleteByRequestID", testRequestDeleteByRequestID},
		{"Requests/RevokeGrants", testRequestRevokeGrants},

		{"Consents/SaveGet", testConsentSaveGet},
		{"Consents/SaveReplaces", testConsentSaveReplaces},
		{"Consents/List", testConsentList},
		{"Consents/Delete", testConsentDelete},

		{"JTI/MarkKnown", testJTIMarkKnown},
		{"JTI/Duplicate", testJTIDuplicate},
		{"JTI/ExpiredRemark", testJTIExpiredRemark},

		{"Tx/RollbackDiscards", testTxRollback},
		{"Tx/CommitKeeps", testTxCommit},
		{"Tx/ReadsSeeOwnWrites", testTxReadsOwnWrites},
		{"Tx/CompoundCallsJoin", testTxCompoundCallsJoin},
		{"Tx/InTxErrorRollsBack", testInTxError},
		{"Tx/InTxCommits", testInTxCommit},

		{"PurgeExpired/OnlyExpired", testPurgeOnlyExpired},
		{"PurgeExpired/Limit", testPurgeLimit},
		{"PurgeExpired/Cutoff", testPurgeCutoff},

		{"Times/RoundTripUTC", testTimesRoundTrip},
		{"Times/AnyLocation", testTimesAnyLocation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
			t.Cleanup(cancel)
			tc.fn(t, ctx, s)
		})
	}
}

// ---- helpers -------------------------------------------------------------

var errTest = errors.New("storagetest: deliberate failure")

// Fixed reference points, far enough from now that the test's duration and
// clock skew between the test and a database server never matter.
func future() time.Time { return time.Now().UTC().Add(24 * time.Hour).Truncate(time.Microsecond) }
func past() time.Time   { return time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Microsecond) }

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want errors.Is(err, %v)", what, err, target)
	}
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !sameTime(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func newUser(id string) *storage.User {
	return &storage.User{
		ID:           id,
		Username:     "user-" + id,
		Email:        id + "@example.test",
		Name:         "User " + id,
		PasswordHash: "$argon2id$hash-of-" + id,
	}
}

func newClient(id, owner string) *storage.Client {
	return &storage.Client{
		ID:            id,
		SecretDigest:  []byte{0x00, 0x01, 0xfe, 0xff, byte(len(id))},
		SecretVersion: 2,
		Name:          "Client " + id,
		OwnerID:       owner,
		RedirectURIs:  []string{"https://" + id + ".example.test/cb", "http://127.0.0.1/cb"},
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"},
		Scopes:        []string{"openid", "profile", "offline_access"},
		Audience:      []string{"https://api.example.test"},
		LogoURI:       "https://" + id + ".example.test/logo.png",
		ClientURI:     "https://" + id + ".example.test/",
	}
}

func newRequest(kind storage.Kind, sig, requestID, clientID, subject string, expiresAt time.Time) *storage.Request {
	return &storage.Request{
		Kind:        kind,
		Signature:   sig,
		RequestID:   requestID,
		ClientID:    clientID,
		Subject:     subject,
		Active:      true,
		RequestedAt: time.Now().UTC().Truncate(time.Microsecond),
		ExpiresAt:   expiresAt,
		Data:        []byte(`{"sig":"` + sig + `","bin":"` + "\x00\xff" + `"}`),
	}
}

func createRequests(t *testing.T, ctx context.Context, s storage.Store, rs ...*storage.Request) {
	t.Helper()
	for _, r := range rs {
		must(t, s.CreateRequest(ctx, r), fmt.Sprintf("CreateRequest(%s, %s)", r.Kind, r.Signature))
	}
}

// requestState reports "active", "inactive" or "missing" for a record.
func requestState(t *testing.T, ctx context.Context, s storage.Store, kind storage.Kind, sig string) string {
	t.Helper()
	r, err := s.GetRequest(ctx, kind, sig)
	switch {
	case err == nil:
		return "active"
	case errors.Is(err, storage.ErrInactive):
		if r == nil {
			t.Fatalf("GetRequest(%s, %s): ErrInactive without the record", kind, sig)
		}
		return "inactive"
	case errors.Is(err, storage.ErrNotFound):
		return "missing"
	default:
		t.Fatalf("GetRequest(%s, %s): %v", kind, sig, err)
		return ""
	}
}

func wantState(t *testing.T, ctx context.Context, s storage.Store, kind storage.Kind, sig, want string) {
	t.Helper()
	if got := requestState(t, ctx, s, kind, sig); got != want {
		t.Errorf("record (%s, %s) is %s, want %s", kind, sig, got, want)
	}
}

// runConcurrently calls fn(i) for i in [0, n) from n goroutines released
// together, and returns the n results.
func runConcurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// ---- database ------------------------------------------------------------

func testPing(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.Ping(ctx), "Ping")
}

func testClose(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.Ping(ctx), "Ping before Close")
	must(t, s.Close(), "Close")
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded, want an error")
	}
}

// ---- users ---------------------------------------------------------------

func testUserCreateGet(t *testing.T, ctx context.Context, s storage.Store) {
	u := newUser("u1")
	u.Admin = true
	must(t, s.CreateUser(ctx, u), "CreateUser")
	if u.CreatedAt.IsZero() || u.UpdatedAt.IsZero() {
		t.Errorf("CreateUser left timestamps zero: created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}
	for _, get := range []struct {
		name string
		fn   func() (*storage.User, error)
	}{
		{"GetUser", func() (*storage.User, error) { return s.GetUser(ctx, "u1") }},
		{"GetUserByUsername", func() (*storage.User, error) { return s.GetUserByUsername(ctx, "user-u1") }},
	} {
		got, err := get.fn()
		must(t, err, get.name)
		if got.ID != u.ID || got.Username != u.Username || got.Email != u.Email || got.Name != u.Name ||
			got.PasswordHash != u.PasswordHash || got.Admin != u.Admin {
			t.Errorf("%s = %+v, want %+v", get.name, got, u)
		}
		wantTime(t, get.name+" CreatedAt", got.CreatedAt, u.CreatedAt)
		wantTime(t, get.name+" UpdatedAt", got.UpdatedAt, u.UpdatedAt)
	}
}

func testUserDuplicateUsername(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	dup := newUser("u2")
	dup.Username = "user-u1"
	wantErr(t, s.CreateUser(ctx, dup), storage.ErrConflict, "CreateUser with a taken username")
	_, err := s.GetUser(ctx, "u2")
	wantErr(t, err, storage.ErrNotFound, "GetUser of the rejected user")
}

func testUserDuplicateID(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	dup := newUser("u1")
	dup.Username = "someone-else"
	wantErr(t, s.CreateUser(ctx, dup), storage.ErrConflict, "CreateUser with a taken id")
}

func testUserNotFound(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	u, err := s.GetUser(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetUser(missing)")
	if u != nil {
		t.Errorf("GetUser(missing) returned %+v with the error", u)
	}
	_, err = s.GetUserByUsername(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername(missing)")
	_, err = s.GetUserByUsername(ctx, "USER-U1")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername is exact, so a case variant")
}

// ---- clients -------------------------------------------------------------

func wantClient(t *testing.T, what string, got, want *storage.Client) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.OwnerID != want.OwnerID ||
		got.SecretVersion != want.SecretVersion || got.Public != want.Public ||
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

// ---- requests ------------------------------------------------------------

func wantRequest(t *testing.T, what string, got, want *storage.Request) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil record", what)
	}
	if got.Kind != want.Kind || got.Signature != want.Signature || got.RequestID != want.RequestID ||
		got.ClientID != want.ClientID || got.Subject != want.Subject ||
		got.AccessSignature != want.AccessSignature || got.Active != want.Active {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	if string(got.Data) != string(want.Data) {
		t.Errorf("%s Data = %q, want %q", what, got.Data, want.Data)
	}
	wantTime(t, what+" RequestedAt", got.RequestedAt, want.RequestedAt)
	wantTime(t, what+" ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func testRequestCreateGet(t *testing.T, ctx context.Context, s storage.Store) {
	for _, kind := range []storage.Kind{storage.KindCode, storage.KindAccess, storage.KindRefresh,
		storage.KindPKCE, storage.KindOIDC, storage.KindPAR} {
		r := newRequest(kind, "sig-"+string(kind), "g1", "c1", "alice", future())
		if kind == storage.KindRefresh {
			r.AccessSignature = "sig-access"
		}
		must(t, s.CreateRequest(ctx, r), "CreateRequest("+string(kind)+")")
		got, err := s.GetRequest(ctx, kind, r.Signature)
		must(t, err, "GetRequest("+string(kind)+")")
		wantRequest(t, "GetRequest("+string(kind)+")", got, r)
	}
	// RequestedAt defaults to now when zero.
	r := newRequest(storage.KindAccess, "no-time", "g2", "c1", "alice", future())
	r.RequestedAt = time.Time{}
	must(t, s.CreateRequest(ctx, r), "CreateRequest without RequestedAt")
	got, err := s.GetRequest(ctx, storage.KindAccess, "no-time")
	must(t, err, "GetRequest")
	if got.RequestedAt.IsZero() {
		t.Error("RequestedAt stayed zero")
	}
}

func testRequestDuplicate(t *testing.T, ctx context.Context, s storage.Store) {
	createRequests(t, ctx, s, newRequest(storage.KindAccess, "sig", "g1", "c1", "alice", future()))
	dup := newRequest(storage.KindAccess, "sig", "g2", "c2", "bob", future())
	wantErr(t, s.CreateRequest(ctx, dup), storage.ErrConflict, "CreateRequest with a taken (kind, signature)")
	got, err := s.GetRequest(ctx, storage.KindAccess, "sig")
	must(t, err, "GetRequest")
	if got.RequestID != "g1" {
		t.Errorf("the rejected duplicate replaced the record: request id %q", got.RequestID)
	}
	// The key is (Kind, Signature): the same signature under another kind is fine.
	must(t, s.CreateRequest(ctx, newRequest(storage.KindRefresh, "sig", "g1", "c1", "alice", future())),
		"CreateRequest with the same signature under another kind")
}

func testRequestNotFound(t *testing.T, ctx context.Context, s storage.Store) {
	createRequests(t, ctx, s, newRequest(storage.KindAccess, "sig", "g1", "c1", "alice", future()))
	r, err := s.GetRequest(ctx, storage.KindAccess, "other")
	wantErr(t, err, storage.ErrNotFound, "GetRequest(missing)")
	if r != nil {
		t.Errorf("GetRequest(missing) returned %+v with the error", r)
	}
	_, err = s.GetRequest(ctx, storage.KindRefresh, "sig")
	wantErr(t, err, storage.ErrNotFound, "GetRequest(right signature, wrong kind)")
}

func testRequestGetInactive(t *testing.T, ctx context.Context, s storage.Store) {
	want := newRequest(storage.KindCode, "code", "g1", "c1", "alice", future())
	createRequests(t, ctx, s, want)
	must(t, s.DeactivateRequest(ctx, storage.KindCode, "code"), "DeactivateRequest")
	got, err := s.GetRequest(ctx, storage.KindCode, "code")
	wantErr(t, err, storage.ErrInactive, "GetRequest(inactive)")
	if errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetRequest(inactive) error %v also matches ErrNotFound", err)
	}
	want.Active = false
	wantRequest(t, "GetRequest(inactive) record", got, want)

	// A record created inactive behaves the same.
	off := newRequest(storage.KindRefresh, "rt", "g1", "c1", "alice", future())
	off.Active = false
	createRequests(t, ctx, s, off)
	got, err = s.GetRequest(ctx, storage.KindRefresh, "rt")
	wantErr(t, err, storage.ErrInactive, "GetRequest(created inactive)")
	wantRequest(t, "GetRequest(created inactive) record", got, off)
}

func testRequestDeactivate(t *testing.T, ctx context.Context, s storage.Store) {
	createRequests(t, ctx, s,
		newRequest(storage.KindRefresh, "rt", "g1", "c1", "alice", future()),
		newRequest(storage.KindAccess, "rt", "g1", "c1", "alice", future()),
	)
	must(t, s.DeactivateRequest(ctx, storage.KindRefresh, "rt"), "DeactivateRequest")
	wantState(t, ctx, s, storage.KindRefresh, "rt", "inactive")
	wantState(t, ctx, s, storage.KindAccess, "rt", "active")
	wantErr(t, s.DeactivateRequest(ctx, storage.KindRefresh, "rt"), storage.ErrInactive, "second DeactivateRequest")
	wantErr(t, s.DeactivateRequest(ctx, storage.KindRefresh, "missing"), storage.ErrNotFound, "DeactivateRequest(missing)")
	wantErr(t, s.DeactivateRequest(ctx, storage.KindCode, "rt"), storage.ErrNotFound, "DeactivateRequest(wrong kind)")
}

func testRequestDeactivateConcurrent(t *testing.T, ctx context.Context, s storage.Store) {
	const n = 32
	createRequests(t, ctx, s, newRequest(storage.KindCode, "code", "g1", "c1", "alice", future()))
	errs := runConcurrently(n, func(int) error {
		return s.DeactivateRequest(ctx, storage.KindCode, "code")
	})
	var ok, inactive int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, storage.ErrInactive):
			inactive++
		default:
			t.Errorf("DeactivateRequest #%d: %v", i, err)
		}
	}
	if ok != 1 || inactive != n-1 {
		t.Errorf("%d concurrent DeactivateRequest: %d succeeded and %d got ErrInactive, want 1 and %d",
			n, ok, inactive, n-1)
	}
	wantState(t, ctx, s, storage.KindCode, "code", "inactive")
}

func testRequestDeleteIdempotent(t *testing.T, ctx context.Context, s storage.Store) {
	createRequests(t, ctx, s,
		newRequest(storage.KindPKCE, "sig", "g1", "c1", "alice", future()),
		newRequest(storage.KindOIDC, "sig", "g1", "c1", "alice", future()),
	)
	must(t, s.DeleteRequest(ctx, storage.KindPKCE, "sig"), "DeleteRequest")
	wantState(t, ctx, s, storage.KindPKCE, "sig", "missing")
	wantState(t, ctx, s, storage.KindOIDC, "sig", "active")
	must(t, s.DeleteRequest(ctx, storage.KindPKCE, "sig"), "second DeleteRequest")
	must(t, s.DeleteRequest(ctx, storage.KindPKCE, "never-existed"), "DeleteRequest(missing)")
}

// grantFixture creates records that differ from (kind refresh/access, grant
// g1) in exactly one of kind or request id.
func grantFixture(t *testing.T, ctx context.Context, s storage.Store) {
	t.Helper()
	exp := future()
	createRequests(t, ctx, s,
		newRequest(storage.KindRefresh, "rt1", "g1", "c1", "alice", exp),
		newRequest(storage.KindRefresh, "rt2", "g1", "c1", "alice", exp),
		newRequest(storage.KindAccess, "at1", "g1", "c1", "alice", exp),
		newRequest(storage.KindCode, "code1", "g1", "c1", "alice", exp),
		newRequest(storage.KindRefresh, "rt3", "g2", "c1", "alice", exp),
		newRequest(storage.KindAccess, "at3", "g2", "c1", "alice", exp),
	)
}

func testRequestDeactivateByRequestID(t *testing.T, ctx context.Context, s storage.Store) {
	grantFixture(t, ctx, s)
	n, err := s.DeactivateByRequestID(ctx, storage.KindRefresh, "g1")
	must(t, err, "DeactivateByRequestID")
	if n != 2 {
		t.Errorf("DeactivateByRequestID = %d, want 2", n)
	}
	wantState(t, ctx, s, storage.KindRefresh, "rt1", "inactive")
	wantState(t, ctx, s, storage.KindRefresh, "rt2", "inactive")
	wantState(t, ctx, s, storage.KindAccess, "at1", "active")
	wantState(t, ctx, s, storage.KindCode, "code1", "active")
	wantState(t, ctx, s, storage.KindRefresh, "rt3", "active")
	wantState(t, ctx, s, storage.KindAccess, "at3", "active")

	n, err = s.DeactivateByRequestID(ctx, storage.KindRefresh, "g-none")
	must(t, err, "DeactivateByRequestID(unknown grant)")
	if n != 0 {
		t.Errorf("DeactivateByRequestID(unknown grant) = %d, want 0", n)
	}
}

func testRequestDeleteByRequestID(t *testing.T, ctx context.Context, s storage.Store) {
	grantFixture(t, ctx, s)
	n, err := s.DeleteByRequestID(ctx, storage.KindRefresh, "g1")
	must(t, err, "DeleteByRequestID")
	if n != 2 {
		t.Errorf("DeleteByRequestID = %d, want 2", n)
	}
	wantState(t, ctx, s, storage.KindRefresh, "rt1", "missing")
	wantState(t, ctx, s, storage.KindRefresh, "rt2", "missing")
	wantState(t, ctx, s, storage.KindAccess, "at1", "active")
	wantState(t, ctx, s, storage.KindCode, "code1", "active")
	wantState(t, ctx, s, storage.KindRefresh, "rt3", "active")
	wantState(t, ctx, s, storage.KindAccess, "at3", "active")

	n, err = s.DeleteByRequestID(ctx, storage.KindRefresh, "g1")
	must(t, err, "second DeleteByRequestID")
	if n != 0 {
		t.Errorf("second DeleteByRequestID = %d, want 0", n)
	}
}

func testRequestRevokeGrants(t *testing.T, ctx context.Context, s storage.Store) {
	exp := future()
	createRequests(t, ctx, s,
		newRequest(storage.KindAccess, "at-alice-c1-a", "g1", "c1", "alice", exp),
		newRequest(storage.KindAccess, "at-alice-c1-b", "g2", "c1", "alice", exp),
		newRequest(storage.KindRefresh, "rt-alice-c1", "g1", "c1", "alice", exp),
		newRequest(storage.KindCode, "code-alice-c1", "g3", "c1", "alice", exp),
		newRequest(storage.KindAccess, "at-alice-c2", "g4", "c2", "alice", exp),
		newRequest(storage.KindRefresh, "rt-alice-c2", "g4", "c2", "alice", exp),
		newRequest(storage.KindAccess, "at-bob-c1", "g5", "c1", "bob", exp),
		newRequest(storage.KindRefresh, "rt-bob-c1", "g5", "c1", "bob", exp),
	)
	must(t, s.RevokeGrants(ctx, "alice", "c1"), "RevokeGrants")
	for _, w := range []struct {
		kind  storage.Kind
		sig   string
		state string
	}{
		{storage.KindAccess, "at-alice-c1-a", "missing"},
		{storage.KindAccess, "at-alice-c1-b", "missing"},
		{storage.KindRefresh, "rt-alice-c1", "inactive"},
		{storage.KindCode, "code-alice-c1", "active"},
		{storage.KindAccess, "at-alice-c2", "active"},
		{storage.KindRefresh, "rt-alice-c2", "active"},
		{storage.KindAccess, "at-bob-c1", "active"},
		{storage.KindRefresh, "rt-bob-c1", "active"},
	} {
		wantState(t, ctx, s, w.kind, w.sig, w.state)
	}
	must(t, s.RevokeGrants(ctx, "alice", "c1"), "second RevokeGrants")
	must(t, s.RevokeGrants(ctx, "nobody", "c9"), "RevokeGrants with nothing to revoke")
}

// ---- consents ------------------------------------------------------------

func testConsentSaveGet(t *testing.T, ctx context.Context, s storage.Store) {
	c := &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid", "profile"}}
	must(t, s.SaveConsent(ctx, c), "SaveConsent")
	got, err := s.GetConsent(ctx, "alice", "c1")
	must(t, err, "GetConsent")
	if got.UserID != "alice" || got.ClientID != "c1" {
		t.Errorf("GetConsent = %+v", got)
	}
	wantStrings(t, "GetConsent Scopes", got.Scopes, c.Scopes)
	wantTime(t, "GetConsent CreatedAt", got.CreatedAt, c.CreatedAt)
	wantTime(t, "GetConsent UpdatedAt", got.UpdatedAt, c.UpdatedAt)

	_, err = s.GetConsent(ctx, "alice", "c2")
	wantErr(t, err, storage.ErrNotFound, "GetConsent(other client)")
	_, err = s.GetConsent(ctx, "bob", "c1")
	wantErr(t, err, storage.ErrNotFound, "GetConsent(other user)")
}

func testConsentSaveReplaces(t *testing.T, ctx context.Context, s storage.Store) {
	first := &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid"}}
	must(t, s.SaveConsent(ctx, first), "first SaveConsent")
	second := &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid", "email", "offline_access"}}
	must(t, s.SaveConsent(ctx, second), "second SaveConsent")
	got, err := s.GetConsent(ctx, "alice", "c1")
	must(t, err, "GetConsent")
	wantStrings(t, "Scopes after replace", got.Scopes, second.Scopes)
	if got.UpdatedAt.Before(first.UpdatedAt.Truncate(time.Microsecond)) {
		t.Errorf("UpdatedAt %v is before the first save's %v", got.UpdatedAt, first.UpdatedAt)
	}
	list, err := s.ListConsents(ctx, "alice")
	must(t, err, "ListConsents")
	if len(list) != 1 {
		t.Fatalf("ListConsents after two saves of one pair = %d rows, want 1", len(list))
	}
	wantStrings(t, "listed Scopes", list[0].Scopes, second.Scopes)
}

func testConsentList(t *testing.T, ctx context.Context, s storage.Store) {
	// SaveConsent stamps UpdatedAt from the store's clock, which the suite
	// cannot inject; a short pause keeps consecutive saves distinct even on
	// a database that keeps only microseconds.
	save := func(user, client string) {
		t.Helper()
		time.Sleep(2 * time.Millisecond)
		must(t, s.SaveConsent(ctx, &storage.Consent{UserID: user, ClientID: client, Scopes: []string{"openid"}}),
			"SaveConsent("+user+", "+client+")")
	}
	list := func() []string {
		t.Helper()
		cs, err := s.ListConsents(ctx, "alice")
		must(t, err, "ListConsents")
		var ids []string
		for _, c := range cs {
			if c.UserID != "alice" {
				t.Errorf("ListConsents(alice) returned a consent of %q", c.UserID)
			}
			ids = append(ids, c.ClientID)
		}
		return ids
	}
	save("alice", "c1")
	save("bob", "c2")
	save("alice", "c2")
	save("alice", "c3")
	wantStrings(t, "ListConsents newest first", list(), []string{"c3", "c2", "c1"})
	save("alice", "c1") // re-granting makes it the newest
	wantStrings(t, "ListConsents after re-saving c1", list(), []string{"c1", "c3", "c2"})

	none, err := s.ListConsents(ctx, "nobody")
	must(t, err, "ListConsents(nobody)")
	if len(none) != 0 {
		t.Errorf("ListConsents(nobody) = %d, want none", len(none))
	}
}

func testConsentDelete(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c2", Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.DeleteConsent(ctx, "alice", "c1"), "DeleteConsent")
	_, err := s.GetConsent(ctx, "alice", "c1")
	wantErr(t, err, storage.ErrNotFound, "GetConsent after delete")
	_, err = s.GetConsent(ctx, "alice", "c2")
	must(t, err, "GetConsent of the other consent")
	wantErr(t, s.DeleteConsent(ctx, "alice", "c1"), storage.ErrNotFound, "second DeleteConsent")
	wantErr(t, s.DeleteConsent(ctx, "bob", "c2"), storage.ErrNotFound, "DeleteConsent(never given)")
}

// ---- JTIs ----------------------------------------------------------------

func wantKnown(t *testing.T, ctx context.Context, s storage.Store, jti string, want bool) {
	t.Helper()
	got, err := s.JTIKnown(ctx, jti)
	must(t, err, "JTIKnown("+jti+")")
	if got != want {
		t.Errorf("JTIKnown(%s) = %v, want %v", jti, got, want)
	}
}

func testJTIMarkKnown(t *testing.T, ctx context.Context, s storage.Store) {
	wantKnown(t, ctx, s, "j1", false)
	must(t, s.MarkJTI(ctx, "j1", future()), "MarkJTI")
	wantKnown(t, ctx, s, "j1", true)
	wantKnown(t, ctx, s, "j2", false)
	must(t, s.MarkJTI(ctx, "j-old", past()), "MarkJTI(already expired)")
	wantKnown(t, ctx, s, "j-old", false)
}

func testJTIDuplicate(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.MarkJTI(ctx, "j1", future()), "MarkJTI")
	wantErr(t, s.MarkJTI(ctx, "j1", future().Add(time.Hour)), storage.ErrConflict, "MarkJTI of a recorded unexpired jti")
	wantKnown(t, ctx, s, "j1", true)
}

func testJTIExpiredRemark(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.MarkJTI(ctx, "j1", past()), "MarkJTI(expired)")
	must(t, s.MarkJTI(ctx, "j1", future()), "MarkJTI over an expired record")
	wantKnown(t, ctx, s, "j1", true)
	wantErr(t, s.MarkJTI(ctx, "j1", future()), storage.ErrConflict, "MarkJTI once re-marked")
}

// ---- transactions --------------------------------------------------------

func testTxRollback(t *testing.T, ctx context.Context, s storage.Store) {
	txCtx, err := s.BeginTx(ctx)
	must(t, err, "BeginTx")
	must(t, s.CreateUser(txCtx, newUser("u1")), "CreateUser in tx")
	must(t, s.CreateClient(txCtx, newClient("c1", "u1")), "CreateClient in tx")
	createRequests(t, txCtx, s, newRequest(storage.KindCode, "code", "g1", "c1", "u1", future()))
	must(t, s.SaveConsent(txCtx, &storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid"}}), "SaveConsent in tx")
	must(t, s.MarkJTI(txCtx, "j1", future()), "MarkJTI in tx")
	must(t, s.Rollback(txCtx), "Rollback")

	_, err = s.GetUser(ctx, "u1")
	wantErr(t, err, storage.ErrNotFound, "GetUser after rollback")
	_, err = s.GetClient(ctx, "c1")
	wantErr(t, err, storage.ErrNotFound, "GetClient after rollback")
	wantState(t, ctx, s, storage.KindCode, "code", "missing")
	_, err = s.GetConsent(ctx, "u1", "c1")
	wantErr(t, err, storage.ErrNotFound, "GetConsent after rollback")
	wantKnown(t, ctx, s, "j1", false)

	// The store is usable again after the transaction ends.
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser after rollback")
}

func testTxCommit(t *testing.T, ctx context.Context, s storage.Store) {
	txCtx, err := s.BeginTx(ctx)
	must(t, err, "BeginTx")
	must(t, s.CreateUser(txCtx, newUser("u1")), "CreateUser in tx")
	createRequests(t, txCtx, s, newRequest(storage.KindCode, "code", "g1", "c1", "u1", future()))
	must(t, s.Commit(txCtx), "Commit")

	_, err = s.GetUser(ctx, "u1")
	must(t, err, "GetUser after commit")
	wantState(t, ctx, s, storage.KindCode, "code", "active")
	must(t, s.CreateUser(ctx, newUser("u2")), "CreateUser after commit")
}

func testTxReadsOwnWrites(t *testing.T, ctx context.Context, s storage.Store) {
	txCtx, err := s.BeginTx(ctx)
	must(t, err, "BeginTx")
	t.Cleanup(func() { _ = s.Rollback(txCtx) }) // in case of an early failure

	must(t, s.CreateUser(txCtx, newUser("u1")), "CreateUser in tx")
	must(t, s.CreateClient(txCtx, newClient("c1", "u1")), "CreateClient in tx")
	createRequests(t, txCtx, s, newRequest(storage.KindRefresh, "rt", "g1", "c1", "u1", future()))
	must(t, s.DeactivateRequest(txCtx, storage.KindRefresh, "rt"), "DeactivateRequest in tx")

	_, err = s.GetUser(txCtx, "u1")
	must(t, err, "GetUser in tx")
	_, err = s.GetUserByUsername(txCtx, "user-u1")
	must(t, err, "GetUserByUsername in tx")
	cs, err := s.ListClientsByOwner(txCtx, "u1")
	must(t, err, "ListClientsByOwner in tx")
	if len(cs) != 1 {
		t.Errorf("ListClientsByOwner in tx = %d clients, want 1", len(cs))
	}
	wantState(t, txCtx, s, storage.KindRefresh, "rt", "inactive")

	// Uncommitted writes are invisible outside the transaction.
	_, err = s.GetUser(ctx, "u1")
	wantErr(t, err, storage.ErrNotFound, "GetUser outside the open tx")
	wantState(t, ctx, s, storage.KindRefresh, "rt", "missing")

	must(t, s.Commit(txCtx), "Commit")
	wantState(t, ctx, s, storage.KindRefresh, "rt", "inactive")
}

func testTxCompoundCallsJoin(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateClient(ctx, newClient("c1", "u1")), "CreateClient")
	must(t, s.CreateClient(ctx, newClient("c2", "u1")), "CreateClient")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c2", Scopes: []string{"openid"}}), "SaveConsent")
	createRequests(t, ctx, s,
		newRequest(storage.KindAccess, "at", "g1", "c1", "alice", future()),
		newRequest(storage.KindRefresh, "rt", "g1", "c1", "alice", future()),
		newRequest(storage.KindCode, "code", "g1", "c1", "alice", future()),
		newRequest(storage.KindAccess, "at2", "g2", "c2", "alice", future()),
	)

	txCtx, err := s.BeginTx(ctx)
	must(t, err, "BeginTx")
	must(t, s.UpdateClient(txCtx, "c1", func(c *storage.Client) error { c.Name = "Renamed"; return nil }), "UpdateClient in tx")
	must(t, s.RevokeGrants(txCtx, "alice", "c1"), "RevokeGrants in tx")
	must(t, s.DeactivateRequest(txCtx, storage.KindCode, "code"), "DeactivateRequest in tx")
	must(t, s.MarkJTI(txCtx, "j1", future()), "MarkJTI in tx")
	must(t, s.DeleteClient(txCtx, "c2"), "DeleteClient in tx")
	must(t, s.InTx(txCtx, func(ctx context.Context) error { return s.CreateUser(ctx, newUser("u1")) }), "nested InTx")
	c, err := s.GetClient(txCtx, "c1")
	must(t, err, "GetClient in tx")
	if c.Name != "Renamed" {
		t.Errorf("GetClient in tx: name %q, want the tx's update", c.Name)
	}
	must(t, s.Rollback(txCtx), "Rollback")

	c, err = s.GetClient(ctx, "c1")
	must(t, err, "GetClient after rollback")
	if c.Name != "Client c1" {
		t.Errorf("UpdateClient inside a rolled-back tx stuck: name %q", c.Name)
	}
	wantState(t, ctx, s, storage.KindAccess, "at", "active")
	wantState(t, ctx, s, storage.KindRefresh, "rt", "active")
	wantState(t, ctx, s, storage.KindCode, "code", "active")
	wantState(t, ctx, s, storage.KindAccess, "at2", "active")
	wantKnown(t, ctx, s, "j1", false)
	_, err = s.GetClient(ctx, "c2")
	must(t, err, "GetClient(c2): DeleteClient inside a rolled-back tx stuck")
	_, err = s.GetConsent(ctx, "alice", "c2")
	must(t, err, "GetConsent(alice, c2) after rolled-back DeleteClient")
	_, err = s.GetUser(ctx, "u1")
	wantErr(t, err, storage.ErrNotFound, "GetUser: nested InTx escaped the rolled-back tx")
}

func testInTxError(t *testing.T, ctx context.Context, s storage.Store) {
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, newUser("u1")); err != nil {
			return err
		}
		if err := s.CreateClient(ctx, newClient("c1", "u1")); err != nil {
			return err
		}
		if _, err := s.GetUser(ctx, "u1"); err != nil {
			return fmt.Errorf("read own write: %w", err)
		}
		return errTest
	})
	wantErr(t, err, errTest, "InTx whose fn fails")
	_, err = s.GetUser(ctx, "u1")
	wantErr(t, err, storage.ErrNotFound, "GetUser after failed InTx")
	_, err = s.GetClient(ctx, "c1")
	wantErr(t, err, storage.ErrNotFound, "GetClient after failed InTx")

	// A sentinel returned by a store call inside fn survives the trip out.
	must(t, s.CreateUser(ctx, newUser("u2")), "CreateUser")
	err = s.InTx(ctx, func(ctx context.Context) error { return s.CreateUser(ctx, newUser("u2")) })
	wantErr(t, err, storage.ErrConflict, "InTx returning a conflict")
}

func testInTxCommit(t *testing.T, ctx context.Context, s storage.Store) {
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, newUser("u1")); err != nil {
			return err
		}
		return s.SaveConsent(ctx, &storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid"}})
	})
	must(t, err, "InTx")
	_, err = s.GetUser(ctx, "u1")
	must(t, err, "GetUser after InTx")
	_, err = s.GetConsent(ctx, "u1", "c1")
	must(t, err, "GetConsent after InTx")
}

// ---- purging -------------------------------------------------------------

func testPurgeOnlyExpired(t *testing.T, ctx context.Context, s storage.Store) {
	old, later := past(), future()
	createRequests(t, ctx, s,
		newRequest(storage.KindCode, "old-code", "g1", "c1", "alice", old),
		newRequest(storage.KindAccess, "old-at", "g1", "c1", "alice", old),
		newRequest(storage.KindPAR, "old-par", "g2", "c1", "", old),
		newRequest(storage.KindAccess, "new-at", "g3", "c1", "alice", later),
		newRequest(storage.KindRefresh, "new-rt", "g3", "c1", "alice", later),
	)
	// Inactive but unexpired records are kept too: purging is by expiry only.
	must(t, s.DeactivateRequest(ctx, storage.KindRefresh, "new-rt"), "DeactivateRequest")
	must(t, s.MarkJTI(ctx, "old-j1", old), "MarkJTI")
	must(t, s.MarkJTI(ctx, "old-j2", old), "MarkJTI")
	must(t, s.MarkJTI(ctx, "new-j", later), "MarkJTI")

	n, err := s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "PurgeExpired")
	if n != 5 {
		t.Errorf("PurgeExpired = %d, want 5 (3 records + 2 JTIs)", n)
	}
	wantState(t, ctx, s, storage.KindCode, "old-code", "missing")
	wantState(t, ctx, s, storage.KindAccess, "old-at", "missing")
	wantState(t, ctx, s, storage.KindPAR, "old-par", "missing")
	wantState(t, ctx, s, storage.KindAccess, "new-at", "active")
	wantState(t, ctx, s, storage.KindRefresh, "new-rt", "inactive")
	wantKnown(t, ctx, s, "new-j", true)

	n, err = s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "second PurgeExpired")
	if n != 0 {
		t.Errorf("second PurgeExpired = %d, want 0", n)
	}
}

func testPurgeLimit(t *testing.T, ctx context.Context, s storage.Store) {
	const expired, limit = 5, 2
	old := past()
	sigs := make([]string, expired)
	for i := range sigs {
		sigs[i] = fmt.Sprintf("old-%d", i)
		createRequests(t, ctx, s, newRequest(storage.KindAccess, sigs[i], "g1", "c1", "alice", old))
	}
	createRequests(t, ctx, s, newRequest(storage.KindAccess, "new", "g2", "c1", "alice", future()))
	remaining := func() int {
		t.Helper()
		left := 0
		for _, sig := range sigs {
			if requestState(t, ctx, s, storage.KindAccess, sig) != "missing" {
				left++
			}
		}
		return left
	}

	// Request records only: each call removes at most limit.
	for _, want := range []int64{2, 2, 1, 0} {
		before := remaining()
		n, err := s.PurgeExpired(ctx, time.Now(), limit)
		must(t, err, "PurgeExpired")
		if n != want {
			t.Errorf("PurgeExpired(limit %d) with %d expired records = %d, want %d", limit, before, n, want)
		}
		if got := before - remaining(); int64(got) != n {
			t.Errorf("PurgeExpired reported %d but %d records went", n, got)
		}
	}
	wantState(t, ctx, s, storage.KindAccess, "new", "active")

	// JTIs only: the same limit applies.
	for i := range expired {
		must(t, s.MarkJTI(ctx, fmt.Sprintf("old-j%d", i), old), "MarkJTI")
	}
	must(t, s.MarkJTI(ctx, "new-j", future()), "MarkJTI")
	for _, want := range []int64{2, 2, 1, 0} {
		n, err := s.PurgeExpired(ctx, time.Now(), limit)
		must(t, err, "PurgeExpired(JTIs)")
		if n != want {
			t.Errorf("PurgeExpired(limit %d) over expired JTIs = %d, want %d", limit, n, want)
		}
	}
	wantKnown(t, ctx, s, "new-j", true)
}

func testPurgeCutoff(t *testing.T, ctx context.Context, s storage.Store) {
	exp := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	createRequests(t, ctx, s, newRequest(storage.KindCode, "code", "g1", "c1", "alice", exp))
	must(t, s.MarkJTI(ctx, "j1", exp), "MarkJTI")

	n, err := s.PurgeExpired(ctx, exp.Add(-time.Hour), 100)
	must(t, err, "PurgeExpired(earlier cutoff)")
	if n != 0 {
		t.Errorf("PurgeExpired with a cutoff before every expiry = %d, want 0", n)
	}
	n, err = s.PurgeExpired(ctx, exp, 100)
	must(t, err, "PurgeExpired(cutoff == expiry)")
	if n != 0 {
		t.Errorf("PurgeExpired with cutoff equal to the expiry = %d, want 0 (strictly before)", n)
	}
	wantState(t, ctx, s, storage.KindCode, "code", "active")

	n, err = s.PurgeExpired(ctx, exp.Add(time.Microsecond), 100)
	must(t, err, "PurgeExpired(later cutoff)")
	if n != 2 {
		t.Errorf("PurgeExpired just after the expiry = %d, want 2", n)
	}
	wantState(t, ctx, s, storage.KindCode, "code", "missing")
}

// ---- time handling -------------------------------------------------------

func testTimesRoundTrip(t *testing.T, ctx context.Context, s storage.Store) {
	// Sub-second precision down to the microsecond survives every backend.
	created := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
	expires := time.Date(2099, 12, 31, 23, 59, 59, 999999000, time.UTC)
	u := newUser("u1")
	u.CreatedAt = created
	must(t, s.CreateUser(ctx, u), "CreateUser")
	gu, err := s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	wantTime(t, "User.CreatedAt", gu.CreatedAt, created)

	c := newClient("c1", "u1")
	c.CreatedAt = created
	must(t, s.CreateClient(ctx, c), "CreateClient")
	gc, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	wantTime(t, "Client.CreatedAt", gc.CreatedAt, created)

	r := newRequest(storage.KindAccess, "at", "g1", "c1", "u1", expires)
	r.RequestedAt = created
	createRequests(t, ctx, s, r)
	gr, err := s.GetRequest(ctx, storage.KindAccess, "at")
	must(t, err, "GetRequest")
	wantTime(t, "Request.RequestedAt", gr.RequestedAt, created)
	wantTime(t, "Request.ExpiresAt", gr.ExpiresAt, expires)

	// Nil, empty and one-element slices.
	c2 := &storage.Client{ID: "c2", Name: "Lists", Scopes: []string{}, Audience: []string{"only"}, GrantTypes: nil}
	must(t, s.CreateClient(ctx, c2), "CreateClient(c2)")
	gc2, err := s.GetClient(ctx, "c2")
	must(t, err, "GetClient(c2)")
	wantStrings(t, "empty Scopes", gc2.Scopes, nil)
	wantStrings(t, "one Audience", gc2.Audience, []string{"only"})
	wantStrings(t, "nil GrantTypes", gc2.GrantTypes, nil)
}

// testTimesAnyLocation stores times expressed in zones far from UTC: they are
// instants, so ordering, expiry and purging must follow the instant, not the
// wall-clock digits.
func testTimesAnyLocation(t *testing.T, ctx context.Context, s storage.Store) {
	east := time.FixedZone("UTC+14", 14*3600)
	west := time.FixedZone("UTC-12", -12*3600)
	now := time.Now().UTC().Truncate(time.Microsecond)

	// Still valid for an hour, written west of UTC (its digits look 11h old).
	valid := newRequest(storage.KindAccess, "valid", "g1", "c1", "alice", now.Add(time.Hour).In(west))
	// Expired an hour ago, written east of UTC (its digits look 13h ahead).
	stale := newRequest(storage.KindAccess, "stale", "g2", "c1", "alice", now.Add(-time.Hour).In(east))
	createRequests(t, ctx, s, valid, stale)

	got, err := s.GetRequest(ctx, storage.KindAccess, "valid")
	must(t, err, "GetRequest")
	wantTime(t, "ExpiresAt written in UTC-12", got.ExpiresAt, valid.ExpiresAt)

	_, err = s.PurgeExpired(ctx, now, 100)
	must(t, err, "PurgeExpired")
	wantState(t, ctx, s, storage.KindAccess, "valid", "active")
	wantState(t, ctx, s, storage.KindAccess, "stale", "missing")

	must(t, s.MarkJTI(ctx, "j-west", now.Add(time.Hour).In(west)), "MarkJTI")
	wantKnown(t, ctx, s, "j-west", true)
	must(t, s.MarkJTI(ctx, "j-east", now.Add(-time.Hour).In(east)), "MarkJTI")
	wantKnown(t, ctx, s, "j-east", false)

	// Oldest first by instant, whatever zone each was written in.
	older := newClient("older", "u1")
	older.CreatedAt = now.Add(-2 * time.Hour).In(east)
	newer := newClient("newer", "u1")
	newer.CreatedAt = now.Add(-time.Hour).In(west)
	must(t, s.CreateClient(ctx, newer), "CreateClient(newer)")
	must(t, s.CreateClient(ctx, older), "CreateClient(older)")
	cs, err := s.ListClientsByOwner(ctx, "u1")
	must(t, err, "ListClientsByOwner")
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	wantStrings(t, "ListClientsByOwner across zones", ids, []string{"older", "newer"})
}
