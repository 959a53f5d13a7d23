package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// GenerateToken serves POST /tokens/generate: an API key (bare or Bearer)
// is exchanged for a one-hour OAuth access token carrying its scopes. It
// is the token-exchange grant (RFC 8693, oauth.Provider.Exchange) with the
// key in the Authorization header: the same subject (keySubject), the
// same issuance; only the answer keeps this endpoint's own shape.
func (h *Handler) GenerateToken(c *gin.Context) {
	p := principal(c)
	if p.Kind != KindAPIKey {
		writeError(c, http.StatusUnauthorized, "invalid_api_key", "Exchange an API key: send it in the Authorization header.")
		return
	}
	ctx := c.Request.Context()
	s, err := h.keySubject(ctx, p, clientip.FromRequest(c.Request))
	if err != nil {
		writeError(c, http.StatusUnauthorized, "invalid_api_key", "The key's owner no longer exists.")
		return
	}
	out, err := h.cfg.Tokens.Exchange(ctx, oauth.ExchangeRequest{Subject: s, Grant: oauth.GrantAPIKeyExchange})
	if err != nil {
		_ = c.Error(err)
		writeError(c, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{
		"token":      out.AccessToken,
		"token_type": "Bearer",
		"expires_in": int64(out.ExpiresAt.Sub(h.cfg.Now()).Round(time.Second).Seconds()),
		"expires_at": out.ExpiresAt.UTC(),
		"scope":      strings.Join(p.Scopes, " "),
	})
}

// errOwnerGone means the person who owns a key no longer exists.
var errOwnerGone = errors.New("api: the key's owner no longer exists")

// keySubject is what the API key behind p (authenticated, its rights
// resolved) may hand on to a token now — the one rule for POST
// /tokens/generate and the token-exchange grant's API-key subject
// (ExchangeKeySubject). The token carries the key's scopes as granted;
// like the key, it is narrowed to its rights at each use (org:admin only
// while its person administers the organization). A requested scope must
// be among the key's effective scopes now. A workspace key's token acts
// for its tenant, as the key does. The key's audit log records the
// exchange once the token is stored. errOwnerGone when the owner is gone.
func (h *Handler) keySubject(ctx context.Context, p *Principal, ip string) (oauth.Subject, error) {
	granted := p.Scopes
	if p.GrantedScopes != nil {
		granted = p.GrantedScopes
	}
	s := oauth.Subject{KeyID: p.KeyID, UserID: p.UserID, Granted: granted, Effective: p.Scopes}
	if p.TenantID != "" && p.Rights != nil && len(p.Rights.Tenants) == 1 {
		s.UserID, s.Username = p.TenantID, p.Rights.Tenants[0].Name
	} else {
		u, err := h.cfg.Users.GetUser(ctx, p.UserID)
		if err != nil {
			return oauth.Subject{}, fmt.Errorf("%w: %w", errOwnerGone, err)
		}
		s.Username = u.Username
	}
	if p.ExpiresAt != nil {
		s.ExpiresAt = *p.ExpiresAt
	}
	k := p.Key
	s.Issued = func(ctx context.Context) { h.cfg.Keys.Audit(ctx, k, "exchanged", ip, "") }
	return s, nil
}

// ExchangeKeySubject resolves an API key presented as the subject_token of
// the token-exchange grant (oauth.Config.ExchangeKey): verified and
// narrowed to its owner's rights exactly as when it authenticates an API
// request, then keySubject. A key that may not be used — malformed,
// unknown, revoked, expired, its owner or organization suspended or gone —
// is an error wrapping oauth.ErrInvalidToken; other errors mean it could
// not be checked. ip is the client's address, for the key's records.
func (h *Handler) ExchangeKeySubject(ctx context.Context, raw, ip string) (oauth.Subject, error) {
	if !h.cfg.Keys.Format().Looks(raw) {
		return oauth.Subject{}, fmt.Errorf("%w: not an API key of this deployment", oauth.ErrInvalidToken)
	}
	k, err := h.cfg.Keys.Verify(ctx, raw, ip)
	switch {
	case errors.Is(err, keys.ErrExpired), errors.Is(err, keys.ErrRevoked), errors.Is(err, keys.ErrNotFound):
		return oauth.Subject{}, fmt.Errorf("%w: %w", oauth.ErrInvalidToken, err)
	case err != nil:
		return oauth.Subject{}, err
	}
	p := keyPrincipal(k)
	switch status, _, msg := h.withRights(ctx, p); {
	case status == http.StatusUnauthorized:
		return oauth.Subject{}, fmt.Errorf("%w: %s", oauth.ErrInvalidToken, msg)
	case status != 0:
		return oauth.Subject{}, fmt.Errorf("api: %s", msg)
	}
	s, err := h.keySubject(ctx, p, ip)
	if err != nil {
		return oauth.Subject{}, fmt.Errorf("%w: %w", oauth.ErrInvalidToken, err)
	}
	return s, nil
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
