package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/scopeexpr"
	"github.com/latchkey/latchkey/storage"
)

// maxTenantIDLen bounds the "tenant" of a verify check: tenant ids are
// "tnt_" and 26 characters, personal workspaces user ids.
const maxTenantIDLen = 256

type verifyBody struct {
	Key    string   `json:"key"`
	Scopes []string `json:"scopes"`
	// Tenant, TenantPermission and Permissions are the optional check
	// (verifyCheck).
	Tenant           string `json:"tenant"`
	TenantPermission string `json:"tenant_permission"`
	Permissions      string `json:"permissions"`
}

// verifyCheck is the validated check of a verify request: the tenant the
// key must reach with perm ("read" or "write"), and a permission
// expression over its effective scopes (package scopeexpr).
type verifyCheck struct {
	tenant, perm string
	expr         *scopeexpr.Expr
	query        string
}

// parseCheck validates the check of b; it returns nil when none was
// asked, and the sentence for a 400 invalid_request otherwise.
func parseCheck(b *verifyBody) (*verifyCheck, string) {
	vc := &verifyCheck{tenant: b.Tenant, perm: b.TenantPermission}
	switch {
	case b.Tenant == "" && b.TenantPermission != "":
		return nil, `"tenant_permission" needs a "tenant".`
	case b.Tenant == "":
	case len(b.Tenant) > maxTenantIDLen || strings.ContainsFunc(b.Tenant, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return nil, fmt.Sprintf(`"tenant" must be a tenant id (at most %d characters, no spaces).`, maxTenantIDLen)
	case b.TenantPermission == "":
		vc.perm = "read"
	case b.TenantPermission != "read" && b.TenantPermission != "write":
		return nil, `"tenant_permission" must be "read" or "write".`
	}
	if b.Permissions != "" {
		e, err := scopeexpr.Parse(b.Permissions)
		var se *scopeexpr.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Sprintf(`"permissions" is not a valid permission expression: %s at position %d.`, se.Msg, se.Pos)
		} else if err != nil {
			return nil, `"permissions" is not a valid permission expression.`
		}
		vc.expr, vc.query = e, e.String()
	}
	if vc.tenant == "" && vc.expr == nil {
		return nil, ""
	}
	return vc, ""
}

// eval answers the check for rights: the "check" object, and the code
// and message of a failure ("" when it passed).
func (vc *verifyCheck) eval(r *orgs.Rights) (out gin.H, code, msg string) {
	out = gin.H{"passed": true}
	if vc.tenant != "" {
		ok := r.CanAccessTenant(vc.tenant, vc.perm)
		out["tenant"] = gin.H{"id": vc.tenant, "permission": vc.perm, "passed": ok}
		if !ok {
			out["passed"], code = false, "FORBIDDEN"
			msg = fmt.Sprintf("The key cannot %s in tenant %s.", vc.perm, vc.tenant)
		}
	}
	if vc.expr != nil {
		res := vc.expr.Eval(func(s string) bool { return slices.Contains(r.Scopes, s) })
		perm := gin.H{"query": vc.query, "passed": res.Passed}
		if !res.Passed {
			perm["failed"] = res.Failed
			out["passed"] = false
			if code == "" {
				code, msg = "INSUFFICIENT_SCOPE", "The key's scopes do not satisfy "+res.Failed+"."
			}
		}
		out["permissions"] = perm
	}
	return out, code, msg
}

// keyKind is the kind of k (orgs.KindWorkspace or orgs.KindPersonal).
func keyKind(k *storage.APIKey) string {
	if k.TenantID != "" {
		return orgs.KindWorkspace
	}
	return orgs.KindPersonal
}

// VerifyKey serves POST /v1/keys/verify for resource servers (mounted
// behind RequireResourceServer and Require("keys:verify")): it always
// answers 200 with valid and a code for a well-formed request, and 400
// invalid_request for a malformed check (naming the position in a
// permission expression). The key's organization, tenants and effective
// scopes are its rights at this request (OrgRights): a personal key whose
// owner left its organization is FORBIDDEN, one whose organization or
// owner is suspended DISABLED. The optional check — "tenant" with
// "tenant_permission", "permissions" — is answered in "check" for a valid
// key; a failed tenant part makes the answer FORBIDDEN, a failed
// permissions part INSUFFICIENT_SCOPE. The keys asked about are the
// resource server's callers', so its invalid answers are not counted
// against its IP: anyone sending it bad keys could otherwise stop its
// verifications for everyone.
func (h *Handler) VerifyKey(c *gin.Context) {
	var b verifyBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	check, problem := parseCheck(&b)
	if problem != "" {
		writeError(c, http.StatusBadRequest, "invalid_request", problem)
		return
	}
	ctx := c.Request.Context()
	resp := gin.H{"valid": false}
	k, err := h.cfg.Keys.Verify(ctx, b.Key, "")
	switch {
	case err == nil:
		resp["valid"], resp["code"] = true, "VALID"
	case errors.Is(err, keys.ErrExpired):
		resp["code"] = "EXPIRED"
	case errors.Is(err, keys.ErrRevoked):
		resp["code"] = "REVOKED"
	case errors.Is(err, keys.ErrNotFound):
		resp["code"] = "NOT_FOUND"
	default:
		_ = c.Error(err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "Keys cannot be verified right now.")
		return
	}
	if k != nil {
		resp["key_id"] = k.ID
		resp["owner"] = k.UserID
		resp["scopes"] = k.Scopes
		resp["environment"] = k.Environment
		resp["expires_at"] = k.ExpiresAt
		resp["tier"] = k.Tier
		resp["kind"] = keyKind(k)
	}
	if err == nil && !h.verifyRights(c, k, &b, check, resp) {
		return
	}
	if k != nil {
		if rl := h.cfg.RateLimits; rl != nil && rl.Limiter != nil {
			// Peek: verifying a key reports its state without spending it.
			if d, err := h.keyLimit(ctx, k.ID, k.Tier); err == nil {
				resp["ratelimit"] = gin.H{"limit": d.Limit(), "remaining": d.Remaining, "reset": d.ResetUnix()}
			} else {
				h.limitFailures.n.Add(1)
				h.limitLogger().WarnContext(ctx, "rate limiter unavailable", "error", err)
			}
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// verifyRights adds a valid key's rights at this request to resp — kind,
// organization, tenants, effective scopes — then the scopes asked and the
// check; it reports false when it answered the request itself (503).
func (h *Handler) verifyRights(c *gin.Context, k *storage.APIKey, b *verifyBody, check *verifyCheck, resp gin.H) bool {
	r := &orgs.Rights{Kind: keyKind(k), Scopes: k.Scopes}
	if h.cfg.Orgs != nil {
		var err error
		r, err = h.cfg.Orgs.KeyRights(c.Request.Context(), k)
		switch {
		case errors.Is(err, orgs.ErrSuspended):
			resp["valid"], resp["code"] = false, "DISABLED"
			resp["message"] = "The key's organization or owner is suspended."
			return true
		case errors.Is(err, orgs.ErrNotMember):
			resp["valid"], resp["code"] = false, "FORBIDDEN"
			resp["message"] = "The key's owner is no longer a member of its organization."
			return true
		case errors.Is(err, orgs.ErrNotFound):
			resp["valid"], resp["code"] = false, "FORBIDDEN"
			resp["message"] = "The key's organization, tenant or owner no longer exists."
			return true
		case err != nil:
			_ = c.Error(err)
			writeError(c, http.StatusServiceUnavailable, "unavailable", "Keys cannot be verified right now.")
			return false
		}
	}
	resp["kind"] = r.Kind
	if r.Org != nil {
		resp["organization"] = r.Org
	}
	tenants := r.Tenants
	if tenants == nil {
		tenants = []orgs.TenantRef{}
	}
	resp["tenants"] = tenants
	scopes := r.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	resp["scopes"] = scopes
	for _, s := range b.Scopes {
		if !slices.Contains(scopes, s) {
			resp["valid"], resp["code"] = false, "INSUFFICIENT_SCOPE"
			break
		}
	}
	if check != nil {
		out, code, msg := check.eval(r)
		resp["check"] = out
		if code != "" {
			resp["valid"], resp["code"], resp["message"] = false, code, msg
		}
	}
	return true
}
