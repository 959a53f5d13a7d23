package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

type tenantsPage struct {
	Org     orgHead
	Tenants []orgs.TenantRef
	// The create form (admins).
	Name, Error string
}

func (h *Handler) renderTenants(c *gin.Context, u *storage.User, v *orgs.View, status int, page tenantsPage) {
	ts, err := h.cfg.Orgs.Tenants(c.Request.Context(), actor(c, u), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	page.Org, page.Tenants = newOrgHead(v, "tenants"), ts
	h.render(c.Writer, c.Request, status, "org_tenants", "Tenants of "+v.Name, u, page)
}

// TenantsPage serves GET /orgs/{id}/tenants: the tenants the person
// reaches with their access, and for admins the form that adds one.
func (h *Handler) TenantsPage(c *gin.Context) {
	u := signedInUser(c)
	if v := h.loadOrg(c, u); v != nil {
		h.renderTenants(c, u, v, http.StatusOK, tenantsPage{})
	}
}

// CreateTenantForm serves POST /orgs/{id}/tenants (admins).
func (h *Handler) CreateTenantForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	name := strings.TrimSpace(c.PostForm("name"))
	t, err := h.cfg.Orgs.CreateTenant(c.Request.Context(), actor(c, u), v.ID, name)
	if err != nil {
		if msg, ok := tenantNameError(err); ok {
			h.renderTenants(c, u, v, http.StatusBadRequest, tenantsPage{Name: name, Error: msg})
			return
		}
		h.orgFailed(c, err, "")
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "tenants", t.ID), "Created the tenant “"+t.Name+"”. Grant members access below.")
}

// tenantNameError words a refused tenant name for the field.
func tenantNameError(err error) (string, bool) {
	if _, msg, ok := fieldMessage(err); ok {
		return msg, true
	}
	if errors.Is(err, orgs.ErrConflict) {
		return "The organization already has a tenant with this name.", true
	}
	return "", false
}

type grantRow struct {
	UserID, Username string
	Role             orgs.Access
}

type tenantPage struct {
	Org    orgHead
	Tenant orgs.TenantRef
	Grants []grantRow
	// Grantable are the members a grant form may name: members and
	// viewers (owners and admins reach every tenant already).
	Grantable []memberRow
	// The forms' values and messages.
	Name, NameError      string
	GrantUser, GrantRole string
	GrantErrors          map[string]string
}

// loadTenant returns the :tid tenant of v as the person reaches it, or
// answers 404 (a tenant of another organization looks missing).
func (h *Handler) loadTenant(c *gin.Context, u *storage.User, v *orgs.View) (orgs.TenantRef, bool) {
	ts, err := h.cfg.Orgs.Tenants(c.Request.Context(), actor(c, u), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return orgs.TenantRef{}, false
	}
	for _, t := range ts {
		if t.ID == c.Param("tid") {
			return t, true
		}
	}
	h.orgFailed(c, orgs.ErrNotFound, "")
	return orgs.TenantRef{}, false
}

func (h *Handler) renderTenant(c *gin.Context, u *storage.User, v *orgs.View, t orgs.TenantRef, status int, page tenantPage) {
	ctx := c.Request.Context()
	a := actor(c, u)
	gs, err := h.cfg.Orgs.TenantGrants(ctx, a, v.ID, t.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	ms, err := h.cfg.Orgs.Members(ctx, a, v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	names := map[string]string{}
	for _, m := range ms {
		names[m.UserID] = m.Username
		if r := orgs.Role(m.Role); !r.IsAdmin() {
			page.Grantable = append(page.Grantable, memberRow{UserID: m.UserID, Username: m.Username, Role: r})
		}
	}
	for _, g := range gs {
		page.Grants = append(page.Grants, grantRow{UserID: g.UserID, Username: names[g.UserID], Role: orgs.Access(g.Role)})
	}
	page.Org, page.Tenant = newOrgHead(v, "tenants"), t
	if page.Name == "" {
		page.Name = t.Name
	}
	if page.GrantRole == "" {
		page.GrantRole = string(orgs.ReadOnly)
	}
	h.render(c.Writer, c.Request, status, "org_tenant", "Tenant "+t.Name, u, page)
}

// TenantPage serves GET /orgs/{id}/tenants/{tid} (admins): the tenant's
// grants, the grant form, rename and delete.
func (h *Handler) TenantPage(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	if t, ok := h.loadTenant(c, u, v); ok {
		h.renderTenant(c, u, v, t, http.StatusOK, tenantPage{})
	}
}

// RenameTenantForm serves POST /orgs/{id}/tenants/{tid}/rename (admins).
func (h *Handler) RenameTenantForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	t, ok := h.loadTenant(c, u, v)
	if !ok {
		return
	}
	name := strings.TrimSpace(c.PostForm("name"))
	if err := h.cfg.Orgs.RenameTenant(c.Request.Context(), actor(c, u), v.ID, t.ID, name); err != nil {
		if msg, ok := tenantNameError(err); ok {
			h.renderTenant(c, u, v, t, http.StatusBadRequest, tenantPage{Name: name, NameError: msg})
			return
		}
		h.orgFailed(c, err, "")
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "tenants", t.ID), "Renamed the tenant to “"+name+"”.")
}

// DeleteTenantForm serves POST /orgs/{id}/tenants/{tid}/delete (admins),
// after a confirmation page.
func (h *Handler) DeleteTenantForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	if err := orgs.Check(v.Role, orgs.DeleteTenant); err != nil {
		h.orgFailed(c, err, "")
		return
	}
	t, ok := h.loadTenant(c, u, v)
	if !ok {
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "tenants"), Heading: "Delete the tenant " + t.Name + "?",
		Text:   "Its grants are removed and its workspace keys stop working at once. This cannot be undone.",
		Action: orgPath(v.ID, "tenants", t.ID, "delete"), Button: "Delete the tenant", Cancel: orgPath(v.ID, "tenants", t.ID),
	}) {
		return
	}
	ks, err := h.cfg.Orgs.DeleteTenant(c.Request.Context(), actor(c, u), v.ID, t.ID)
	if err != nil {
		h.orgFailed(c, err, orgPath(v.ID, "tenants"))
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "tenants"), "Deleted the tenant “"+t.Name+"”; "+plural(len(ks), "workspace key was", "workspace keys were")+" revoked.")
}

// GrantForm serves POST /orgs/{id}/tenants/{tid}/grants (admins): give a
// member read-only or read-write access to the tenant, or change it.
func (h *Handler) GrantForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	t, ok := h.loadTenant(c, u, v)
	if !ok {
		return
	}
	page := tenantPage{GrantUser: c.PostForm("user_id"), GrantRole: c.PostForm("role"), GrantErrors: map[string]string{}}
	access, err := orgs.ParseAccess(page.GrantRole)
	if err != nil {
		page.GrantErrors["role"] = "Choose read-only or read-write."
	}
	if page.GrantUser == "" {
		page.GrantErrors["user_id"] = "Choose a member."
	}
	if len(page.GrantErrors) > 0 {
		h.renderTenant(c, u, v, t, http.StatusBadRequest, page)
		return
	}
	err = h.cfg.Orgs.Grant(c.Request.Context(), actor(c, u), v.ID, t.ID, page.GrantUser, access)
	switch {
	case err == nil:
	case errors.Is(err, orgs.ErrNotFound):
		// The tenant was found above: the person is not a member here.
		page.GrantErrors["user_id"] = "Choose a member of this organization."
		h.renderTenant(c, u, v, t, http.StatusBadRequest, page)
		return
	default:
		h.orgFailed(c, err, orgPath(v.ID, "tenants", t.ID))
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "tenants", t.ID), "Granted "+string(access)+" access to “"+t.Name+"”.")
}

// RevokeGrantForm serves POST /orgs/{id}/tenants/{tid}/grants/{user}/revoke
// (admins), after a confirmation page.
func (h *Handler) RevokeGrantForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	if err := orgs.Check(v.Role, orgs.GrantTenant); err != nil {
		h.orgFailed(c, err, "")
		return
	}
	t, ok := h.loadTenant(c, u, v)
	if !ok {
		return
	}
	target := c.Param("user")
	name := h.memberName(c, u, v.ID, target)
	if name == "" {
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "tenants"), Heading: "Revoke " + name + "'s access to " + t.Name + "?",
		Text:   "Their keys stop reaching this tenant from the next request on.",
		Action: orgPath(v.ID, "tenants", t.ID, "grants", target, "revoke"), Button: "Revoke access", Cancel: orgPath(v.ID, "tenants", t.ID),
	}) {
		return
	}
	if err := h.cfg.Orgs.Ungrant(c.Request.Context(), actor(c, u), v.ID, t.ID, target); err != nil {
		h.orgFailed(c, err, orgPath(v.ID, "tenants", t.ID))
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "tenants", t.ID), "Revoked "+name+"'s access to “"+t.Name+"”.")
}

// auditPageSize is how many entries one audit page shows.
const auditPageSize = 50

type auditRow struct {
	When                            pageTime
	Actor, Type, Target, Detail, IP string
}

type auditPage struct {
	Org    orgHead
	Events []auditRow
	// Older is the link to the next page ("" on the last).
	Older string
}

// AuditPage serves GET /orgs/{id}/audit[?before=N] (admins): the
// organization's audit log, newest first, auditPageSize at a time.
func (h *Handler) AuditPage(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	var before uint64
	if b := c.Query("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			h.renderError(c.Writer, c.Request, http.StatusBadRequest, "invalid_request", "The page of the audit log must be a number.")
			return
		}
		before = n
	}
	ctx := c.Request.Context()
	evs, err := h.cfg.Orgs.Audit(ctx, actor(c, u), v.ID, before, auditPageSize)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	names := map[string]string{}
	if ms, err := h.cfg.Orgs.Members(ctx, actor(c, u), v.ID); err == nil {
		for _, m := range ms {
			names[m.UserID] = m.Username
		}
	}
	page := auditPage{Org: newOrgHead(v, "audit")}
	for _, e := range evs {
		who := names[e.ActorID]
		if who == "" {
			who = e.ActorID
		}
		target := e.Target
		if n := names[target]; n != "" {
			target = n
		}
		page.Events = append(page.Events, auditRow{When: newPageTime(e.At), Actor: who, Type: e.Type, Target: target, Detail: e.Detail, IP: e.IP})
	}
	if len(evs) == auditPageSize {
		page.Older = orgPath(v.ID, "audit") + "?before=" + strconv.FormatUint(evs[len(evs)-1].ID, 10)
	}
	h.render(c.Writer, c.Request, http.StatusOK, "org_audit", "Audit log of "+v.Name, u, page)
}
