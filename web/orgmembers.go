package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// memberRow is one member on /orgs/{id}/members, with what the viewer may
// do to them.
type memberRow struct {
	UserID, Username, Name string
	Role                   orgs.Role
	Joined                 pageTime
	Self                   bool
	// Roles are the roles the viewer may give this member (empty: the
	// role cannot be changed by them).
	Roles     []orgs.Role
	Removable bool
	// Transferable: the viewer (an owner) may hand ownership to them.
	Transferable bool
}

type invitationRow struct {
	ID, Email, InvitedBy string
	Role                 orgs.Role
	Expires              pageTime
}

// inviteForm is the invitation form's values and messages.
type inviteForm struct {
	Email, Role string
	Roles       []orgs.Role
	Errors      map[string]string
}

type membersPage struct {
	Org         orgHead
	Members     []memberRow
	Invitations []invitationRow
	Invite      inviteForm
	// Link is a new invitation's link, shown once.
	Link string
	// MailedTo is the address Link was also mailed to ("" = not mailed).
	MailedTo string
}

// rolesGrantable are the roles actor may give (owners only by owners).
func rolesGrantable(actor orgs.Role) []orgs.Role {
	var out []orgs.Role
	for _, r := range orgs.Roles {
		if orgs.CheckInvite(actor, r) == nil {
			out = append(out, r)
		}
	}
	return out
}

func (h *Handler) renderMembers(c *gin.Context, u *storage.User, v *orgs.View, status int, page membersPage) {
	ctx := c.Request.Context()
	a := actor(c, u)
	ms, err := h.cfg.Orgs.Members(ctx, a, v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	page.Org = newOrgHead(v, "members")
	names := map[string]string{}
	for _, m := range ms {
		names[m.UserID] = m.Username
		row := memberRow{UserID: m.UserID, Username: m.Username, Name: m.Name, Role: orgs.Role(m.Role), Joined: newPageTime(m.CreatedAt), Self: m.UserID == u.ID}
		if !row.Self {
			for _, r := range orgs.Roles {
				if orgs.CheckRoleChange(v.Role, row.Role, r) == nil {
					row.Roles = append(row.Roles, r)
				}
			}
			row.Removable = orgs.CheckRemove(v.Role, row.Role) == nil
			row.Transferable = orgs.Check(v.Role, orgs.TransferOwnership) == nil && row.Role != orgs.Owner
		}
		page.Members = append(page.Members, row)
	}
	if page.Org.IsAdmin {
		invs, err := h.cfg.Orgs.Invitations(ctx, a, v.ID)
		if err != nil {
			h.orgFailed(c, err, "")
			return
		}
		for _, inv := range invs {
			by := names[inv.InvitedBy]
			if by == "" {
				by = "a former member"
			}
			page.Invitations = append(page.Invitations, invitationRow{ID: inv.ID, Email: inv.Email, InvitedBy: by, Role: orgs.Role(inv.Role), Expires: newPageTime(inv.ExpiresAt)})
		}
		page.Invite.Roles = rolesGrantable(v.Role)
		if page.Invite.Role == "" {
			page.Invite.Role = string(orgs.Member)
		}
	}
	h.render(c.Writer, c.Request, status, "org_members", "Members of "+v.Name, u, page)
}

// MembersPage serves GET /orgs/{id}/members: members with their roles and,
// for admins, the forms that change them and the invitations.
func (h *Handler) MembersPage(c *gin.Context) {
	u := signedInUser(c)
	if v := h.loadOrg(c, u); v != nil {
		h.renderMembers(c, u, v, http.StatusOK, membersPage{})
	}
}

// SetRoleForm serves POST /orgs/{id}/members/{user_id}/role. Demoting an
// owner or making one needs an owner (orgs.CheckRoleChange); the last
// owner keeps the role.
func (h *Handler) SetRoleForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	back := orgPath(v.ID, "members")
	role, err := orgs.ParseRole(c.PostForm("role"))
	if err != nil {
		h.flashRedirect(c, back, "Choose one of the roles owner, admin, member or viewer.")
		return
	}
	if err := h.cfg.Orgs.SetRole(c.Request.Context(), actor(c, u), v.ID, c.Param("user"), role); err != nil {
		h.orgFailed(c, err, back)
		return
	}
	h.flashRedirect(c, back, "Role changed to "+string(role)+".")
}

// RemoveMemberForm serves POST /orgs/{id}/members/{user_id}/remove, after
// a confirmation page.
func (h *Handler) RemoveMemberForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	target := c.Param("user")
	name := h.memberName(c, u, v.ID, target)
	if name == "" {
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "members"), Heading: "Remove " + name + " from " + v.Name + "?",
		Text:   name + " loses access to the organization's tenants at once, and their personal keys for it stop working. Workspace keys they made stay with their tenants.",
		Action: orgPath(v.ID, "members", target, "remove"), Button: "Remove " + name, Cancel: orgPath(v.ID, "members"),
	}) {
		return
	}
	if err := h.cfg.Orgs.Remove(c.Request.Context(), actor(c, u), v.ID, target); err != nil {
		h.orgFailed(c, err, orgPath(v.ID, "members"))
		return
	}
	if target == u.ID {
		h.flashRedirect(c, "/orgs", "You left “"+v.Name+"”.")
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "members"), "Removed "+name+" from the organization.")
}

// memberName returns the username of a member of orgID, or answers 404
// (another organization's people look missing) and returns "".
func (h *Handler) memberName(c *gin.Context, u *storage.User, orgID, userID string) string {
	ms, err := h.cfg.Orgs.Members(c.Request.Context(), actor(c, u), orgID)
	if err != nil {
		h.orgFailed(c, err, "")
		return ""
	}
	for _, m := range ms {
		if m.UserID == userID {
			return m.Username
		}
	}
	h.orgFailed(c, orgs.ErrNotFound, "")
	return ""
}

// TransferForm serves POST /orgs/{id}/transfer (owners): the member named
// by user_id becomes an owner and the person an admin, after a
// confirmation page.
func (h *Handler) TransferForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	if err := orgs.Check(v.Role, orgs.TransferOwnership); err != nil {
		h.orgFailed(c, err, "")
		return
	}
	target := c.PostForm("user_id")
	name := h.memberName(c, u, v.ID, target)
	if name == "" {
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "members"), Heading: "Make " + name + " an owner of " + v.Name + "?",
		Text:   name + " becomes an owner and you become an admin. Only an owner can make you an owner again.",
		Action: orgPath(v.ID, "transfer"), Button: "Transfer ownership", Cancel: orgPath(v.ID, "members"),
		Fields: map[string]string{"user_id": target},
	}) {
		return
	}
	if err := h.cfg.Orgs.Transfer(c.Request.Context(), actor(c, u), v.ID, target); err != nil {
		h.orgFailed(c, err, orgPath(v.ID, "members"))
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "members"), name+" is now an owner; you are an admin.")
}

// InviteForm serves POST /orgs/{id}/invitations: a single-use link for a
// role (owners only by owners) and an optional address, shown once.
func (h *Handler) InviteForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	form := inviteForm{Email: strings.TrimSpace(c.PostForm("email")), Role: c.PostForm("role"), Errors: map[string]string{}}
	role, err := orgs.ParseRole(form.Role)
	if err != nil {
		form.Errors["role"] = "Choose the role the new member gets."
		h.renderMembers(c, u, v, http.StatusBadRequest, membersPage{Invite: form})
		return
	}
	_, token, err := h.cfg.Orgs.Invite(c.Request.Context(), actor(c, u), v.ID, form.Email, role)
	var re *orgs.RoleError
	switch {
	case err == nil:
	case errors.As(err, &re) && role == orgs.Owner && v.Role.IsAdmin():
		form.Errors["role"] = "Only an owner can invite an owner."
		h.renderMembers(c, u, v, http.StatusForbidden, membersPage{Invite: form})
		return
	default:
		if field, msg, ok := fieldMessage(err); ok {
			if field != "email" {
				field = "role"
			}
			form.Errors[field] = msg
			h.renderMembers(c, u, v, http.StatusBadRequest, membersPage{Invite: form})
			return
		}
		h.orgFailed(c, err, "")
		return
	}
	page := membersPage{Link: h.issuer(c.Request) + InvitationPath(token)}
	if h.cfg.InvitationMail != nil && h.cfg.InvitationMail(c.Request.Context(), token) {
		page.MailedTo = form.Email
	}
	c.Header("Cache-Control", "no-store")
	h.renderMembers(c, u, v, http.StatusCreated, page)
}

// CancelInvitationForm serves POST /orgs/{id}/invitations/{inv_id}/cancel,
// after a confirmation page.
func (h *Handler) CancelInvitationForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	id := c.Param("inv")
	if err := orgs.Check(v.Role, orgs.CancelInvitation); err != nil {
		h.orgFailed(c, err, "")
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "members"), Heading: "Cancel this invitation?",
		Text:   "Its link stops working. You can invite the person again with a new link.",
		Action: orgPath(v.ID, "invitations", id, "cancel"), Button: "Cancel the invitation", Cancel: orgPath(v.ID, "members"),
	}) {
		return
	}
	if err := h.cfg.Orgs.CancelInvitation(c.Request.Context(), actor(c, u), v.ID, id); err != nil {
		h.orgFailed(c, err, orgPath(v.ID, "members"))
		return
	}
	h.flashRedirect(c, orgPath(v.ID, "members"), "The invitation was cancelled; its link no longer works.")
}

// issuer is the site's origin for links shown on pages.
func (h *Handler) issuer(r *http.Request) string {
	if h.auth != nil {
		return strings.TrimSuffix(h.auth.Issuer(), "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// InvitationPath is the page an invitation link opens.
func InvitationPath(token string) string { return accounts.InvitationPath + token }

type invitationPage struct {
	Token, OrgName, InvitedBy, Email string
	Role                             orgs.Role
	Expires                          pageTime
	SignedIn                         bool
	// Next is the invitation page itself, for /login and /signup.
	Next string
}

// InvitationPage serves GET /invitations/{token}: whose organization, who
// invited, which role and address; a signed-in person may accept, a
// signed-out one is offered sign-in and sign-up coming back here.
func (h *Handler) InvitationPage(c *gin.Context) {
	u, _ := h.currentUser(c.Request)
	token := c.Param("token")
	p, err := h.cfg.Orgs.Peek(c.Request.Context(), token)
	if err != nil {
		h.invitationFailed(c, err)
		return
	}
	page := invitationPage{
		Token: token, OrgName: p.Org.Name, InvitedBy: p.InvitedBy, Email: p.Invitation.Email,
		Role: orgs.Role(p.Invitation.Role), Expires: newPageTime(p.Invitation.ExpiresAt), SignedIn: u != nil, Next: InvitationPath(token),
	}
	// The link is the secret; the site-wide Referrer-Policy (same-origin)
	// keeps it from other sites. Not no-referrer here: the accept form's
	// POST would then carry Origin: null, which the CSRF check refuses.
	h.render(c.Writer, c.Request, http.StatusOK, "invitation", "Invitation to "+p.Org.Name, u, page)
}

// AcceptInvitationForm serves POST /invitations/{token}: the signed-in
// person joins; a signed-out one is sent to sign in and back.
func (h *Handler) AcceptInvitationForm(c *gin.Context) {
	token := c.Param("token")
	u, _ := h.currentUser(c.Request)
	if u == nil {
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(InvitationPath(token)))
		return
	}
	inv, err := h.cfg.Orgs.Accept(c.Request.Context(), actor(c, u), token)
	if err != nil {
		h.invitationFailed(c, err)
		return
	}
	h.flashRedirect(c, orgPath(inv.OrgID), "Welcome! You joined as "+inv.Role+".")
}

func (h *Handler) invitationFailed(c *gin.Context, err error) {
	switch {
	case errors.Is(err, orgs.ErrGone):
		h.renderError(c.Writer, c.Request, http.StatusGone, "invitation_gone", "This invitation was already used or has expired. Ask for a new one.")
	case errors.Is(err, orgs.ErrNotFound):
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "This invitation link is not valid. Check that you copied all of it.")
	case errors.Is(err, orgs.ErrConflict):
		h.renderError(c.Writer, c.Request, http.StatusConflict, "conflict", "You are already a member of this organization.")
	default:
		h.orgFailed(c, err, "")
	}
}
