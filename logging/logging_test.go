package logging

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// stringer is a fmt.Stringer whose text carries a credential.
type stringer string

func (s stringer) String() string { return string(s) }

// valuer is a slog.LogValuer resolving to a credential.
type valuer struct{ tok string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("token is " + v.tok) }

func TestRedactor(t *testing.T) {
	const (
		apiKey  = "lk_live_4GmQpJw0aXkVt7zYcR2sLdN9eHbU6fIo1yTjKqPvWxE_3kZp9Q"
		testKey = "lk_test_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ_000000"
		flrKey  = "flr_pat_live_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ_000000"
		at      = "ory_at_Zm9vYmFyYmF6cXV4.c2lnbmF0dXJlLXBhcnQ"
		rt      = "ory_rt_cmVmcmVzaHRva2Vu.c2lnbmF0dXJl"
		ac      = "ory_ac_Y29kZS1ib2R5.c2lnLXBhcnQ"
		jwt     = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlX2J5dGVz"
		basic   = "YWxpY2U6aHVudGVyMg=="
		plain   = "hunter2-correct-horse" // a password: no shape, only its name tells
	)
	tests := []struct {
		name   string
		prefix string
		log    func(l *slog.Logger)
		want   []string // fragments the output must contain
		gone   []string // values that must not appear
	}{
		{
			name: "secret attribute names, any case and separator",
			log: func(l *slog.Logger) {
				l.Info("m", "password", plain, "Client-Secret", plain+"1", "clientSecret", plain+"2",
					"access_token", plain+"3", "refresh_token", plain+"4", "code", plain+"5", "key", plain+"6",
					"api_key", plain+"7", "Authorization", plain+"8", "Cookie", plain+"9", "Set-Cookie", plain+"a",
					"X-CSRF-Token", plain+"b", "csrf", plain+"c", "id_token", plain+"d", "code_verifier", plain+"e")
			},
			want: []string{`"password":"[REDACTED]"`, `"Client-Secret":"[REDACTED]"`, `"Set-Cookie":"[REDACTED]"`, `"code":"[REDACTED]"`},
			gone: []string{plain},
		},
		{
			name: "ordinary attributes are kept",
			log: func(l *slog.Logger) {
				l.Info("request", "user_id", "u-123", "token_type", "Bearer", "key_id", "k-1", "status", 401, "path", "/user/keys/ci")
			},
			want: []string{`"user_id":"u-123"`, `"token_type":"Bearer"`, `"key_id":"k-1"`, `"status":401`, `"path":"/user/keys/ci"`},
		},
		{
			name: "nested groups and a group named like a secret",
			log: func(l *slog.Logger) {
				l.Info("m", slog.Group("req", slog.String("method", "POST"), slog.Group("form", slog.String("client_secret", plain))),
					slog.Group("cookie", slog.String("name", "s"), slog.String("value", plain+"x")))
			},
			want: []string{`"method":"POST"`, `"client_secret":"[REDACTED]"`, `"cookie":"[REDACTED]"`},
			gone: []string{plain},
		},
		{
			name: "WithGroup named like a secret and WithAttrs",
			log: func(l *slog.Logger) {
				l.With("token", plain, "user", "alice").Info("a")
				l.WithGroup("credentials").Info("b", "value", plain+"x")
				l.WithGroup("req").Info("c", "authorization", "Bearer "+at)
			},
			want: []string{`"user":"alice"`, `"credentials":{"value":"[REDACTED]"}`, `"req":{"authorization":"[REDACTED]"}`},
			gone: []string{plain, at},
		},
		{
			name: "an invitation link's token in a logged path",
			log: func(l *slog.Logger) {
				l.Info("request", "path", "/invitations/lki_Zm9vYmFy-YmF6_cXV4", "status", 200)
			},
			want: []string{`"path":"/invitations/[REDACTED]"`},
			gone: []string{"lki_Zm9vYmFy"},
		},
		{
			name: "credential shapes inside ordinary strings and the message",
			log: func(l *slog.Logger) {
				l.Info("presented "+at, "path", "/user/keys/"+apiKey, "detail", "refresh "+rt+" and code "+ac,
					"header", "Bearer "+testKey, "basic", "basic "+basic, "jwt", "id "+jwt)
			},
			want: []string{`"msg":"presented [REDACTED]"`, `"path":"/user/keys/[REDACTED]"`, `"detail":"refresh [REDACTED] and code [REDACTED]"`, `"jwt":"id [REDACTED]"`},
			gone: []string{at, rt, ac, apiKey, testKey, basic, jwt, "c2lnbmF0dXJl"},
		},
		{
			name:   "the deployment's key prefix",
			prefix: "flr_pat",
			log:    func(l *slog.Logger) { l.Info("m", "path", "/x/"+flrKey) },
			want:   []string{`"path":"/x/[REDACTED]"`},
			gone:   []string{flrKey[8:]},
		},
		{
			name: "errors, Stringers, LogValuers, byte and string slices",
			log: func(l *slog.Logger) {
				l.Info("m", "error", errors.New("introspect "+at+": inactive"), "s", stringer("key "+apiKey),
					"v", valuer{rt}, "b", []byte("Bearer "+basic), "list", []string{"ok", ac})
			},
			want: []string{`"error":"introspect [REDACTED]: inactive"`, `"s":"key [REDACTED]"`, `"v":"token is [REDACTED]"`, `"list":["ok","[REDACTED]"]`},
			gone: []string{at, apiKey, rt, basic, ac},
		},
		{
			name: "maps are judged key by key",
			log: func(l *slog.Logger) {
				l.Info("m", "form", url.Values{"client_secret": {plain}, "scope": {"openid"}},
					"m", map[string]any{"password": plain + "x", "user": "bob", "inner": map[string]string{"refresh_token": plain + "y"}})
			},
			want: []string{`"form":{"client_secret":"[REDACTED]","scope":["openid"]}`, `"user":"bob"`, `"refresh_token":"[REDACTED]"`},
			gone: []string{plain},
		},
		{
			name: "a struct holding a credential shape is replaced whole",
			log: func(l *slog.Logger) {
				l.Info("m", "s", struct{ Header string }{"Bearer " + jwt}, "ok", struct{ N int }{3})
			},
			want: []string{`"s":"[REDACTED]"`, `"ok":{"N":3}`},
			gone: []string{jwt},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := tc.prefix
			if prefix == "" {
				prefix = "lk"
			}
			var buf bytes.Buffer
			tc.log(slog.New(NewRedactor(slog.NewJSONHandler(&buf, nil), prefix)))
			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s\n%s", w, out)
				}
			}
			for _, g := range tc.gone {
				if strings.Contains(out, g) {
					t.Errorf("output still contains %q\n%s", g, out)
				}
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true}, {"new_password", true}, {"CLIENT_SECRET", true}, {"x-api-key", true},
		{"apiKey", true}, {"access_token", true}, {"X-CSRF-Token", true}, {"set-cookie", true},
		{"code", true}, {"key", true}, {"signature", true},
		{"token_type", false}, {"token_use", false}, {"key_id", false}, {"status_code", false},
		{"request_id", false}, {"user_id", false}, {"path", false}, {"", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SecretName(tc.name); got != tc.want {
				t.Errorf("SecretName(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestRequestIDHandler(t *testing.T) {
	ctx := ContextWithRequestID(context.Background(), "req-42")
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want int // how often "request_id" appears
		id   bool
	}{
		{"context call gets the id", func(l *slog.Logger) { l.InfoContext(ctx, "m") }, 1, true},
		{"Log with a context gets the id", func(l *slog.Logger) { l.Log(ctx, slog.LevelWarn, "m") }, 1, true},
		{"a call without a context gets none", func(l *slog.Logger) { l.Info("m") }, 0, false},
		{"a context without an id gets none", func(l *slog.Logger) { l.InfoContext(context.Background(), "m") }, 0, false},
		{"an explicit id is not repeated", func(l *slog.Logger) { l.InfoContext(ctx, "m", "request_id", "req-42") }, 1, true},
		{"a With id is not repeated", func(l *slog.Logger) { l.With("request_id", "req-42").InfoContext(ctx, "m") }, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(slog.New(NewRequestIDHandler(slog.NewJSONHandler(&buf, nil))))
			out := buf.String()
			if n := strings.Count(out, `"request_id"`); n != tc.want {
				t.Errorf("request_id appears %d times, want %d\n%s", n, tc.want, out)
			}
			if tc.id && !strings.Contains(out, `"request_id":"req-42"`) {
				t.Errorf("no request_id req-42\n%s", out)
			}
		})
	}
	if RequestID(context.Background()) != "" || RequestID(ctx) != "req-42" {
		t.Error("RequestID does not read back what ContextWithRequestID stored")
	}
}
