package keys_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/cmd/loadgen/keyfill"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// storedKeySizes are the numbers of stored keys BenchmarkVerifyStoredKeys
// compares; the verification cost must not grow with them (the digest
// lookup is one unique-index probe).
var storedKeySizes = []int{1_000, 1_000_000}

// BenchmarkVerifyStoredKeys verifies keys drawn at random from 1,000 keys
// sampled from all the keys stored in a real SQLite database (WAL, 1
// writer + 4 readers, in b.TempDir), with the verification cache off so
// that every call runs the indexed digest query — the worst case. Both
// sizes verify the same number of distinct keys, so the comparison
// isolates the amount of stored data from the number of keys in use (which
// sets the size of each 2-second usage flush). Each size's database is
// filled once (keyfill: real digests, multi-row INSERTs of 500 in
// transactions of 10,000 rows) before the first timed run that needs it.
// The 1,000,000-key database needs about 0.4 GB of disk and 15-40 s to
// fill; -short skips every case that needs it.
//
// keys=N report ns/op (wall time per verification across GOMAXPROCS
// goroutines) and cpu-ns/op: the whole process's CPU time (user+system,
// all threads, SQLite's C code included) per verification, which other
// load on a shared machine disturbs much less than wall time.
//
// interleaved verifies one key of each size in turn on one goroutine and
// reports each size's mean latency and their ratio (larger/smaller): drift
// from other load lands on both sizes alike, so this is the comparison to
// trust on a shared machine.
func BenchmarkVerifyStoredKeys(b *testing.B) {
	// The parent runs once while each sub-benchmark runs several times (with
	// its cleanups after every run): databases live in the parent's
	// directory, are filled on first use and closed when the parent ends.
	parent, dir := b, b.TempDir()
	type fixture struct {
		svc    *keys.Service
		sample []string
	}
	fixtures := map[int]*fixture{}
	get := func(b *testing.B, n int) *fixture {
		if n > 10_000 && testing.Short() {
			b.Skipf("-short: skipping the %d-key database", n)
		}
		if fixtures[n] == nil {
			svc, sample, closeFn := storedKeys(b, filepath.Join(dir, fmt.Sprintf("keys-%d.db", n)), n)
			parent.Cleanup(closeFn)
			fixtures[n] = &fixture{svc, sample}
		}
		return fixtures[n]
	}
	for _, n := range storedKeySizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			f := get(b, n)
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				ctx := context.Background()
				for pb.Next() {
					if _, err := f.svc.Verify(ctx, f.sample[rng.IntN(len(f.sample))], ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		small, large := get(b, storedKeySizes[0]), get(b, storedKeySizes[len(storedKeySizes)-1])
		rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		ctx := context.Background()
		var spent [2]time.Duration
		b.ResetTimer()
		for b.Loop() {
			for i, f := range []*fixture{small, large} {
				t0 := time.Now()
				if _, err := f.svc.Verify(ctx, f.sample[rng.IntN(len(f.sample))], ""); err != nil {
					b.Fatal(err)
				}
				spent[i] += time.Since(t0)
			}
		}
		b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), fmt.Sprintf("ns/verify-%d", storedKeySizes[0]))
		b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), fmt.Sprintf("ns/verify-%d", storedKeySizes[len(storedKeySizes)-1]))
		b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
	})
}

// storedKeys fills a database at path with n keys and returns a service
// over it with the cache off, 1,000 of the keys (all when n is smaller), and a function
// closing the service and the store.
func storedKeys(b *testing.B, path string, n int) (*keys.Service, []string, func()) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(path, 4)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	// A larger page cache on the one writer connection for the bulk load
	// only (random digests touch the whole index); readers keep the default.
	if err := db.Writer().Exec("PRAGMA cache_size = -262144").Error; err != nil {
		b.Fatal(err)
	}
	h, err := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		b.Fatal(err)
	}
	format := keys.NewFormat("lk")
	start := time.Now()
	sample, err := keyfill.Fill(ctx, db, keyfill.Spec{
		N: n, UserID: "bench-user", Scopes: []string{"users:read"}, Format: format, Hasher: h, Sample: 1_000,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Writer().Exec("PRAGMA cache_size = -2000").Error; err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d keys in %v", n, time.Since(start).Round(time.Millisecond))
	svc := keys.New(keys.Config{Format: format, Hasher: h, Scopes: []string{"users:read"}, NoCache: true}, db)
	return svc, sample, func() { _ = svc.Close(context.Background()); _ = db.Close() }
}

// processCPU returns this process's user+system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
