// Package storagetest is the storage conformance suite: one set of tests,
// written against the storage.Store contract, that every backend runs (the
// dex model). A backend's test calls Run with a function that opens a fresh,
// migrated, empty store and registers its clean-up with t.Cleanup; it also
// calls RunMigrations, which checks the versioned migrations themselves.
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
		{"Users/EndSessions", testUserEndSessions},
		{"Users/UpdateProfile", testUserUpdateProfile},
		{"Users/SetPassword", testUserSetPassword},
		{"Users/UpgradePasswordHash", testUserUpgradePasswordHash},
		{"Users/FindByEmail", testUserFindByEmail},
		{"Users/Delete", testUserDelete},
		{"Users/DeleteRace", testUserDeleteRace},
		{"Users/Suspend", testUserSuspend},

		{"Orgs/CreateList", testOrgCreateList},
		{"Orgs/MembersLastOwner", testOrgMembersLastOwner},
		{"Orgs/TransferRemove", testOrgTransferRemove},
		{"Orgs/TenantsIsolation", testOrgTenantsIsolation},
		{"Orgs/WorkspaceKeys", testOrgWorkspaceKeys},
		{"Orgs/Invitations", testOrgInvitations},
		{"Orgs/EventsDelete", testOrgEventsDelete},

		{"EmailTokens/UseOnce", testEmailTokenUseOnce},
		{"EmailTokens/Expired", testEmailTokenExpired},
		{"EmailTokens/ConcurrentUse", testEmailTokenConcurrentUse},
		{"EmailTokens/Purge", testEmailTokenPurge},

		{"DeviceAuthorizations/CreateGet", testDeviceCreateGet},
		{"DeviceAuthorizations/Decide", testDeviceDecide},
		{"DeviceAuthorizations/PollOnce", testDevicePollOnce},
		{"DeviceAuthorizations/UseOnce", testDeviceUseOnce},
		{"DeviceAuthorizations/PurgeAndCascade", testDevicePurgeAndCascade},

		{"WebSessions/List", testWebSessionList},
		{"WebSessions/End", testWebSessionEnd},

		{"Clients/CreateGet", testClientCreateGet},
		{"Clients/DuplicateID", testClientDuplicateID},
		{"Clients/NotFound", testClientNotFound},
		{"Clients/Update", testClientUpdate},
		{"Clients/UpdateErrorAborts", testClientUpdateErrorAborts},
		{"Clients/UpdateConcurrent", testClientUpdateConcurrent},
		{"Clients/DeleteCascades", testClientDeleteCascades},
		{"Clients/ListByOwner", testClientListByOwner},
		{"Clients/SecretRotation", testClientSecretRotation},
		{"Clients/RegistrationToken", testClientRegistrationToken},

		{"Requests/CreateGet", testRequestCreateGet},
		{"Requests/DuplicateSignature", testRequestDuplicate},
		{"Requests/NotFound", testRequestNotFound},
		{"Requests/GetInactive", testRequestGetInactive},
		{"Requests/Deactivate", testRequestDeactivate},
		{"Requests/DeactivateConcurrent", testRequestDeactivateConcurrent},
		{"Requests/DeleteIdempotent", testRequestDeleteIdempotent},
		{"Requests/DeactivateByRequestID", testRequestDeactivateByRequestID},
		{"Requests/DeleteByRequestID", testRequestDeleteByRequestID},
		{"Requests/GrantHasActive", testRequestGrantHasActive},
		{"Requests/RevokeGrants", testRequestRevokeGrants},
		{"Requests/RowAsGORMCreate", testRequestRowAsGORM},

		{"Consents/SaveGet", testConsentSaveGet},
		{"Consents/SaveReplaces", testConsentSaveReplaces},
		{"Consents/List", testConsentList},
		{"Consents/Delete", testConsentDelete},

		{"APIKeys/CreateGet", testAPIKeyCreateGet},
		{"APIKeys/Uniqueness", testAPIKeyUniqueness},
		{"APIKeys/UpdateAndList", testAPIKeyUpdateAndList},
		{"APIKeys/Usage", testAPIKeyUsage},
		{"APIKeys/Events", testKeyEvents},
		{"APIKeys/PurgeEvents", testPurgeKeyEvents},
		{"APIKeys/Lineage", testAPIKeyLineage},
		{"APIKeys/Delete", testAPIKeyDelete},
		{"APIKeys/ExpiringClaimOnce", testExpiringClaimOnce},
		{"APIKeys/ExpiringConcurrentClaim", testExpiringConcurrentClaim},

		{"SessionClients/Take", testSessionClientsTake},
		{"SessionClients/Purge", testSessionClientsPurge},
		{"SessionClients/TakeBySID", testSessionClientsTakeBySID},

		{"Usage/Record", testUsageRecord},
		{"Usage/Concurrent", testUsageConcurrent},
		{"Usage/Totals", testUsageTotals},
		{"Usage/Purge", testUsagePurge},
		{"Usage/InstanceStats", testInstanceStats},

		{"TwoFactor/TOTPEnrolConfirm", testTOTPEnrolConfirm},
		{"TwoFactor/TOTPStepOnce", testTOTPStepOnce},
		{"TwoFactor/RecoveryCodeOnce", testRecoveryCodeOnce},
		{"TwoFactor/Passkeys", testPasskeys},
		{"TwoFactor/Reset", testTwoFactorReset},

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
		{"PurgeExpired/PreviousClientSecrets", testPurgePreviousSecrets},

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

// haveUsers stores a user for each id: a key or a consent is refused for
// a user that does not exist.
func haveUsers(t *testing.T, ctx context.Context, s storage.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, s.CreateUser(ctx, newUser(id)), "CreateUser "+id)
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
	// A write after Close fails (its prepared statement is closed with
	// the store) and does not hang.
	r := newRequest(storage.KindAccess, "after-close", "g1", "c1", "alice", future())
	if err := s.CreateRequest(ctx, r); err == nil {
		t.Error("CreateRequest after Close succeeded, want an error")
	}
}
