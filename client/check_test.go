package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/scopeexpr"
)

// Credentials the organization fake knows.
const (
	memberKey    = "lk_live_orgmember"
	workspaceKey = "lk_live_workspace"
	personalKey  = "lk_live_personal"
	legacyKey    = "lk_live_legacy"
	lostOrgKey   = "lk_live_lostorg"
	disabledKey  = "lk_live_disabled"
	orgTok       = "ory_at_org"
	wsKeyTok     = "ory_at_fromworkspacekey"
	legacyTok    = "ory_at_legacy"
)

var (
	acme        = &Organization{ID: "org_1", Name: "Acme", Role: "member"}
	tenantAlpha = Tenant{ID: "tnt_a", Name: "Alpha", Role: TenantReadWrite}
	tenantBeta  = Tenant{ID: "tnt_b", Name: "Beta", Role: TenantReadOnly}
	aliceSpace  = Tenant{ID: "user-1", Name: "alice's workspace", Role: TenantOwner}
)

// orgKey is what the fake knows about a key.
type orgKey struct {
	owner, kind string
	org         *Organization
	tenants     []Tenant
	scopes      []string
	code        string // refusal of the key itself, if any
	legacy      bool   // answer as a server before organizations
}

var orgKeys = map[string]orgKey{
	memberKey:    {owner: "user-1", kind: KeyKindPersonal, org: acme, tenants: []Tenant{tenantAlpha, tenantBeta}, scopes: []string{"videos:read", "billing:read", "keys:write"}},
	workspaceKey: {owner: "tnt_a", kind: KeyKindWorkspace, org: &Organization{ID: "org_1", Name: "Acme"}, tenants: []Tenant{{ID: "tnt_a", Name: "Alpha", Role: TenantReadOnly}}, scopes: []string{"videos:read"}},
	personalKey:  {owner: "user-1", kind: KeyKindPersonal, tenants: []Tenant{aliceSpace}, scopes: []string{"users:read"}},
	legacyKey:    {owner: "user-1", scopes: []string{"users:read"}, legacy: true},
	lostOrgKey:   {owner: "user-2", kind: KeyKindPersonal, code: "FORBIDDEN"},
	disabledKey:  {owner: "user-3", kind: KeyKindPersonal, code: "DISABLED"},
}

// orgLatchkey answers /oauth/token, /v1/keys/verify and /oauth/introspect
// in the format of the organizations contract, evaluating checks as the
// server does.
type orgLatchkey struct {
	*httptest.Server
	verifies, introspects atomic.Int32
	// ignoreChecks answers like a server that ignores unknown fields;
	// refuseChecks like one that refuses them (400), as Latchkey before
	// organizations does.
	ignoreChecks, refuseChecks atomic.Bool
	mu                         sync.Mutex
	bodies                     []map[string]any // verify request bodies
}

func newOrgLatchkey(t *testing.T) *orgLatchkey {
	t.Helper()
	f := &orgLatchkey{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *orgLatchkey) lastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return nil
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *orgLatchkey) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth/token":
		writeJSONBody(w, 200, map[string]any{"access_token": "cc-org", "token_type": "bearer", "expires_in": 3600})
	case "/v1/keys/verify":
		f.verifies.Add(1)
		raw := new(bytes.Buffer)
		_, _ = raw.ReadFrom(r.Body)
		var generic map[string]any
		_ = json.Unmarshal(raw.Bytes(), &generic)
		f.mu.Lock()
		f.bodies = append(f.bodies, generic)
		f.mu.Unlock()
		var b struct {
			Key              string   `json:"key"`
			Scopes           []string `json:"scopes"`
			Tenant           *string  `json:"tenant"`
			TenantPermission *string  `json:"tenant_permission"`
			Permissions      *string  `json:"permissions"`
		}
		dec := json.NewDecoder(raw)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "message": err.Error()})
			return
		}
		asked := b.Tenant != nil || b.TenantPermission != nil || b.Permissions != nil
		if asked && f.refuseChecks.Load() {
			writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "message": "The body is not valid JSON for this endpoint: unknown field."})
			return
		}
		if f.ignoreChecks.Load() {
			asked = false
		}
		k, ok := orgKeys[b.Key]
		if !ok {
			writeJSONBody(w, 200, map[string]any{"valid": false, "code": "NOT_FOUND"})
			return
		}
		resp := map[string]any{"valid": k.code == "", "code": "VALID", "key_id": "key-" + b.Key[8:], "owner": k.owner,
			"scopes": k.scopes, "environment": "live", "tier": "pro"}
		if k.code != "" {
			// The key itself is refused: no check is evaluated.
			resp["code"] = k.code
			writeJSONBody(w, 200, resp)
			return
		}
		if !k.legacy {
			resp["kind"] = k.kind
			resp["tenants"] = k.tenants
			if k.org != nil {
				resp["organization"] = k.org
			}
		}
		if asked {
			id := &Identity{Scopes: k.scopes, Tenants: k.tenants}
			check := map[string]any{}
			passed := true
			if b.Tenant != nil {
				perm := "read"
				if b.TenantPermission != nil {
					perm = *b.TenantPermission
				}
				ok := id.CanAccessTenant(*b.Tenant, perm)
				check["tenant"] = map[string]any{"id": *b.Tenant, "permission": perm, "passed": ok}
				if !ok {
					passed = false
					resp["valid"], resp["code"] = false, "FORBIDDEN"
				}
			}
			if b.Permissions != nil {
				e, err := scopeexpr.Parse(*b.Permissions)
				if err != nil {
					writeJSONBody(w, 400, map[string]string{"error": "invalid_request", "message": "permissions: " + err.Error()})
					return
				}
				res := e.Eval(id.HasScope)
				check["permissions"] = map[string]any{"query": *b.Permissions, "passed": res.Passed, "failed": res.Failed}
				if !res.Passed {
					if passed {
						resp["valid"], resp["code"] = false, "INSUFFICIENT_SCOPE"
					}
					passed = false
				}
			}
			check["passed"] = passed
			resp["check"] = check
		}
		writeJSONBody(w, 200, resp)
	case "/oauth/introspect":
		f.introspects.Add(1)
		_ = r.ParseForm()
		exp := time.Now().Add(time.Hour).Unix()
		switch r.PostForm.Get("token") {
		case orgTok:
			writeJSONBody(w, 200, map[string]any{"active": true, "scope": "videos:read billing:read", "sub": "user-1", "client_id": "app", "exp": exp,
				"org_id": "org_1", "org_role": "admin", "tenants": []Tenant{tenantAlpha, {ID: "tnt_b", Name: "Beta", Role: TenantReadWrite}}})
		case wsKeyTok:
			writeJSONBody(w, 200, map[string]any{"active": true, "scope": "videos:read", "sub": "tnt_a", "exp": exp, "key_id": "key-ws",
				"org_id": "org_1", "org_role": "", "key_kind": "workspace", "tenants": []Tenant{{ID: "tnt_a", Name: "Alpha", Role: TenantReadOnly}}})
		case legacyTok:
			writeJSONBody(w, 200, map[string]any{"active": true, "scope": "users:read", "sub": "user-1", "exp": exp})
		default:
			writeJSONBody(w, 200, map[string]any{"active": false})
		}
	default:
		http.NotFound(w, r)
	}
}

func TestIdentityOrganizationFields(t *testing.T) {
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithCacheTTL(0))
	for _, tc := range []struct {
		cred string
		want *Identity
	}{
		{memberKey, &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-orgmember", Scopes: []string{"videos:read", "billing:read", "keys:write"},
			Environment: "live", Tier: "pro", KeyKind: KeyKindPersonal, Organization: acme, Tenants: []Tenant{tenantAlpha, tenantBeta}}},
		{workspaceKey, &Identity{Kind: KindAPIKey, Subject: "tnt_a", KeyID: "key-workspace", Scopes: []string{"videos:read"},
			Environment: "live", Tier: "pro", KeyKind: KeyKindWorkspace, Organization: &Organization{ID: "org_1", Name: "Acme"},
			Tenants: []Tenant{{ID: "tnt_a", Name: "Alpha", Role: TenantReadOnly}}}},
		{personalKey, &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-personal", Scopes: []string{"users:read"},
			Environment: "live", Tier: "pro", KeyKind: KeyKindPersonal, Tenants: []Tenant{aliceSpace}}},
		{legacyKey, &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-legacy", Scopes: []string{"users:read"}, Environment: "live", Tier: "pro"}},
		{orgTok, &Identity{Kind: KindAccessToken, Subject: "user-1", ClientID: "app", Scopes: []string{"videos:read", "billing:read"},
			Organization: &Organization{ID: "org_1", Role: "admin"}, Tenants: []Tenant{tenantAlpha, {ID: "tnt_b", Name: "Beta", Role: TenantReadWrite}}}},
		{wsKeyTok, &Identity{Kind: KindAccessToken, Subject: "tnt_a", KeyID: "key-ws", Scopes: []string{"videos:read"}, KeyKind: KeyKindWorkspace,
			Organization: &Organization{ID: "org_1"}, Tenants: []Tenant{{ID: "tnt_a", Name: "Alpha", Role: TenantReadOnly}}}},
		{legacyTok, &Identity{Kind: KindAccessToken, Subject: "user-1", Scopes: []string{"users:read"}}},
	} {
		t.Run(tc.cred, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.cred)
			if err != nil {
				t.Fatal(err)
			}
			id.ExpiresAt = time.Time{}
			if mustJSONString(id) != mustJSONString(tc.want) {
				t.Fatalf("got  %s\nwant %s", mustJSONString(id), mustJSONString(tc.want))
			}
			if tc.want.Organization == nil && id.Organization != nil || tc.want.Tenants == nil && id.Tenants != nil {
				t.Fatalf("absent fields must stay nil: %+v", id)
			}
		})
	}
	for _, cred := range []string{lostOrgKey, disabledKey} {
		if id, err := v.Verify(context.Background(), cred); id != nil || !errors.Is(err, ErrInvalidCredential) {
			t.Errorf("%s: got %v, %v; want ErrInvalidCredential", cred, id, err)
		}
	}
}

// TestIdentityCopies: callers get deep copies, so changing the returned
// organization or tenants does not change the cached identity.
func TestIdentityCopies(t *testing.T) {
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret)
	id, err := v.Verify(context.Background(), memberKey)
	if err != nil {
		t.Fatal(err)
	}
	id.Organization.Role = "owner"
	id.Tenants[1].Role = TenantReadWrite
	again, _ := v.Verify(context.Background(), memberKey)
	if again.Organization.Role != "member" || again.CanAccessTenant("tnt_b", PermissionWrite) || f.verifies.Load() != 1 {
		t.Fatalf("cached identity was changed through a copy: %+v, %+v", again.Organization, again.Tenants)
	}
}

func TestCanAccessTenant(t *testing.T) {
	member := &Identity{Tenants: []Tenant{tenantAlpha, tenantBeta, {ID: "tnt_odd", Role: "admin"}}}
	personal := &Identity{Subject: "user-1", Tenants: []Tenant{aliceSpace}}
	legacy := &Identity{Subject: "user-1", Scopes: []string{"users:read"}}
	for _, tc := range []struct {
		name         string
		id           *Identity
		tenant, perm string
		want         bool
	}{
		{"read-write reads", member, "tnt_a", PermissionRead, true},
		{"read-write writes", member, "tnt_a", PermissionWrite, true},
		{"read-only reads", member, "tnt_b", PermissionRead, true},
		{"read-only does not write", member, "tnt_b", PermissionWrite, false},
		{"unlisted tenant", member, "tnt_c", PermissionRead, false},
		{"unknown role", member, "tnt_odd", PermissionRead, false},
		{"unknown permission", member, "tnt_a", "admin", false},
		{"permission is case-sensitive", member, "tnt_a", "Read", false},
		{"empty tenant", member, "", PermissionRead, false},
		{"personal workspace owner writes", personal, "user-1", PermissionWrite, true},
		{"personal workspace owner reads", personal, "user-1", PermissionRead, true},
		{"older server: no tenants, not even the subject's", legacy, "user-1", PermissionRead, false},
		{"nil identity", nil, "tnt_a", PermissionRead, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.CanAccessTenant(tc.tenant, tc.perm); got != tc.want {
				t.Errorf("CanAccessTenant(%q, %q) = %v, want %v", tc.tenant, tc.perm, got, tc.want)
			}
		})
	}
}

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
