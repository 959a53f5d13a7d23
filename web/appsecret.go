package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// The app page's actions that cannot be undone ask first, without
// JavaScript: rotating the secret and ending a previous secret's grace
// need a ticked box (confirm=yes), deleting the app needs its name typed
// (confirm_name, DeleteApp). A form without its confirmation — a stray
// click, or a forged POST that got past CSRF — changes nothing and gets
// the page back with the request next to the field (400).
//
// A rotation may keep the current secret working for a grace period, so
// the app can be redeployed with the new secret first (as GitHub and Auth0
// allow): the client then has two secrets, never more
// (storage.Client.RotateSecret), and oauth accepts the previous one only
// until its grace ends.

// appGraceChoices are the rotation grace options: how long the current
// secret keeps working once a new one is made.
var appGraceChoices = []struct {
	Value, Label string
	Grace        time.Duration
}{
	{"0", "Now (it stops at once)", 0},
	{"3600", "In 1 hour", time.Hour},
	{"86400", "In 24 hours", 24 * time.Hour},
	{"604800", "In 7 days", 7 * 24 * time.Hour},
}

// defaultAppGrace is the grace the rotate form starts with.
const defaultAppGrace = "3600"

// appGrace returns the grace of a choice value, and whether it is one.
func appGrace(v string) (time.Duration, bool) {
	for _, g := range appGraceChoices {
		if g.Value == v {
			return g.Grace, true
		}
	}
	return 0, false
}

// appActions is what the rotate, end-grace and delete forms show again
// when one was refused: the choice made and the error next to the field.
type appActions struct {
	Grace                                   string
	RotateError, EndGraceError, DeleteError string
	// DeleteName is what was typed into the delete confirmation.
	DeleteName string
}

// appSecretCard is the secret part of a confidential app's page.
type appSecretCard struct {
	// PreviousUntil is when the previous secret stops working; zero when
	// no previous secret works.
	PreviousUntil pageTime
	Grace         []keyChoice
}

func (h *Handler) secretCard(cl *storage.Client, act appActions) appSecretCard {
	var card appSecretCard
	if cl.PreviousSecretActive(h.cfg.Now()) {
		card.PreviousUntil = newPageTime(*cl.PreviousSecretExpiresAt)
	}
	chosen := act.Grace
	if _, ok := appGrace(chosen); !ok {
		chosen = defaultAppGrace
	}
	for _, g := range appGraceChoices {
		card.Grace = append(card.Grace, keyChoice{Value: g.Value, Label: g.Label, Selected: g.Value == chosen})
	}
	return card
}

type appSecretPage struct {
	ID, Name, Secret string
}

// AppSecret serves GET /apps/{id}/secret: the secret made by the previous
// request (registration or rotation), shown this once.
func (h *Handler) AppSecret(c *gin.Context) {
	u := signedInUser(c)
	cl := h.ownedClient(c, u, c.Param("id"))
	if cl == nil {
		return
	}
	s, _ := h.sessions.Get(c.Request, h.sessionName)
	forID, _ := s.Values[secretClientKey].(string)
	plain, _ := s.Values[secretValueKey].(string)
	if forID != cl.ID || plain == "" {
		h.flashRedirect(c, "/apps/"+cl.ID, "A client secret is shown only once. Rotate it to get a new one.")
		return
	}
	delete(s.Values, secretClientKey)
	delete(s.Values, secretValueKey)
	if err := s.Save(c.Request, c.Writer); err != nil {
		h.log.ErrorContext(c.Request.Context(), "save session", "error", err)
	}
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, c.Request, http.StatusOK, "app_secret", "Client secret for "+cl.Name, u,
		appSecretPage{ID: cl.ID, Name: cl.Name, Secret: plain})
}

// RotateAppSecret serves POST /apps/{id}/rotate: once confirmed, a new
// secret (shown once) replaces the current one, which keeps working for
// the grace chosen (grace, seconds: one of appGraceChoices); a previous
// secret still in grace stops at once.
func (h *Handler) RotateAppSecret(c *gin.Context) {
	u := signedInUser(c)
	if h.noRegistrar(c) {
		return
	}
	r := c.Request
	cl := h.ownedClient(c, u, c.Param("id"))
	if cl == nil {
		return
	}
	if cl.Public {
		h.flashRedirect(c, "/apps/"+cl.ID, "“"+cl.Name+"” is a public app: it has no secret to rotate.")
		return
	}
	act := appActions{Grace: c.PostForm("grace")}
	grace, ok := appGrace(act.Grace)
	switch {
	case !ok:
		act.RotateError = "Choose when the current secret stops working."
	case c.PostForm("confirm") != "yes":
		act.RotateError = "Tick the box to confirm the new secret."
	}
	if act.RotateError != "" {
		h.renderAppActions(c, u, cl, http.StatusBadRequest, act)
		return
	}
	plain, err := oauth.NewClientSecret()
	if err != nil {
		h.log.ErrorContext(r.Context(), "new client secret", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "The secret could not be rotated.")
		return
	}
	digest, version := h.cfg.Clients.HashSecret(plain)
	now := h.cfg.Now()
	var until *time.Time
	err = h.store.UpdateClient(r.Context(), cl.ID, func(s *storage.Client) error {
		if s.OwnerID != u.ID {
			return errNotOwner
		}
		s.RotateSecret(digest, version, now, grace)
		until = s.PreviousSecretExpiresAt
		if s.TokenEndpointAuthMethod == oauth.AuthMethodSecretJWT {
			// client_secret_jwt assertions are checked with the new secret only.
			sealed, err := h.cfg.Clients.SealClientSecret(s.ID, plain)
			if err != nil {
				return err
			}
			s.SecretSealed = sealed
		}
		return nil
	})
	if h.appGone(c, u, err) {
		return
	}
	h.log.InfoContext(r.Context(), "client secret rotated", "user_id", u.ID, "client_id", cl.ID, "grace", grace.String())
	flash := "Rotated the secret of “" + cl.Name + "”. The old secret no longer works."
	if until != nil {
		flash = "Rotated the secret of “" + cl.Name + "”. The old secret keeps working until " + newPageTime(*until).Text + "."
	}
	h.showSecretNext(c, cl.ID, plain, flash)
}

// EndAppSecretGrace serves POST /apps/{id}/end-grace: once confirmed, the
// previous secret stops working now instead of when its grace ends.
func (h *Handler) EndAppSecretGrace(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	cl := h.ownedClient(c, u, c.Param("id"))
	if cl == nil {
		return
	}
	if !cl.PreviousSecretActive(h.cfg.Now()) {
		h.flashRedirect(c, "/apps/"+cl.ID, "“"+cl.Name+"” has no previous secret that still works.")
		return
	}
	if c.PostForm("confirm") != "yes" {
		h.renderAppActions(c, u, cl, http.StatusBadRequest, appActions{EndGraceError: "Tick the box to confirm that the previous secret stops now."})
		return
	}
	err := h.store.UpdateClient(r.Context(), cl.ID, func(s *storage.Client) error {
		if s.OwnerID != u.ID {
			return errNotOwner
		}
		s.EndSecretGrace()
		return nil
	})
	if h.appGone(c, u, err) {
		return
	}
	h.log.InfoContext(r.Context(), "client previous secret ended", "user_id", u.ID, "client_id", cl.ID)
	h.flashRedirect(c, "/apps/"+cl.ID, "The previous secret of “"+cl.Name+"” no longer works. Only the current one does.")
}
