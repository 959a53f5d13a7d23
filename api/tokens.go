package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/oauth"
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
	u, err := h.cfg.Users.GetUser(ctx, p.UserID)
	if err != nil {
		writeError(c, http.StatusUnauthorized, "invalid_api_key", "The key's owner no longer exists.")
		return
	}
	g := oauth.KeyGrant{KeyID: p.KeyID, UserID: p.UserID, Username: u.Username, Scopes: p.Scopes}
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
		subject = p.ClientID
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
	ID        string              `json:"id"`
	Username  string              `json:"username"`
	Email     string              `json:"email"`
	Name      string              `json:"name"`
	CreatedAt time.Time           `json:"created_at"`
	Tenants   []storage.Workspace `json:"tenants"`
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

// Me serves GET /user and GET /v1/users/me.
func (h *Handler) Me(c *gin.Context) {
	u, ok := h.currentUser(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, userView{ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt,
		Tenants: []storage.Workspace{storage.PersonalWorkspace(u)}})
}

// Workspace serves GET /v1/workspace: the workspace the credential belongs to.
func (h *Handler) Workspace(c *gin.Context) {
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
