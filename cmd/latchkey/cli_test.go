package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// cliEnv points the CLI at a fresh data directory and no config file.
func cliEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("LATCHKEY_CONFIG", filepath.Join(dir, "absent.yaml"))
	t.Setenv("LATCHKEY_DATA_DIR", filepath.Join(dir, "data"))
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	cliEnv(t)
	if code, out, _ := runCLI(t, "migrate"); code != 0 || !strings.HasPrefix(out, "applied 0001_baseline\n") ||
		!strings.HasSuffix(out, fmt.Sprintf("\ndatabase is at version %d\n", strings.Count(out, "applied "))) {
		t.Fatalf("migrate: %d %q", code, out)
	}
	code, out, errs := runCLI(t, "user", "create", "--username", "ops", "--password", "a-long-password-1", "--email", "ops@example.com", "--admin")
	if code != 0 {
		t.Fatalf("user create: %d %s", code, errs)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["id"] == "" || u["username"] != "ops" || u["admin"] != true {
		t.Fatalf("user create output %q (%v)", out, err)
	}
	if strings.Contains(out, "a-long-password-1") {
		t.Fatal("password echoed")
	}
	// An IP-address issuer, as contract-smoke.sh uses (passkeys are off
	// then: serve warns, one-shot commands stay quiet).
	t.Setenv("LATCHKEY_SERVER_ISSUER", "http://127.0.0.1:9")
	code, out, errs = runCLI(t, "client", "create", "--name", "Smoke", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--grant-types", "authorization_code,refresh_token,client_credentials", "--scopes", "openid,offline_access")
	if code != 0 {
		t.Fatalf("client create: %d %s", code, errs)
	}
	// Operators capture both streams (contract-smoke.sh does 2>&1): a
	// one-shot command logs nothing on a healthy run, so the JSON stands
	// alone.
	if errs != "" {
		t.Errorf("client create wrote to stderr: %q", errs)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("client create output %q: %v", out, err)
	}
	if s, _ := c["client_secret"].(string); len(s) < 43 || c["client_id"] == "" {
		t.Fatalf("client create output %q", out)
	}
	// A client for token exchange (RFC 8693) with an audience it may name.
	code, out, errs = runCLI(t, "client", "create", "--name", "Exchanger", "--grant-types", "urn:ietf:params:oauth:grant-type:token-exchange",
		"--audience", "https://reports.example.com,rs-client", "--scopes", "users:read")
	if code != 0 || !strings.Contains(out, `"urn:ietf:params:oauth:grant-type:token-exchange"`) || !strings.Contains(out, `"audience": [`) || !strings.Contains(out, `"rs-client"`) {
		t.Fatalf("token exchange client create: %d %q %s", code, out, errs)
	}
	code, out, _ = runCLI(t, "client", "create", "--name", "Spa", "--redirect-uri", "http://localhost:3000/cb", "--public")
	if code != 0 || strings.Contains(out, "client_secret") || !strings.Contains(out, `"none"`) {
		t.Fatalf("public client create: %d %q", code, out)
	}

	bad := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"frobnicate"}, 2},
		{"user without password", []string{"user", "create", "--username", "x"}, 2},
		{"short password", []string{"user", "create", "--username", "x", "--password", "short"}, 2},
		{"duplicate username", []string{"user", "create", "--username", "ops", "--password", "another-long-password"}, 1},
		{"unknown flag", []string{"user", "create", "--nope"}, 2},
		{"client without name", []string{"client", "create", "--redirect-uri", "https://a.example/cb"}, 1},
		{"client with fragment redirect", []string{"client", "create", "--name", "x", "--redirect-uri", "https://a.example/cb#x"}, 1},
		{"client with http non-loopback redirect", []string{"client", "create", "--name", "x", "--redirect-uri", "http://a.example/cb"}, 1},
		{"public client_credentials", []string{"client", "create", "--name", "x", "--public", "--grant-types", "client_credentials"}, 1},
		{"unsupported grant", []string{"client", "create", "--name", "x", "--redirect-uri", "https://a.example/cb", "--grant-types", "password"}, 1},
		{"public token exchange", []string{"client", "create", "--name", "x", "--public", "--redirect-uri", "https://a.example/cb", "--grant-types", "authorization_code,urn:ietf:params:oauth:grant-type:token-exchange"}, 1},
		{"audience with a space", []string{"client", "create", "--name", "x", "--grant-types", "urn:ietf:params:oauth:grant-type:token-exchange", "--audience", "a b"}, 1},
		{"unknown tier", []string{"client", "create", "--name", "x", "--grant-types", "client_credentials", "--tier", "platinum"}, 2},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, _ := runCLI(t, tc.args...); code != tc.want {
				t.Fatalf("exit %d, want %d", code, tc.want)
			}
		})
	}
}

// TestCLIKeysRotate: oauth.jwt_access_tokens no longer stops the binary;
// `keys rotate --alg ES256` adds a signing key that signs from then on
// while the first stays published; an algorithm outside RS256/ES256 is a
// usage error.
func TestCLIKeysRotate(t *testing.T) {
	cliEnv(t)
	t.Setenv("LATCHKEY_OAUTH_JWT_ACCESS_TOKENS", "true")
	if code, _, errs := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI(t, "keys", "rotate", "--alg", "ES256")
	if code != 0 {
		t.Fatalf("rotate: exit %d: %s", code, errs)
	}
	var res struct {
		KID  string `json:"kid"`
		Keys []struct {
			KID     string `json:"kid"`
			Alg     string `json:"alg"`
			Signing bool   `json:"signing"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if res.KID == "" || len(res.Keys) != 2 || res.Keys[0].KID != res.KID || !res.Keys[0].Signing || res.Keys[0].Alg != "ES256" ||
		res.Keys[1].Signing || res.Keys[1].Alg != "RS256" {
		t.Fatalf("rotate output %s", out)
	}
	if code, _, _ := runCLI(t, "keys", "rotate", "--alg", "HS256"); code == 0 {
		t.Error("rotate --alg HS256 succeeded")
	}
}

// TestCLIMigrateWhenAutoMigrateOff: with storage.auto_migrate false nothing
// migrates at start-up (commands fail on the missing tables) until
// `latchkey migrate` applies the migrations; a second migrate applies
// nothing.
func TestCLIMigrateWhenAutoMigrateOff(t *testing.T) {
	cliEnv(t)
	t.Setenv("LATCHKEY_STORAGE_AUTO_MIGRATE", "false")
	createUser := []string{"user", "create", "--username", "ops", "--password", "a-long-password-1"}
	if code, _, errs := runCLI(t, createUser...); code != 1 || !strings.Contains(errs, "no such table") {
		t.Fatalf("user create before migrate: %d %q", code, errs)
	}
	code, out, errs := runCLI(t, "migrate")
	if code != 0 || !strings.HasPrefix(out, "applied 0001_baseline\n") {
		t.Fatalf("migrate: %d %q %q", code, out, errs)
	}
	version := strings.Count(out, "applied ")
	if code, out, _ := runCLI(t, "migrate"); code != 0 || out != fmt.Sprintf("no pending migrations\ndatabase is at version %d\n", version) {
		t.Fatalf("second migrate: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, createUser...); code != 0 {
		t.Fatalf("user create after migrate: %d %q", code, errs)
	}
}

// TestCLIClientAuthMethods (issue 12 item 6): `client create` prints every
// token endpoint auth method the client accepts — a confidential client
// created without --auth-method accepts client_secret_basic and
// client_secret_post, and used to be printed as client_secret_basic only —
// in JSON and in the table.
func TestCLIClientAuthMethods(t *testing.T) {
	cliEnv(t)
	create := []string{"client", "create", "--name", "x", "--redirect-uri", "https://a.example/cb"}
	for _, tc := range []struct {
		name    string
		args    []string
		method  string
		methods []any
	}{
		{"no method named", nil, "client_secret_basic", []any{"client_secret_basic", "client_secret_post"}},
		{"client_secret_post", []string{"--auth-method", "client_secret_post"}, "client_secret_post", []any{"client_secret_post"}},
		{"client_secret_basic", []string{"--auth-method", "client_secret_basic"}, "client_secret_basic", []any{"client_secret_basic"}},
		{"public", []string{"--public"}, "none", []any{"none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append(slices.Clone(create), tc.args...)...)
			if code != 0 {
				t.Fatalf("client create: %d %s", code, errs)
			}
			var c map[string]any
			if err := json.Unmarshal([]byte(out), &c); err != nil {
				t.Fatal(err)
			}
			if c["token_endpoint_auth_method"] != tc.method || !reflect.DeepEqual(c["token_endpoint_auth_methods"], tc.methods) {
				t.Fatalf("token_endpoint_auth_method %v, token_endpoint_auth_methods %v; want %v, %v",
					c["token_endpoint_auth_method"], c["token_endpoint_auth_methods"], tc.method, tc.methods)
			}
		})
	}
	code, out, errs := runCLI(t, append(slices.Clone(create), "--output", "table")...)
	if code != 0 || !regexp.MustCompile(`(?m)^TOKEN_ENDPOINT_AUTH_METHODS +client_secret_basic,client_secret_post$`).MatchString(out) {
		t.Fatalf("table output: %d %s\n%s", code, errs, out)
	}
}

// TestCLIClientRotateSecret (issue 13 item 4): `client rotate-secret`
// prints a new secret, and with --grace when the old one stops; the
// client's record keeps the old digest as the previous secret that long.
// Bad input is a usage error (2), an unknown or public client a failure (1).
func TestCLIClientRotateSecret(t *testing.T) {
	cliEnv(t)
	code, out, errs := runCLI(t, "client", "create", "--name", "svc", "--grant-types", "client_credentials", "--scopes", "openid")
	if code != 0 {
		t.Fatalf("client create: %d %s", code, errs)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	id, first := created["client_id"].(string), created["client_secret"].(string)

	before := time.Now()
	code, out, errs = runCLI(t, "client", "rotate-secret", "--client-id", id, "--grace", "1h")
	if code != 0 {
		t.Fatalf("rotate-secret: %d %s", code, errs)
	}
	var rotated map[string]any
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatal(err)
	}
	second, _ := rotated["client_secret"].(string)
	until, err := time.Parse(time.RFC3339, fmt.Sprint(rotated["previous_secret_expires_at"]))
	if rotated["client_id"] != id || len(second) < 43 || second == first || err != nil ||
		until.Before(before.Add(time.Hour-time.Second)) || until.After(time.Now().Add(time.Hour)) {
		t.Fatalf("rotate-secret output %q (%v)", out, err)
	}

	code, out, _ = runCLI(t, "client", "rotate-secret", "--client-id", id, "--output", "table")
	if code != 0 || !regexp.MustCompile(`(?m)^CLIENT_SECRET +\S{43,}$`).MatchString(out) || strings.Contains(out, "PREVIOUS_SECRET") || strings.Contains(out, second) {
		t.Fatalf("rotate-secret without grace: %d %q", code, out)
	}

	code, out, _ = runCLI(t, "client", "create", "--name", "spa", "--redirect-uri", "http://localhost:3000/cb", "--public")
	if code != 0 {
		t.Fatal("public client create failed")
	}
	var pub map[string]any
	_ = json.Unmarshal([]byte(out), &pub)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"no client id", []string{"--grace", "1h"}, 2},
		{"negative grace", []string{"--client-id", id, "--grace", "-1h"}, 2},
		{"grace too long", []string{"--client-id", id, "--grace", "721h"}, 2},
		{"grace not a duration", []string{"--client-id", id, "--grace", "soon"}, 2},
		{"unknown client", []string{"--client-id", "nope"}, 1},
		{"public client", []string{"--client-id", fmt.Sprint(pub["client_id"])}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out, _ := runCLI(t, append([]string{"client", "rotate-secret"}, tc.args...)...); code != tc.want || strings.Contains(out, "client_secret") {
				t.Fatalf("exit %d %q, want %d and no secret", code, out, tc.want)
			}
		})
	}
}
