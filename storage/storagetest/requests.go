package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

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

func testRequestGrantHasActive(t *testing.T, ctx context.Context, s storage.Store) {
	grantFixture(t, ctx, s)
	has := func(kind storage.Kind, grant string) bool {
		t.Helper()
		ok, err := s.GrantHasActive(ctx, kind, grant)
		must(t, err, "GrantHasActive")
		return ok
	}
	must(t, s.DeactivateRequest(ctx, storage.KindRefresh, "rt1"), "DeactivateRequest(rt1)")
	if !has(storage.KindRefresh, "g1") {
		t.Error("GrantHasActive(g1) = false with rt2 still active (rotation)")
	}
	if _, err := s.DeactivateByRequestID(ctx, storage.KindRefresh, "g1"); err != nil {
		t.Fatal(err)
	}
	if has(storage.KindRefresh, "g1") {
		t.Error("GrantHasActive(g1) = true after every refresh token was deactivated (revocation)")
	}
	if !has(storage.KindAccess, "g1") || !has(storage.KindRefresh, "g2") {
		t.Error("GrantHasActive looked beyond its kind or grant")
	}
	if has(storage.KindRefresh, "g-none") {
		t.Error("GrantHasActive(unknown grant) = true")
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
		// A code issued before the revocation, with its PKCE and OIDC sessions.
		newRequest(storage.KindCode, "code-alice-c1", "g3", "c1", "alice", exp),
		newRequest(storage.KindPKCE, "code-alice-c1", "g3", "c1", "alice", exp),
		newRequest(storage.KindOIDC, "code-alice-c1", "g3", "c1", "alice", exp),
		newRequest(storage.KindAccess, "at-alice-c2", "g4", "c2", "alice", exp),
		newRequest(storage.KindRefresh, "rt-alice-c2", "g4", "c2", "alice", exp),
		newRequest(storage.KindCode, "code-alice-c2", "g6", "c2", "alice", exp),
		newRequest(storage.KindAccess, "at-bob-c1", "g5", "c1", "bob", exp),
		newRequest(storage.KindRefresh, "rt-bob-c1", "g5", "c1", "bob", exp),
		newRequest(storage.KindCode, "code-bob-c1", "g7", "c1", "bob", exp),
		newRequest(storage.KindPKCE, "code-bob-c1", "g7", "c1", "bob", exp),
		// A pushed request belongs to no one yet.
		newRequest(storage.KindPAR, "urn:par-c1", "g8", "c1", "", exp),
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
		{storage.KindCode, "code-alice-c1", "missing"},
		{storage.KindPKCE, "code-alice-c1", "missing"},
		{storage.KindOIDC, "code-alice-c1", "missing"},
		{storage.KindAccess, "at-alice-c2", "active"},
		{storage.KindRefresh, "rt-alice-c2", "active"},
		{storage.KindCode, "code-alice-c2", "active"},
		{storage.KindAccess, "at-bob-c1", "active"},
		{storage.KindRefresh, "rt-bob-c1", "active"},
		{storage.KindCode, "code-bob-c1", "active"},
		{storage.KindPKCE, "code-bob-c1", "active"},
		{storage.KindPAR, "urn:par-c1", "active"},
	} {
		wantState(t, ctx, s, w.kind, w.sig, w.state)
	}
	must(t, s.RevokeGrants(ctx, "alice", "c1"), "second RevokeGrants")
	must(t, s.RevokeGrants(ctx, "nobody", "c9"), "RevokeGrants with nothing to revoke")
}
