package oauth

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPublicAddr: the addresses an app owner could aim a back-channel
// logout URI at inside our network are not public; real Internet
// addresses are.
func TestPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"10.0.0.5", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fd00:ec2::254", false}, // AWS IPv6 metadata
		{"100.100.100.200", false},
		{"0.0.0.0", false},
		{"::", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"2002:7f00:1::", false},      // 6to4 of 127.0.0.1
		{"93.184.215.14", true},
		{"8.8.8.8", true},
		{"2606:4700::6810:84e5", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := publicAddr(netip.MustParseAddr(tc.addr)); got != tc.public {
				t.Errorf("publicAddr(%s) = %v, want %v", tc.addr, got, tc.public)
			}
		})
	}
}

// TestBackchannelBlockPrivate: with private destinations refused, a
// logout token is never posted to a loopback receiver, whether the
// registered URI names the address or a DNS name resolving to it, and the
// refusal is final (no retries); without the switch it arrives.
func TestBackchannelBlockPrivate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block bool
		host  func(string) string
	}{
		{"literal loopback refused", true, func(h string) string { return h }},
		{"name resolving to loopback refused", true, func(h string) string { return strings.Replace(h, "127.0.0.1", "localhost", 1) }},
		{"allowed without the switch", false, func(h string) string { return h }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &results{}
			p, db := newTestProviderWith(t, func(c *Config) {
				c.BackchannelRetryWait = time.Millisecond
				c.OnBackchannelLogout = res.record
				c.BackchannelBlockPrivate = tc.block
			}, nil)
			rc := newReceiver(t, nil)
			app := registerClient(t, p, db, ClientSpec{BackchannelLogoutURI: tc.host(rc.srv.URL) + "/bc"})
			sessionIDToken(t, p, app, "alice", "sid-1")
			p.SessionsEnded(t.Context(), "alice")
			if !tc.block {
				rc.next(t)
				res.wait(t, 1, 0)
				return
			}
			res.wait(t, 0, 1)
			rc.none(t)
			if n := rc.n.Load(); n != 0 {
				t.Errorf("receiver got %d requests", n)
			}
		})
	}
}
