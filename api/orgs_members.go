package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// memberView is the JSON form of a member.
type memberView struct {
	UserID   string    `json:"user_id"`
	Username string    `json:"username"`
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// listMembers serves GET /v1/orgs/{id}/members: owners first, then by
// username.
func (h *Handler) listMembers(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	ms, err := h.cfg.Orgs.Members(c.Request.Context(), a, id)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	out := make([]memberView, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberView{UserID: m.UserID, Username: m.Username, Name: m.Name, Email: m.Email, Role: m.Role, JoinedAt: m.CreatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"members": out})
}

type roleBody struct {
	Role string `json:"role"`
}

// setMemberRole serves PATCH /v1/orgs/{id}/members/{user_id} {"role"}:
// admins set admin, member and viewer; only an owner makes or unmakes
// owners; 409 for the last owner.
func (h *Handler) setMemberRole(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b roleBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	role, err := orgs.ParseRole(b.Role)
	if err == nil {
		err = h.cfg.Orgs.SetRole(c.Request.Context(), a, id, c.Param("user_id"), role)
	}
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"user_id": c.Param("user_id"), "role": role})
}

// removeMember serves DELETE /v1/orgs/{id}/members/{user_id} (admins;
// owners only by owners; the caller's own id is leaving).
func (h *Handler) removeMember(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if err := h.cfg.Orgs.Remove(c.Request.Context(), a, id, c.Param("user_id")); err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.Status(http.StatusNoContent)
}

// leaveOrg serves POST /v1/orgs/{id}/leave (409 for the last owner).
func (h *Handler) leaveOrg(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if err := h.cfg.Orgs.Leave(c.Request.Context(), a, id); err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.Status(http.StatusNoContent)
}

type transferBody struct {
	UserID string `json:"user_id"`
}

// transferOrg serves POST /v1/orgs/{id}/transfer {"user_id"} (owners):
// the member becomes an owner and the caller an admin.
func (h *Handler) transferOrg(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b transferBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	if b.UserID == "" {
		writeError(c, http.StatusBadRequest, "invalid_request", "user_id is required.")
		return
	}
	if err := h.cfg.Orgs.Transfer(c.Request.Context(), a, id, b.UserID); err != nil {
		h.orgFailure(c, err, "Only an owner can transfer ownership.")
		return
	}
	c.Status(http.StatusNoContent)
}

// invitationView is the JSON form of a pending invitation; Token and URL
// are set only in the answer that creates it.
type invitationView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Token     string    `json:"token,omitempty"`
	URL       string    `json:"url,omitempty"`
	// Mailed, only in the answer that creates it, says whether the link
	// was also mailed to Email.
	Mailed *bool `json:"mailed,omitempty"`
}

func newInvitationView(inv *storage.Invitation) invitationView {
	return invitationView{ID: inv.ID, Email: inv.Email, Role: inv.Role, InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
}

// listInvitations serves GET /v1/orgs/{id}/invitations: pending ones,
// newest first (admins).
func (h *Handler) listInvitations(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if !h.adminRead(c, a, id, orgs.ListInvitations) {
		return
	}
	invs, err := h.cfg.Orgs.Invitations(c.Request.Context(), a, id)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	out := make([]invitationView, 0, len(invs))
	for i := range invs {
		out = append(out, newInvitationView(&invs[i]))
	}
	c.JSON(http.StatusOK, gin.H{"invitations": out})
}

type inviteBody struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// createInvitation serves POST /v1/orgs/{id}/invitations {"role",
// "email"?}: 201 with the link's token and URL, shown only here, and
// whether the link was also mailed to the address (a failed mail does
// not fail the request).
func (h *Handler) createInvitation(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	var b inviteBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	role, err := orgs.ParseRole(b.Role)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	inv, token, err := h.cfg.Orgs.Invite(c.Request.Context(), a, id, b.Email, role)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	v := newInvitationView(inv)
	mailed := h.cfg.InvitationMail != nil && h.cfg.InvitationMail(c.Request.Context(), token)
	v.Token, v.URL, v.Mailed = token, h.cfg.Issuer+accounts.InvitationPath+token, &mailed
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, v)
}

// cancelInvitation serves DELETE /v1/orgs/{id}/invitations/{inv_id}.
func (h *Handler) cancelInvitation(c *gin.Context) {
	a, id, ok := h.orgActor(c)
	if !ok {
		return
	}
	if err := h.cfg.Orgs.CancelInvitation(c.Request.Context(), a, id, c.Param("inv_id")); err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.Status(http.StatusNoContent)
}

type acceptBody struct {
	Token string `json:"token"`
}

// acceptInvitation serves POST /v1/invitations/accept {"token"}: the
// caller joins with the invitation's role. 404 for an unknown token, 409
// for a used or expired one or when already a member.
func (h *Handler) acceptInvitation(c *gin.Context) {
	a, ok := h.unboundActor(c)
	if !ok {
		return
	}
	var b acceptBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	if b.Token == "" {
		writeError(c, http.StatusBadRequest, "invalid_request", "token is required.")
		return
	}
	inv, err := h.cfg.Orgs.Accept(c.Request.Context(), a, b.Token)
	if err != nil {
		h.orgFailure(c, err, "You are already a member of this organization.")
		return
	}
	v, err := h.cfg.Orgs.Get(c.Request.Context(), a, inv.OrgID)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusOK, newOrgView(&v.Organization, v.Role))
}
