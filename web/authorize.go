package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// Authorize serves GET/POST /oauth/authorize (RFC 6749 §4.1.1, OpenID
// Connect Core §3.1.2): validate → sign in if needed → reuse remembered
// consent or ask → issue the code.
func (h *Handler) Authorize(c *gin.Context) {
	r := c.Request
	a, err := h.auth.ParseAuthorize(r)
	if err != nil {
		h.authorizeFailed(c, a, err)
		return
	}
	user, authTime := h.currentUser(r)
	maxAge := a.MaxAge()
	stale := user != nil && maxAge >= 0 && h.cfg.Now().Sub(authTime) > time.Duration(maxAge)*time.Second
	if user == nil || stale || a.HasPrompt("login") {
		if a.HasPrompt("none") {
			h.auth.WriteAuthorizeError(c.Writer, r, a, oauth.ErrLoginRequired)
			return
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(authorizeURL(a.ResumeForm(), true)))
		return
	}
	if oauth.NeedsMultiFactor(a.ACRValues(), h.sessionMethods(r)) && h.stepUp(c, a, user) {
		return
	}
	if org, ok := h.consented(c, user.ID, a); ok && !a.HasPrompt("consent") {
		h.grant(c.Writer, r, a, user, authTime, org)
		return
	}
	if a.HasPrompt("none") {
		h.auth.WriteAuthorizeError(c.Writer, r, a, oauth.ErrConsentRequired)
		return
	}
	h.showConsent(c, a, user)
}

// stepUp answers acr_values asking for two factors (oauth.NeedsMultiFactor)
// from a session that signed in with one: a person who has a second factor
// is sent through the second step (/login/two-factor), and comes back to
// the authorization request with a two-factor session; with prompt=none
// that is login_required (OpenID Connect Core §3.1.2.6). It reports
// whether it answered. A person with no second factor goes on: acr_values
// is voluntary (§5.5.1.1) and the ID token says acr "1".
func (h *Handler) stepUp(c *gin.Context, a *oauth.AuthorizeRequest, u *storage.User) bool {
	r := c.Request
	enrolled, err := h.needsSecondStep(r, u)
	switch {
	case err != nil:
		h.log.ErrorContext(r.Context(), "two-factor status", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return true
	case !enrolled:
		return false
	case a.HasPrompt("none"):
		h.auth.WriteAuthorizeError(c.Writer, r, a, oauth.ErrLoginRequired)
		return true
	}
	if err := h.beginStepUp(c, u, authorizeURL(a.ResumeForm(), true)); err != nil {
		h.log.ErrorContext(r.Context(), "begin second step", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return true
	}
	h.log.InfoContext(r.Context(), "second factor asked by acr_values", "event", "second_factor_asked",
		"user_id", u.ID, "client_id", a.ClientID())
	c.Redirect(http.StatusSeeOther, "/login/two-factor")
	return true
}

// AuthorizePost serves POST /oauth/authorize (RFC 6749 §3.1: the endpoint
// must support GET and may support POST). The parameters are re-sent as
// the equivalent GET so the rest of the flow, including CSRF protection of
// our own forms, has one shape.
func (h *Handler) AuthorizePost(c *gin.Context) {
	h.postAsGet(c, func(form url.Values) string { return authorizeURL(form, false) })
}

// postAsGet answers a protocol endpoint's POST with a 303 to the
// equivalent GET that to builds from the form, after the page-body
// checks (readBody): a relying party's form carries none of our CSRF
// tokens, and the GET is where the flow has its one shape.
func (h *Handler) postAsGet(c *gin.Context, to func(form url.Values) string) {
	r := c.Request
	if p := readBody(c.Writer, r); p != nil {
		h.renderError(c.Writer, r, p.status, "invalid_request", p.pageMsg)
		return
	}
	defer removeMultipart(r)
	c.Redirect(http.StatusSeeOther, to(r.Form))
}

// authorizeURL rebuilds an authorization request as a GET URL to return
// to after sign-in; dropLogin removes prompt=login and max_age=0 (the
// sign-in just happened) so the person is not asked twice.
func authorizeURL(form url.Values, dropLogin bool) string {
	q := url.Values{}
	for k, v := range form {
		if k == "csrf_token" {
			continue
		}
		q[k] = v
	}
	if dropLogin && q.Get("max_age") == "0" {
		// max_age=0 asks for a sign-in now, as prompt=login does (OpenID
		// Connect Core §3.1.2.1); kept, it would send the person back to
		// sign in after every sign-in.
		q.Del("max_age")
	}
	if p := strings.Fields(q.Get("prompt")); dropLogin && len(p) > 0 {
		p = slices.DeleteFunc(p, func(s string) bool { return s == "login" })
		if len(p) == 0 {
			q.Del("prompt")
		} else {
			q.Set("prompt", strings.Join(p, " "))
		}
	}
	return "/oauth/authorize?" + q.Encode()
}

func (h *Handler) authorizeFailed(c *gin.Context, a *oauth.AuthorizeRequest, err error) {
	if a.Redirectable() {
		h.auth.WriteAuthorizeError(c.Writer, c.Request, a, err)
		return
	}
	status, code, desc := oauth.ErrorInfo(err)
	// A 401 would need a WWW-Authenticate challenge (RFC 9110 §15.5.2); an
	// unknown client_id on this page is a bad request.
	if status < 400 || status >= 500 || status == http.StatusUnauthorized {
		status = http.StatusBadRequest
	}
	h.renderErrorDetail(c.Writer, c.Request, status, code, authorizeErrorText(code), desc)
}

// consented reports whether the user already granted every requested scope
// and that consent may stand in for the page, and the organization that
// consent bound the app to ("" = the personal account). It never does for
// a public client: anyone can send its client_id with a redirect URI it
// registered (RFC 8252 §8.6, RFC 9700 §4.1.3 on client impersonation), so
// the person sees the consent page every time. Remembered consent binds
// the grant to the organization the person chose then, and only while
// they still belong to it (not suspended); otherwise the page asks again,
// so an organization is never picked silently.
func (h *Handler) consented(c *gin.Context, userID string, a *oauth.AuthorizeRequest) (string, bool) {
	if a.PublicClient() {
		return "", false
	}
	ctx := c.Request.Context()
	cs, err := h.store.GetConsent(ctx, userID, a.ClientID())
	if err != nil {
		return "", false
	}
	for _, s := range a.Scopes() {
		if !slices.Contains(cs.Scopes, s) {
			return "", false
		}
	}
	if cs.OrgID != "" {
		choices, err := h.orgChoices(ctx, userID)
		if err != nil || !slices.ContainsFunc(choices, func(o consentOrg) bool { return o.ID == cs.OrgID }) {
			return "", false
		}
	}
	return cs.OrgID, true
}

// grant issues the code; orgID is the organization chosen on the consent
// page ("" = the personal account), already checked to be one of the
// person's.
func (h *Handler) grant(w http.ResponseWriter, r *http.Request, a *oauth.AuthorizeRequest, u *storage.User, authTime time.Time, orgID string) {
	h.auth.WriteGrant(w, r, a, oauth.Grant{
		OrgID:   orgID,
		Subject: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerifiedAt != nil, Name: u.Name,
		AuthTime: authTime, Scopes: a.Scopes(), SessionID: h.sessionID(r),
		Methods: h.sessionMethods(r),
	})
}

type consentClient struct {
	ID, Name, LogoURI, ClientURI string
	// RedirectHost is where the answer goes: the redirect URI's host, or
	// its scheme for an app on a device ("com.example.app").
	RedirectHost string
	// Owner is the username of the person who registered the app ("" =
	// registered by the operator, from the command line, or by itself).
	Owner string
	// SelfRegistered: the app registered itself by dynamic registration
	// (RFC 7591), so no one vouches for its name or logo — anyone may
	// register "Latchkey" when registration is open (RFC 7591 §5). The
	// page says so instead of naming the operator, and shows no logo.
	SelfRegistered bool
}

type consentScope struct {
	Name, Description string
}

// consentOrg is an organization the person may let the app act in.
type consentOrg struct {
	ID, Name, Role string
}

// orgChoices lists the organizations userID may bind a grant to: those
// they belong to that are not suspended (Config.UserOrgs).
func (h *Handler) orgChoices(ctx context.Context, userID string) ([]consentOrg, error) {
	if h.cfg.UserOrgs == nil {
		return nil, nil
	}
	ms, err := h.cfg.UserOrgs(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []consentOrg
	for _, m := range ms {
		if m.SuspendedAt == nil {
			out = append(out, consentOrg{ID: m.ID, Name: m.Name, Role: m.Role})
		}
	}
	return out, nil
}

type consentPage struct {
	Client    consentClient
	Scopes    []consentScope
	Challenge string
	// Orgs are the organizations the app may act in besides the personal
	// account (none: the page asks nothing); OrgSelected is the one
	// chosen by default ("" = the personal account; the app's own
	// organization when the person belongs to it).
	Orgs        []consentOrg
	OrgSelected string
	// Resume is this authorization request as a URL, the next of the
	// "Switch account" form.
	Resume string
	// Action is where the decision is posted ("" = /oauth/consent).
	Action string
	// UserCode is the device flow's user code, shown so the person can
	// check it against their device (RFC 8628 §5.4); "" otherwise.
	UserCode string
}

// redirectHost is the part of a redirect URI a person can judge: the
// host, or the scheme of a private-use URI (RFC 8252 §7.1).
func redirectHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	if u.Host != "" {
		return u.Hostname()
	}
	return u.Scheme
}

func (h *Handler) showConsent(c *gin.Context, a *oauth.AuthorizeRequest, u *storage.User) {
	r := c.Request
	cl, err := h.store.GetClient(r.Context(), a.ClientID())
	if err != nil {
		h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_client", "The application is not registered.")
		return
	}
	s, _ := h.sessions.Get(r, h.sessionName)
	challenge := randomToken()
	s.Values["consent_challenge"] = challenge
	resume := authorizeURL(a.ResumeForm(), true)
	s.Values["consent_request"] = resume
	s.Values["consent_user"] = u.ID
	if err := s.Save(r, c.Writer); err != nil {
		h.log.ErrorContext(r.Context(), "save session", "error", err)
		h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_request", "The authorization request is too large.")
		return
	}
	redirect := a.ResumeForm().Get("redirect_uri")
	if redirect == "" && len(cl.RedirectURIs) == 1 {
		redirect = cl.RedirectURIs[0]
	}
	page, err := h.consentView(r.Context(), cl, u, a.Scopes(), redirect)
	if err != nil {
		h.log.ErrorContext(r.Context(), "list organizations for consent", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
		return
	}
	page.Challenge, page.Resume = challenge, resume
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, r, http.StatusOK, "consent", "Authorize "+cl.Name, u, page)
}

// consentView is the consent page for client cl asking u for scopes, the
// answer going to redirect ("" = none, as in the device flow): the app and
// who registered it, each scope in words, and the organizations the app
// may act in. The caller sets Challenge, Resume and, for another form
// than /oauth/consent, Action.
func (h *Handler) consentView(ctx context.Context, cl *storage.Client, u *storage.User, scopes []string, redirect string) (consentPage, error) {
	page := consentPage{
		Client: consentClient{ID: cl.ID, Name: cl.Name, LogoURI: safeHTTPURL(cl.LogoURI), ClientURI: safeHTTPURL(cl.ClientURI),
			RedirectHost: redirectHost(redirect), SelfRegistered: cl.Registered()},
	}
	if page.Client.SelfRegistered {
		// An unverified logo only helps an impersonator (and tells its
		// host who looks at the page when).
		page.Client.LogoURI = ""
	}
	var err error
	if page.Orgs, err = h.orgChoices(ctx, u.ID); err != nil {
		return page, err
	}
	for _, o := range page.Orgs {
		if o.ID == cl.OrgID {
			page.OrgSelected = o.ID
		}
	}
	if cl.OwnerID != "" {
		if o, err := h.store.GetUser(ctx, cl.OwnerID); err == nil {
			page.Client.Owner = o.Username
		}
	}
	for _, sc := range scopes {
		d, _ := h.cfg.ScopeDescription(sc)
		page.Scopes = append(page.Scopes, consentScope{Name: sc, Description: d})
	}
	return page, nil
}

// safeHTTPURL keeps only http(s) URLs for links and images on the page.
func safeHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

var errConsentExpired = errors.New("consent request expired")

// Consent serves POST /oauth/consent: the person's decision=allow|deny on
// the request the consent page was shown for.
func (h *Handler) Consent(c *gin.Context) {
	r := c.Request
	user, authTime := h.currentUser(r)
	s, _ := h.sessions.Get(r, h.sessionName)
	want, _ := s.Values["consent_challenge"].(string)
	pending, _ := s.Values["consent_request"].(string)
	forUser, _ := s.Values["consent_user"].(string)
	got := c.PostForm("challenge")
	if user == nil || want == "" || pending == "" || forUser != user.ID ||
		subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_request",
			"This consent request has expired or was already answered. Return to the application and start again.")
		return
	}
	decision, orgID, ok := h.consentDecision(c, user)
	if !ok {
		return
	}
	delete(s.Values, "consent_challenge")
	delete(s.Values, "consent_request")
	delete(s.Values, "consent_user")
	if err := s.Save(r, c.Writer); err != nil {
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", errConsentExpired.Error())
		return
	}
	// Re-validate the stored request exactly as it first arrived.
	u, _ := url.Parse(pending)
	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.URL = u
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Form, r2.PostForm = nil, nil
	r2.Header.Del("Content-Type")
	a, err := h.auth.ParseAuthorize(r2)
	if err != nil {
		h.authorizeFailed(c, a, err)
		return
	}
	if decision == "deny" {
		h.auth.WriteAuthorizeError(c.Writer, r2, a, oauth.ErrUserDeclined)
		return
	}
	h.rememberConsent(r.Context(), user.ID, a.ClientID(), a.Scopes(), orgID)
	h.grant(c.Writer, r2, a, user, authTime, orgID)
}

// consentDecision reads a consent form's decision=allow|deny and where the
// app acts (org: "" is the personal account, else one of the person's
// organizations now — checked again, they may have left it since the page
// was shown). It answers a bad form itself and then reports !ok.
func (h *Handler) consentDecision(c *gin.Context, user *storage.User) (decision, orgID string, ok bool) {
	r := c.Request
	decision = c.PostForm("decision")
	if decision != "allow" && decision != "deny" {
		h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_request", "Choose Allow or Deny.")
		return "", "", false
	}
	orgID = c.PostForm("org")
	if orgID != "" {
		choices, err := h.orgChoices(r.Context(), user.ID)
		if err != nil {
			h.log.ErrorContext(r.Context(), "list organizations for consent", "error", err)
			h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
			return "", "", false
		}
		if !slices.ContainsFunc(choices, func(o consentOrg) bool { return o.ID == orgID }) {
			h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_request",
				"Choose your personal account or an organization you belong to. Return to the application and start again.")
			return "", "", false
		}
	}
	return decision, orgID, true
}

// rememberConsent records that userID allowed clientID scopes in orgID
// ("" = the personal account): added to what was allowed before for the
// same place, or only these when the place changed, so earlier scopes
// never carry over to another place. The app is then listed under
// Authorized apps. A failure is logged; the grant goes ahead.
func (h *Handler) rememberConsent(ctx context.Context, userID, clientID string, granted []string, orgID string) {
	scopes := slices.Clone(granted)
	if prev, err := h.store.GetConsent(ctx, userID, clientID); err == nil && prev.OrgID == orgID {
		for _, sc := range prev.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if err := h.store.SaveConsent(ctx, &storage.Consent{UserID: userID, ClientID: clientID, Scopes: scopes, OrgID: orgID}); err != nil {
		h.log.ErrorContext(ctx, "save consent", "error", err)
	}
}
