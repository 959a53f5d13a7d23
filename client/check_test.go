package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/scopeexpr"
)

// result builds a CheckResult; tenant and perms are "" (not asked), "y" or "n".
func result(passed bool, tenant, perms, failed string) CheckResult {
	r := CheckResult{Passed: passed, Failed: failed}
	if tenant != "" {
		r.TenantPassed = ptr(tenant == "y")
	}
	if perms != "" {
		r.PermissionsPassed = ptr(perms == "y")
	}
	return r
}

func TestVerifyWithCheck(t *testing.T) {
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithCacheTTL(0))
	for _, tc := range []struct {
		name  string
		cred  string
		check Check
		want  CheckResult
		sent  map[string]any // check fields the verify request must carry (keys)
	}{
		{"no check", memberKey, Check{}, result(true, "", "", ""), map[string]any{}},
		{"tenant read by default", memberKey, Check{Tenant: "tnt_b"}, result(true, "y", "", ""),
			map[string]any{"tenant": "tnt_b", "tenant_permission": "read"}},
		{"tenant write on read-only", memberKey, Check{Tenant: "tnt_b", TenantPermission: "write"}, result(false, "n", "", ""),
			map[string]any{"tenant": "tnt_b", "tenant_permission": "write"}},
		{"tenant write on read-write", memberKey, Check{Tenant: "tnt_a", TenantPermission: "write"}, result(true, "y", "", ""), nil},
		{"unreachable tenant", memberKey, Check{Tenant: "tnt_z"}, result(false, "n", "", ""), nil},
		{"permissions pass", memberKey, Check{Permissions: "videos:read and (billing:read or org:admin)"}, result(true, "", "y", ""),
			map[string]any{"permissions": "videos:read AND (billing:read OR org:admin)"}},
		{"permissions fail with the failing part", workspaceKey, Check{Permissions: "videos:read AND (billing:read OR org:admin)"},
			result(false, "", "n", "billing:read OR org:admin"), nil},
		{"both pass", memberKey, Check{Tenant: "tnt_a", TenantPermission: "write", Permissions: "keys:write"}, result(true, "y", "y", ""), nil},
		{"tenant fails, permissions pass", workspaceKey, Check{Tenant: "tnt_a", TenantPermission: "write", Permissions: "videos:read"},
			result(false, "n", "y", ""), nil},
		{"tenant passes, permissions fail", workspaceKey, Check{Tenant: "tnt_a", Permissions: "keys:write"}, result(false, "y", "n", "keys:write"), nil},
		{"personal workspace", personalKey, Check{Tenant: "user-1", TenantPermission: "write"}, result(true, "y", "", ""), nil},
		{"token: evaluated on introspection", orgTok, Check{Tenant: "tnt_b", TenantPermission: "write", Permissions: "videos:read AND org:admin"},
			result(false, "y", "n", "org:admin"), nil},
		{"token from a workspace key", wsKeyTok, Check{Tenant: "tnt_a", Permissions: "videos:read"}, result(true, "y", "y", ""), nil},
		{"older server's token reaches no tenant", legacyTok, Check{Tenant: "user-1"}, result(false, "n", "", ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.verifies.Load()
			id, got, err := v.VerifyWithCheck(context.Background(), tc.cred, tc.check)
			if err != nil || id == nil {
				t.Fatalf("got %v, %v", id, err)
			}
			if mustJSONString(got) != mustJSONString(tc.want) {
				t.Fatalf("check = %s, want %s", mustJSONString(got), mustJSONString(tc.want))
			}
			if tc.sent == nil {
				return
			}
			if f.verifies.Load() != before+1 {
				t.Fatal("an API key's check must be asked in one verify call")
			}
			body := f.lastBody()
			for _, k := range []string{"tenant", "tenant_permission", "permissions"} {
				if body[k] != tc.sent[k] {
					t.Errorf("sent %s = %v, want %v", k, body[k], tc.sent[k])
				}
			}
		})
	}
	// Key refusals stay refusals, whatever the check.
	for _, cred := range []string{lostOrgKey, disabledKey, deadKey} {
		id, res, err := v.VerifyWithCheck(context.Background(), cred, Check{Tenant: "tnt_a", Permissions: "a"})
		if id != nil || res.Passed || !errors.Is(err, ErrInvalidCredential) {
			t.Errorf("%s: got %v, %+v, %v; want ErrInvalidCredential", cred, id, res, err)
		}
	}
}

func TestVerifyWithCheckInvalid(t *testing.T) {
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret)
	for _, tc := range []struct {
		name  string
		check Check
		pos   int // position of a syntax error, if any
	}{
		{"permission without tenant", Check{TenantPermission: "read"}, 0},
		{"unknown permission", Check{Tenant: "tnt_a", TenantPermission: "admin"}, 0},
		{"upper-case permission", Check{Tenant: "tnt_a", TenantPermission: "WRITE"}, 0},
		{"tenant with a space", Check{Tenant: "tnt a"}, 0},
		{"tenant with a NUL", Check{Tenant: "tnt\x00a"}, 0},
		{"tenant too long", Check{Tenant: strings.Repeat("t", 257)}, 0},
		{"dangling AND", Check{Permissions: "videos:read AND"}, 16},
		{"unclosed parenthesis", Check{Permissions: "(a OR b"}, 8},
		{"too deep", Check{Permissions: strings.Repeat("(", 17) + "a" + strings.Repeat(")", 17)}, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, _, err := v.VerifyWithCheck(context.Background(), memberKey, tc.check)
			if id != nil || !errors.Is(err, ErrInvalidCheck) || errors.Is(err, ErrInvalidCredential) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, %v; want ErrInvalidCheck", id, err)
			}
			var se *scopeexpr.SyntaxError
			if tc.pos != 0 && (!errors.As(err, &se) || se.Pos != tc.pos || !errors.Is(err, scopeexpr.ErrSyntax)) {
				t.Fatalf("%v: want a syntax error at %d", err, tc.pos)
			}
		})
	}
	if n := f.verifies.Load() + f.introspects.Load(); n != 0 {
		t.Fatalf("%d calls to Latchkey for checks that cannot be asked", n)
	}
}

// TestVerifyWithCheckCache: an API key's check result is cached under the
// key and the check, so it is never served for another check or for a
// plain Verify; spellings of the same expression share an entry. A token's
// checks all use the one cached introspection.
func TestVerifyWithCheckCache(t *testing.T) {
	ctx := context.Background()
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret)
	steps := []struct {
		check  Check
		passed bool
		calls  int32 // verify calls so far
	}{
		{Check{Tenant: "tnt_b", TenantPermission: "write"}, false, 1},
		{Check{Tenant: "tnt_b"}, true, 2},                               // another permission: not the cached failure
		{Check{Tenant: "tnt_b", TenantPermission: "read"}, true, 2},     // read is the default: same check
		{Check{Tenant: "tnt_b", TenantPermission: "write"}, false, 2},   // cached
		{Check{Permissions: "videos:read AND keys:write"}, true, 3},     //
		{Check{Permissions: "videos:read and keys:write"}, true, 3},     // same canonical text
		{Check{Permissions: "(videos:read) AND (keys:write)"}, true, 3}, //
		{Check{Permissions: "videos:read AND org:admin"}, false, 4},     // another expression
		{Check{Tenant: "tnt_b", Permissions: "videos:read"}, true, 5},   // a combination is its own check
		{Check{}, true, 6}, // plain: its own entry
		{Check{}, true, 6},
	}
	for i, s := range steps {
		_, res, err := v.VerifyWithCheck(ctx, memberKey, s.check)
		if err != nil || res.Passed != s.passed || f.verifies.Load() != s.calls {
			t.Fatalf("step %d %+v: passed %v, err %v, calls %d; want passed %v, calls %d", i, s.check, res.Passed, err, f.verifies.Load(), s.passed, s.calls)
		}
	}
	if _, err := v.Verify(ctx, memberKey); err != nil || f.verifies.Load() != 6 {
		t.Fatalf("Verify after VerifyWithCheck(Check{}): %v, calls %d; want the shared plain entry", err, f.verifies.Load())
	}
	// A cached failed check cannot be mutated through the returned pointers.
	_, res, _ := v.VerifyWithCheck(ctx, memberKey, Check{Tenant: "tnt_b", TenantPermission: "write"})
	*res.TenantPassed = true
	if _, res, _ = v.VerifyWithCheck(ctx, memberKey, Check{Tenant: "tnt_b", TenantPermission: "write"}); *res.TenantPassed {
		t.Fatal("cached check result changed through a returned pointer")
	}
	for _, c := range []Check{{Tenant: "tnt_a", TenantPermission: "write"}, {Tenant: "tnt_b", TenantPermission: "write"}, {Permissions: "org:admin"}, {}} {
		if _, _, err := v.VerifyWithCheck(ctx, orgTok, c); err != nil {
			t.Fatal(err)
		}
	}
	if f.introspects.Load() != 1 {
		t.Fatalf("token checks made %d introspections, want 1", f.introspects.Load())
	}
}

// TestVerifyWithCheckOlderServers: a server that ignores the check fields
// does not pass a check by answering valid — it is evaluated on its answer
// (no tenants: every tenant check fails); one that refuses them (400) is
// unavailable, not a refused key.
func TestVerifyWithCheckOlderServers(t *testing.T) {
	ctx := context.Background()
	f := newOrgLatchkey(t)
	f.ignoreChecks.Store(true)
	v := NewVerifier(f.URL, rsID, rsSecret, WithCacheTTL(0))
	for _, tc := range []struct {
		cred  string
		check Check
		want  CheckResult
	}{
		{legacyKey, Check{Tenant: "user-1"}, result(false, "n", "", "")},
		{legacyKey, Check{Permissions: "users:read"}, result(true, "", "y", "")},
		{legacyKey, Check{Permissions: "users:read AND keys:write"}, result(false, "", "n", "keys:write")},
		{memberKey, Check{Tenant: "tnt_b", TenantPermission: "write"}, result(false, "n", "", "")},
	} {
		_, res, err := v.VerifyWithCheck(ctx, tc.cred, tc.check)
		if err != nil || mustJSONString(res) != mustJSONString(tc.want) {
			t.Errorf("%s %+v: got %s, %v; want %s", tc.cred, tc.check, mustJSONString(res), err, mustJSONString(tc.want))
		}
	}
	f.ignoreChecks.Store(false)
	f.refuseChecks.Store(true)
	id, _, err := v.VerifyWithCheck(ctx, legacyKey, Check{Permissions: "users:read"})
	var e *Error
	if id != nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidCredential) || !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("got %v, %v; want ErrUnavailable with the 400", id, err)
	}
	if _, _, err := v.VerifyWithCheck(ctx, legacyKey, Check{}); err != nil {
		t.Fatalf("a check-less call must still work: %v", err)
	}
}

// TestVerifyWithCheckAnswers reads hand-written verify answers: a check
// failure is told from a refused key by the code and the failed part, and
// an answer that leaves out a part that was asked is not trusted.
func TestVerifyWithCheckAnswers(t *testing.T) {
	check := Check{Tenant: "tnt_a", TenantPermission: "write", Permissions: "a AND b"}
	base := map[string]any{"key_id": "k", "owner": "u", "scopes": []string{"a"}, "kind": "personal", "tenants": []Tenant{tenantAlpha}}
	tenantPart := func(ok bool) map[string]any {
		return map[string]any{"id": "tnt_a", "permission": "write", "passed": ok}
	}
	permsPart := func(ok bool, failed string) map[string]any {
		return map[string]any{"query": "a AND b", "passed": ok, "failed": failed}
	}
	for _, tc := range []struct {
		name    string
		answer  map[string]any
		want    CheckResult
		wantErr error
	}{
		{"tenant refused", map[string]any{"valid": false, "code": "FORBIDDEN",
			"check": map[string]any{"passed": false, "tenant": tenantPart(false), "permissions": permsPart(false, "b")}},
			result(false, "n", "n", "b"), nil},
		{"permissions refused", map[string]any{"valid": false, "code": "INSUFFICIENT_SCOPE",
			"check": map[string]any{"passed": false, "tenant": tenantPart(true), "permissions": permsPart(false, "b")}},
			result(false, "y", "n", "b"), nil},
		{"failed text missing: the whole query", map[string]any{"valid": false, "code": "INSUFFICIENT_SCOPE",
			"check": map[string]any{"passed": false, "tenant": tenantPart(true), "permissions": map[string]any{"passed": false}}},
			result(false, "y", "n", "a AND b"), nil},
		{"passed overall but a part failed", map[string]any{"valid": true, "code": "VALID",
			"check": map[string]any{"passed": true, "tenant": tenantPart(true), "permissions": permsPart(false, "b")}},
			result(false, "y", "n", "b"), nil},
		{"parts passed but not overall", map[string]any{"valid": true, "code": "VALID",
			"check": map[string]any{"passed": false, "tenant": tenantPart(true), "permissions": permsPart(true, "")}},
			result(false, "y", "y", ""), nil},
		{"FORBIDDEN while the tenant passed: the key is refused", map[string]any{"valid": false, "code": "FORBIDDEN",
			"check": map[string]any{"passed": false, "tenant": tenantPart(true), "permissions": permsPart(false, "b")}},
			CheckResult{}, ErrInvalidCredential},
		{"DISABLED with a failed check: the key is refused", map[string]any{"valid": false, "code": "DISABLED",
			"check": map[string]any{"passed": false, "tenant": tenantPart(false), "permissions": permsPart(false, "b")}},
			CheckResult{}, ErrInvalidCredential},
		{"rate limited", map[string]any{"valid": false, "code": "RATE_LIMITED",
			"check": map[string]any{"passed": true, "tenant": tenantPart(true), "permissions": permsPart(true, "")}},
			CheckResult{}, ErrRateLimited},
		{"tenant part missing", map[string]any{"valid": true, "code": "VALID",
			"check": map[string]any{"passed": true, "permissions": permsPart(true, "")}}, CheckResult{}, ErrUnavailable},
		{"another tenant answered", map[string]any{"valid": true, "code": "VALID",
			"check": map[string]any{"passed": true, "tenant": map[string]any{"id": "tnt_b", "passed": true}, "permissions": permsPart(true, "")}},
			CheckResult{}, ErrUnavailable},
		{"overall verdict missing", map[string]any{"valid": true, "code": "VALID",
			"check": map[string]any{"tenant": tenantPart(true), "permissions": permsPart(true, "")}}, CheckResult{}, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth/token" {
					writeJSONBody(w, 200, map[string]any{"access_token": "cc", "token_type": "bearer", "expires_in": 3600})
					return
				}
				answer := map[string]any{}
				for k, v := range base {
					answer[k] = v
				}
				for k, v := range tc.answer {
					answer[k] = v
				}
				writeJSONBody(w, 200, answer)
			}))
			defer srv.Close()
			v := NewVerifier(srv.URL, rsID, rsSecret)
			id, res, err := v.VerifyWithCheck(context.Background(), validKey, check)
			if tc.wantErr != nil {
				if id != nil || !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, %v; want %v", id, err, tc.wantErr)
				}
				return
			}
			if err != nil || id == nil || id.Subject != "u" || !slices.Equal(id.Scopes, []string{"a"}) {
				t.Fatalf("got %+v, %v", id, err)
			}
			if mustJSONString(res) != mustJSONString(tc.want) {
				t.Fatalf("check = %s, want %s", mustJSONString(res), mustJSONString(tc.want))
			}
		})
	}
}
