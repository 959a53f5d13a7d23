package client

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/latchkey/latchkey/scopeexpr"
)

// maxTenantIDLen bounds Check.Tenant (tenant ids are "tnt_" and 26
// characters; personal workspaces are user ids).
const maxTenantIDLen = 256

// Check is what [Verifier.VerifyWithCheck] asks about a credential besides
// its validity. The zero Check asks nothing.
type Check struct {
	// Tenant is a tenant id ("tnt_…", or a user id for that user's
	// personal workspace) the credential must reach; empty for none.
	Tenant string
	// TenantPermission is PermissionRead (the default when Tenant is
	// set) or PermissionWrite.
	TenantPermission string
	// Permissions is a permission expression over scopes the credential
	// must satisfy, such as "videos:read AND (billing:read OR org:admin)"
	// (grammar in package scopeexpr); empty for none.
	Permissions string
}

// CheckResult is the outcome of a [Check].
type CheckResult struct {
	// Passed is true when every part that was asked passed (always true
	// for the zero Check).
	Passed bool
	// TenantPassed tells whether the tenant part passed; nil when
	// Check.Tenant was empty.
	TenantPassed *bool
	// PermissionsPassed tells whether the permissions part passed; nil
	// when Check.Permissions was empty.
	PermissionsPassed *bool
	// Failed is, when the permissions part failed, the canonical text of
	// the smallest sub-expression that made it fail (see
	// scopeexpr.Result.Failed), for example "billing:read OR org:admin".
	Failed string
}

// VerifyWithCheck is [Verifier.Verify] plus a check of what the
// credential may do. For an API key Latchkey evaluates the check in the
// same POST /v1/keys/verify call, with the key's tenant access and
// effective scopes as they are at that moment; for an access token it is
// evaluated here on the introspection answer (Tenants, Scopes).
//
// A check that fails is not an error: the identity is returned with
// CheckResult.Passed false, so the resource server can answer 403 (for
// example naming CheckResult.Failed). Errors are those of Verify plus
// [ErrInvalidCheck] for a check that cannot be asked; the CheckResult
// is only meaningful when the error is nil.
//
// Answers are cached as Verify's, keyed by the credential and the
// check: an API key's check result is never served for another check.
// A server that predates checks refuses them (ErrUnavailable wrapping an
// *Error with Status 400); one that ignores them gets the check evaluated
// here on its answer, so "valid" alone never passes a check.
func (v *Verifier) VerifyWithCheck(ctx context.Context, credential string, check Check) (*Identity, CheckResult, error) {
	pc, err := check.prepare()
	if err != nil {
		return nil, CheckResult{}, err
	}
	if pc == nil {
		id, err := v.Verify(ctx, credential)
		if err != nil {
			return nil, CheckResult{}, err
		}
		return id, CheckResult{Passed: true}, nil
	}
	if !v.IsAPIKey(credential) {
		// Introspection has no check: evaluate on the (cached) identity.
		id, err := v.Verify(ctx, credential)
		if err != nil {
			return nil, CheckResult{}, err
		}
		return id, *pc.evalLocal(id), nil
	}
	id, res, err := v.verify(ctx, credential, pc)
	if err != nil {
		return nil, CheckResult{}, err
	}
	if res == nil {
		// verifyKey always answers a check; never let its absence pass one.
		res = pc.evalLocal(id)
	}
	return id, *res, nil
}

// preparedCheck is a validated, non-empty Check.
type preparedCheck struct {
	tenant, perm string            // perm set when tenant is
	expr         *scopeexpr.Expr   // nil without a permissions part
	text         string            // expr's canonical text
	digest       [sha256.Size]byte // cache key part
}

// prepare validates c; it returns nil for the zero Check.
func (c Check) prepare() (*preparedCheck, error) {
	pc := &preparedCheck{tenant: c.Tenant, perm: c.TenantPermission}
	switch {
	case c.Tenant == "" && c.TenantPermission != "":
		return nil, fmt.Errorf("%w: TenantPermission %q without a Tenant", ErrInvalidCheck, c.TenantPermission)
	case c.Tenant == "":
	case c.TenantPermission == "":
		pc.perm = PermissionRead
	case c.TenantPermission != PermissionRead && c.TenantPermission != PermissionWrite:
		return nil, fmt.Errorf("%w: TenantPermission must be %q or %q, not %q", ErrInvalidCheck, PermissionRead, PermissionWrite, c.TenantPermission)
	}
	if len(c.Tenant) > maxTenantIDLen {
		return nil, fmt.Errorf("%w: tenant id longer than %d characters", ErrInvalidCheck, maxTenantIDLen)
	}
	for i := 0; i < len(c.Tenant); i++ {
		if b := c.Tenant[i]; b <= 0x20 || b >= 0x7f {
			return nil, fmt.Errorf("%w: tenant id with a space, control or non-ASCII character", ErrInvalidCheck)
		}
	}
	if c.Permissions != "" {
		e, err := scopeexpr.Parse(c.Permissions)
		if err != nil {
			return nil, fmt.Errorf("%w: permissions: %w", ErrInvalidCheck, err)
		}
		pc.expr, pc.text = e, e.String()
	}
	if pc.tenant == "" && pc.expr == nil {
		return nil, nil
	}
	// Neither part can hold a NUL, so the separators are unambiguous.
	pc.digest = sha256.Sum256([]byte(pc.tenant + "\x00" + pc.perm + "\x00" + pc.text))
	return pc, nil
}

// addTo adds the check to a POST /v1/keys/verify request body; the
// expression goes in canonical form, the form it is cached under.
func (pc *preparedCheck) addTo(body map[string]any) {
	if pc.tenant != "" {
		body["tenant"], body["tenant_permission"] = pc.tenant, pc.perm
	}
	if pc.expr != nil {
		body["permissions"] = pc.text
	}
}

// fromAnswer reads Latchkey's "check" object. Every part asked must be
// answered; Passed holds only when the server's overall verdict and every
// part agree that it does.
func (pc *preparedCheck) fromAnswer(a *checkAnswer) (*CheckResult, error) {
	bad := fmt.Errorf("%w: unexpected check in the answer from /v1/keys/verify", ErrUnavailable)
	if a.Passed == nil {
		return nil, bad
	}
	res := &CheckResult{Passed: *a.Passed}
	if pc.tenant != "" {
		if a.Tenant == nil || a.Tenant.Passed == nil || (a.Tenant.ID != "" && a.Tenant.ID != pc.tenant) {
			return nil, bad
		}
		res.TenantPassed = ptr(*a.Tenant.Passed)
		res.Passed = res.Passed && *res.TenantPassed
	}
	if pc.expr != nil {
		if a.Permissions == nil || a.Permissions.Passed == nil {
			return nil, bad
		}
		res.PermissionsPassed = ptr(*a.Permissions.Passed)
		res.Passed = res.Passed && *res.PermissionsPassed
		if !*res.PermissionsPassed {
			res.Failed = a.Permissions.Failed
			if res.Failed == "" {
				res.Failed = pc.text
			}
		}
	}
	return res, nil
}

// evalLocal evaluates the check on an identity Latchkey described.
func (pc *preparedCheck) evalLocal(id *Identity) *CheckResult {
	res := &CheckResult{Passed: true}
	if pc.tenant != "" {
		res.TenantPassed = ptr(id.CanAccessTenant(pc.tenant, pc.perm))
		res.Passed = *res.TenantPassed
	}
	if pc.expr != nil {
		r := pc.expr.Eval(id.HasScope)
		res.PermissionsPassed = ptr(r.Passed)
		res.Passed = res.Passed && r.Passed
		res.Failed = r.Failed
	}
	return res
}

// explains reports whether a refusal with this verify code is the failed
// check itself (the key is valid): FORBIDDEN for a failed tenant part,
// INSUFFICIENT_SCOPE for a failed permissions part. Any other refusal is
// about the key.
func (r *CheckResult) explains(code string) bool {
	if r == nil || r.Passed {
		return false
	}
	switch code {
	case "FORBIDDEN":
		return r.TenantPassed != nil && !*r.TenantPassed
	case "INSUFFICIENT_SCOPE":
		return r.PermissionsPassed != nil && !*r.PermissionsPassed
	}
	return false
}

// clone returns a copy that shares no pointers with r.
func (r *CheckResult) clone() *CheckResult {
	if r == nil {
		return nil
	}
	c := *r
	if r.TenantPassed != nil {
		c.TenantPassed = ptr(*r.TenantPassed)
	}
	if r.PermissionsPassed != nil {
		c.PermissionsPassed = ptr(*r.PermissionsPassed)
	}
	return &c
}

func ptr[T any](v T) *T { return &v }
