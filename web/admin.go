package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/usage"
)

// adminPage is the operator's overview: the usage.Overview and its
// sign-in chart.
type adminPage struct {
	O       *usage.Overview
	SignIns usageChart
	// Keys, Clients and Revoked are the busiest keys, clients and
	// revoked keys still presented, as tables.
	Keys, Clients, Revoked busyTable
	// JSON is where the same figures are served as JSON.
	JSON string
}

type busyTable struct {
	Caption, Name string
	Rows          []usage.Busy
}

// AdminPage serves GET /admin, the operator's overview, to instance
// administrators (`latchkey user create --admin`): users, clients, keys
// and tokens by state; sign-ins, failed sign-ins and lock-outs per day;
// refusals by reason; the busiest keys and clients; revoked keys still
// presented and the latest first uses of keys from new addresses. Anyone
// else gets 404, as for a page that does not exist. GET /v1/admin/overview
// serves the same figures as JSON.
func (h *Handler) AdminPage(c *gin.Context) {
	u := signedInUser(c)
	if !u.Admin || h.cfg.Usage == nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "There is no page here.")
		return
	}
	ctx := c.Request.Context()
	o, err := usage.LoadOverview(ctx, h.cfg.Usage, h.cfg.Now())
	if err != nil {
		h.log.ErrorContext(ctx, "overview", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusServiceUnavailable, "unavailable", "The overview cannot be read right now.")
		return
	}
	page := adminPage{O: o, JSON: "/v1/admin/overview",
		SignIns: newUsageChart("signins", "Sign-ins, last 30 days", "sign-in attempt", o.SignIns, nil),
		Keys:    busyTable{Caption: "API requests in the last 7 days, all outcomes.", Name: "Key", Rows: o.BusiestKeys},
		Clients: busyTable{Caption: "API requests with the client's access tokens in the last 7 days, all outcomes.", Name: "Client", Rows: o.BusiestClients},
		Revoked: busyTable{Caption: "Uses of revoked keys in the last 7 days.", Name: "Key", Rows: o.RevokedKeyUses}}
	h.render(c.Writer, c.Request, http.StatusOK, "admin", "Overview", u, page)
}
