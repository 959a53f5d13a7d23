package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/openapitest"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// orgFixture is f with an organization service wired as server.Build
// wires it: Acme (alice owner, bob member with read-write on "Videos"
// and nothing on "Billing"), and Other (carol owner, tenant "Elsewhere").
type orgFixture struct {
	*fixture
	orgs                    *orgs.Service
	acme, other             string
	videos, billing, elsewh string
	verify                  func(body map[string]any) (int, map[string]any)
}

func newOrgFixture(t *testing.T) *orgFixture {
	t.Helper()
	f := newFixture(t)
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{4}, 32)})
	svc := orgs.New(orgs.Config{Hasher: h, CacheTTL: time.Minute, Logger: slog.New(slog.DiscardHandler)}, f.db)
	f.db.OnChange(svc.Invalidate)
	ctx := t.Context()
	for _, u := range []string{"bob", "carol"} {
		if err := f.db.CreateUser(ctx, &storage.User{ID: "user-" + u, Username: u, PasswordHash: "-"}); err != nil {
			t.Fatal(err)
		}
	}
	of := &orgFixture{fixture: f, orgs: svc}
	alice, carol := orgs.Actor{UserID: f.userID}, orgs.Actor{UserID: "user-carol"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	acme, err := svc.Create(ctx, alice, "Acme")
	must(err)
	other, err := svc.Create(ctx, carol, "Other")
	must(err)
	of.acme, of.other = acme.ID, other.ID
	videos, err := svc.CreateTenant(ctx, alice, acme.ID, "Videos")
	must(err)
	billing, err := svc.CreateTenant(ctx, alice, acme.ID, "Billing")
	must(err)
	elsewhere, err := svc.CreateTenant(ctx, carol, other.ID, "Elsewhere")
	must(err)
	of.videos, of.billing, of.elsewh = videos.ID, billing.ID, elsewhere.ID
	must(f.db.AddMember(ctx, &storage.Membership{OrgID: acme.ID, UserID: "user-bob", Role: string(orgs.Member)}))
	must(svc.Grant(ctx, alice, acme.ID, videos.ID, "user-bob", orgs.ReadWrite))

	api := New(Config{Keys: f.keys, Tokens: ccTokens{f.oauth}, Users: f.db, Orgs: svc, Logger: slog.New(slog.DiscardHandler)})
	e := gin.New()
	e.POST("/v1/keys/verify", api.Authenticate(), RequireResourceServer(), Require("keys:verify"), api.VerifyKey)
	of.verify = func(body map[string]any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		r := httptest.NewRequest(http.MethodPost, "/v1/keys/verify", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer rs-client-token")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		openapitest.MustNew(t).Recorded(t, r, w)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("verify %s: %d %s", b, w.Code, w.Body)
		}
		return w.Code, out
	}
	return of
}

// key stores an API key as the keys service would and returns its plain
// value: owner is the user (or, for a workspace key, the tenant id).
func (of *orgFixture) key(owner, orgID, tenantID string, scopes, narrow []string) string {
	of.t.Helper()
	plain, err := of.keys.Format().New("live")
	if err != nil {
		of.t.Fatal(err)
	}
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{4}, 32)})
	p, _ := of.keys.Format().Parse(plain)
	rec := &storage.APIKey{ID: orgs.NewID("key"), UserID: owner, Handle: orgs.NewID("h"), Display: of.keys.Format().Display(p),
		Environment: "live", Tier: "free", Scopes: scopes, OrgID: orgID, TenantID: tenantID, Tenants: narrow, CreatedBy: of.userID}
	rec.Digest, rec.PepperVersion = h.Digest([]byte(plain))
	if err := of.db.CreateAPIKey(of.t.Context(), rec); err != nil {
		of.t.Fatal(err)
	}
	return plain
}

func tenantsOf(v any) map[string]string {
	out := map[string]string{}
	list, _ := v.([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["id"].(string)] = m["role"].(string)
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestVerifyOrgFields: the verify answer names the key's kind,
// organization (with the owner's role now), the tenants it reaches after
// its narrowing and capability, and its effective scopes (org:admin only
// for an owner or admin).
func TestVerifyOrgFields(t *testing.T) {
	of := newOrgFixture(t)
	for _, tc := range []struct {
		name      string
		key       string
		kind      string
		org, role string
		tenants   map[string]string
		scopes    []string
	}{
		{"personal key without organization", of.key(of.userID, "", "", []string{"keys:write"}, nil),
			"personal", "", "", map[string]string{of.userID: "owner"}, []string{"keys:write"}},
		{"read-only personal key: its workspace read-only", of.key(of.userID, "", "", []string{"users:read"}, nil),
			"personal", "", "", map[string]string{of.userID: "read-only"}, []string{"users:read"}},
		{"owner's org key, read-write", of.key(of.userID, of.acme, "", []string{"keys:write", "org:admin"}, nil),
			"personal", of.acme, "owner", map[string]string{of.videos: "read-write", of.billing: "read-write"}, []string{"keys:write", "org:admin"}},
		{"owner's org key narrowed to Billing", of.key(of.userID, of.acme, "", []string{"keys:write"}, []string{of.billing}),
			"personal", of.acme, "owner", map[string]string{of.billing: "read-write"}, []string{"keys:write"}},
		{"member's read-only key: capability caps the grant, org:admin dropped", of.key("user-bob", of.acme, "", []string{"users:read", "org:admin"}, nil),
			"personal", of.acme, "member", map[string]string{of.videos: "read-only"}, []string{"users:read"}},
		{"workspace key", of.key(of.videos, of.acme, of.videos, []string{"keys:write", "org:admin"}, nil),
			"workspace", of.acme, "", map[string]string{of.videos: "read-write"}, []string{"keys:write"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := of.verify(map[string]any{"key": tc.key})
			if code != http.StatusOK || out["valid"] != true || out["code"] != "VALID" || out["kind"] != tc.kind {
				t.Fatalf("%d %v", code, out)
			}
			org, _ := out["organization"].(map[string]any)
			switch {
			case tc.org == "" && org != nil:
				t.Errorf("organization %v, want none", org)
			case tc.org != "" && (org == nil || org["id"] != tc.org || org["role"] != tc.role || org["name"] == ""):
				t.Errorf("organization %v, want %s role %q", org, tc.org, tc.role)
			}
			if got := tenantsOf(out["tenants"]); !sameMap(got, tc.tenants) {
				t.Errorf("tenants %v, want %v", got, tc.tenants)
			}
			if got := strs(out["scopes"]); strings.Join(got, " ") != strings.Join(tc.scopes, " ") {
				t.Errorf("scopes %v, want %v", got, tc.scopes)
			}
		})
	}
}

// TestVerifyCheck: the optional check answers which part failed; a failed
// tenant part is FORBIDDEN, a failed permissions part INSUFFICIENT_SCOPE.
func TestVerifyCheck(t *testing.T) {
	of := newOrgFixture(t)
	bobRO := of.key("user-bob", of.acme, "", []string{"users:read", "keys:read"}, nil)
	bobRW := of.key("user-bob", of.acme, "", []string{"users:read", "keys:write"}, nil)
	for _, tc := range []struct {
		name       string
		key        string
		body       map[string]any
		valid      bool
		code       string
		tenantPass any // nil = no tenant part
		permPass   any
		failed     string
		canonicalQ string
	}{
		{"tenant read passes", bobRO, map[string]any{"tenant": of.videos}, true, "VALID", true, nil, "", ""},
		{"tenant write on a read-only key", bobRO, map[string]any{"tenant": of.videos, "tenant_permission": "write"}, false, "FORBIDDEN", false, nil, "", ""},
		{"tenant write on a read-write key", bobRW, map[string]any{"tenant": of.videos, "tenant_permission": "write"}, true, "VALID", true, nil, "", ""},
		{"tenant not granted", bobRW, map[string]any{"tenant": of.billing}, false, "FORBIDDEN", false, nil, "", ""},
		{"unknown tenant id", bobRW, map[string]any{"tenant": "tnt_doesnotexist"}, false, "FORBIDDEN", false, nil, "", ""},
		{"tenant of another organization", bobRW, map[string]any{"tenant": of.elsewh}, false, "FORBIDDEN", false, nil, "", ""},
		{"permissions pass", bobRO, map[string]any{"permissions": "users:read and (billing:read or keys:read)"}, true, "VALID", nil, true, "", "users:read AND (billing:read OR keys:read)"},
		{"permissions fail names the smallest failing part", bobRO, map[string]any{"permissions": "users:read AND (billing:read OR org:admin)"}, false, "INSUFFICIENT_SCOPE", nil, false, "billing:read OR org:admin", "users:read AND (billing:read OR org:admin)"},
		{"org:admin is not effective for a member", bobRO, map[string]any{"permissions": "org:admin"}, false, "INSUFFICIENT_SCOPE", nil, false, "org:admin", "org:admin"},
		{"both parts fail: tenant's code", bobRO, map[string]any{"tenant": of.billing, "permissions": "videos:write"}, false, "FORBIDDEN", false, false, "videos:write", "videos:write"},
		{"tenant passes, permissions fail", bobRO, map[string]any{"tenant": of.videos, "permissions": "videos:write"}, false, "INSUFFICIENT_SCOPE", true, false, "videos:write", "videos:write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["key"] = tc.key
			code, out := of.verify(tc.body)
			if code != http.StatusOK || out["valid"] != tc.valid || out["code"] != tc.code {
				t.Fatalf("%d %v, want valid=%v %s", code, out, tc.valid, tc.code)
			}
			if !tc.valid && out["message"] == "" {
				t.Errorf("no message: %v", out)
			}
			chk, _ := out["check"].(map[string]any)
			if chk == nil || chk["passed"] != tc.valid {
				t.Fatalf("check %v, want passed=%v", chk, tc.valid)
			}
			tp, _ := chk["tenant"].(map[string]any)
			if (tc.tenantPass == nil) != (tp == nil) || (tp != nil && (tp["passed"] != tc.tenantPass || tp["id"] != tc.body["tenant"])) {
				t.Errorf("tenant part %v, want passed=%v", tp, tc.tenantPass)
			}
			pp, _ := chk["permissions"].(map[string]any)
			if (tc.permPass == nil) != (pp == nil) || (pp != nil && (pp["passed"] != tc.permPass || pp["query"] != tc.canonicalQ || (pp["failed"] != nil && pp["failed"] != tc.failed) || (tc.failed != "" && pp["failed"] != tc.failed))) {
				t.Errorf("permissions part %v, want passed=%v failed=%q query=%q", pp, tc.permPass, tc.failed, tc.canonicalQ)
			}
		})
	}
}

// TestVerifyBadCheck: a malformed check is 400 invalid_request naming
// what is wrong (the position, for an expression) — before the key is
// looked at, so it is the same for valid and invalid keys; an invalid key
// with a well-formed check answers its code and no check.
func TestVerifyBadCheck(t *testing.T) {
	of := newOrgFixture(t)
	good := of.key("user-bob", of.acme, "", []string{"users:read"}, nil)
	bad := good[:len(good)-12] + "AAAAAA" + good[len(good)-6:]
	deep := strings.Repeat("(", 17) + "a" + strings.Repeat(")", 17)
	ok16 := strings.Repeat("(", 16) + "users:read" + strings.Repeat(")", 16)
	huge := strings.TrimSuffix(strings.Repeat("users:read OR ", 80), " OR ")
	for _, tc := range []struct {
		name string
		body map[string]any
		want string // in the message
	}{
		{"dangling AND", map[string]any{"permissions": "users:read AND"}, "position 15"},
		{"unclosed parenthesis", map[string]any{"permissions": "(users:read OR keys:read"}, "position"},
		{"stray closing parenthesis", map[string]any{"permissions": "users:read)"}, "position 11"},
		{"empty parentheses", map[string]any{"permissions": "()"}, "position"},
		{"only spaces", map[string]any{"permissions": "   "}, "position"},
		{"too deep", map[string]any{"permissions": deep}, "position"},
		{"longer than 1000 characters", map[string]any{"permissions": huge}, "1000"},
		{"non-ASCII scope", map[string]any{"permissions": "vidéos:read"}, "position"},
		{"tenant_permission without tenant", map[string]any{"tenant_permission": "read"}, `"tenant"`},
		{"unknown tenant_permission", map[string]any{"tenant": of.videos, "tenant_permission": "admin"}, `"read" or "write"`},
		{"tenant with a space", map[string]any{"tenant": "tnt_a b"}, "tenant id"},
		{"tenant too long", map[string]any{"tenant": "tnt_" + strings.Repeat("a", 300)}, "tenant id"},
	} {
		for _, key := range []string{good, bad} {
			t.Run(tc.name, func(t *testing.T) {
				tc.body["key"] = key
				code, out := of.verify(tc.body)
				msg, _ := out["message"].(string)
				if code != http.StatusBadRequest || out["error"] != "invalid_request" || !strings.Contains(msg, tc.want) {
					t.Fatalf("%d %v, want 400 invalid_request mentioning %q", code, out, tc.want)
				}
			})
		}
	}
	t.Run("depth 16 is allowed", func(t *testing.T) {
		if code, out := of.verify(map[string]any{"key": good, "permissions": ok16}); code != http.StatusOK || out["code"] != "VALID" {
			t.Fatalf("%d %v", code, out)
		}
	})
	t.Run("a body beyond the size limit is 413", func(t *testing.T) {
		code, out := of.verify(map[string]any{"key": good, "permissions": strings.Repeat("a OR ", 20000)})
		if code != http.StatusRequestEntityTooLarge || out["error"] != "payload_too_large" {
			t.Fatalf("%d %v", code, out)
		}
	})
	t.Run("check on an invalid key", func(t *testing.T) {
		code, out := of.verify(map[string]any{"key": bad, "tenant": of.videos, "permissions": "users:read"})
		if code != http.StatusOK || out["valid"] != false || out["code"] != "NOT_FOUND" || out["check"] != nil || out["tenants"] != nil {
			t.Fatalf("%d %v, want NOT_FOUND without check or tenants", code, out)
		}
	})
}

// TestVerifyRightsChangeAtOnce: rights are those at the request — a
// member removed, an organization or a user suspended — and a workspace
// key survives its creator leaving.
func TestVerifyRightsChangeAtOnce(t *testing.T) {
	of := newOrgFixture(t)
	ctx := t.Context()
	alice := orgs.Actor{UserID: of.userID}
	bobKey := of.key("user-bob", of.acme, "", []string{"users:read"}, nil)
	ws := of.key(of.videos, of.acme, of.videos, []string{"users:read"}, nil)
	aliceOwn := of.key(of.userID, "", "", []string{"users:read"}, nil)
	expect := func(t *testing.T, key, code string) {
		t.Helper()
		c, out := of.verify(map[string]any{"key": key, "tenant": of.videos})
		if c != http.StatusOK || out["code"] != code || (code != "VALID") != (out["valid"] == false) {
			t.Fatalf("%d %v, want %s", c, out, code)
		}
		if code == "FORBIDDEN" || code == "DISABLED" {
			if m, _ := out["message"].(string); m == "" {
				t.Errorf("no message: %v", out)
			}
			if out["check"] != nil {
				t.Errorf("check answered for a refused key: %v", out)
			}
		}
	}
	expect(t, bobKey, "VALID")
	expect(t, ws, "VALID")
	if err := of.orgs.Remove(ctx, alice, of.acme, "user-bob"); err != nil {
		t.Fatal(err)
	}
	t.Run("member removed", func(t *testing.T) { expect(t, bobKey, "FORBIDDEN") })
	t.Run("workspace key survives", func(t *testing.T) { expect(t, ws, "VALID") })
	if _, err := of.orgs.SuspendOrg(ctx, alice, of.acme, true); err != nil {
		t.Fatal(err)
	}
	t.Run("organization suspended", func(t *testing.T) { expect(t, ws, "DISABLED") })
	t.Run("personal key unaffected by the org", func(t *testing.T) {
		c, out := of.verify(map[string]any{"key": aliceOwn, "tenant": of.userID})
		if c != http.StatusOK || out["code"] != "VALID" {
			t.Fatalf("%d %v", c, out)
		}
	})
	if err := of.orgs.SuspendUser(ctx, of.userID, true); err != nil {
		t.Fatal(err)
	}
	t.Run("owner suspended", func(t *testing.T) { expect(t, aliceOwn, "DISABLED") })
}
