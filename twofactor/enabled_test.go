package twofactor

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// readCounter is the real store, counting the reads Enabled may make.
type readCounter struct {
	Store
	reads map[string]int
}

func (r *readCounter) GetTOTP(ctx context.Context, userID string) (*storage.TOTPFactor, error) {
	r.reads["totp"]++
	return r.Store.GetTOTP(ctx, userID)
}

func (r *readCounter) RecoveryCodes(ctx context.Context, userID string) ([]storage.RecoveryCode, error) {
	r.reads["recovery"]++
	return r.Store.RecoveryCodes(ctx, userID)
}

func (r *readCounter) ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	r.reads["passkeys"]++
	return r.Store.ListPasskeys(ctx, userID)
}

// TestEnabledReads: Enabled, asked on every password sign-in, agrees with
// Status and reads only what decides it — two reads for a person without
// a second factor, one for a confirmed authenticator, never the recovery
// codes (the login flow's statement count; see BENCHMARKS.md).
func TestEnabledReads(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Service, db *storage.DB, clk *clock)
		want  bool
		reads map[string]int
	}{
		{"none", func(*testing.T, *Service, *storage.DB, *clock) {}, false, map[string]int{"totp": 1, "passkeys": 1}},
		{"pending authenticator", func(t *testing.T, s *Service, _ *storage.DB, _ *clock) {
			if _, err := s.BeginTOTP(t.Context(), "u1", "alice"); err != nil {
				t.Fatal(err)
			}
		}, false, map[string]int{"totp": 1, "passkeys": 1}},
		{"authenticator", func(t *testing.T, s *Service, _ *storage.DB, clk *clock) { enrolled(t, s, clk) }, true, map[string]int{"totp": 1}},
		{"passkey", func(t *testing.T, _ *Service, db *storage.DB, clk *clock) {
			if err := db.CreatePasskey(t.Context(), &storage.Passkey{ID: "CRED", UserID: "u1", Name: "Laptop", Credential: []byte(`{}`), CreatedAt: clk.now()}); err != nil {
				t.Fatal(err)
			}
		}, true, map[string]int{"totp": 1, "passkeys": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, clk := newTestService(t)
			tt.setup(t, s, db, clk)
			st, err := s.Status(t.Context(), "u1")
			if err != nil || st.Enabled() != tt.want {
				t.Fatalf("Status = %+v, %v; want Enabled() = %v", st, err, tt.want)
			}
			rc := &readCounter{Store: db, reads: map[string]int{}}
			counted := &Service{cfg: s.cfg, store: rc}
			got, err := counted.Enabled(t.Context(), "u1")
			if err != nil || got != tt.want {
				t.Errorf("Enabled = %v, %v; want %v", got, err, tt.want)
			}
			if len(rc.reads) != len(tt.reads) {
				t.Errorf("reads %v, want %v", rc.reads, tt.reads)
			}
			for k, n := range tt.reads {
				if rc.reads[k] != n {
					t.Errorf("reads %v, want %v", rc.reads, tt.reads)
					break
				}
			}
		})
	}
}
