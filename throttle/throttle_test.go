package throttle

import (
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
	th.Fail("u:c")
	th.Reset("u:c")
	if len(th.hits) != 2 {
		t.Fatalf("reset left %d keys", len(th.hits))
	}
}
