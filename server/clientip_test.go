package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
)

// TestTrustedProxiesDecideClientIP (finding 3): X-Forwarded-For is
// believed only from server.trusted_proxies, and then only as far as the
// chain of trusted proxies reaches; by default nobody is trusted and the
// TCP peer is the client, so rotating the header changes nothing. Before
// the fix gin trusted every peer, and any client chose its IP.
func TestTrustedProxiesDecideClientIP(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		peer    string
		headers map[string]string
		want    string
	}{
		{"default: header from a client ignored", nil, "198.51.100.7:5000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "198.51.100.7"},
		{"default: empty list", []string{}, "198.51.100.7:5000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "198.51.100.7"},
		{"untrusted peer, proxies configured", []string{"10.0.0.0/8"}, "198.51.100.7:5000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "198.51.100.7"},
		{"trusted proxy forwards the client", []string{"10.0.0.0/8"}, "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "203.0.113.1"},
		{"a client's own entry before the proxy's is not believed", []string{"10.0.0.0/8"}, "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "192.0.2.99, 203.0.113.1"}, "203.0.113.1"},
		{"a chain of trusted proxies", []string{"10.0.0.0/8", "192.0.2.10"}, "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "203.0.113.1, 192.0.2.10, 10.9.9.9"}, "203.0.113.1"},
		{"single trusted address", []string{"192.0.2.10"}, "192.0.2.10:5000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "203.0.113.1"},
		{"X-Real-IP is not read", []string{"10.0.0.0/8"}, "10.1.2.3:5000", map[string]string{"X-Real-IP": "203.0.113.1"}, "10.1.2.3"},
		{"garbage header falls back to the peer", []string{"10.0.0.0/8"}, "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "not-an-ip"}, "10.1.2.3"},
		{"ipv6 proxy", []string{"2001:db8::/32"}, "[2001:db8::5]:5000", map[string]string{"X-Forwarded-For": "2001:db8:ffff::1, 203.0.113.1"}, "203.0.113.1"},
		{"an invalid list trusts nobody", []string{"proxy.example"}, "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "10.1.2.3"},
	}
	gin.SetMode(gin.ReleaseMode)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := gin.New()
			e.Use(resolveClientIP(e, tc.trusted, slog.New(slog.DiscardHandler)))
			var got, ginSays string
			// The one accessor, as an oauth handler behind gin.WrapF sees it.
			e.GET("/ip", gin.WrapF(func(w http.ResponseWriter, r *http.Request) { got = clientip.FromRequest(r) }))
			e.GET("/gin", func(c *gin.Context) { ginSays = c.ClientIP() })
			for _, path := range []string{"/ip", "/gin"} {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.RemoteAddr = tc.peer
				for k, v := range tc.headers {
					r.Header.Set(k, v)
				}
				e.ServeHTTP(httptest.NewRecorder(), r)
			}
			if got != tc.want {
				t.Errorf("clientip.FromRequest = %q, want %q", got, tc.want)
			}
			if ginSays != tc.want {
				t.Errorf("gin's ClientIP = %q, want %q (the engine must agree)", ginSays, tc.want)
			}
		})
	}
}

// TestAccessLogFourXXAtDebug: refused requests (401, 404, 429 …) are
// access-logged at debug, so a guessing attack cannot flood the log at
// info; 5xx stay at error, and each line carries the resolved client IP.
func TestAccessLogFourXXAtDebug(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(resolveClientIP(e, nil, l), accessLog(l))
	for _, status := range []int{200, 401, 404, 413, 429, 500, 503} {
		e.GET("/s"+strconv.Itoa(status), func(c *gin.Context) { c.Status(status) })
	}
	want := map[int]string{200: "DEBUG", 401: "DEBUG", 404: "DEBUG", 413: "DEBUG", 429: "DEBUG", 500: "ERROR", 503: "ERROR"}
	for status := range want {
		buf.Reset()
		r := httptest.NewRequest(http.MethodGet, "/s"+strconv.Itoa(status), nil)
		r.RemoteAddr = "198.51.100.7:5000"
		r.Header.Set("X-Forwarded-For", "203.0.113.1")
		e.ServeHTTP(httptest.NewRecorder(), r)
		var rec map[string]any
		if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &rec); err != nil {
			t.Fatalf("%d: %v %q", status, err, buf.String())
		}
		if rec["level"] != want[status] || rec["remote"] != "198.51.100.7" || !strings.HasPrefix(rec["path"].(string), "/") {
			t.Errorf("%d logged as %v, want level %s and the peer address", status, rec, want[status])
		}
	}
}
