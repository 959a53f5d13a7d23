package throttle

import (
	"strconv"
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	th := New(3, time.Minute, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if w := th.Blocked("u:a", "ip:1"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		th.Fail("u:a", "ip:1")
	}
	if w := th.Blocked("u:a"); w != time.Minute {
		t.Fatalf("wait = %v, want 1m", w)
	}
	if w := th.Blocked("u:b", "ip:1"); w == 0 {
		t.Fatal("the IP must be blocked for other usernames too")
	}
	if w := th.Blocked("u:b", "ip:2"); w != 0 {
		t.Fatal("an unrelated username and IP are blocked")
	}
	now = now.Add(59 * time.Second)
	if w := th.Blocked("u:a"); w != time.Second {
		t.Fatalf("wait = %v, want 1s", w)
	}
	now = now.Add(time.Second)
	if w := th.Blocked("u:a", "ip:1"); w != 0 {
		t.Fatalf("still blocked after the window: %v", w)
	}
	// (Fail also drops the ended windows of the shard "u:c" lands in —
	// shards are chosen by a per-process random seed — so count relative
	// to the state after the failure.)
	th.Fail("u:c")
	before := th.keys()
	th.Reset("u:c")
	if n := th.keys(); n != before-1 || th.Blocked("u:c") != 0 {
		t.Fatalf("reset left %d of %d keys", n, before)
	}
}

// TestFailuresStayFastPastHundredThousandKeys: with more than 100,000 live
// keys (a spray of usernames or addresses), each failure still costs O(1).
// The old map was scanned in full under its one mutex on every failure
// past 100,000 keys, so the 20,000 failures below took minutes; here they
// take milliseconds (the bound leaves room for -race and a busy machine).
func TestFailuresStayFastPastHundredThousandKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	th := New(10, time.Minute, func() time.Time { return now })
	const live = 150_000
	for i := range live {
		th.Fail("u:spray-" + strconv.Itoa(i))
	}
	if n := th.keys(); n != live {
		t.Fatalf("%d keys remembered, want %d", n, live)
	}
	start := time.Now()
	for i := range 20_000 {
		th.Fail("ip:198.51." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("20,000 failures at %d keys took %v", live, took)
	}
	// Counting still works among them.
	for range 10 {
		th.Fail("u:alice")
	}
	if th.Blocked("u:alice") == 0 || th.Blocked("u:spray-7") != 0 {
		t.Fatal("blocking is wrong among many keys")
	}
}

// TestFailuresHardCap: the number of keys never exceeds the cap, however
// many distinct keys fail within one window; the oldest windows make
// room, a recent blocked key survives, and ended windows are dropped as
// time passes.
func TestFailuresHardCap(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const maxKeys = 64 * 100
	th := NewWithCap(3, time.Minute, func() time.Time { return now }, maxKeys)
	for i := range 3 * maxKeys {
		th.Fail("k" + strconv.Itoa(i))
		if i%1000 == 0 {
			now = now.Add(time.Millisecond)
		}
	}
	if n := th.keys(); n > maxKeys || n < maxKeys*9/10 {
		t.Fatalf("%d keys remembered, want at most (and near) %d", n, maxKeys)
	}
	if th.Blocked("k0") != 0 {
		t.Fatal("the oldest key was not evicted")
	}
	for range 3 {
		th.Fail("u:victim")
	}
	if th.Blocked("u:victim") == 0 {
		t.Fatal("a fresh blocked key is not blocked")
	}
	now = now.Add(time.Minute)
	th.Fail("after")
	if n := th.keys(); n > maxKeys {
		t.Fatalf("%d keys", n)
	}
	// One failure per shard drops every ended window in it.
	for i := range 10 * shardCount {
		th.Fail("later" + strconv.Itoa(i))
	}
	if n := th.keys(); n > 10*shardCount+1 {
		t.Fatalf("%d keys remembered after the window ended, want only the new ones", n)
	}
}

// BenchmarkFailuresFail measures one failure with few and with more than
// 100,000 live keys: the cost must not grow with the number of keys.
func BenchmarkFailuresFail(b *testing.B) {
	for _, keys := range []int{1_000, 200_000} {
		b.Run(strconv.Itoa(keys)+"_keys", func(b *testing.B) {
			now := time.Unix(1_800_000_000, 0)
			th := New(10, time.Minute, func() time.Time { return now })
			for i := range keys {
				th.Fail("u:" + strconv.Itoa(i))
			}
			b.ResetTimer()
			for i := range b.N {
				th.Fail("ip:" + strconv.Itoa(i%5000))
			}
		})
	}
}

func BenchmarkFailuresParallel(b *testing.B) {
	th := New(10, time.Minute, time.Now)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			th.Fail("ip:" + strconv.Itoa(i%100_000))
			i++
		}
	})
}
