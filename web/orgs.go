package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// OrgService is what the organization pages need from *orgs.Service. Every
// operation checks the actor's role itself (orgs' permission table); the
// pages only decide what to offer and how to word the refusals.
type OrgService interface {
	Create(ctx context.Context, a orgs.Actor, name string) (*storage.Organization, error)
	List(ctx context.Context, a orgs.Actor) ([]orgs.View, error)
	Get(ctx context.Context, a orgs.Actor, orgID string) (*orgs.View, error)
	Rename(ctx context.Context, a orgs.Actor, orgID, name string) (*storage.Organization, error)
	Delete(ctx context.Context, a orgs.Actor, orgID string) ([]storage.APIKey, error)
	Members(ctx context.Context, a orgs.Actor, orgID string) ([]storage.Member, error)
	SetRole(ctx context.Context, a orgs.Actor, orgID, userID string, to orgs.Role) error
	Remove(ctx context.Context, a orgs.Actor, orgID, userID string) error
	Leave(ctx context.Context, a orgs.Actor, orgID string) error
	Transfer(ctx context.Context, a orgs.Actor, orgID, userID string) error
	Tenants(ctx context.Context, a orgs.Actor, orgID string) ([]orgs.TenantRef, error)
	CreateTenant(ctx context.Context, a orgs.Actor, orgID, name string) (*storage.Tenant, error)
	RenameTenant(ctx context.Context, a orgs.Actor, orgID, tenantID, name string) error
	DeleteTenant(ctx context.Context, a orgs.Actor, orgID, tenantID string) ([]storage.APIKey, error)
	Grant(ctx context.Context, a orgs.Actor, orgID, tenantID, userID string, access orgs.Access) error
	Ungrant(ctx context.Context, a orgs.Actor, orgID, tenantID, userID string) error
	TenantGrants(ctx context.Context, a orgs.Actor, orgID, tenantID string) ([]storage.TenantGrant, error)
	Audit(ctx context.Context, a orgs.Actor, orgID string, before uint64, limit int) ([]storage.OrgEvent, error)
	Invite(ctx context.Context, a orgs.Actor, orgID, email string, role orgs.Role) (*storage.Invitation, string, error)
	Invitations(ctx context.Context, a orgs.Actor, orgID string) ([]storage.Invitation, error)
	CancelInvitation(ctx context.Context, a orgs.Actor, orgID, id string) error
	Peek(ctx context.Context, token string) (*orgs.Pending, error)
	Accept(ctx context.Context, a orgs.Actor, token string) (*storage.Invitation, error)
	// Record appends to the organization's audit log (keys made and
	// revoked on the pages).
	Record(ctx context.Context, orgID string, a orgs.Actor, typ, target, detail string)
}

// lastOwnerText is the one wording of orgs.ErrLastOwner on the pages.
const lastOwnerText = "An organization needs at least one owner. Make another member an owner first, or delete the organization."

// orgTab is one entry of an organization's sub-navigation.
type orgTab struct {
	Name, Label, Href string
	Current           bool
}

// orgHead is what every organization page shows at the top: the name, the
// person's role there, and the tabs their role opens.
type orgHead struct {
	ID, Name  string
	Role      orgs.Role
	Suspended bool
	IsAdmin   bool
	IsOwner   bool
	Tabs      []orgTab
}

func newOrgHead(v *orgs.View, tab string) orgHead {
	hd := orgHead{ID: v.ID, Name: v.Name, Role: v.Role, Suspended: v.SuspendedAt != nil, IsAdmin: v.Role.IsAdmin(), IsOwner: v.Role == orgs.Owner}
	base := "/orgs/" + url.PathEscape(v.ID)
	for _, t := range []struct {
		name, label, path string
		action            orgs.Action
	}{
		{"overview", "Overview", "", orgs.ViewOrg},
		{"members", "Members", "/members", orgs.ListMembers},
		{"tenants", "Tenants", "/tenants", orgs.ListTenants},
		{"keys", "Keys", "/keys", orgs.CreatePersonalKey},
		{"apps", "Apps", "/apps", orgs.ViewOrg}, // every member sees the tab: all apps, or their own
		{"audit", "Audit log", "/audit", orgs.ViewAudit},
	} {
		if orgs.Check(v.Role, t.action) != nil {
			continue
		}
		hd.Tabs = append(hd.Tabs, orgTab{Name: t.name, Label: t.label, Href: base + t.path, Current: t.name == tab})
	}
	return hd
}

// actor is the signed-in person acting from this request.
func actor(c *gin.Context, u *storage.User) orgs.Actor {
	return orgs.Actor{UserID: u.ID, IP: clientip.FromRequest(c.Request)}
}

// navOrg is one organization in the layout's switcher.
type navOrg struct {
	ID, Name string
	Current  bool
}

// navOrgs lists the person's organizations for the switcher, marking the
// one whose pages path belongs to; nil without an organization service.
func (h *Handler) navOrgs(r *http.Request, u *storage.User) ([]navOrg, string) {
	if h.cfg.Orgs == nil || u == nil {
		return nil, ""
	}
	vs, err := h.cfg.Orgs.List(r.Context(), orgs.Actor{UserID: u.ID})
	if err != nil {
		h.log.WarnContext(r.Context(), "list organizations for the switcher", "error", err)
		return nil, ""
	}
	cur := ""
	if rest, ok := strings.CutPrefix(r.URL.Path, "/orgs/"); ok {
		cur, _, _ = strings.Cut(rest, "/")
	}
	out := make([]navOrg, 0, len(vs))
	name := ""
	for _, v := range vs {
		out = append(out, navOrg{ID: v.ID, Name: v.Name, Current: v.ID == cur})
		if v.ID == cur {
			name = v.Name
		}
	}
	return out, name
}

// loadOrg returns the organization of the :id path parameter as the
// signed-in person sees it, or answers the request: 404 for organizations
// they are not a member of (exactly like missing ones).
func (h *Handler) loadOrg(c *gin.Context, u *storage.User) *orgs.View {
	v, err := h.cfg.Orgs.Get(c.Request.Context(), actor(c, u), c.Param("id"))
	if err != nil {
		h.orgFailed(c, err, "")
		return nil
	}
	return v
}

// orgFailed answers an operation's refusal that has no field to sit
// next to: 404 for objects of other organizations (or gone), 403 with the
// role needed, a flash on back (the page the form was on) for conflicts
// such as the last owner, 500 otherwise.
func (h *Handler) orgFailed(c *gin.Context, err error, back string) {
	var re *orgs.RoleError
	var fe *orgs.FieldError
	switch {
	case errors.Is(err, orgs.ErrNotFound):
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "There is no such organization, or nothing of that name in it that you can see.")
	case errors.As(err, &re):
		h.renderError(c.Writer, c.Request, http.StatusForbidden, "forbidden", re.Error())
	case errors.Is(err, orgs.ErrLastOwner) && back != "":
		h.flashRedirect(c, back, lastOwnerText)
	case errors.Is(err, orgs.ErrLastOwner):
		h.renderError(c.Writer, c.Request, http.StatusConflict, "conflict", lastOwnerText)
	case errors.As(err, &fe) && back != "":
		h.flashRedirect(c, back, sentence(fe.Message))
	case errors.As(err, &fe):
		h.renderError(c.Writer, c.Request, http.StatusBadRequest, "invalid_request", sentence(fe.Message))
	case errors.Is(err, orgs.ErrConflict) && back != "":
		h.flashRedirect(c, back, "That change conflicts with the organization's current state; reload the page and try again.")
	case errors.Is(err, orgs.ErrConflict):
		h.renderError(c.Writer, c.Request, http.StatusConflict, "conflict", "That change conflicts with the organization's current state.")
	default:
		h.log.ErrorContext(c.Request.Context(), "organization operation", "error", err, "path", c.Request.URL.Path)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "That could not be done right now; try again.")
	}
}

// sentence capitalises msg and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// fieldMessage returns the message of err when it is a request problem
// in one field, and that field.
func fieldMessage(err error) (field, msg string, ok bool) {
	var fe *orgs.FieldError
	if errors.As(err, &fe) {
		return fe.Field, sentence(fe.Message), true
	}
	return "", "", false
}

// confirmPage asks before a destructive action: the form posts again to
// Action with confirm=yes.
type confirmPage struct {
	Org     orgHead
	Heading string
	Text    string
	Action  string
	Button  string
	Cancel  string
	// Fields are posted along (the member, the role…).
	Fields map[string]string
}

// confirmed reports whether the form carries confirm=yes; if not, it
// renders the confirmation page for p and the caller stops.
func (h *Handler) confirmed(c *gin.Context, u *storage.User, p confirmPage) bool {
	if c.PostForm("confirm") == "yes" {
		return true
	}
	h.render(c.Writer, c.Request, http.StatusOK, "org_confirm", p.Heading, u, p)
	return false
}

func orgPath(id string, rest ...string) string {
	p := "/orgs/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// accountTenant is one tenant on /account: the personal workspace (Org
// "") or a tenant of an organization, with the person's role there (their
// organization role beside the tenant access).
type accountTenant struct {
	ID, Name string
	Role     string
	// Org and OrgID name the organization ("" for the personal workspace);
	// OrgRole is the person's role in it.
	Org, OrgID string
	OrgRole    orgs.Role
}

func personalTenant(u *storage.User) accountTenant {
	ws := storage.PersonalWorkspace(u)
	return accountTenant{ID: ws.ID, Name: ws.Name, Role: ws.Role}
}

// accountTenants lists every tenant u reaches: the personal workspace,
// then each organization's tenants (by organization name, then tenant
// name). An organization that cannot be read now is left out and logged.
func (h *Handler) accountTenants(c *gin.Context, u *storage.User) []accountTenant {
	out := []accountTenant{personalTenant(u)}
	if h.cfg.Orgs == nil {
		return out
	}
	ctx := c.Request.Context()
	a := actor(c, u)
	vs, err := h.cfg.Orgs.List(ctx, a)
	if err != nil {
		h.log.WarnContext(ctx, "list organizations for /account", "error", err)
		return out
	}
	for _, v := range vs {
		ts, err := h.cfg.Orgs.Tenants(ctx, a, v.ID)
		if err != nil {
			h.log.WarnContext(ctx, "list tenants for /account", "org_id", v.ID, "error", err)
			continue
		}
		for _, t := range ts {
			out = append(out, accountTenant{ID: t.ID, Name: t.Name, Role: string(t.Role), Org: v.Name, OrgID: v.ID, OrgRole: v.Role})
		}
	}
	return out
}
