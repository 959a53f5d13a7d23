package client

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
