package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testSessionClientsTake(t *testing.T, ctx context.Context, s storage.Store) {
	for _, sc := range []storage.SessionClient{
		{SID: "s1", ClientID: "c1", UserID: "alice"},
		{SID: "s1", ClientID: "c2", UserID: "alice"},
		{SID: "s2", ClientID: "c1", UserID: "alice"},
		{SID: "s3", ClientID: "c1", UserID: "bob"},
		{SID: "s1", ClientID: "c1", UserID: "alice"}, // again: kept once
	} {
		must(t, s.AddSessionClient(ctx, &sc), "AddSessionClient")
	}
	for _, tc := range []struct {
		user, sid string
		want      bool
	}{{"alice", "s1", true}, {"alice", "s3", false}, {"bob", "s1", false}, {"bob", "s3", true}} {
		known, err := s.SessionKnown(ctx, tc.user, tc.sid, "")
		must(t, err, "SessionKnown")
		if known != tc.want {
			t.Errorf("SessionKnown(%s, %s) = %v, want %v", tc.user, tc.sid, known, tc.want)
		}
	}
	for _, tc := range []struct {
		sid, client string
		want        bool
	}{{"s1", "c1", true}, {"s1", "c2", true}, {"s2", "c2", false}, {"s1", "c3", false}} {
		if known, _ := s.SessionKnown(ctx, "alice", tc.sid, tc.client); known != tc.want {
			t.Errorf("SessionKnown(alice, %s, %s) = %v, want %v", tc.sid, tc.client, known, tc.want)
		}
	}
	got, err := s.TakeSessionClients(ctx, "alice", "c1")
	must(t, err, "TakeSessionClients(alice, c1)")
	if known, _ := s.SessionKnown(ctx, "alice", "s1", "c1"); known {
		t.Error("SessionKnown(alice, s1, c1) after c1's records were taken = true")
	}
	if known, _ := s.SessionKnown(ctx, "alice", "s1", ""); !known {
		t.Error("SessionKnown(alice, s1) with c2's record left = false")
	}
	if len(got) != 2 || got[0].ClientID != "c1" || got[1].ClientID != "c1" || got[0].UserID != "alice" {
		t.Fatalf("TakeSessionClients(alice, c1) = %+v, want s1/c1 and s2/c1", got)
	}
	got, err = s.TakeSessionClients(ctx, "alice", "c1")
	must(t, err, "TakeSessionClients again")
	if len(got) != 0 {
		t.Errorf("second TakeSessionClients(alice, c1) = %+v, want none (taken)", got)
	}
	got, err = s.TakeSessionClients(ctx, "alice", "")
	must(t, err, "TakeSessionClients(alice)")
	if len(got) != 1 || got[0].SID != "s1" || got[0].ClientID != "c2" || got[0].CreatedAt.IsZero() {
		t.Errorf("TakeSessionClients(alice) = %+v, want s1/c2", got)
	}
	if known, _ := s.SessionKnown(ctx, "alice", "s1", ""); known {
		t.Error("SessionKnown(alice, s1) after every record was taken = true")
	}
	got, err = s.TakeSessionClients(ctx, "bob", "")
	must(t, err, "TakeSessionClients(bob)")
	if len(got) != 1 || got[0].SID != "s3" {
		t.Errorf("TakeSessionClients(bob) = %+v, want s3/c1 untouched by alice's takes", got)
	}
}

func testSessionClientsPurge(t *testing.T, ctx context.Context, s storage.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	for i, sc := range []storage.SessionClient{
		{SID: "old1", ClientID: "c1", UserID: "alice", CreatedAt: now.Add(-72 * time.Hour)},
		{SID: "old1", ClientID: "c2", UserID: "alice", CreatedAt: now.Add(-71 * time.Hour)},
		{SID: "old2", ClientID: "c1", UserID: "bob", CreatedAt: now.Add(-50 * time.Hour)},
		{SID: "new", ClientID: "c1", UserID: "alice", CreatedAt: now.Add(-time.Hour)},
	} {
		must(t, s.AddSessionClient(ctx, &sc), fmt.Sprintf("AddSessionClient %d", i))
	}
	cutoff := now.Add(-24 * time.Hour)
	var total int64
	for range 4 {
		n, err := s.PurgeSessionClients(ctx, cutoff, 1)
		must(t, err, "PurgeSessionClients")
		if n > 2 {
			t.Fatalf("PurgeSessionClients(limit 1) removed %d rows, want at most one session's", n)
		}
		total += n
	}
	if total != 3 {
		t.Errorf("purged %d records, want the 3 created before the cutoff", total)
	}
	for _, tc := range []struct {
		user, sid string
		want      bool
	}{{"alice", "old1", false}, {"bob", "old2", false}, {"alice", "new", true}} {
		known, err := s.SessionKnown(ctx, tc.user, tc.sid, "")
		must(t, err, "SessionKnown")
		if known != tc.want {
			t.Errorf("after purge SessionKnown(%s, %s) = %v, want %v", tc.user, tc.sid, known, tc.want)
		}
	}
}

func testSessionClientsTakeBySID(t *testing.T, ctx context.Context, s storage.Store) {
	for _, sc := range []storage.SessionClient{
		{SID: "s1", ClientID: "c1", UserID: "alice"},
		{SID: "s1", ClientID: "c2", UserID: "alice"},
		{SID: "s2", ClientID: "c1", UserID: "alice"},
		{SID: "s1", ClientID: "c3", UserID: "bob"}, // another person's record with the sid
	} {
		must(t, s.AddSessionClient(ctx, &sc), "AddSessionClient")
	}
	got, err := s.TakeSessionClientsBySID(ctx, "alice", "s1")
	must(t, err, "TakeSessionClientsBySID(alice, s1)")
	if len(got) != 2 || got[0].SID != "s1" || got[1].SID != "s1" || got[0].UserID != "alice" || got[1].UserID != "alice" {
		t.Fatalf("TakeSessionClientsBySID(alice, s1) = %+v, want s1/c1 and s1/c2", got)
	}
	got, err = s.TakeSessionClientsBySID(ctx, "alice", "s1")
	must(t, err, "again")
	if len(got) != 0 {
		t.Errorf("second take = %+v, want none", got)
	}
	if got, _ := s.TakeSessionClientsBySID(ctx, "alice", ""); len(got) != 0 {
		t.Errorf("take with no sid = %+v, want none (never every session)", got)
	}
	if known, _ := s.SessionKnown(ctx, "alice", "s2", ""); !known {
		t.Error("alice's other session s2 was taken too")
	}
	if known, _ := s.SessionKnown(ctx, "bob", "s1", ""); !known {
		t.Error("bob's record with the same sid was taken")
	}
}
