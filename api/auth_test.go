package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/logging"
	"github.com/latchkey/latchkey/storage"
)

// TestBasicFailureLoggedAsSecurityEvent (issue 10, hardening): a wrong
// HTTP Basic password is logged at warn as event=login_failed with the
// username and client IP, like the login form's, and never the password.
func TestBasicFailureLoggedAsSecurityEvent(t *testing.T) {
	var logs bytes.Buffer
	format := keys.NewFormat("lk")
	h := New(Config{
		Keys:   oneKey{format: format},
		Tokens: oneToken{},
		Users:  onlyAlice{oneUser{alice: cheapHash(fuzzPassword)}},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/t", h.Authenticate(), func(c *gin.Context) { c.Status(http.StatusOK) })

	for _, tc := range []struct {
		name, user, pass string
		status           int
		logged           string // the username the log line names; "" = no line
	}{
		{"right password", "alice", fuzzPassword, http.StatusOK, ""},
		{"wrong password", "alice", "guess-123-456", http.StatusUnauthorized, "alice"},
		// A password typed as the username is never logged: a name nobody
		// has is a fingerprint.
		{"unknown username", "hunter2-typed-as-name", "x", http.StatusUnauthorized, logging.TypedUsername("hunter2-typed-as-name", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			r := httptest.NewRequest(http.MethodGet, "/t", nil)
			r.RemoteAddr = "192.0.2.7:4000"
			r.SetBasicAuth(tc.user, tc.pass)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if strings.Contains(logs.String(), tc.pass) || (tc.user != "alice" && strings.Contains(logs.String(), tc.user)) {
				t.Fatalf("the password is in the log: %s", logs.String())
			}
			if tc.logged == "" {
				if strings.Contains(logs.String(), "login_failed") {
					t.Fatalf("a success was logged as a failure: %s", logs.String())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if line["level"] != "WARN" || line["event"] != "login_failed" || line["username"] != tc.logged ||
				line["client_ip"] != "192.0.2.7" || line["via"] != "http_basic" {
				t.Fatalf("log line %v", line)
			}
		})
	}
}

// onlyAlice knows no user but alice.
type onlyAlice struct{ oneUser }

func (u onlyAlice) GetUserByUsername(ctx context.Context, name string) (*storage.User, error) {
	if name != "alice" {
		return nil, storage.ErrNotFound
	}
	return u.oneUser.GetUserByUsername(ctx, name)
}
