package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// listTenants serves GET /v1/orgs/{id}/tenants: the tenants the caller
// reaches, as tenant entries {id, name, role} (every tenant for owners,
// admins and viewers; the granted ones for members). A key or token
// lists what it reaches at this request (its narrowing and capability
// applied: Principal.Rights), not every tenant of its person.
func (h *Handler) listTenants(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	ts, err := h.cfg.Orgs.Tenants(c.Request.Context(), a, id)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	if p := principal(c); p.Kind != KindSession && p.Kind != KindPassword && p.Rights != nil {
		ts = p.Rights.Tenants // orgActor checked the credential is bound to this organization
	}
	c.JSON(http.StatusOK, gin.H{"tenants": ts})
}

const tenantTaken = "This organization already has a tenant with this name."

// createTenant serves POST /v1/orgs/{id}/tenants {"name"} (admins).
func (h *Handler) createTenant(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b nameBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	t, err := h.cfg.Orgs.CreateTenant(c.Request.Context(), a, id, b.Name)
	if err != nil {
		h.orgFailure(c, err, tenantTaken)
		return
	}
	// Only administrators create tenants, and they reach every tenant
	// read-write.
	c.JSON(http.StatusCreated, orgs.TenantRef{ID: t.ID, Name: t.Name, Role: orgs.ReadWrite})
}

// renameTenant serves PATCH /v1/orgs/{id}/tenants/{tid} {"name"} (admins).
func (h *Handler) renameTenant(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b nameBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	tid := c.Param("tid")
	if err := h.cfg.Orgs.RenameTenant(c.Request.Context(), a, id, tid, b.Name); err != nil {
		h.orgFailure(c, err, tenantTaken)
		return
	}
	ts, err := h.cfg.Orgs.Tenants(c.Request.Context(), a, id)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	for _, t := range ts {
		if t.ID == tid {
			c.JSON(http.StatusOK, t)
			return
		}
	}
	h.orgFailure(c, orgs.ErrNotFound, "")
}

// deleteTenant serves DELETE /v1/orgs/{id}/tenants/{tid} (admins): its
// grants go and its workspace keys are revoked.
func (h *Handler) deleteTenant(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if _, err := h.cfg.Orgs.DeleteTenant(c.Request.Context(), a, id, c.Param("tid")); err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.Status(http.StatusNoContent)
}

// grantTenant serves PUT /v1/orgs/{id}/tenants/{tid}/grants/{user_id}
// {"role": "read-only"|"read-write"} (admins): gives or changes a
// member's access to the tenant.
func (h *Handler) grantTenant(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b roleBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	access, err := orgs.ParseAccess(b.Role)
	if err == nil {
		err = h.cfg.Orgs.Grant(c.Request.Context(), a, id, c.Param("tid"), c.Param("user_id"), access)
	}
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenant_id": c.Param("tid"), "user_id": c.Param("user_id"), "role": access})
}

// ungrantTenant serves DELETE /v1/orgs/{id}/tenants/{tid}/grants/{user_id}.
func (h *Handler) ungrantTenant(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if err := h.cfg.Orgs.Ungrant(c.Request.Context(), a, id, c.Param("tid"), c.Param("user_id")); err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.Status(http.StatusNoContent)
}

// eventView is the JSON form of an audit-log entry.
type eventView struct {
	ID      uint64    `json:"id"`
	ActorID string    `json:"actor_id"`
	Type    string    `json:"type"`
	Target  string    `json:"target"`
	Detail  string    `json:"detail"`
	IP      string    `json:"ip"`
	At      time.Time `json:"at"`
}

// orgAudit serves GET /v1/orgs/{id}/audit?before=&limit= (admins):
// newest first; next_before pages on.
func (h *Handler) orgAudit(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if !h.adminRead(c, a, id, orgs.ViewAudit) {
		return
	}
	before, limit := uint64(0), 50
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(c, http.StatusBadRequest, "invalid_request", "before must be an event id (a positive integer).")
			return
		}
		before = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			writeError(c, http.StatusBadRequest, "invalid_request", "limit must be between 1 and 200.")
			return
		}
		limit = n
	}
	evs, err := h.cfg.Orgs.Audit(c.Request.Context(), a, id, before, limit)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	out := make([]eventView, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventView{ID: e.ID, ActorID: e.ActorID, Type: e.Type, Target: e.Target, Detail: e.Detail, IP: e.IP, At: e.At})
	}
	body := gin.H{"events": out}
	if len(evs) == limit {
		body["next_before"] = evs[len(evs)-1].ID
	}
	c.JSON(http.StatusOK, body)
}

// appView is the JSON form of an organization's app.
type appView struct {
	ClientID  string    `json:"client_id"`
	Name      string    `json:"name"`
	OwnerID   string    `json:"owner_id"`
	Tier      string    `json:"tier"`
	CreatedAt time.Time `json:"created_at"`
}

// orgApps returns the caller's role and the organization's apps the caller
// sees: every app with apps.list_all, else their own.
func (h *Handler) orgApps(c *gin.Context, a orgs.Actor, id string) (orgs.Role, []storage.Client, bool) {
	role, err := h.cfg.Orgs.Authorize(c.Request.Context(), a, id, orgs.ViewOrg)
	if err != nil {
		h.orgFailure(c, err, "")
		return "", nil, false
	}
	cs, err := h.cfg.Apps.ListOrgClients(c.Request.Context(), id)
	if err != nil {
		h.orgFailure(c, err, "")
		return "", nil, false
	}
	if orgs.Check(role, orgs.ListAllApps) != nil {
		own := cs[:0:0]
		for _, cl := range cs {
			if cl.OwnerID == a.UserID {
				own = append(own, cl)
			}
		}
		cs = own
	}
	return role, cs, true
}

// listOrgApps serves GET /v1/orgs/{id}/apps: the OAuth clients of the
// organization (every one with apps.list_all, else the caller's own).
func (h *Handler) listOrgApps(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	_, cs, ok := h.orgApps(c, a, id)
	if !ok {
		return
	}
	out := make([]appView, 0, len(cs))
	for _, cl := range cs {
		out = append(out, appView{ClientID: cl.ID, Name: cl.Name, OwnerID: cl.OwnerID, Tier: cl.Tier, CreatedAt: cl.CreatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"apps": out})
}

// deleteOrgApp serves DELETE /v1/orgs/{id}/apps/{client_id}: its owner
// deletes their own app, apps.manage_others any; its codes, tokens and
// consents go with it.
func (h *Handler) deleteOrgApp(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	// Every app of the organization, not only those the caller may list:
	// another member's app is refused with the role it needs (403), as the
	// permission matrix documents, not hidden.
	role, err := h.cfg.Orgs.Authorize(c.Request.Context(), a, id, orgs.ViewOrg)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	cs, err := h.cfg.Apps.ListOrgClients(c.Request.Context(), id)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	var app *storage.Client
	for i := range cs {
		if cs[i].ID == c.Param("client_id") {
			app = &cs[i]
		}
	}
	if app == nil {
		h.orgFailure(c, orgs.ErrNotFound, "")
		return
	}
	if app.OwnerID != a.UserID {
		if err := orgs.Check(role, orgs.ManageOthersApps); err != nil {
			h.orgFailure(c, err, "")
			return
		}
	}
	if err := h.cfg.Apps.DeleteClient(c.Request.Context(), app.ID); err != nil {
		h.orgFailure(c, err, "")
		return
	}
	h.cfg.Orgs.Record(c.Request.Context(), id, a, "app.deleted", app.ID, app.Name)
	c.Status(http.StatusNoContent)
}
