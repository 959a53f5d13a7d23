package web

import (
	"testing"
	"time"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/oauth/authorize?client_id=a&state=b", "/oauth/authorize?client_id=a&state=b"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/ok\r\nSet-Cookie: x=1", "/"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := safeNext(tc.in); got != tc.want {
				t.Fatalf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	th := newThrottle(3, time.Minute, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if w := th.blocked("u:a", "ip:1"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		th.fail("u:a", "ip:1")
	}
	if w := th.blocked("u:a"); w != time.Minute {
		t.Fatalf("wait = %v, want 1m", w)
	}
	if w := th.blocked("u:b", "ip:1"); w == 0 {
		t.Fatal("the IP must be blocked for other usernames too")
	}
	if w := th.blocked("u:b", "ip:2"); w != 0 {
		t.Fatal("an unrelated username and IP are blocked")
	}
	now = now.Add(59 * time.Second)
	if w := th.blocked("u:a"); w != time.Second {
		t.Fatalf("wait = %v, want 1s", w)
	}
	now = now.Add(time.Second)
	if w := th.blocked("u:a", "ip:1"); w != 0 {
		t.Fatalf("still blocked after the window: %v", w)
	}
	th.fail("u:c")
	th.reset("u:c")
	if len(th.hits) != 2 {
		t.Fatalf("reset left %d keys", len(th.hits))
	}
}
