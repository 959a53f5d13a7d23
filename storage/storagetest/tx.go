package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

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
	haveUsers(t, ctx, s, "alice") // keys and consents need their owner (DeleteUser)
	must(t, s.CreateClient(ctx, newClient("c1", "u1")), "CreateClient")
	must(t, s.CreateClient(ctx, newClient("c2", "u1")), "CreateClient")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c2", Scopes: []string{"openid"}}), "SaveConsent")
	createRequests(t, ctx, s,
		newRequest(storage.KindAccess, "at", "g1", "c1", "alice", future()),
		newRequest(storage.KindRefresh, "rt", "g1", "c1", "alice", future()),
		// bob's code: RevokeGrants for alice leaves it for DeactivateRequest.
		newRequest(storage.KindCode, "code", "g3", "c1", "bob", future()),
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
