package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

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
