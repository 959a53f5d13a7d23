package server_test

import (
	"runtime/debug"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/servertest"
)

// TestSetMemoryLimit: serve applies server.memory_limit_mib; 0 and a set
// GOMEMLIMIT leave the runtime's limit alone. (Not parallel: the limit is
// process-wide; the test restores it.)
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	for _, tc := range []struct {
		name       string
		mib        int
		gomemlimit string
		want       int64
	}{
		{"configured", 300, "", 300 << 20},
		{"zero is no change", 0, "", 300 << 20},
		{"GOMEMLIMIT wins", 200, "1GiB", 300 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			s := servertest.NewWith(t, func(c *config.Config) { c.Server.MemoryLimitMiB = tc.mib })
			if got := s.App.SetMemoryLimit(); got != tc.want {
				t.Fatalf("SetMemoryLimit = %d, want %d", got, tc.want)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Fatalf("runtime limit %d, want %d", got, tc.want)
			}
		})
	}
}
