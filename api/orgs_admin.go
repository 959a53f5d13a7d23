package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// The routes below are for instance administrators: people created with
// `latchkey user create --admin` (storage.User.Admin). Anyone else gets
// 403 forbidden; a credential bound to an organization cannot use them.

// instanceAdmin returns the acting administrator, or writes the refusal.
func (h *Handler) instanceAdmin(c *gin.Context) (orgs.Actor, bool) {
	a, ok := h.unboundActor(c)
	if !ok {
		return a, false
	}
	u, err := h.cfg.Users.GetUser(c.Request.Context(), a.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(c, http.StatusUnauthorized, "unauthorized", "The account behind this credential no longer exists.")
		return a, false
	case err != nil:
		h.orgFailure(c, err, "")
		return a, false
	case !u.Admin:
		writeError(c, http.StatusForbidden, "forbidden", "This endpoint is for instance administrators.")
		return a, false
	}
	return a, true
}

// adminListOrgs serves GET /v1/admin/orgs?after=&limit=: every
// organization by id; next_after pages on.
func (h *Handler) adminListOrgs(c *gin.Context) {
	if _, ok := h.instanceAdmin(c); !ok {
		return
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(c, http.StatusBadRequest, "invalid_request", "limit must be between 1 and 500.")
			return
		}
		limit = n
	}
	after := c.Query("after")
	if len(after) > 64 {
		writeError(c, http.StatusBadRequest, "invalid_request", "after must be an organization id.")
		return
	}
	os, err := h.cfg.Orgs.AdminList(c.Request.Context(), after, limit)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	out := make([]orgView, 0, len(os))
	for i := range os {
		out = append(out, newOrgView(&os[i], ""))
	}
	body := gin.H{"orgs": out}
	if len(os) == limit {
		body["next_after"] = os[len(os)-1].ID
	}
	c.JSON(http.StatusOK, body)
}

// adminSuspendOrg serves POST /v1/admin/orgs/{id}/suspend (on) and
// /unsuspend: while suspended, every key and token of the organization
// is refused.
func (h *Handler) adminSuspendOrg(on bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := h.instanceAdmin(c)
		if !ok {
			return
		}
		o, err := h.cfg.Orgs.SuspendOrg(c.Request.Context(), a, c.Param("id"), on)
		if err != nil {
			h.orgFailure(c, err, "")
			return
		}
		c.JSON(http.StatusOK, newOrgView(o, ""))
	}
}

type tierBody struct {
	Tier string `json:"tier"`
}

// adminSetTier serves PUT /v1/admin/orgs/{id}/tier {"tier"}: the
// organization's rate-limit plan ("" = the deployment default).
func (h *Handler) adminSetTier(c *gin.Context) {
	a, ok := h.instanceAdmin(c)
	if !ok {
		return
	}
	var b tierBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	o, err := h.cfg.Orgs.SetTier(c.Request.Context(), a, c.Param("id"), b.Tier)
	if err != nil {
		h.orgFailure(c, err, "")
		return
	}
	c.JSON(http.StatusOK, newOrgView(o, ""))
}

// adminSuspendUser serves POST /v1/admin/users/{id}/suspend (on) and
// /unsuspend: sign-in, sessions, keys and tokens of a suspended person
// are refused. An administrator cannot suspend themselves.
func (h *Handler) adminSuspendUser(on bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := h.instanceAdmin(c)
		if !ok {
			return
		}
		id := c.Param("id")
		if on && id == a.UserID {
			writeError(c, http.StatusConflict, "conflict", "You cannot suspend yourself.")
			return
		}
		if err := h.cfg.Orgs.SuspendUser(c.Request.Context(), id, on); err != nil {
			h.orgFailure(c, err, "")
			return
		}
		c.JSON(http.StatusOK, gin.H{"user_id": id, "suspended": on})
	}
}
