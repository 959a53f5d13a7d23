package server

import (
	"os"
	"runtime/debug"
)

// SetMemoryLimit applies server.memory_limit_mib as the Go runtime's soft
// memory limit (runtime/debug.SetMemoryLimit) for a serving process, unless
// GOMEMLIMIT is set in the environment (the runtime has already applied
// it) or the setting is 0. It returns the limit in force, in bytes
// (math.MaxInt64 for none). Only `latchkey serve` calls it: tests and the
// one-shot CLI commands keep the runtime's default. The limit covers Go
// memory only; SQLite's page caches are C memory beside it
// (BENCHMARKS.md "Memory budget").
func (a *App) SetMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" || a.cfg.Server.MemoryLimitMiB <= 0 {
		limit := debug.SetMemoryLimit(-1) // reads without changing
		a.log.Info("go memory limit", "limit_mib", limit>>20, "source", "GOMEMLIMIT or none")
		return limit
	}
	limit := int64(a.cfg.Server.MemoryLimitMiB) << 20
	debug.SetMemoryLimit(limit)
	a.log.Info("go memory limit", "limit_mib", a.cfg.Server.MemoryLimitMiB, "source", "server.memory_limit_mib")
	return limit
}
