package main

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/servertest"
)

// TestCLIRefusesBadText: `user create` and `client create` refuse a NUL
// byte or invalid UTF-8 in any flag as a usage error (exit 2) and store
// nothing, on every backend.
func TestCLIRefusesBadText(t *testing.T) {
	for _, b := range servertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			cliEnv(t)
			if b.Name == "postgres" {
				t.Setenv("LATCHKEY_STORAGE_DSN", servertest.PostgresSchemaDSN(t))
			}
			for _, tc := range []struct {
				name string
				args []string
				flag string
			}{
				{"NUL in username", []string{"user", "create", "--username", "op\x00s", "--password", "a-long-password-1"}, "--username"},
				{"invalid UTF-8 in username", []string{"user", "create", "--username", "op\xffs", "--password", "a-long-password-1"}, "--username"},
				{"NUL in password", []string{"user", "create", "--username", "ops", "--password", "a-long-password-1\x00"}, "--password"},
				{"invalid UTF-8 in email", []string{"user", "create", "--username", "ops", "--password", "a-long-password-1", "--email", "ops@\xff"}, "--email"},
				{"NUL in client name", []string{"client", "create", "--name", "App\x00", "--redirect-uri", "https://a.example/cb"}, "--name"},
				{"invalid UTF-8 in redirect URI", []string{"client", "create", "--name", "App", "--redirect-uri", "https://a.example/cb\xff"}, "--redirect-uri"},
			} {
				code, out, errs := runCLI(t, tc.args...)
				if code != 2 || out != "" || !strings.Contains(errs, tc.flag+" holds a NUL byte or is not valid UTF-8") {
					t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, code, out, errs)
				}
			}
			// Nothing was stored: the username is still free.
			if code, _, errs := runCLI(t, "user", "create", "--username", "ops", "--password", "a-long-password-1"); code != 0 {
				t.Fatalf("user create: %d %s", code, errs)
			}
		})
	}
}
