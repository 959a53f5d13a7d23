package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

type overviewCount struct {
	Users         int64 `json:"users"`
	Admins        int64 `json:"admins"`
	Clients       int64 `json:"clients"`
	PublicClients int64 `json:"public_clients"`
	KeysActive    int64 `json:"keys_active"`
	KeysExpired   int64 `json:"keys_expired"`
	KeysRevoked   int64 `json:"keys_revoked"`
	AccessTokens  int64 `json:"access_tokens"`
	RefreshTokens int64 `json:"refresh_tokens"`
	// InactiveTokens are revoked or rotated tokens not yet expired.
	InactiveTokens int64 `json:"inactive_tokens"`
}

type signInPoint struct {
	Start        time.Time `json:"start"`
	SignIns      int64     `json:"signins"`
	SignInFailed int64     `json:"signin_failed"`
	Lockouts     int64     `json:"lockouts"`
}

type overviewReason struct {
	Reason string `json:"reason"`
	Label  string `json:"label"`
	Count  int64  `json:"count"`
}

type overviewBusy struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner string `json:"owner"`
	Total int64  `json:"total"`
}

type overviewEvent struct {
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	KeyID  string    `json:"key_id"`
	Key    string    `json:"key"`
	Owner  string    `json:"owner"`
	IP     string    `json:"ip"`
	Detail string    `json:"detail"`
}

type overviewView struct {
	GeneratedAt    time.Time        `json:"generated_at"`
	Counts         overviewCount    `json:"counts"`
	SignIns        []signInPoint    `json:"signins"`
	Since          time.Time        `json:"since"`
	Refusals       []overviewReason `json:"refusals"`
	BusiestKeys    []overviewBusy   `json:"busiest_keys"`
	BusiestClients []overviewBusy   `json:"busiest_clients"`
	RevokedKeyUses []overviewBusy   `json:"revoked_key_uses"`
	NewIPUses      []overviewEvent  `json:"new_ip_uses"`
}

// AdminOverview serves GET /v1/admin/overview, the operator's overview
// as JSON (the same figures as the /admin page): for an instance
// administrator (`latchkey user create --admin`) signed in — by browser
// session or HTTP Basic — only; any other caller gets 403, and no API key
// or access token reaches it (no scope grants it).
func (h *Handler) AdminOverview(c *gin.Context) {
	p := principal(c)
	ctx := c.Request.Context()
	if p.Kind != KindSession && p.Kind != KindPassword {
		refused(c, storage.OutcomeScopeDenied)
		writeError(c, http.StatusForbidden, "forbidden", "The overview is for instance administrators signed in (browser session or HTTP Basic), not for keys or tokens.")
		return
	}
	u, err := h.cfg.Users.GetUser(ctx, p.UserID)
	if err != nil || !u.Admin {
		writeError(c, http.StatusForbidden, "forbidden", "The overview is for instance administrators.")
		return
	}
	if h.cfg.Usage == nil {
		writeError(c, http.StatusNotFound, "not_found", "Usage is not recorded on this server.")
		return
	}
	o, err := usage.LoadOverview(ctx, h.cfg.Usage, h.cfg.Now())
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "overview", "error", err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "The overview cannot be read right now.")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, overviewJSON(o))
}

func overviewJSON(o *usage.Overview) overviewView {
	s := o.Stats
	v := overviewView{GeneratedAt: o.At, Since: o.Since, Counts: overviewCount{
		Users: s.Users, Admins: s.Admins, Clients: s.Clients, PublicClients: s.PublicClients,
		KeysActive: s.KeysActive, KeysExpired: s.KeysExpired, KeysRevoked: s.KeysRevoked,
		AccessTokens: s.AccessTokens, RefreshTokens: s.RefreshTokens, InactiveTokens: s.InactiveTokens,
	}, SignIns: []signInPoint{}, Refusals: []overviewReason{}, NewIPUses: []overviewEvent{}}
	for _, p := range o.SignIns.Points {
		v.SignIns = append(v.SignIns, signInPoint{Start: p.Start, SignIns: p.Counts[0], SignInFailed: p.Counts[1], Lockouts: p.Counts[2]})
	}
	for _, r := range o.Refusals {
		v.Refusals = append(v.Refusals, overviewReason(r))
	}
	v.BusiestKeys, v.BusiestClients, v.RevokedKeyUses = busyJSON(o.BusiestKeys), busyJSON(o.BusiestClients), busyJSON(o.RevokedKeyUses)
	for _, e := range o.NewIPUses {
		v.NewIPUses = append(v.NewIPUses, overviewEvent(e))
	}
	return v
}

func busyJSON(bs []usage.Busy) []overviewBusy {
	out := make([]overviewBusy, 0, len(bs))
	for _, b := range bs {
		out = append(out, overviewBusy(b))
	}
	return out
}
