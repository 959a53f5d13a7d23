package web

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// AppStore is the storage the /apps pages need besides GetClient.
type AppStore interface {
	// CreateClient inserts c; storage.ErrConflict when the id is taken.
	CreateClient(ctx context.Context, c *storage.Client) error
	// UpdateClient applies fn to the stored client in one transaction.
	UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) error
	// DeleteClient removes the client with its tokens and consents.
	DeleteClient(ctx context.Context, id string) error
	// ListClientsByOwner returns a user's clients, oldest first.
	ListClientsByOwner(ctx context.Context, ownerID string) ([]storage.Client, error)
}

// ClientRegistrar validates client registrations and hashes client secrets
// (the OAuth provider).
type ClientRegistrar interface {
	// NewClientRecord validates spec and returns the record with the plain
	// secret (empty for public clients), which is shown once.
	NewClientRecord(spec oauth.ClientSpec) (*storage.Client, string, error)
	// HashSecret returns the digest and pepper version to store for a secret.
	HashSecret(secret string) ([]byte, int)
	// SealClientSecret seals the secret of a client_secret_jwt client,
	// which the server must know to check its assertions.
	SealClientSecret(clientID, secret string) ([]byte, error)
}

// appRow is one app in the list.
type appRow struct {
	ID, Name, Type string
	RedirectURIs   []string
	Created        pageTime
}

type appsPage struct {
	Apps   []appRow
	Form   appFormView
	Errors appErrors
}

// Apps serves GET /apps: the person's OAuth clients and the form to
// register another.
func (h *Handler) Apps(c *gin.Context) {
	u := signedInUser(c)
	f := appForm{Scopes: slices.DeleteFunc(slices.Clone(defaultAppScopes), func(s string) bool { return !slices.Contains(h.cfg.Scopes, s) }), Grants: defaultAppGrants,
		RequirePKCE: true} // OAuth 2.1: PKCE for every client unless the owner opts out
	h.renderApps(c, u, http.StatusOK, f, appErrors{})
}

func (h *Handler) renderApps(c *gin.Context, u *storage.User, status int, f appForm, errs appErrors) {
	cs, err := h.store.ListClientsByOwner(c.Request.Context(), u.ID)
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "list clients", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Your apps could not be loaded.")
		return
	}
	view := h.appFormView(f)
	view.Action = "/apps"
	page := appsPage{Form: view, Errors: withSummary(errs)}
	for _, cl := range cs {
		page.Apps = append(page.Apps, appRow{ID: cl.ID, Name: cl.Name, Type: clientType(&cl), RedirectURIs: cl.RedirectURIs, Created: newPageTime(cl.CreatedAt)})
	}
	h.render(c.Writer, c.Request, status, "apps", "Your apps", u, page)
}

func clientType(c *storage.Client) string {
	if c.Public {
		return "Public"
	}
	return "Confidential"
}

// Session keys holding a secret between the POST that made it and the one
// page that shows it.
const (
	secretClientKey = "new_secret_client"
	secretValueKey  = "new_secret"
)

// CreateApp serves POST /apps: validate → register → show the secret once.
func (h *Handler) CreateApp(c *gin.Context) {
	u := signedInUser(c)
	if h.noRegistrar(c) {
		return
	}
	r := c.Request
	f := parseAppForm(c)
	errs := f.check(h.cfg.Scopes)
	if errs.any() {
		h.renderApps(c, u, http.StatusBadRequest, f, errs)
		return
	}
	rec, plain, err := h.cfg.Clients.NewClientRecord(f.spec(u.ID))
	if err != nil {
		if !errors.Is(err, oauth.ErrInvalidClientMetadata) {
			h.log.ErrorContext(r.Context(), "new client", "error", err)
			h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "The app could not be registered.")
			return
		}
		registrarProblem(&errs, err)
		h.renderApps(c, u, http.StatusBadRequest, f, errs)
		return
	}
	if err := h.store.CreateClient(r.Context(), rec); err != nil {
		h.log.ErrorContext(r.Context(), "create client", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "The app could not be registered.")
		return
	}
	h.log.InfoContext(r.Context(), "client registered", "user_id", u.ID, "client_id", rec.ID)
	if rec.Public {
		h.flashRedirect(c, "/apps/"+rec.ID, "Registered “"+rec.Name+"”. It is a public app, so it has no secret: it must use PKCE.")
		return
	}
	h.showSecretNext(c, rec.ID, plain, "Registered “"+rec.Name+"”.")
}

// noRegistrar answers 503 when the pages were built without a
// ClientRegistrar, and reports whether it did.
func (h *Handler) noRegistrar(c *gin.Context) bool {
	if h.cfg.Clients != nil {
		return false
	}
	h.renderError(c.Writer, c.Request, http.StatusServiceUnavailable, "temporarily_unavailable", "App registration is not available on this server.")
	return true
}

// showSecretNext keeps the new secret in the (encrypted) session cookie for
// exactly one view of /apps/{id}/secret, so reloading or going back never
// re-submits a form or shows the secret again.
func (h *Handler) showSecretNext(c *gin.Context, clientID, plain, flash string) {
	s, _ := h.sessions.Get(c.Request, h.sessionName)
	s.Values[secretClientKey] = clientID
	s.Values[secretValueKey] = plain
	s.Values["flash"] = flash
	if err := s.Save(c.Request, c.Writer); err != nil {
		h.log.ErrorContext(c.Request.Context(), "save session", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "The secret could not be shown. Rotate it to get a new one.")
		return
	}
	c.Redirect(http.StatusSeeOther, "/apps/"+clientID+"/secret")
}

// ownedClient loads the client with id when u owns it. Anyone else — and
// a missing id — gets the same 404, so client ids cannot be probed.
func (h *Handler) ownedClient(c *gin.Context, u *storage.User, id string) *storage.Client {
	cl, err := h.store.GetClient(c.Request.Context(), id)
	if err == nil && cl.OwnerID != "" && cl.OwnerID == u.ID {
		return cl
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.log.ErrorContext(c.Request.Context(), "get client", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "The app could not be loaded.")
		return nil
	}
	h.appNotFound(c, u)
	return nil
}

// appNotFound renders the 404 for an app id that is not the person's own,
// still showing who is signed in.
func (h *Handler) appNotFound(c *gin.Context, u *storage.User) {
	h.render(c.Writer, c.Request, http.StatusNotFound, "error", "Not found", u,
		errorPage{Status: http.StatusNotFound, Error: "not_found", Description: "There is no app with that ID among your apps."})
}

// errNotOwner aborts an update whose client changed hands meanwhile.
var errNotOwner = errors.New("web: client not owned by the user")

// appDetail is one app as its page shows it.
type appDetail struct {
	ID, Name, Type, AuthMethod string
	Public, RequirePKCE        bool
	Grants, RedirectURIs       []string
	Scopes                     []string
	Created, Updated           pageTime
}

type appPage struct {
	App    appDetail
	Form   appFormView
	Errors appErrors
	// Secret is the client secret card (confidential apps), Actions what
	// the rotate, end-grace and delete forms show (appsecret.go).
	Secret  appSecretCard
	Actions appActions
	// Usage is the API requests made with the app's access tokens over
	// time (nil: not recorded).
	Usage *usageChart
}

// App serves GET /apps/{id}: details, the edit form, rotate and delete.
func (h *Handler) App(c *gin.Context) {
	u := signedInUser(c)
	cl := h.ownedClient(c, u, c.Param("id"))
	if cl == nil {
		return
	}
	h.renderAppActions(c, u, cl, http.StatusOK, appActions{})
}

// renderAppActions renders the app page with the settings form as stored:
// for GET, and for a refused rotate, end-grace or delete form.
func (h *Handler) renderAppActions(c *gin.Context, u *storage.User, cl *storage.Client, status int, act appActions) {
	f := appForm{Name: cl.Name, RedirectURIs: cl.RedirectURIs, Public: cl.Public, Scopes: cl.Scopes, Grants: cl.GrantTypes, RequirePKCE: cl.RequirePKCE,
		PostLogoutURIs: cl.PostLogoutRedirectURIs, BackchannelURI: cl.BackchannelLogoutURI, BackchannelSID: cl.BackchannelLogoutSessionRequired}
	h.renderAppPage(c, u, cl, status, f, appErrors{}, act)
}

func (h *Handler) renderApp(c *gin.Context, u *storage.User, cl *storage.Client, status int, f appForm, errs appErrors) {
	h.renderAppPage(c, u, cl, status, f, errs, appActions{})
}

func (h *Handler) renderAppPage(c *gin.Context, u *storage.User, cl *storage.Client, status int, f appForm, errs appErrors, act appActions) {
	method := cl.TokenEndpointAuthMethod
	switch {
	case cl.Public:
		method = "none (PKCE)"
	case method == "":
		method = "client_secret_basic or client_secret_post"
	}
	view := h.appFormView(f)
	view.Action, view.Edit = "/apps/"+cl.ID, true
	// Scopes the app already has but config no longer lists stay visible.
	for _, s := range cl.Scopes {
		if !slices.Contains(h.cfg.Scopes, s) {
			view.Scopes = append(view.Scopes, option{Value: s, Label: s, Hint: "No longer registered", Checked: slices.Contains(f.Scopes, s)})
		}
	}
	page := appPage{
		App: appDetail{
			ID: cl.ID, Name: cl.Name, Type: clientType(cl), AuthMethod: method, Public: cl.Public, RequirePKCE: cl.RequirePKCE || cl.Public,
			Grants: cl.GrantTypes, RedirectURIs: cl.RedirectURIs, Scopes: cl.Scopes,
			Created: newPageTime(cl.CreatedAt), Updated: newPageTime(cl.UpdatedAt),
		},
		Form: view, Errors: withSummary(errs),
		Secret: h.secretCard(cl, act), Actions: act,
	}
	page.Usage = h.requestChart(c.Request.Context(), c.Request, storage.UsageClient, cl.ID, "API requests with this app’s tokens")
	h.render(c.Writer, c.Request, status, "app", cl.Name, u, page)
}

// UpdateApp serves POST /apps/{id}: change the name, redirect URIs,
// logout registration, scopes and whether PKCE is required (always, for a public app). The type
// and grants stay as registered; the resource-server flag is the
// operator's (CLI) and never changes here.
func (h *Handler) UpdateApp(c *gin.Context) {
	u := signedInUser(c)
	if h.noRegistrar(c) {
		return
	}
	r := c.Request
	cl := h.ownedClient(c, u, c.Param("id"))
	if cl == nil {
		return
	}
	f := parseAppForm(c)
	f.Public, f.Grants = cl.Public, cl.GrantTypes
	known := append(slices.Clone(h.cfg.Scopes), cl.Scopes...)
	errs := f.check(known)
	errs.Grants, errs.Type = "", "" // not editable here: as registered
	if !errs.any() {
		// The registrar validates the whole record as it would a new one.
		if _, _, err := h.cfg.Clients.NewClientRecord(f.spec(u.ID)); err != nil {
			registrarProblem(&errs, err)
			if errs.Grants != "" { // no grants field on this form
				errs.Form, errs.Grants = errs.Grants, ""
			}
		}
	}
	if errs.any() {
		h.renderApp(c, u, cl, http.StatusBadRequest, f, errs)
		return
	}
	err := h.store.UpdateClient(r.Context(), cl.ID, func(s *storage.Client) error {
		if s.OwnerID != u.ID {
			return errNotOwner
		}
		s.Name, s.RedirectURIs, s.Scopes = f.Name, f.RedirectURIs, f.Scopes
		s.RequirePKCE = f.RequirePKCE || s.Public
		s.PostLogoutRedirectURIs, s.BackchannelLogoutURI = f.PostLogoutURIs, f.BackchannelURI
		s.BackchannelLogoutSessionRequired = f.BackchannelSID
		return nil
	})
	if h.appGone(c, u, err) {
		return
	}
	h.log.InfoContext(r.Context(), "client updated", "user_id", u.ID, "client_id", cl.ID)
	h.flashRedirect(c, "/apps/"+cl.ID, "Saved changes to “"+f.Name+"”.")
}

// appGone renders the page for a failed update and reports whether it did.
func (h *Handler) appGone(c *gin.Context, u *storage.User, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, storage.ErrNotFound) || errors.Is(err, errNotOwner):
		h.appNotFound(c, u)
	default:
		h.log.ErrorContext(c.Request.Context(), "update client", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "The app could not be saved.")
	}
	return true
}

// DeleteApp serves POST /apps/{id}/delete: the client goes, and with it
// every code, token and consent issued to it. The form must carry the
// app's name, typed by the person (confirm_name); without it the app page
// comes back asking for it (400) and nothing changes.
func (h *Handler) DeleteApp(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	cl := h.ownedClient(c, u, c.Param("id"))
	if cl == nil {
		return
	}
	if typed := c.PostForm("confirm_name"); typed != cl.Name {
		act := appActions{DeleteName: typed, DeleteError: "Type the app’s name, " + cl.Name + ", to delete it."}
		if typed != "" {
			act.DeleteError = "That is not the app’s name. Type " + cl.Name + " exactly to delete it."
		}
		h.renderAppActions(c, u, cl, http.StatusBadRequest, act)
		return
	}
	if err := h.store.DeleteClient(r.Context(), cl.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.log.ErrorContext(r.Context(), "delete client", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "The app could not be deleted.")
		return
	}
	h.log.InfoContext(r.Context(), "client deleted", "user_id", u.ID, "client_id", cl.ID)
	h.flashRedirect(c, "/apps", "Deleted “"+cl.Name+"”. Its tokens were revoked.")
}
