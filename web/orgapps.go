package web

import (
	"cmp"
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// OrgAppLister lists the OAuth clients an organization owns
// (storage.Orgs.ListOrgClients).
type OrgAppLister interface {
	ListOrgClients(ctx context.Context, orgID string) ([]storage.Client, error)
}

type orgAppRow struct {
	ID, Name, Owner string
	Public          bool
	// Mine: the person registered it, so /apps/{id} manages it.
	Mine bool
}

type orgAppsPage struct {
	Org  orgHead
	Apps []orgAppRow
}

// OrgAppsPage serves GET /orgs/{id}/apps: the organization's apps — every
// one for the roles orgs.ListAllApps allows, else the person's own.
func (h *Handler) OrgAppsPage(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	ctx := c.Request.Context()
	ms, err := h.cfg.Orgs.Members(ctx, actor(c, u), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	names := map[string]string{}
	for _, m := range ms {
		names[m.UserID] = m.Username
	}
	cs, err := h.cfg.OrgApps.ListOrgClients(ctx, v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	all := orgs.Check(v.Role, orgs.ListAllApps) == nil
	page := orgAppsPage{Org: newOrgHead(v, "apps")}
	for _, cl := range cs {
		if !all && cl.OwnerID != u.ID {
			continue
		}
		page.Apps = append(page.Apps, orgAppRow{ID: cl.ID, Name: cl.Name, Owner: cmp.Or(names[cl.OwnerID], "a former member"), Public: cl.Public, Mine: cl.OwnerID == u.ID})
	}
	h.render(c.Writer, c.Request, http.StatusOK, "org_apps", "Apps of "+v.Name, u, page)
}
