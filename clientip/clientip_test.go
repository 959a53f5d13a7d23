package clientip

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		forwarded  string
		stored     string
		want       string
	}{
		{"peer", "192.0.2.7:4711", "", "", "192.0.2.7"},
		{"peer ipv6", "[2001:db8::1]:4711", "", "", "2001:db8::1"},
		{"forwarding header is not read", "192.0.2.7:4711", "203.0.113.9", "", "192.0.2.7"},
		{"the server's resolution wins", "192.0.2.7:4711", "203.0.113.9", "203.0.113.9", "203.0.113.9"},
		{"no port", "192.0.2.7", "", "", "192.0.2.7"},
		{"ipv4-mapped peer is the ipv4 address", "[::ffff:192.0.2.7]:4711", "", "", "192.0.2.7"},
		{"ipv4-mapped resolution is the ipv4 address", "192.0.2.1:1", "", "::ffff:203.0.113.9", "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remoteAddr
			if tc.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tc.forwarded)
			}
			if tc.stored != "" {
				r = r.WithContext(WithIP(r.Context(), tc.stored))
			}
			if got := FromRequest(r); got != tc.want {
				t.Fatalf("FromRequest = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOneClientIPFunction: outside this package and the server's one
// resolving middleware, no production code reads the peer address or a
// forwarding header itself (gin's c.ClientIP, r.RemoteAddr,
// X-Forwarded-For), so every per-IP limit, audit entry and log line sees
// the same address, resolved under server.trusted_proxies.
func TestOneClientIPFunction(t *testing.T) {
	root := ".."
	forbidden := []string{".ClientIP()", ".RemoteAddr", `"X-Forwarded-For"`, `"X-Real-Ip"`, `"X-Real-IP"`}
	allowed := map[string]bool{"clientip": true, "server": true}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || allowed[strings.Split(filepath.ToSlash(rel), "/")[0]] {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, f := range forbidden {
			if strings.Contains(string(b), f) {
				t.Errorf("%s uses %s: read the client IP with clientip.FromRequest", rel, f)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files; is the module root %s?", checked, root)
	}
}

// TestBucketGroupsAnIPv6HostsNetwork (issue 10 review, N-c): the per-IP
// guessing limits count an IPv6 client per /64 — one host holds a whole
// /64 and could otherwise rotate addresses past every limit — and an
// IPv4-mapped address under the same key as the IPv4 address.
func TestBucketGroupsAnIPv6HostsNetwork(t *testing.T) {
	tests := []struct{ name, remoteAddr, want string }{
		{"ipv4", "192.0.2.7:1", "192.0.2.7"},
		{"ipv4-mapped", "[::ffff:192.0.2.7]:1", "192.0.2.7"},
		{"ipv6", "[2001:db8:1:2:aaaa::1]:1", "2001:db8:1:2::/64"},
		{"another address of the same /64", "[2001:db8:1:2:ffff:ffff:ffff:fffe]:1", "2001:db8:1:2::/64"},
		{"the next /64", "[2001:db8:1:3::1]:1", "2001:db8:1:3::/64"},
		{"not an address", "pipe", "pipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remoteAddr
			if got := Bucket(r); got != tc.want {
				t.Fatalf("Bucket = %q, want %q", got, tc.want)
			}
		})
	}
}
