package textcheck

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"empty", "", true},
		{"ascii", "ci-key_1", true},
		{"unicode", "Zoë's 🔑 ключ", true},
		{"control characters other than NUL", "a\tb\r\n\x01\x7f", true},
		{"replacement character", "\uFFFD", true},
		{"NUL", "a\x00b", false},
		{"only NUL", "\x00", false},
		{"invalid byte", "a\xffb", false},
		{"truncated sequence", "\xe2\x82", false},
		{"overlong encoding of NUL", "\xc0\x80", false},
		{"UTF-16 surrogate", "\xed\xa0\x80", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Valid(tc.s); got != tc.ok {
				t.Fatalf("Valid(%q) = %v, want %v", tc.s, got, tc.ok)
			}
		})
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name  string
		v     url.Values
		where string // "" = accepted
	}{
		{"empty", url.Values{}, ""},
		{"good", url.Values{"a": {"1", "ü"}, "b": {""}}, ""},
		{"NUL in a value", url.Values{"alias": {"ok", "a\x00b"}}, `parameter "alias"`},
		{"invalid UTF-8 in a value", url.Values{"next": {"/\xff"}}, `parameter "next"`},
		{"NUL in a name", url.Values{"a\x00": {"1"}}, "a parameter name"},
		{"unprintable name not echoed", url.Values{"a\"b": {"\x00"}}, "parameter (unprintable name)"},
		{"first bad parameter by name", url.Values{"z": {"\x00"}, "b": {"\x00"}}, `parameter "b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Values(tc.v)
			checkWhere(t, err, tc.where)
		})
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name, body string
		where      string // "" = accepted
	}{
		{"object", `{"handle":"ci","alias":"Zoë","scopes":["keys:read"],"n":1,"b":true,"z":null}`, ""},
		{"escaped backslash before u0000 is no NUL", `{"alias":"a\\u0000b"}`, ""},
		{"other escapes", `{"alias":"\u00e9\n\t\u0001"}`, ""},
		{"lone surrogate escape decodes to U+FFFD", `{"alias":"\ud800"}`, ""},
		{"not JSON is left to the decoder", `{"alias":`, ""},
		{"NUL escape in a value", `{"handle":"ci","alias":"a\u0000b"}`, `JSON field "alias"`},
		{"NUL escape in a key", `{"a\u0000":"x"}`, "a JSON field name"},
		{"NUL escape nested in an array", `{"scopes":["keys:read","\u0000"]}`, `JSON field "scopes"`},
		{"NUL escape in a nested object", `{"meta":{"inner":{"deep":"\u0000"}},"after":"x"}`, `JSON field "deep"`},
		{"value after a nested object names its own key", `{"meta":{"a":"b"},"alias":"\u0000"}`, `JSON field "alias"`},
		{"top-level string", `"\u0000"`, "the JSON body"},
		{"top-level array", `["ok","\u0000"]`, "the JSON body"},
		{"invalid UTF-8", "{\"alias\":\"a\xffb\"}", "the JSON body"},
		{"raw NUL", "{\"alias\":\"a\x00b\"}", "the JSON body"},
		{"NUL after a syntax error is not reached", `{"a":}"\u0000"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkWhere(t, JSON([]byte(tc.body)), tc.where)
		})
	}
}

func checkWhere(t *testing.T, err error, where string) {
	t.Helper()
	if where == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var e *Error
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) {
		t.Fatalf("err = %v, want a refusal naming %s", err, where)
	}
	if e.Where != where {
		t.Fatalf("Where = %q, want %q", e.Where, where)
	}
	if msg := Message(err); !strings.Contains(msg, where) || !Valid(msg) {
		t.Fatalf("Message = %q", msg)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"alias":                 `"alias"`,
		"a\x00":                 "(unprintable name)",
		"\xff":                  "(unprintable name)",
		"a\nb":                  "(unprintable name)",
		strings.Repeat("a", 65): "(unprintable name)",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzJSON checks the walker against encoding/json: whatever JSON accepts
// decodes to strings (keys included) that are all Valid, and whatever it
// refuses is invalid UTF-8, holds a raw NUL, or decodes to a string holding
// a NUL. It never panics.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"handle":"ci","alias":"a\u0000b"}`,
		`{"a":{"b":["c",{"d":"\u0000"}]}}`,
		`{"a\u0000":1}`,
		`{"alias":"a\\u0000"}`,
		`[1,"\u0000"]`,
		"{\"a\":\"\xff\"}",
		`{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := JSON(body)
		var v any
		if json.Unmarshal(body, &v) != nil {
			return // not JSON: the decoder's error, whatever JSON said
		}
		bad := !utf8.Valid(body) || hasBadString(v)
		if err == nil && bad {
			t.Fatalf("accepted %q, which decodes to bad text", body)
		}
		if err != nil && !bad {
			t.Fatalf("refused %q (%v), which is good text", body, err)
		}
	})
}

func hasBadString(v any) bool {
	switch t := v.(type) {
	case string:
		return !Valid(t)
	case []any:
		for _, e := range t {
			if hasBadString(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range t {
			if !Valid(k) || hasBadString(e) {
				return true
			}
		}
	}
	return false
}
