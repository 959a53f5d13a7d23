package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newDevice(device, user, client string, expiresAt time.Time) *storage.DeviceAuthorization {
	return &storage.DeviceAuthorization{DeviceDigest: device, UserDigest: user, ClientID: client,
		Scopes: []string{"openid", "offline_access"}, PollInterval: 5, ExpiresAt: expiresAt}
}

// testDeviceCreateGet: a new request is pending, found by either digest,
// and neither digest may repeat.
func testDeviceCreateGet(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("d1", "u1", "c1", future())), "CreateDeviceAuthorization")
	wantErr(t, s.CreateDeviceAuthorization(ctx, newDevice("d1", "u2", "c1", future())), storage.ErrConflict, "a second request with the device digest")
	wantErr(t, s.CreateDeviceAuthorization(ctx, newDevice("d2", "u1", "c1", future())), storage.ErrConflict, "a second request with the user digest")

	got, err := s.GetDeviceAuthorization(ctx, "d1")
	must(t, err, "GetDeviceAuthorization")
	if got.Status != storage.DevicePending || got.ClientID != "c1" || got.PollInterval != 5 || got.Polls != 0 ||
		!slices.Equal(got.Scopes, []string{"openid", "offline_access"}) || got.LastPolledAt != nil || got.UserID != "" {
		t.Errorf("GetDeviceAuthorization = %+v", got)
	}
	byUser, err := s.GetDeviceAuthorizationByUserCode(ctx, "u1", time.Now())
	must(t, err, "GetDeviceAuthorizationByUserCode")
	if byUser.DeviceDigest != "d1" {
		t.Errorf("by user code = %+v", byUser)
	}
	_, err = s.GetDeviceAuthorization(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorization(missing)")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, "nope", time.Now())
	wantErr(t, err, storage.ErrNotFound, "GetDeviceAuthorizationByUserCode(missing)")
}

// testDeviceDecide: a decision is recorded once; afterwards, and after
// expiry, the user code is inactive.
func testDeviceDecide(t *testing.T, ctx context.Context, s storage.Store) {
	exp := future()
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("d1", "u1", "c1", exp)), "create d1")
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("d2", "u2", "c1", exp)), "create d2")
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.DecideDeviceAuthorization(ctx, "u1", "used", "p1", "", now); err == nil {
		t.Error("DecideDeviceAuthorization accepted status used")
	}
	must(t, s.DecideDeviceAuthorization(ctx, "u1", storage.DeviceApproved, "p1", `{"g":1}`, now), "approve")
	wantErr(t, s.DecideDeviceAuthorization(ctx, "u1", storage.DeviceDenied, "p2", "", now), storage.ErrInactive, "second decision")
	got, err := s.GetDeviceAuthorization(ctx, "d1")
	must(t, err, "GetDeviceAuthorization")
	if got.Status != storage.DeviceApproved || got.UserID != "p1" || got.GrantData != `{"g":1}` ||
		got.DecidedAt == nil || !sameTime(*got.DecidedAt, now) {
		t.Errorf("approved = %+v", got)
	}
	rec, err := s.GetDeviceAuthorizationByUserCode(ctx, "u1", now)
	wantErr(t, err, storage.ErrInactive, "user code after the decision")
	if rec == nil || rec.Status != storage.DeviceApproved {
		t.Errorf("inactive lookup returned %+v, want the record", rec)
	}
	wantErr(t, s.DecideDeviceAuthorization(ctx, "u2", storage.DeviceApproved, "p1", "", exp), storage.ErrInactive, "decision at expiry")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, "u2", exp)
	wantErr(t, err, storage.ErrInactive, "user code at expiry")
	must(t, s.DecideDeviceAuthorization(ctx, "u2", storage.DeviceDenied, "p1", "", exp.Add(-time.Second)), "deny before expiry")
	wantErr(t, s.DecideDeviceAuthorization(ctx, "nope", storage.DeviceDenied, "p1", "", now), storage.ErrNotFound, "decide(missing)")
}

// testDevicePollOnce: of racing polls that read the same count, one is
// recorded.
func testDevicePollOnce(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("d1", "u1", "c1", future())), "create")
	now := time.Now().UTC().Truncate(time.Microsecond)
	errs := runConcurrently(8, func(int) error {
		ok, err := s.PollDeviceAuthorization(ctx, "d1", 0, 10, now)
		if err == nil && !ok {
			return errLost
		}
		return err
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, errLost):
			t.Errorf("racing PollDeviceAuthorization: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d polls recorded, want exactly 1", wins)
	}
	got, err := s.GetDeviceAuthorization(ctx, "d1")
	must(t, err, "GetDeviceAuthorization")
	if got.Polls != 1 || got.PollInterval != 10 || got.LastPolledAt == nil || !sameTime(*got.LastPolledAt, now) {
		t.Errorf("after one poll = %+v", got)
	}
	_, err = s.PollDeviceAuthorization(ctx, "nope", 0, 5, now)
	wantErr(t, err, storage.ErrNotFound, "poll(missing)")
}

var errLost = errors.New("lost the race")

// testDeviceUseOnce: an approved request is used exactly once, never a
// pending, denied or expired one.
func testDeviceUseOnce(t *testing.T, ctx context.Context, s storage.Store) {
	exp := future()
	now := time.Now()
	for _, d := range []string{"ok", "pending", "denied", "late"} {
		must(t, s.CreateDeviceAuthorization(ctx, newDevice(d, "u-"+d, "c1", exp)), "create "+d)
	}
	must(t, s.DecideDeviceAuthorization(ctx, "u-ok", storage.DeviceApproved, "p1", "g", now), "approve ok")
	must(t, s.DecideDeviceAuthorization(ctx, "u-late", storage.DeviceApproved, "p1", "g", now), "approve late")
	must(t, s.DecideDeviceAuthorization(ctx, "u-denied", storage.DeviceDenied, "p1", "", now), "deny")

	errs := runConcurrently(8, func(int) error {
		_, err := s.UseDeviceAuthorization(ctx, "ok", now)
		return err
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrInactive):
			t.Errorf("racing UseDeviceAuthorization: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d callers used one device code, want exactly 1", wins)
	}
	used, err := s.UseDeviceAuthorization(ctx, "ok", now)
	wantErr(t, err, storage.ErrInactive, "use after use")
	if used == nil || used.Status != storage.DeviceUsed || used.GrantData != "g" {
		t.Errorf("used record = %+v", used)
	}
	for _, d := range []string{"pending", "denied"} {
		rec, err := s.UseDeviceAuthorization(ctx, d, now)
		wantErr(t, err, storage.ErrInactive, "use "+d)
		if rec == nil || rec.DeviceDigest != d {
			t.Errorf("use %s returned %+v, want the record", d, rec)
		}
	}
	_, err = s.UseDeviceAuthorization(ctx, "late", exp)
	wantErr(t, err, storage.ErrInactive, "use at expiry")
	_, err = s.UseDeviceAuthorization(ctx, "nope", now)
	wantErr(t, err, storage.ErrNotFound, "use(missing)")
}

// testDevicePurgeAndCascade: the janitor's purge removes expired
// requests; deleting the client removes its requests.
func testDevicePurgeAndCascade(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateClient(ctx, newClient("c1", "")), "CreateClient")
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("old", "u-old", "c2", past())), "old")
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("new", "u-new", "c2", future())), "new")
	must(t, s.CreateDeviceAuthorization(ctx, newDevice("c1s", "u-c1s", "c1", future())), "c1's")
	p, err := s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "PurgeExpired")
	if p["device_authorizations"] != 1 {
		t.Errorf("purged %v, want device_authorizations: 1", p)
	}
	_, err = s.GetDeviceAuthorization(ctx, "old")
	wantErr(t, err, storage.ErrNotFound, "purged request")
	_, err = s.GetDeviceAuthorization(ctx, "new")
	must(t, err, "kept request")
	must(t, s.DeleteClient(ctx, "c1"), "DeleteClient")
	_, err = s.GetDeviceAuthorization(ctx, "c1s")
	wantErr(t, err, storage.ErrNotFound, "request of a deleted client")
}
