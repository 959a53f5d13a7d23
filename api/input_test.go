package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/textcheck"
)

// decodeEngine serves POST /decode with h.decodeJSON into a key-creation
// body and echoes what was decoded.
func decodeEngine(h *Handler) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/decode", func(c *gin.Context) {
		var b createKeyBody
		if !h.decodeJSON(c, &b, false) {
			return
		}
		c.JSON(http.StatusOK, b)
	})
	return e
}

func postDecode(e *gin.Engine, ctype, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/decode", strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	return rec
}

// TestDecodeJSONRefusesBadText: a JSON string holding "\u0000" (PostgreSQL
// refuses NUL in text; SQLite stores it) or a body of invalid UTF-8 is
// refused by the API's JSON decoder with 400 invalid_request (SPEC §3.5),
// wherever the string sits.
func TestDecodeJSONRefusesBadText(t *testing.T) {
	e := decodeEngine(New(Config{}))
	tests := []struct {
		name, body string
		status     int
		field      string // named in the message
	}{
		{"alias", `{"handle":"ci","alias":"a\u0000b"}`, 400, `"alias"`},
		{"handle", `{"handle":"\u0000"}`, 400, `"handle"`},
		{"scope in an array", `{"handle":"ci","scopes":["keys:read","keys:\u0000"]}`, 400, `"scopes"`},
		{"unknown field name", `{"handle":"ci","\u0000":1}`, 400, "field name"},
		{"invalid UTF-8", "{\"handle\":\"ci\",\"alias\":\"a\xffb\"}", 400, "JSON body"},
		{"escaped backslash is text", `{"handle":"ci","alias":"a\\u0000b"}`, 200, ""},
		{"unicode is text", `{"handle":"ci","alias":"Zoë 🔑"}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := postDecode(e, "application/json", tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 400 {
				return
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "invalid_request" ||
				!strings.Contains(body["message"], tc.field) || !strings.Contains(body["message"], "NUL byte") {
				t.Fatalf("body %s (%v)", rec.Body, err)
			}
		})
	}
}

// FuzzDecodeJSON: the API's JSON decoder never panics, answers only 400,
// 413 or 415 when it refuses a body, and whatever it accepts holds only
// valid text.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"handle":"ci","alias":"CI","scopes":["keys:read"],"expires_in":86400,"environment":"live","tier":"pro"}`,
		`{"handle":"ci","alias":"a\u0000b"}`,
		`{"handle":"ci","scopes":["\u0000"]}`,
		"{\"handle\":\"\xff\"}",
		`{"handle":"ci"}{"handle":"x"}`,
		`{"handle":1}`,
		`{"nope":true}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add("application/json", []byte(s))
	}
	f.Add("text/plain", []byte(`{"handle":"ci"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"alias":"\ud800"}`))
	e := decodeEngine(New(Config{MaxBodyBytes: 4096}))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		rec := postDecode(e, ctype, string(body))
		switch rec.Code {
		case http.StatusOK:
			var b createKeyBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("echo %s: %v", rec.Body, err)
			}
			for _, s := range append([]string{b.Handle, b.Alias, b.Environment, b.Tier}, b.Scopes...) {
				if !textcheck.Valid(s) {
					t.Fatalf("accepted bad text %q from %q", s, body)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			var eb map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb["error"] == "" || eb["message"] == "" {
				t.Fatalf("refusal not in the SPEC §3.5 format: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d for %q %q: %s", rec.Code, ctype, body, rec.Body)
		}
	})
}
