package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testWebSessionList(t *testing.T, ctx context.Context, s storage.Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, sess := range []storage.WebSession{
		{SID: "old", UserID: "u1", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: future(), UserAgent: "Firefox", IP: "192.0.2.1"},
		{SID: "new", UserID: "u1", CreatedAt: now.Add(-time.Minute), ExpiresAt: future(), UserAgent: "Chromium", IP: "192.0.2.2"},
		{SID: "expired", UserID: "u1", CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: past()},
		{SID: "other", UserID: "u2", CreatedAt: now, ExpiresAt: future()},
	} {
		must(t, s.CreateWebSession(ctx, &sess), "CreateWebSession "+string(rune('0'+i)))
	}
	wantErr(t, s.CreateWebSession(ctx, &storage.WebSession{SID: "new", UserID: "u2", ExpiresAt: future()}), storage.ErrConflict, "a taken sid")
	got, err := s.ListWebSessions(ctx, "u1", time.Time{}, now)
	must(t, err, "ListWebSessions")
	if len(got) != 2 || got[0].SID != "new" || got[1].SID != "old" || got[0].UserAgent != "Chromium" || got[0].IP != "192.0.2.2" {
		t.Fatalf("ListWebSessions = %+v, want new then old", got)
	}
	got, err = s.ListWebSessions(ctx, "u1", now.Add(-time.Hour), now)
	must(t, err, "ListWebSessions since")
	if len(got) != 1 || got[0].SID != "new" {
		t.Errorf("sessions since an hour ago = %+v, want only new", got)
	}
	none, err := s.ListWebSessions(ctx, "nobody", time.Time{}, now)
	must(t, err, "ListWebSessions(nobody)")
	if none == nil || len(none) != 0 {
		t.Errorf("ListWebSessions(nobody) = %#v, want an empty slice", none)
	}
}

func testWebSessionEnd(t *testing.T, ctx context.Context, s storage.Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateWebSession(ctx, &storage.WebSession{SID: "a", UserID: "u1", ExpiresAt: future()}), "create a")
	must(t, s.CreateWebSession(ctx, &storage.WebSession{SID: "b", UserID: "u1", ExpiresAt: future()}), "create b")
	wantErr(t, s.EndWebSession(ctx, "u2", "a", now), storage.ErrNotFound, "ending another person's session")
	wantErr(t, s.EndWebSession(ctx, "u1", "nope", now), storage.ErrNotFound, "ending a missing session")
	if ended, err := s.WebSessionEnded(ctx, "a"); err != nil || ended {
		t.Fatalf("WebSessionEnded(a) before = %v, %v", ended, err)
	}
	must(t, s.EndWebSession(ctx, "u1", "a", now), "EndWebSession")
	wantErr(t, s.EndWebSession(ctx, "u1", "a", now), storage.ErrNotFound, "ending an ended session")
	if ended, err := s.WebSessionEnded(ctx, "a"); err != nil || !ended {
		t.Errorf("WebSessionEnded(a) after = %v, %v", ended, err)
	}
	if ended, err := s.WebSessionEnded(ctx, "unrecorded"); err != nil || ended {
		t.Errorf("WebSessionEnded(unrecorded) = %v, %v, want false", ended, err)
	}
	got, err := s.ListWebSessions(ctx, "u1", time.Time{}, now)
	must(t, err, "ListWebSessions")
	if len(got) != 1 || got[0].SID != "b" {
		t.Errorf("after ending a: %+v, want only b", got)
	}
	p, err := s.PurgeExpired(ctx, future().Add(time.Hour), 100)
	must(t, err, "PurgeExpired")
	if p["web_sessions"] != 2 {
		t.Errorf("purged %v, want web_sessions: 2", p)
	}
}
