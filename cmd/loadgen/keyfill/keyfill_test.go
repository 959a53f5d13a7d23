package keyfill_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/cmd/loadgen/keyfill"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// TestFill checks that filled keys are real keys: the key service finds
// every sampled one by its digest, with the spec's owner, tier and scopes,
// and the table holds exactly N rows.
func TestFill(t *testing.T) {
	h, err := secret.NewHasher(2, map[int][]byte{2: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	format := keys.NewFormat("flr_pat")
	tests := []struct {
		name              string
		n, sample, wantSM int
	}{
		{"none", 0, 10, 0},
		{"one", 1, 10, 1},
		{"sample smaller than n, across transactions", 2500, 100, 100},
		{"sample of all", 300, 300, 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := sqlite.Open(filepath.Join(t.TempDir(), "k.db"), 2)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			sample, err := keyfill.Fill(ctx, db, keyfill.Spec{
				N: tc.n, UserID: "u1", Tier: "pro", Scopes: []string{"users:read"}, Format: format, Hasher: h,
				Sample: tc.sample, RowsPerInsert: 70, RowsPerTx: 1000,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(sample) != tc.wantSM {
				t.Fatalf("%d sampled keys, want %d", len(sample), tc.wantSM)
			}
			var rows int64
			if err := db.Writer().Table("api_keys").Count(&rows).Error; err != nil || rows != int64(tc.n) {
				t.Fatalf("%d rows (%v), want %d", rows, err, tc.n)
			}
			svc := keys.New(keys.Config{Format: format, Hasher: h, Scopes: []string{"users:read"}, NoCache: true}, db)
			t.Cleanup(func() { _ = svc.Close(context.Background()) })
			seen := map[string]bool{}
			for _, plain := range sample {
				if seen[plain] {
					t.Fatalf("key sampled twice: %s", plain)
				}
				seen[plain] = true
				k, err := svc.Verify(ctx, plain, "")
				if err != nil {
					t.Fatalf("sampled key does not verify: %v", err)
				}
				if k.UserID != "u1" || k.Tier != "pro" || len(k.Scopes) != 1 || k.PepperVersion != 2 || k.Display != plain[:len("flr_pat_live_")+4] {
					t.Fatalf("stored key %+v", k)
				}
			}
		})
	}
}

func TestFillRejectsBadSpec(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "k.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := keyfill.Fill(t.Context(), db, keyfill.Spec{N: 5, Format: keys.NewFormat("lk")}); !errors.Is(err, keyfill.ErrSpec) {
		t.Fatalf("no user and no hasher: %v, want ErrSpec", err)
	}
}
