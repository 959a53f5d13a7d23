package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// orgRow is one organization on /orgs.
type orgRow struct {
	ID, Name  string
	Role      orgs.Role
	Suspended bool
}

type orgsPage struct {
	Orgs  []orgRow
	Name  string // the create form's value
	Error string // next to the name field
}

func (h *Handler) renderOrgs(c *gin.Context, u *storage.User, status int, page orgsPage) {
	vs, err := h.cfg.Orgs.List(c.Request.Context(), actor(c, u))
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	for _, v := range vs {
		page.Orgs = append(page.Orgs, orgRow{ID: v.ID, Name: v.Name, Role: v.Role, Suspended: v.SuspendedAt != nil})
	}
	h.render(c.Writer, c.Request, status, "orgs", "Organizations", u, page)
}

// OrgsPage serves GET /orgs: the person's organizations and the form
// that creates one.
func (h *Handler) OrgsPage(c *gin.Context) {
	h.renderOrgs(c, signedInUser(c), http.StatusOK, orgsPage{})
}

// CreateOrgForm serves POST /orgs: a new organization with the person as
// its owner.
func (h *Handler) CreateOrgForm(c *gin.Context) {
	u := signedInUser(c)
	name := strings.TrimSpace(c.PostForm("name"))
	o, err := h.cfg.Orgs.Create(c.Request.Context(), actor(c, u), name)
	if err != nil {
		if _, msg, ok := fieldMessage(err); ok {
			h.renderOrgs(c, u, http.StatusBadRequest, orgsPage{Name: name, Error: msg})
			return
		}
		h.orgFailed(c, err, "")
		return
	}
	h.flashRedirect(c, orgPath(o.ID), "Created “"+o.Name+"”. You are its owner: invite people from Members.")
}

type orgPage struct {
	Org        orgHead
	Created    pageTime
	Tier       string
	Name       string // the rename form's value
	NameError  string
	MemberRole string
}

func (h *Handler) renderOrg(c *gin.Context, u *storage.User, v *orgs.View, status int, page orgPage) {
	page.Org = newOrgHead(v, "overview")
	page.Created = newPageTime(v.CreatedAt)
	page.Tier = v.Tier
	if page.Name == "" {
		page.Name = v.Name
	}
	h.render(c.Writer, c.Request, status, "org", v.Name, u, page)
}

// OrgPage serves GET /orgs/{id}: the organization's name, the person's
// role, and the forms their role allows (rename, delete, leave).
func (h *Handler) OrgPage(c *gin.Context) {
	u := signedInUser(c)
	if v := h.loadOrg(c, u); v != nil {
		h.renderOrg(c, u, v, http.StatusOK, orgPage{})
	}
}

// RenameOrgForm serves POST /orgs/{id}/rename (admins).
func (h *Handler) RenameOrgForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	name := strings.TrimSpace(c.PostForm("name"))
	o, err := h.cfg.Orgs.Rename(c.Request.Context(), actor(c, u), v.ID, name)
	if err != nil {
		if _, msg, ok := fieldMessage(err); ok {
			h.renderOrg(c, u, v, http.StatusBadRequest, orgPage{Name: name, NameError: msg})
			return
		}
		h.orgFailed(c, err, orgPath(v.ID))
		return
	}
	h.flashRedirect(c, orgPath(v.ID), "Renamed the organization to “"+o.Name+"”.")
}

// DeleteOrgForm serves POST /orgs/{id}/delete (owners), after a
// confirmation page.
func (h *Handler) DeleteOrgForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	if err := orgs.Check(v.Role, orgs.DeleteOrg); err != nil {
		h.orgFailed(c, err, "")
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "overview"), Heading: "Delete " + v.Name + "?",
		Text:   "Its members lose access, its tenants and their grants are deleted, and every key of the organization stops working at once. The audit log is kept. This cannot be undone.",
		Action: orgPath(v.ID, "delete"), Button: "Delete the organization", Cancel: orgPath(v.ID),
	}) {
		return
	}
	ks, err := h.cfg.Orgs.Delete(c.Request.Context(), actor(c, u), v.ID)
	if err != nil {
		if errors.Is(err, orgs.ErrConflict) && !errors.Is(err, orgs.ErrLastOwner) {
			h.flashRedirect(c, orgPath(v.ID), "The organization still owns apps. Delete its apps first.")
			return
		}
		h.orgFailed(c, err, orgPath(v.ID))
		return
	}
	h.flashRedirect(c, "/orgs", "Deleted “"+v.Name+"”; "+plural(len(ks), "key was", "keys were")+" revoked.")
}

// LeaveOrgForm serves POST /orgs/{id}/leave, after a confirmation page.
// The last owner cannot leave.
func (h *Handler) LeaveOrgForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "overview"), Heading: "Leave " + v.Name + "?",
		Text:   "You lose access to its tenants, and your personal keys for this organization stop working. Someone must invite you again to come back.",
		Action: orgPath(v.ID, "leave"), Button: "Leave the organization", Cancel: orgPath(v.ID),
	}) {
		return
	}
	if err := h.cfg.Orgs.Leave(c.Request.Context(), actor(c, u), v.ID); err != nil {
		h.orgFailed(c, err, orgPath(v.ID))
		return
	}
	h.flashRedirect(c, "/orgs", "You left “"+v.Name+"”.")
}
