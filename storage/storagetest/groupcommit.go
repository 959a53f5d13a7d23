package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/storage"
)

// tokenRecord is a request record shaped like a client_credentials access
// token: a random-looking signature and about 700 bytes of data.
func tokenRecord(sig string) *storage.Request {
	return &storage.Request{
		Kind: storage.KindAccess, Signature: sig, RequestID: "req-" + sig, ClientID: "bench-client",
		Subject: "bench-client", Active: true, ExpiresAt: time.Now().Add(time.Hour),
		Data: []byte(strings.Repeat("d", 700)),
	}
}

// RunGroupCommit checks group commit on a store opened with it (open):
// every acknowledged write is committed (visible to other connections the
// moment it is acknowledged), a request that fails or rolls back leaves the
// others of its batch alone, and concurrent writes share batches.
func RunGroupCommit(t *testing.T, open func(t testing.TB) *storage.DB) {
	t.Run("AcknowledgedIsCommitted", func(t *testing.T) {
		db := open(t)
		ctx := t.Context()
		b0, r0 := db.GroupCommitStats()
		const writers, each = 32, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					sig := fmt.Sprintf("ack-%d-%d", w, i)
					if err := db.CreateRequest(ctx, tokenRecord(sig)); err != nil {
						errs <- fmt.Errorf("create %s: %w", sig, err)
						return
					}
					// Acknowledged: a read outside the transaction (the
					// reader pool on SQLite) must see it at once.
					if _, err := db.GetRequest(ctx, storage.KindAccess, sig); err != nil {
						errs <- fmt.Errorf("read %s right after its acknowledgement: %w", sig, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		b1, r1 := db.GroupCommitStats()
		batches, reqs := b1-b0, r1-r0
		t.Logf("%d request transactions in %d batches", reqs, batches)
		if reqs != writers*each {
			t.Errorf("request transactions = %d, want %d", reqs, writers*each)
		}
		if batches >= reqs {
			t.Errorf("%d concurrent writes took %d batches: nothing was batched", reqs, batches)
		}
	})

	t.Run("FailuresStayAlone", func(t *testing.T) {
		db := open(t)
		ctx := t.Context()
		if err := db.CreateRequest(ctx, tokenRecord("taken")); err != nil {
			t.Fatal(err)
		}
		// A holds the writer so that the others queue and form one batch.
		actx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateRequest(actx, tokenRecord("a")); err != nil {
			t.Fatal(err)
		}
		b0, _ := db.GroupCommitStats()
		var wg sync.WaitGroup
		var okErr, dupErr, rbErr, midErr error
		wg.Go(func() { okErr = db.CreateRequest(ctx, tokenRecord("ok")) })
		wg.Go(func() { dupErr = db.CreateRequest(ctx, tokenRecord("taken")) }) // a failing statement
		wg.Go(func() {                                                         // a request rolled back after a write
			rctx, err := db.BeginTx(ctx)
			if err != nil {
				rbErr = err
				return
			}
			if err := db.CreateRequest(rctx, tokenRecord("rolled-back")); err != nil {
				rbErr = err
			}
			rbErr = errors.Join(rbErr, db.Rollback(rctx))
		})
		wg.Go(func() { // a transaction whose second statement fails
			midErr = db.InTx(ctx, func(ctx context.Context) error {
				if err := db.CreateRequest(ctx, tokenRecord("half")); err != nil {
					return err
				}
				return db.CreateRequest(ctx, tokenRecord("taken"))
			})
		})
		time.Sleep(100 * time.Millisecond) // let them queue behind A
		if err := db.Commit(actx); err != nil {
			t.Fatalf("commit A: %v", err)
		}
		wg.Wait()
		if b1, _ := db.GroupCommitStats(); b1-b0 > 2 {
			t.Logf("the queued requests took %d batches (expected them to share one or two)", b1-b0)
		}
		if okErr != nil || rbErr != nil {
			t.Errorf("ok: %v; rolled back: %v", okErr, rbErr)
		}
		if !errors.Is(dupErr, storage.ErrConflict) || !errors.Is(midErr, storage.ErrConflict) {
			t.Errorf("duplicate: %v; failing transaction: %v; want ErrConflict", dupErr, midErr)
		}
		for sig, want := range map[string]bool{"a": true, "ok": true, "taken": true, "rolled-back": false, "half": false} {
			_, err := db.GetRequest(ctx, storage.KindAccess, sig)
			if got := err == nil; got != want {
				t.Errorf("%s present = %v (%v), want %v", sig, got, err, want)
			}
		}
		// Rollback after Commit does nothing, as without group commit.
		if err := db.Rollback(actx); err != nil {
			t.Errorf("Rollback after Commit: %v", err)
		}
	})

	t.Run("FirstOfBatchRolledBack", func(t *testing.T) {
		db := open(t)
		ctx := t.Context()
		// Alone, a request opens its own batch; rolling it back must undo
		// its writes and leave the writer usable.
		for i := range 3 {
			rctx, err := db.BeginTx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sig := fmt.Sprintf("undone-%d", i)
			if err := db.CreateRequest(rctx, tokenRecord(sig)); err != nil {
				t.Fatal(err)
			}
			if err := db.Rollback(rctx); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			if _, err := db.GetRequest(ctx, storage.KindAccess, sig); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s after Rollback: %v, want ErrNotFound", sig, err)
			}
			if err := db.CreateRequest(ctx, tokenRecord("kept-"+sig)); err != nil {
				t.Fatalf("write after Rollback: %v", err)
			}
		}
	})

	t.Run("CancelledWaiter", func(t *testing.T) {
		db := open(t)
		actx, err := db.BeginTx(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateRequest(actx, tokenRecord("first")); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- db.CreateRequest(cctx, tokenRecord("cancelled")) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		time.Sleep(20 * time.Millisecond)
		if err := db.Commit(actx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: %v, want context.Canceled", err)
		}
		// The writer is free again: a new write commits.
		ctx, cancel2 := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel2()
		if err := db.CreateRequest(ctx, tokenRecord("after")); err != nil {
			t.Fatalf("write after a cancelled waiter: %v", err)
		}
		for sig, want := range map[string]bool{"first": true, "cancelled": false, "after": true} {
			_, err := db.GetRequest(t.Context(), storage.KindAccess, sig)
			if got := err == nil; got != want {
				t.Errorf("%s present = %v, want %v", sig, got, want)
			}
		}
	})

	t.Run("ConnectionsRecycled", func(t *testing.T) {
		WritesAcrossRecycledConnections(t, open(t))
	})

	t.Run("CancelledMember", func(t *testing.T) {
		// A request cancelled once its transaction has begun does not
		// interrupt its statements (an interrupted statement on SQLite
		// rolls back the whole batch): they run, prepared or not, with
		// the batch's context; its writes and its neighbours' commit.
		db := open(t)
		actx, err := db.BeginTx(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateRequest(actx, tokenRecord("holder")); err != nil {
			t.Fatal(err)
		}
		type result struct {
			ctx    context.Context
			cancel context.CancelFunc
			err    error
		}
		began := make(chan result, 1)
		go func() {
			cctx, cancel := context.WithCancel(t.Context())
			mctx, err := db.BeginTx(cctx) // queues behind the holder, then joins its batch
			began <- result{mctx, cancel, err}
		}()
		time.Sleep(50 * time.Millisecond)
		okDone := make(chan error, 1)
		go func() { okDone <- db.CreateRequest(t.Context(), tokenRecord("neighbour")) }()
		time.Sleep(50 * time.Millisecond)
		if err := db.Commit(actx); err != nil {
			t.Fatalf("commit holder: %v", err)
		}
		m := <-began
		if m.err != nil {
			t.Fatalf("BeginTx: %v", m.err)
		}
		m.cancel()
		if err := db.CreateRequest(m.ctx, tokenRecord("cancelled-member")); err != nil {
			t.Errorf("write of a cancelled member: %v", err)
		}
		if err := db.Commit(m.ctx); err != nil {
			t.Errorf("commit of a cancelled member: %v", err)
		}
		if err := <-okDone; err != nil {
			t.Errorf("neighbour: %v", err)
		}
		for _, sig := range []string{"holder", "cancelled-member", "neighbour"} {
			if _, err := db.GetRequest(t.Context(), storage.KindAccess, sig); err != nil {
				t.Errorf("%s: %v", sig, err)
			}
		}
	})
}

// BenchmarkWrites measures token-shaped writes (one CreateRequest, what a
// client_credentials token costs the store) with 1, 8 and 64 concurrent
// writers, each write its own transaction ("per-write") or group-committed
// ("group"), with time-ordered request IDs as the server makes them
// (UUIDv7) and, for comparison, random ones ("random-ids", UUIDv4: each
// write then lands on its own page of the request-ID index). open(b, group)
// returns a fresh migrated store. Reported: ns/op is wall time per write
// over all writers, i.e. 1/throughput; writes/batch how many writes shared
// a COMMIT.
func BenchmarkWrites(b *testing.B, open func(b testing.TB, group bool) *storage.DB) {
	type bench struct {
		mode    string
		writers int
		random  bool
	}
	var benches []bench
	for _, mode := range []string{"per-write", "group"} {
		for _, writers := range []int{1, 8, 64} {
			benches = append(benches, bench{mode, writers, false})
		}
	}
	benches = append(benches, bench{"group", 64, true})
	for _, c := range benches {
		name := fmt.Sprintf("%s/writers=%d", c.mode, c.writers)
		if c.random {
			name += "/random-ids"
		}
		b.Run(name, func(b *testing.B) {
			db := open(b, c.mode == "group")
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Value
			b0, r0 := db.GroupCommitStats()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range c.writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						sig := fmt.Sprintf("%016x-%d-%d", uint64(i)*0x9e3779b97f4a7c15, w, i)
						r := tokenRecord(sig)
						if c.random {
							r.RequestID = uuid.NewString()
						} else {
							r.RequestID = uuid.Must(uuid.NewV7()).String()
						}
						if err := db.CreateRequest(ctx, r); err != nil {
							failed.Store(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			if b1, r1 := db.GroupCommitStats(); b1 > b0 {
				b.ReportMetric(float64(r1-r0)/float64(b1-b0), "writes/batch")
			}
		})
	}
}

// WritesAcrossRecycledConnections writes from 8 goroutines, half the
// writes inside InTx, each followed by a duplicate that must fail with
// ErrConflict, while every connection of db's pools lives 5 ms. The hot
// statements are prepared on a connection of the writer pool; when it is
// closed (its lifetime ended, a bad connection) a transaction on the new
// one prepares them there again, without waiting for the pool it holds
// (SQLite's writer pool has one connection).
func WritesAcrossRecycledConnections(t *testing.T, db *storage.DB) {
	t.Helper()
	pools, err := db.Pools()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pools {
		p.SetConnMaxLifetime(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8*30*2)
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				sig := fmt.Sprintf("recycled-%d-%d", w, i)
				write := func(ctx context.Context) error { return db.CreateRequest(ctx, tokenRecord(sig)) }
				if i%2 == 1 {
					write = func(ctx context.Context) error {
						return db.InTx(ctx, func(ctx context.Context) error { return db.CreateRequest(ctx, tokenRecord(sig)) })
					}
				}
				if err := write(ctx); err != nil {
					errs <- fmt.Errorf("create %s: %w", sig, err)
				}
				if err := db.CreateRequest(ctx, tokenRecord(sig)); !errors.Is(err, storage.ErrConflict) {
					errs <- fmt.Errorf("duplicate %s: %v, want ErrConflict", sig, err)
				}
				if i%10 == 0 {
					time.Sleep(6 * time.Millisecond) // outlive the connection
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
