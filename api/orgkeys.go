package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// Organization keys (SPEC §3.3a): GET/POST /v1/orgs/{id}/keys and
// DELETE /v1/orgs/{id}/keys/{key_id}. Who may do what is package orgs'
// table (orgs.Check, orgs.CheckWorkspaceKey), applied to the role the
// credential acts with (effectiveRole); package keys stores the keys.

// orgKeyView is a key as the organization lists it: the key view plus
// its kind, organization, tenant, narrowing, owner and maker.
type orgKeyView struct {
	keyView
	Kind      string   `json:"kind"`
	OrgID     string   `json:"org_id"`
	TenantID  string   `json:"tenant_id,omitempty"`
	Tenants   []string `json:"tenants"`
	Owner     string   `json:"owner"`
	CreatedBy string   `json:"created_by"`
}

func (h *Handler) orgKeyView(k *storage.APIKey, plain string) orgKeyView {
	v := orgKeyView{keyView: h.view(k, plain), Kind: orgs.KindPersonal, OrgID: k.OrgID, TenantID: k.TenantID,
		Tenants: k.Tenants, Owner: k.UserID, CreatedBy: k.CreatedBy}
	if k.TenantID != "" {
		v.Kind = orgs.KindWorkspace
	}
	if v.Tenants == nil {
		v.Tenants = []string{}
	}
	return v
}

// orgMember returns the person's role in the organization of the request
// and the actor, or answers itself: 404 when the credential does not
// reach the organization (ReachesOrg) or its person is not a member.
func (h *Handler) orgMember(c *gin.Context, orgID string) (orgs.Role, orgs.Actor, bool) {
	p := principal(c)
	actor := orgs.Actor{UserID: p.UserID, IP: clientip.FromRequest(c.Request)}
	if h.cfg.Orgs == nil || !p.ReachesOrg(orgID) {
		writeError(c, http.StatusNotFound, "not_found", "No such organization.")
		return "", actor, false
	}
	role, err := h.cfg.Orgs.Authorize(c.Request.Context(), actor, orgID, orgs.ViewOrg)
	if err != nil {
		h.orgError(c, err)
		return "", actor, false
	}
	return p.effectiveRole(role), actor, true
}

// orgError maps orgs errors onto §3.5 responses (orgFailure).
func (h *Handler) orgError(c *gin.Context, err error) { h.orgFailure(c, err, "") }

// tenantAccess is the access the credential has to tenantID of orgID:
// a key's or token's own (narrowed, no more than its capability), the
// person's for a session or Basic.
func (h *Handler) tenantAccess(c *gin.Context, orgID, tenantID string) (orgs.Access, error) {
	p := principal(c)
	r := p.Rights
	if p.Kind == KindSession || p.Kind == KindPassword || r == nil || r.Org == nil {
		var err error
		if r, err = h.cfg.Orgs.MemberRights(c.Request.Context(), orgID, p.UserID); err != nil {
			return "", err
		}
	}
	a, _ := r.Tenant(tenantID)
	return a, nil
}

// ListOrgKeys serves GET /v1/orgs/{id}/keys: every key of the
// organization for those whose role may list them all (orgs.ListAllKeys),
// else the caller's own personal keys there.
func (h *Handler) ListOrgKeys(c *gin.Context) {
	orgID := c.Param("id")
	role, actor, ok := h.orgMember(c, orgID)
	if !ok {
		return
	}
	ks, err := h.cfg.Keys.ListOrg(c.Request.Context(), orgID)
	if err != nil {
		h.keyError(c, err)
		return
	}
	all := orgs.Check(role, orgs.ListAllKeys) == nil
	out := make([]orgKeyView, 0, len(ks))
	for i := range ks {
		if all || ks[i].UserID == actor.UserID {
			out = append(out, h.orgKeyView(&ks[i], ""))
		}
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

type createOrgKeyBody struct {
	createKeyBody
	Kind     string `json:"kind"`
	TenantID string `json:"tenant_id"`
}

// CreateOrgKey serves POST /v1/orgs/{id}/keys: a personal key bound to
// the organization ("kind": "personal", the default; the role must allow
// orgs.CreatePersonalKey) or a workspace key of "tenant_id" ("kind":
// "workspace"; orgs.CheckWorkspaceKey). Body and answer as POST
// /user/keys, plus kind, tenant_id and tenants (narrowing).
func (h *Handler) CreateOrgKey(c *gin.Context) {
	orgID := c.Param("id")
	var b createOrgKeyBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	role, _, ok := h.orgMember(c, orgID)
	if !ok {
		return
	}
	switch b.Kind {
	case "", orgs.KindPersonal:
		if b.TenantID != "" {
			writeError(c, http.StatusBadRequest, "invalid_request", `tenant_id names the tenant of a workspace key: send "kind": "workspace".`)
			return
		}
		if err := orgs.Check(role, orgs.CreatePersonalKey); err != nil {
			h.orgError(c, err)
			return
		}
	case orgs.KindWorkspace:
		if b.TenantID == "" {
			writeError(c, http.StatusBadRequest, "invalid_request", "A workspace key needs tenant_id.")
			return
		}
		access, err := h.tenantAccess(c, orgID, b.TenantID)
		if err == nil {
			err = orgs.CheckWorkspaceKey(role, access, b.TenantID)
		}
		if err != nil {
			h.orgError(c, err)
			return
		}
	default:
		writeError(c, http.StatusBadRequest, "invalid_request", `kind must be "personal" or "workspace".`)
		return
	}
	if b.OrgID != "" && b.OrgID != orgID {
		writeError(c, http.StatusBadRequest, "invalid_request", "org_id differs from the organization in the path; leave it out.")
		return
	}
	b.OrgID = orgID
	h.createKey(c, b.createKeyBody, b.TenantID, true)
}

// createKey creates the key b asks for (shared by POST /user/keys and POST
// /v1/orgs/{id}/keys, whose caller checked the organization permission)
// and records it in the organization's audit log.
func (h *Handler) createKey(c *gin.Context, b createKeyBody, tenantID string, orgView bool) {
	p := principal(c)
	req := keys.CreateRequest{Handle: b.Handle, Alias: b.Alias, Scopes: b.Scopes, Environment: b.Environment, Tier: b.Tier,
		IP: clientip.FromRequest(c.Request), OrgID: b.OrgID, TenantID: tenantID, Tenants: b.Tenants, CreatedBy: p.UserID}
	if b.ExpiresIn != nil {
		if *b.ExpiresIn <= 0 || *b.ExpiresIn > 10*365*24*3600 {
			writeError(c, http.StatusBadRequest, "invalid_request", "expires_in must be between 1 and 315360000 seconds.")
			return
		}
		req.ExpiresIn = time.Duration(*b.ExpiresIn) * time.Second
	}
	a, ok := h.mintAuthority(c, p)
	if !ok {
		return
	}
	k, plain, err := h.cfg.Keys.Create(c.Request.Context(), p.UserID, a, req)
	if err != nil {
		h.keyError(c, err)
		return
	}
	kind := orgs.KindPersonal + " key "
	if k.TenantID != "" {
		kind = orgs.KindWorkspace + " key of " + k.TenantID + " "
	}
	h.recordOrgKey(c, k, "key.created", kind+k.Display+" "+k.Handle)
	c.Header("Cache-Control", "no-store")
	if orgView {
		c.JSON(http.StatusCreated, h.orgKeyView(k, plain))
		return
	}
	c.JSON(http.StatusCreated, h.view(k, plain))
}

// RevokeOrgKey serves DELETE /v1/orgs/{id}/keys/{key_id}: organization
// administrators revoke any key; members their own personal keys;
// workspace keys also the members with read-write access to their tenant
// (orgs.CheckWorkspaceKey); others get 403 naming the role needed. A key
// of another organization is 404.
func (h *Handler) RevokeOrgKey(c *gin.Context) {
	orgID := c.Param("id")
	role, actor, ok := h.orgMember(c, orgID)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	k, err := h.cfg.Keys.GetInOrg(ctx, orgID, c.Param("key_id"))
	if err == nil && !principal(c).authority().Reach.Covers(k) {
		err = keys.ErrNotFound // beyond a narrowed key's tenants
	}
	if errors.Is(err, keys.ErrNotFound) {
		writeError(c, http.StatusNotFound, "not_found", "No such key in this organization.")
		return
	} else if err != nil {
		h.keyError(c, err)
		return
	}
	switch {
	case k.TenantID != "":
		access, aerr := h.tenantAccess(c, orgID, k.TenantID)
		if err = aerr; err == nil {
			err = orgs.CheckWorkspaceKey(role, access, k.TenantID)
		}
	case k.UserID != actor.UserID:
		err = orgs.Check(role, orgs.RevokeOthersKey)
	}
	if err != nil {
		h.orgError(c, err)
		return
	}
	if _, err := h.cfg.Keys.RevokeInOrg(ctx, orgID, k.ID, actor.IP); err != nil {
		h.keyError(c, err)
		return
	}
	h.recordOrgKey(c, k, "key.revoked", "")
	c.Status(http.StatusNoContent)
}

// recordOrgKey records a change to an organization key in its
// organization's audit log (nothing for other keys).
func (h *Handler) recordOrgKey(c *gin.Context, k *storage.APIKey, typ, detail string) {
	if k == nil || k.OrgID == "" || h.cfg.Orgs == nil {
		return
	}
	p := principal(c)
	if detail == "" {
		detail = k.Display + " " + k.Handle
	}
	h.cfg.Orgs.Record(c.Request.Context(), k.OrgID, orgs.Actor{UserID: p.UserID, IP: clientip.FromRequest(c.Request)}, typ, k.ID, detail)
}
