package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/storage"
)

// GrantStore is the storage the /authorized pages need besides GetClient.
type GrantStore interface {
	// ListConsents returns the consents a user gave, newest first.
	ListConsents(ctx context.Context, userID string) ([]storage.Consent, error)
	// DeleteConsent removes a consent; storage.ErrNotFound when there was none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// RevokeGrants revokes every token subject holds for clientID and ends
	// its pending authorization codes.
	RevokeGrants(ctx context.Context, subject, clientID string) error
	// InTx runs fn in one transaction.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// authorizedApp is one app the person granted access.
type authorizedApp struct {
	ClientID, Name, LogoURI, ClientURI string
	Known                              bool
	Scopes                             []consentScope
	Granted, Updated                   pageTime
}

type authorizedPage struct {
	Apps []authorizedApp
}

// Authorized serves GET /authorized: every app the person granted, with
// the scopes and when.
func (h *Handler) Authorized(c *gin.Context) {
	u := signedInUser(c)
	ctx := c.Request.Context()
	cs, err := h.store.ListConsents(ctx, u.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "list consents", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Your authorized apps could not be loaded.")
		return
	}
	var page authorizedPage
	for _, cs := range cs {
		a := authorizedApp{ClientID: cs.ClientID, Name: cs.ClientID, Granted: newPageTime(cs.CreatedAt)}
		if !cs.UpdatedAt.Equal(cs.CreatedAt) {
			a.Updated = newPageTime(cs.UpdatedAt)
		}
		if cl, err := h.store.GetClient(ctx, cs.ClientID); err == nil {
			a.Known, a.Name = true, cl.Name
			a.LogoURI, a.ClientURI = safeHTTPURL(cl.LogoURI), safeHTTPURL(cl.ClientURI)
		}
		for _, s := range cs.Scopes {
			a.Scopes = append(a.Scopes, consentScope{Name: s, Description: h.scopeWords(s)})
		}
		page.Apps = append(page.Apps, a)
	}
	h.render(c.Writer, c.Request, http.StatusOK, "authorized", "Authorized apps", u, page)
}

// RevokeAuthorized serves POST /authorized/{client_id}/revoke: the consent
// goes, every token the app holds for this person is revoked and every
// code issued to it for this person ends, in one transaction, so the app
// must ask again.
func (h *Handler) RevokeAuthorized(c *gin.Context) {
	u := signedInUser(c)
	ctx := c.Request.Context()
	clientID := c.Param("client_id")
	name := "The app"
	if cl, err := h.store.GetClient(ctx, clientID); err == nil {
		name = "“" + cl.Name + "”"
	}
	had := true
	err := h.store.InTx(ctx, func(ctx context.Context) error {
		if err := h.store.DeleteConsent(ctx, u.ID, clientID); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			had = false
		}
		return h.store.RevokeGrants(ctx, u.ID, clientID)
	})
	if err != nil {
		h.log.ErrorContext(ctx, "revoke authorized app", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Access could not be revoked. Try again.")
		return
	}
	h.log.InfoContext(ctx, "authorized app revoked", "user_id", u.ID, "client_id", clientID)
	if h.cfg.Logout != nil {
		h.cfg.Logout.GrantRevoked(ctx, u.ID, clientID) // Back-Channel Logout 1.0
	}
	if !had {
		h.flashRedirect(c, "/authorized", name+" did not have access to your account.")
		return
	}
	h.flashRedirect(c, "/authorized", "Revoked access for "+name+". It can no longer use your account.")
}
