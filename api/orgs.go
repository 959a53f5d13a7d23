package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// orgManagement is the part of the organization service (orgs.Service)
// the organization routes use. Every operation checks the permission
// table itself; the API maps its errors onto SPEC §3.5 bodies
// (orgFailure).
type orgManagement interface {
	Create(ctx context.Context, a orgs.Actor, name string) (*storage.Organization, error)
	Get(ctx context.Context, a orgs.Actor, orgID string) (*orgs.View, error)
	Rename(ctx context.Context, a orgs.Actor, orgID, name string) (*storage.Organization, error)
	Delete(ctx context.Context, a orgs.Actor, orgID string) ([]storage.APIKey, error)
	Members(ctx context.Context, a orgs.Actor, orgID string) ([]storage.Member, error)
	SetRole(ctx context.Context, a orgs.Actor, orgID, userID string, to orgs.Role) error
	Remove(ctx context.Context, a orgs.Actor, orgID, userID string) error
	Leave(ctx context.Context, a orgs.Actor, orgID string) error
	Transfer(ctx context.Context, a orgs.Actor, orgID, userID string) error

	Invite(ctx context.Context, a orgs.Actor, orgID, email string, role orgs.Role) (*storage.Invitation, string, error)
	Invitations(ctx context.Context, a orgs.Actor, orgID string) ([]storage.Invitation, error)
	CancelInvitation(ctx context.Context, a orgs.Actor, orgID, id string) error
	Accept(ctx context.Context, a orgs.Actor, token string) (*storage.Invitation, error)

	Tenants(ctx context.Context, a orgs.Actor, orgID string) ([]orgs.TenantRef, error)
	CreateTenant(ctx context.Context, a orgs.Actor, orgID, name string) (*storage.Tenant, error)
	RenameTenant(ctx context.Context, a orgs.Actor, orgID, tenantID, name string) error
	DeleteTenant(ctx context.Context, a orgs.Actor, orgID, tenantID string) ([]storage.APIKey, error)
	Grant(ctx context.Context, a orgs.Actor, orgID, tenantID, userID string, access orgs.Access) error
	Ungrant(ctx context.Context, a orgs.Actor, orgID, tenantID, userID string) error
	Audit(ctx context.Context, a orgs.Actor, orgID string, before uint64, limit int) ([]storage.OrgEvent, error)

	AdminList(ctx context.Context, after string, limit int) ([]storage.Organization, error)
	SuspendOrg(ctx context.Context, a orgs.Actor, orgID string, on bool) (*storage.Organization, error)
	SetTier(ctx context.Context, a orgs.Actor, orgID, tier string) (*storage.Organization, error)
	SuspendUser(ctx context.Context, userID string, on bool) error
}

// OrgApps reaches the OAuth clients an organization owns.
type OrgApps interface {
	ListOrgClients(ctx context.Context, orgID string) ([]storage.Client, error)
	// DeleteClient removes the client with its codes, tokens, consents and
	// the keys its tokens created.
	DeleteClient(ctx context.Context, id string) error
}

// Route is one JSON route with the scope a credential must carry for it.
// OrgRoutes is the one home of the organization routes' scopes: the
// server mounts them from it and the README documents it.
type Route struct {
	Method, Path string
	// Scope is org:read for reads and org:admin for every change (the
	// organization keys: keys:write, as for the caller's own keys). The
	// scope says what the credential may attempt; the person's role in
	// the organization, at that request, says what succeeds.
	Scope   string
	Handler gin.HandlerFunc
}

// OrgRoutes lists the organization, invitation and instance-administrator
// routes (SPEC §3.3a). They act for a person (mount them behind
// RequireUser); a session, HTTP Basic, or a key or token carrying Scope.
func (h *Handler) OrgRoutes() []Route {
	if h.cfg.Orgs == nil {
		return nil
	}
	r, w := orgs.ScopeOrgRead, orgs.ScopeOrgAdmin
	return []Route{
		{"GET", "/v1/orgs", r, h.listOrgs},
		{"POST", "/v1/orgs", w, h.createOrg},
		{"GET", "/v1/orgs/:id", r, h.getOrg},
		{"PATCH", "/v1/orgs/:id", w, h.renameOrg},
		{"DELETE", "/v1/orgs/:id", w, h.deleteOrg},
		{"GET", "/v1/orgs/:id/members", r, h.listMembers},
		{"PATCH", "/v1/orgs/:id/members/:user_id", w, h.setMemberRole},
		{"DELETE", "/v1/orgs/:id/members/:user_id", w, h.removeMember},
		{"POST", "/v1/orgs/:id/leave", w, h.leaveOrg},
		{"POST", "/v1/orgs/:id/transfer", w, h.transferOrg},
		{"GET", "/v1/orgs/:id/invitations", r, h.listInvitations},
		{"POST", "/v1/orgs/:id/invitations", w, h.createInvitation},
		{"DELETE", "/v1/orgs/:id/invitations/:inv_id", w, h.cancelInvitation},
		{"POST", "/v1/invitations/accept", w, h.acceptInvitation},
		{"GET", "/v1/orgs/:id/tenants", r, h.listTenants},
		{"POST", "/v1/orgs/:id/tenants", w, h.createTenant},
		{"PATCH", "/v1/orgs/:id/tenants/:tid", w, h.renameTenant},
		{"DELETE", "/v1/orgs/:id/tenants/:tid", w, h.deleteTenant},
		{"PUT", "/v1/orgs/:id/tenants/:tid/grants/:user_id", w, h.grantTenant},
		{"DELETE", "/v1/orgs/:id/tenants/:tid/grants/:user_id", w, h.ungrantTenant},
		{"GET", "/v1/orgs/:id/audit", r, h.orgAudit},
		{"GET", "/v1/orgs/:id/keys", r, h.ListOrgKeys},
		{"POST", "/v1/orgs/:id/keys", "keys:write", h.CreateOrgKey},
		{"DELETE", "/v1/orgs/:id/keys/:key_id", "keys:write", h.RevokeOrgKey},
		{"GET", "/v1/orgs/:id/apps", r, h.listOrgApps},
		{"DELETE", "/v1/orgs/:id/apps/:client_id", w, h.deleteOrgApp},
		{"GET", "/v1/admin/orgs", r, h.adminListOrgs},
		{"POST", "/v1/admin/orgs/:id/suspend", w, h.adminSuspendOrg(true)},
		{"POST", "/v1/admin/orgs/:id/unsuspend", w, h.adminSuspendOrg(false)},
		{"PUT", "/v1/admin/orgs/:id/tier", w, h.adminSetTier},
		{"POST", "/v1/admin/users/:id/suspend", w, h.adminSuspendUser(true)},
		{"POST", "/v1/admin/users/:id/unsuspend", w, h.adminSuspendUser(false)},
	}
}

// orgActor returns the acting person for a route under /v1/orgs/{id}: a
// credential that does not reach the organization (Principal.ReachesOrg:
// a key or token bound to another organization, or to none) gets 404, as
// if the organization did not exist.
func (h *Handler) orgActor(c *gin.Context) (orgs.Actor, string, bool) {
	p := principal(c)
	id := c.Param("id")
	if !p.ReachesOrg(id) {
		writeError(c, http.StatusNotFound, "not_found", notFoundMessage)
		return orgs.Actor{}, "", false
	}
	return orgs.Actor{UserID: p.UserID, IP: clientip.FromRequest(c.Request)}, id, true
}

// adminRead checks, for a read only administrators may do (the audit log,
// pending invitations), that the credential acts as one: a key or token
// without org:admin acts as a member (Principal.effectiveRole).
func (h *Handler) adminRead(c *gin.Context, a orgs.Actor, orgID string, action orgs.Action) bool {
	role, err := h.cfg.Orgs.Authorize(c.Request.Context(), a, orgID, orgs.ViewOrg)
	if err == nil {
		err = orgs.Check(principal(c).effectiveRole(role), action)
	}
	if err != nil {
		h.orgFailure(c, err, "")
		return false
	}
	return true
}

// unboundActor returns the acting person for a route outside one
// organization (create, accept an invitation, instance administration),
// which a credential bound to an organization may not use.
func (h *Handler) unboundActor(c *gin.Context) (orgs.Actor, bool) {
	p := principal(c)
	if p.orgBound() != "" {
		writeError(c, http.StatusForbidden, "forbidden", "This credential is bound to one organization and acts only there.")
		return orgs.Actor{}, false
	}
	return orgs.Actor{UserID: p.UserID, IP: clientip.FromRequest(c.Request)}, true
}

// notFoundMessage answers anything of an organization the caller does not
// reach, and missing objects alike (they must not be told apart).
const notFoundMessage = "No such organization."

// orgFailure maps orgs errors onto SPEC §3.5 bodies: ErrNotFound 404,
// *RoleError 403 with its sentence, *FieldError 400 naming the field,
// ErrLastOwner and ErrConflict 409, ErrGone 409 (an invitation used or
// expired: §3.5 has no 410, and a used link is a conflict with the state).
// conflict is the sentence for ErrConflict.
func (h *Handler) orgFailure(c *gin.Context, err error, conflict string) {
	var re *orgs.RoleError
	var fe *orgs.FieldError
	switch {
	case errors.As(err, &re):
		writeError(c, http.StatusForbidden, "forbidden", re.Error())
	case errors.As(err, &fe):
		msg := fe.Message
		if !strings.Contains(msg, fe.Field) {
			msg = fe.Field + ": " + msg
		}
		writeError(c, http.StatusBadRequest, "invalid_request", sentence(msg))
	case errors.Is(err, orgs.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", notFoundMessage)
	case errors.Is(err, orgs.ErrLastOwner):
		writeError(c, http.StatusConflict, "conflict", "An organization needs at least one owner: make another member an owner first.")
	case errors.Is(err, orgs.ErrConflict):
		writeError(c, http.StatusConflict, "conflict", conflict)
	case errors.Is(err, orgs.ErrGone):
		writeError(c, http.StatusConflict, "conflict", "This invitation was already used or has expired; ask for a new one.")
	case errors.Is(err, orgs.ErrSuspended):
		writeError(c, http.StatusForbidden, "forbidden", "This organization is suspended.")
	default:
		_ = c.Error(err)
		h.cfg.Logger.ErrorContext(c.Request.Context(), "organization operation failed", "path", c.FullPath(), "error", err)
		writeError(c, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
	}
}

// sentence ends s with a full stop; it keeps the first letter, which is
// often the field's own name.
func sentence(s string) string {
	if s == "" {
		return s
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// orgView is the JSON form of an organization; Role is the caller's
// (absent in the instance administrators' list).
type orgView struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Tier        string     `json:"tier"`
	Role        string     `json:"role,omitempty"`
	Suspended   bool       `json:"suspended"`
	SuspendedAt *time.Time `json:"suspended_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

func newOrgView(o *storage.Organization, role orgs.Role) orgView {
	return orgView{ID: o.ID, Name: o.Name, Tier: o.Tier, Role: string(role), Suspended: o.SuspendedAt != nil,
		SuspendedAt: o.SuspendedAt, CreatedAt: o.CreatedAt}
}

type nameBody struct {
	Name string `json:"name"`
}

// listOrgs serves GET /v1/orgs: the caller's organizations with their
// role — those the credential reaches (Principal.ReachesOrg): every one
// for the person signed in, the one of a credential bound to one, none
// for a key or token outside organizations.
func (h *Handler) listOrgs(c *gin.Context) {
	p := principal(c)
	vs, err := h.cfg.Orgs.List(c.Request.Context(), orgs.Actor{UserID: p.UserID})
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	out := []orgView{}
	for i := range vs {
		if p.ReachesOrg(vs[i].ID) {
			out = append(out, newOrgView(&vs[i].Organization, vs[i].Role))
		}
	}
	c.JSON(http.StatusOK, gin.H{"orgs": out})
}

// createOrg serves POST /v1/orgs {"name"}: the caller becomes its owner.
func (h *Handler) createOrg(c *gin.Context) {
	a, ok := h.unboundActor(c)
	if !ok {
		return
	}
	var b nameBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	o, err := h.cfg.Orgs.Create(c.Request.Context(), a, b.Name)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusCreated, newOrgView(o, orgs.Owner))
}

// getOrg serves GET /v1/orgs/{id}.
func (h *Handler) getOrg(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	v, err := h.cfg.Orgs.Get(c.Request.Context(), a, id)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusOK, newOrgView(&v.Organization, v.Role))
}

// renameOrg serves PATCH /v1/orgs/{id} {"name"} (admins).
func (h *Handler) renameOrg(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b nameBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	o, err := h.cfg.Orgs.Rename(c.Request.Context(), a, id, b.Name)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	v, err := h.cfg.Orgs.Get(c.Request.Context(), a, o.ID)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusOK, newOrgView(&v.Organization, v.Role))
}

// deleteOrg serves DELETE /v1/orgs/{id} (owners): its keys are revoked;
// 409 while it still owns apps.
func (h *Handler) deleteOrg(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if _, err := h.cfg.Orgs.Delete(c.Request.Context(), a, id); err != nil {
		h.orgFailure(c, err, "The organization still owns apps: delete them first.")
		return
	}
	c.Status(http.StatusNoContent)
}
