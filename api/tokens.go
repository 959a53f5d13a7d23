package api

import (
	"cmp"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// GenerateToken serves POST /tokens/generate: an API key (bare or Bearer)
// is exchanged for a one-hour OAuth access token carrying its scopes.
func (h *Handler) GenerateToken(c *gin.Context) {
	p := principal(c)
	if p.Kind != KindAPIKey {
		writeError(c, http.StatusUnauthorized, "invalid_api_key", "Exchange an API key: send it in the Authorization header.")
		return
	}
	ctx := c.Request.Context()
	// The token carries the key's scopes as granted; like the key, it is
	// narrowed to its rights at each use (org:admin only while its person
	// administers the organization). The answer names what it may do now.
	granted := p.Scopes
	if p.GrantedScopes != nil {
		granted = p.GrantedScopes
	}
	g := oauth.KeyGrant{KeyID: p.KeyID, UserID: p.UserID, Scopes: granted}
	if p.TenantID != "" && p.Rights != nil && len(p.Rights.Tenants) == 1 {
		// A workspace key's token acts for its tenant, as the key does.
		g.UserID, g.Username = p.TenantID, p.Rights.Tenants[0].Name
	} else {
		u, err := h.cfg.Users.GetUser(ctx, p.UserID)
		if err != nil {
			writeError(c, http.StatusUnauthorized, "invalid_api_key", "The key's owner no longer exists.")
			return
		}
		g.Username = u.Username
	}
	if p.ExpiresAt != nil {
		g.ExpiresAt = *p.ExpiresAt
	}
	tok, exp, err := h.cfg.Tokens.MintKeyToken(ctx, g)
	if err != nil {
		_ = c.Error(err)
		writeError(c, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	h.cfg.Keys.Audit(ctx, p.Key, "exchanged", clientip.FromRequest(c.Request), "")
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{
		"token":      tok,
		"token_type": "Bearer",
		"expires_in": int64(exp.Sub(h.cfg.Now()).Round(time.Second).Seconds()),
		"expires_at": exp.UTC(),
		"scope":      strings.Join(p.Scopes, " "),
	})
}

// TestToken serves GET /tokens/test for any credential.
func (h *Handler) TestToken(c *gin.Context) {
	p := principal(c)
	subject := p.UserID
	if subject == "" {
		subject = cmp.Or(p.TenantID, p.ClientID)
	}
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	c.JSON(http.StatusOK, gin.H{
		"valid":      true,
		"kind":       p.Kind,
		"subject":    subject,
		"scopes":     scopes,
		"expires_at": p.ExpiresAt,
		"key_id":     p.KeyID,
	})
}

type userView struct {
	ID        string           `json:"id"`
	Username  string           `json:"username"`
	Email     string           `json:"email"`
	Name      string           `json:"name"`
	CreatedAt time.Time        `json:"created_at"`
	Tenants   []orgs.TenantRef `json:"tenants"`
}

func (h *Handler) currentUser(c *gin.Context) (*storage.User, bool) {
	u, err := h.cfg.Users.GetUser(c.Request.Context(), principal(c).UserID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			writeError(c, http.StatusUnauthorized, "invalid_api_key", "The credential's owner no longer exists.")
		} else {
			_ = c.Error(err)
			writeError(c, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
		}
		return nil, false
	}
	return u, true
}

func personal(u *storage.User) orgs.TenantRef {
	ws := storage.PersonalWorkspace(u)
	return orgs.TenantRef{ID: ws.ID, Name: ws.Name, Role: orgs.Access(ws.Role)}
}

// Me serves GET /user and GET /v1/users/me. Its "tenants" are what the
// credential reaches: for the person signed in (session, Basic) the
// personal workspace and every tenant they reach in every organization
// they belong to (organizations suspended left out); for a key or token
// its own tenants at this request (a key outside organizations: the
// personal workspace; an organization key: its organization's tenants it
// reaches, after narrowing and its capability).
func (h *Handler) Me(c *gin.Context) {
	u, ok := h.currentUser(c)
	if !ok {
		return
	}
	p := principal(c)
	ctx := c.Request.Context()
	var tenants []orgs.TenantRef
	switch {
	case h.cfg.Orgs == nil:
		tenants = []orgs.TenantRef{personal(u)}
	case p.Kind == KindSession || p.Kind == KindPassword:
		tenants = []orgs.TenantRef{personal(u)}
		views, err := h.cfg.Orgs.List(ctx, orgs.Actor{UserID: u.ID})
		if err != nil {
			h.orgError(c, err)
			return
		}
		for _, v := range views {
			r, err := h.cfg.Orgs.MemberRights(ctx, v.ID, u.ID)
			if errors.Is(err, orgs.ErrSuspended) || errors.Is(err, orgs.ErrNotFound) {
				continue // suspended, or left since the list was read
			} else if err != nil {
				h.orgError(c, err)
				return
			}
			tenants = append(tenants, r.Tenants...)
		}
	case p.Rights != nil:
		tenants = p.Rights.Tenants
	default:
		tenants = []orgs.TenantRef{personal(u)}
	}
	if tenants == nil {
		tenants = []orgs.TenantRef{}
	}
	c.JSON(http.StatusOK, userView{ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt, Tenants: tenants})
}

// workspaceView is GET /v1/workspace's answer for one tenant.
type workspaceView struct {
	orgs.TenantRef
	Organization *orgs.OrgRef `json:"organization,omitempty"`
}

// Workspace serves GET /v1/workspace: the tenant the credential belongs
// to. A workspace key: its tenant, with its organization (role ""). A
// credential bound to an organization that reaches exactly one tenant:
// that tenant and the organization (with the person's role); reaching
// none or several: {"organization", "tenants"} — the caller picks. Any
// other credential: the personal workspace.
func (h *Handler) Workspace(c *gin.Context) {
	p := principal(c)
	if r := p.Rights; r != nil && r.Org != nil {
		if len(r.Tenants) == 1 {
			c.JSON(http.StatusOK, workspaceView{TenantRef: r.Tenants[0], Organization: r.Org})
			return
		}
		tenants := r.Tenants
		if tenants == nil {
			tenants = []orgs.TenantRef{}
		}
		c.JSON(http.StatusOK, gin.H{"organization": r.Org, "tenants": tenants})
		return
	}
	if p.UserID == "" {
		writeError(c, http.StatusForbidden, "forbidden", "This endpoint acts for a user; a client credential cannot use it.")
		return
	}
	u, ok := h.currentUser(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, storage.PersonalWorkspace(u))
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
