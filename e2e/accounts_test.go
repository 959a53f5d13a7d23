package e2e

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestUserCreateRefusesWhatSignupRefuses: `latchkey user create` and the
// /signup form apply the same account rules (package accounts), so each
// input sign-up refuses is refused by the CLI too — with a usage error
// naming the field — and what one accepts the other accepts.
func TestUserCreateRefusesWhatSignupRefuses(t *testing.T) {
	e := newEnv(t)
	in := start(t, e)
	const good = "tangerine otter lamp"
	tests := []struct {
		name, username, email, password string
		field                           string // the refused field; "" = accepted
	}{
		{"uppercase username", "Alice", "alice@example.com", good, "username"},
		{"username too short", "al", "al@example.com", good, "username"},
		{"username starting with a dot", ".ops", "ops@example.com", good, "username"},
		{"username with a space", "al ice", "alice@example.com", good, "username"},
		{"password too short", "shorty", "shorty@example.com", "short-pass1", "password"},
		{"common password", "commoner", "commoner@example.com", "password1234", "password"},
		{"counting password", "counter", "counter@example.com", "123456789012", "password"},
		{"password is the username", "alice.wonderland", "aw@example.com", "Alice.Wonderland", "password"},
		{"email without a dot in the domain", "dotless", "dotless@localhost", good, "email"},
		{"email with a display name", "named", "Named <named@example.com>", good, "email"},
		{"accepted", "fine", "fine@example.com", good, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The CLI, with its own username so the two never clash.
			code, _, stderr := runLatchkey(t, e, "user", "create", "--username", tc.username, "--password", tc.password, "--email", tc.email)
			switch {
			case tc.field == "" && code != 0:
				t.Errorf("user create: exit %d, want 0\n%s", code, stderr)
			case tc.field != "" && (code != 2 || !strings.Contains(stderr, tc.field+": ")):
				t.Errorf("user create: exit %d, want 2 naming %s\n%s", code, tc.field, stderr)
			}

			// Sign-up, with the same fields but a username of its own when
			// the CLI may have taken it.
			username := tc.username
			if tc.field == "" {
				username += "-web"
			}
			b := flowtest.Browser(t)
			_, page := flowtest.Get(t, b, in.URL+"/signup")
			resp, body := flowtest.PostForm(t, b, in.URL+"/signup", url.Values{
				"username": {username}, "email": {tc.email}, "password": {tc.password},
				"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)},
			}, in.URL)
			switch {
			case tc.field == "" && resp.StatusCode != http.StatusSeeOther:
				t.Errorf("sign-up: %d, want 303\n%s", resp.StatusCode, body)
			case tc.field != "" && (resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="`+tc.field+`-error"`)):
				t.Errorf("sign-up: %d, want 400 with a %s error\n%s", resp.StatusCode, tc.field, body)
			}
		})
	}
}

// runLatchkey runs a latchkey command with e and returns its exit code and
// output, failing only when it cannot run at all.
func runLatchkey(t *testing.T, e env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.list()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("latchkey %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}
