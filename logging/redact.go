package logging

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces every redacted value.
const Redacted = "[REDACTED]"

// Redactor is a slog.Handler wrapper that keeps credentials out of logs.
// Before a line reaches the next handler it replaces with "[REDACTED]":
//
//   - the value of every attribute whose name names a secret (password,
//     secret, client_secret, token, access_token, refresh_token, code,
//     key, api_key, authorization, cookie, set-cookie, csrf, … matched
//     without regard to case, "-" or "_"), at any depth of groups, and
//     every attribute inside a group so named;
//   - within every string — the message, string values, errors,
//     Stringers, strings in slices and maps — each part that looks like a
//     credential: an API key of this deployment (<prefix>_live_… or
//     <prefix>_test_…), an opaque OAuth token or code (ory_at_…, ory_rt_…,
//     ory_ac_…), an organization invitation token (lki_…, which
//     invitation links carry in their path), "Bearer …" or "Basic …"
//     credentials, and JWTs (three base64url segments, the first
//     starting "eyJ").
//
// Maps with string keys are written as groups, so their keys are judged
// by name too. Other composite values that contain a credential shape
// when JSON-encoded are replaced whole.
type Redactor struct {
	next   slog.Handler
	values *regexp.Regexp
	// all redacts every attribute: the logger is inside a group whose
	// name names a secret.
	all bool
}

// NewRedactor wraps next; keyPrefix is the deployment's API-key prefix
// (config keys.prefix, e.g. "lk").
func NewRedactor(next slog.Handler, keyPrefix string) *Redactor {
	pats := []string{
		`(?i:\b(?:bearer|basic)[ \t]+[A-Za-z0-9._~+/=-]+)`,
		`ory_(?:at|rt|ac)_[A-Za-z0-9._~+/=-]*`,
		`\blki_[A-Za-z0-9_-]+`,
		`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`,
	}
	if keyPrefix != "" {
		pats = append(pats, regexp.QuoteMeta(keyPrefix)+`_(?:live|test)_[A-Za-z0-9_]+`)
	}
	return &Redactor{next: next, values: regexp.MustCompile(strings.Join(pats, "|"))}
}

// SecretName reports whether an attribute named name holds a secret. The
// name is compared in lower case with "-", "_", "." and spaces removed, so
// "client_secret", "Client-Secret" and "clientSecret" are the same; any
// name ending in "token" (access_token, id_token, X-CSRF-Token) is one.
func SecretName(name string) bool {
	n := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(name))
	if n == "" {
		return false
	}
	switch n {
	case "key", "code", "codeverifier", "session", "assertion", "clientassertion", "signature":
		return true
	}
	if strings.HasSuffix(n, "token") {
		return true
	}
	for _, p := range [...]string{
		"password", "passwd", "passphrase", "secret", "cookie", "authorization", "csrf",
		"credential", "pepper", "apikey", "privatekey", "signingkey", "hmackey",
	} {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// Enabled implements slog.Handler.
func (h *Redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Redactor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.redactString(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redactAttr(a, h.all))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Redactor) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.redactAttr(a, h.all)
	}
	return &Redactor{next: h.next.WithAttrs(red), values: h.values, all: h.all}
}

// WithGroup implements slog.Handler.
func (h *Redactor) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Redactor{next: h.next.WithGroup(name), values: h.values, all: h.all || SecretName(name)}
}

func (h *Redactor) redactString(s string) string {
	return h.values.ReplaceAllLiteralString(s, Redacted)
}

// redactAttr returns a with secrets replaced; all redacts every leaf.
func (h *Redactor) redactAttr(a slog.Attr, all bool) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if SecretName(a.Key) {
			return slog.String(a.Key, Redacted)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(h.redactAttrs(v.Group(), all)...)}
	}
	if all || SecretName(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.redactString(v.String()))
	case slog.KindAny:
		return h.redactAny(a.Key, v.Any())
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *Redactor) redactAttrs(as []slog.Attr, all bool) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.redactAttr(a, all)
	}
	return out
}

// redactAny handles values slog would encode itself (JSON or %+v).
func (h *Redactor) redactAny(key string, x any) slog.Attr {
	switch t := x.(type) {
	case nil:
		return slog.Any(key, nil)
	case error:
		return slog.String(key, h.redactString(t.Error()))
	case fmt.Stringer:
		return slog.String(key, h.redactString(t.String()))
	case []byte:
		return slog.String(key, h.redactString(string(t)))
	case []string:
		out := make([]string, len(t))
		for i, s := range t {
			out[i] = h.redactString(s)
		}
		return slog.Any(key, out)
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		// A map becomes a group, so each of its keys is judged by name.
		as := make([]slog.Attr, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			as = append(as, slog.Any(it.Key().String(), it.Value().Interface()))
		}
		slices.SortFunc(as, func(a, b slog.Attr) int { return cmp.Compare(a.Key, b.Key) })
		return slog.Attr{Key: key, Value: slog.GroupValue(h.redactAttrs(as, false)...)}
	}
	enc, err := json.Marshal(x)
	if err != nil {
		enc = []byte(fmt.Sprintf("%+v", x))
	}
	if h.values.Match(enc) {
		return slog.String(key, Redacted)
	}
	return slog.Any(key, x)
}
