// Package web serves all of Latchkey's HTML pages: home, sign-in and
// sign-out, sign-up, the account page, API keys (/keys), registered apps
// (/apps), authorized apps, the error page and the static assets, and the
// browser side of the authorization endpoint (login and consent). It owns
// cookie sessions (gorilla/sessions), CSRF protection (gorilla/csrf) and
// the device cookies that keep a known browser out of a username's login
// lockout.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/csrf"
	"github.com/gorilla/sessions"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/apidoc"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/templates"
	"github.com/latchkey/latchkey/throttle"
)

// Authorizer is the part of the OAuth provider the pages drive.
type Authorizer interface {
	Issuer() string
	ParseAuthorize(r *http.Request) (*oauth.AuthorizeRequest, error)
	WriteAuthorizeError(w http.ResponseWriter, r *http.Request, a *oauth.AuthorizeRequest, err error)
	WriteGrant(w http.ResponseWriter, r *http.Request, a *oauth.AuthorizeRequest, g oauth.Grant)
}

// Store is the part of storage the pages read and write.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	// UpgradePasswordHash stores a re-hashed password after a login.
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) error
	EndSessions(ctx context.Context, userID string, at time.Time) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	AccountStore // sign-up
	AppStore     // /apps
	GrantStore   // /authorized
}

// Config holds the pages' settings and secrets.
type Config struct {
	// PasswordGate bounds concurrent argon2id runs (login and sign-up),
	// shared with the API's HTTP Basic; nil = a gate of its own.
	PasswordGate   *secret.PasswordGate
	CookieHashKey  []byte
	CookieBlockKey []byte
	CSRFKey        []byte
	// Secure marks cookies Secure (the issuer is https) and gives them the
	// __Host- name prefix, which browsers accept only from a secure origin
	// for the whole host (Path=/, no Domain), so a sibling subdomain or a
	// network attacker on plain http cannot plant or overwrite them.
	Secure bool
	// SessionLifetime bounds a sign-in from its login, however active it
	// stays (web.session_absolute_lifetime); 0 = 24 hours.
	SessionLifetime time.Duration
	// UserOrgs lists the organizations a person belongs to (the consent
	// page asks which one, if any, an app acts in); nil = nobody belongs
	// to one.
	UserOrgs func(ctx context.Context, userID string) ([]storage.OrgMembership, error)
	// ScopeDescription returns the words shown for a scope on the consent page.
	ScopeDescription func(scope string) (string, bool)
	// LoginLimit is how many failed logins per username and per IP are
	// allowed per minute before further attempts are refused.
	LoginLimit int
	// Failures, when set, is the failed-sign-in counter shared with the
	// JSON API's HTTP Basic authentication; otherwise one is made from
	// LoginLimit.
	Failures throttle.Counter
	// SecondFactorFailures, when set, counts wrong second-factor codes
	// (and wrong re-entered passwords on /account/two-factor) per user,
	// SecondFactorLimit per SecondFactorWindow; otherwise one is made in
	// this process.
	SecondFactorFailures throttle.Counter
	// Devices, when set, serves the /device page of the device
	// authorization grant (RFC 8628); nil = no such page.
	Devices DeviceAuthorizer
	// DeviceFailures, when set, counts wrong user codes on /device per
	// person and per client network (shared across instances);
	// otherwise one is made in this process from LoginLimit per minute.
	DeviceFailures throttle.Counter
	// Clients registers OAuth clients and hashes their secrets for /apps.
	Clients ClientRegistrar
	// Scopes are the registered scope names, offered on /apps.
	Scopes []string
	// Keys serves the /keys pages.
	Keys KeyService
	// Orgs serves the /orgs pages, the invitation page, the switcher in
	// the navigation and the tenants on /account (nil = none of them).
	Orgs OrgService
	// OrgKeys lists and revokes organization keys for /orgs/{id}/keys
	// (Keys creates them); nil = no keys tab.
	OrgKeys OrgKeyService
	// OrgApps lists organizations' apps for /orgs/{id}/apps.
	OrgApps OrgAppLister
	// APIReference is the OpenAPI document shaped for /docs/api (nil =
	// the page answers 404).
	APIReference *apidoc.Reference
	// Logout validates /oauth/logout requests and sends back-channel
	// logout tokens; nil = no /oauth/logout and no logout tokens.
	Logout LogoutProvider
	// Account is the account self-service behind /account's forms, the
	// password reset and email verification (accounts.SelfService).
	Account AccountService
	// InvitationMail mails a just-created invitation's link to the address
	// it names and reports whether it did (accounts.SelfService
	// .MailInvitation); nil = invitations are never mailed.
	InvitationMail func(ctx context.Context, token string) bool
	// ResetTTL is the reset links' lifetime, as the reset page tells it
	// (0 = accounts.DefaultResetTTL).
	ResetTTL time.Duration
	// DevMail, set only while no SMTP server is configured, is the outbox
	// /dev/mail shows.
	DevMail DevMailbox
	// Sessions records browser sign-ins for the session list on /account
	// (where each can be signed out); nil = no list.
	Sessions SessionRecords
	// TwoFactor, when set, turns on two-factor sign-in: the
	// /account/two-factor page and the second step after a password.
	TwoFactor TwoFactorService
	// Passkeys, when set beside TwoFactor, offers passkeys: registered on
	// /account/two-factor, used as the second factor or alone on /login.
	Passkeys PasskeyService
	// OnRateLimited, when set, is called once per page answered 429 by a
	// throttle, with "login", "signup", "password_reset",
	// "password_change", "verify_email" or "device".
	OnRateLimited func(scope string)
	// Usage, when set, reads the usage aggregate: the charts on the key
	// and app pages and the operator's overview (/admin); nil leaves them
	// out (and /admin answers 404).
	Usage UsageStore
	// KeyLimit, when set, reports a key's rate-limit state without
	// spending it (api.Handler.KeyLimit): the key page's headroom.
	KeyLimit func(ctx context.Context, k *storage.APIKey) (ratelimit.Decision, bool, error)
	// CountUsage, when set, counts the instance's sign-ins, failed
	// sign-ins and lock-out refusals in the usage aggregate
	// (keys.Service.CountUsage).
	CountUsage func(subject, id, outcome string)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Handler serves the pages.
type Handler struct {
	cfg      Config
	auth     Authorizer
	store    Store
	pages    map[string]*template.Template
	accounts *accounts.Service
	sessions *sessions.CookieStore
	csrf     func(http.Handler) http.Handler
	throttle throttle.Counter
	// secondFactor counts wrong codes per user (Config.SecondFactorFailures).
	secondFactor throttle.Counter
	// deviceFailures counts wrong user codes on /device (Config.DeviceFailures).
	deviceFailures throttle.Counter
	devices        *deviceCookies
	// resetIP and resetAddr throttle reset requests (and verification
	// resends) per client network and per name or address.
	resetIP, resetAddr throttle.Counter
	log                *slog.Logger
	// Cookie names: __Host-latchkey_… when Secure, else latchkey_….
	sessionName, csrfName string
}

// cookieName returns name with the __Host- prefix when cookies are Secure
// (RFC 6265bis §4.1.3.2); plain on http, where browsers refuse the prefix.
func cookieName(name string, secure bool) string {
	if secure {
		return "__Host-" + name
	}
	return name
}

// rateLimited reports a 429 to Config.OnRateLimited; a sign-in refused
// while locked out is also counted in the usage aggregate.
func (h *Handler) rateLimited(scope string) {
	if f := h.cfg.OnRateLimited; f != nil {
		f(scope)
	}
	if scope == "login" {
		h.countSignIn(storage.OutcomeLockout)
	}
}

// countSignIn counts a sign-in outcome (storage.OutcomeSignIn, …) in the
// usage aggregate, when it is recorded.
func (h *Handler) countSignIn(outcome string) {
	if f := h.cfg.CountUsage; f != nil {
		f(storage.UsageInstance, "", outcome)
	}
}

// New builds the page handler.
func New(cfg Config, auth Authorizer, store Store) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := templates.Parse(pageFuncs(cfg.Now))
	if err != nil {
		return nil, err
	}
	if cfg.PasswordGate == nil {
		cfg.PasswordGate = secret.NewPasswordGate(0)
	}
	if cfg.LoginLimit <= 0 {
		cfg.LoginLimit = 10
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 24 * time.Hour
	}
	cs := sessions.NewCookieStore(cfg.CookieHashKey, cfg.CookieBlockKey)
	// The codec refuses values issued more than sessionIdle ago, so a
	// copied cookie dies on the server when the browser's copy would.
	cs.MaxAge(int(sessionIdle.Seconds()))
	cs.Options = &sessions.Options{
		Path: "/", MaxAge: int(sessionIdle.Seconds()), HttpOnly: true, Secure: cfg.Secure, SameSite: http.SameSiteLaxMode,
	}
	devices, err := newDeviceCookies(cfg.CookieHashKey, cfg.Secure)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg, auth: auth, store: store, pages: pages, sessions: cs, log: cfg.Logger,
		accounts: accounts.New(store, accounts.Config{Gate: cfg.PasswordGate, Now: cfg.Now}),
		throttle: cfg.Failures, secondFactor: cfg.SecondFactorFailures, deviceFailures: cfg.DeviceFailures, devices: devices,
		resetIP:     throttle.New(resetPerIP, resetWindow, cfg.Now),
		resetAddr:   throttle.New(resetPerAddr, resetWindow, cfg.Now),
		sessionName: cookieName("latchkey_session", cfg.Secure),
		csrfName:    cookieName("latchkey_csrf", cfg.Secure),
	}
	if h.throttle == nil {
		h.throttle = throttle.New(cfg.LoginLimit, time.Minute, cfg.Now)
	}
	if h.deviceFailures == nil {
		h.deviceFailures = throttle.New(cfg.LoginLimit, time.Minute, cfg.Now)
	}
	if h.secondFactor == nil {
		h.secondFactor = throttle.New(SecondFactorLimit, SecondFactorWindow, cfg.Now)
	}
	h.csrf = csrf.Protect(cfg.CSRFKey,
		csrf.Secure(cfg.Secure),
		csrf.HttpOnly(true),
		csrf.SameSite(csrf.SameSiteLaxMode),
		csrf.Path("/"),
		csrf.CookieName(h.csrfName),
		csrf.FieldName("csrf_token"),
		csrf.RequestHeader("X-CSRF-Token"),
		csrf.ErrorHandler(http.HandlerFunc(h.csrfFailed)),
	)
	return h, nil
}

// CSRF is gin middleware enforcing gorilla/csrf on every unsafe method.
// Before the check reads anything, the body is bounded and a form parsed
// (readBody); whatever a handler parsed is removed afterwards.
func (h *Handler) CSRF() gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := readBody(c.Writer, c.Request); p != nil {
			h.refuse(c.Writer, c.Request, p.status, p.apiCode, p.apiMsg, "invalid_request", p.pageMsg)
			c.Abort()
			return
		}
		r := c.Request
		defer func() { removeMultipart(r); removeMultipart(c.Request) }()
		if !h.cfg.Secure {
			r = csrf.PlaintextHTTPRequest(r)
		}
		passed := false
		h.csrf(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, r)
		if !passed {
			c.Abort()
		}
	}
}

func (h *Handler) csrfFailed(w http.ResponseWriter, r *http.Request) {
	h.log.InfoContext(r.Context(), "csrf check failed", "reason", csrf.FailureReason(r).Error(), "path", r.URL.Path)
	h.refuse(w, r, http.StatusForbidden,
		"forbidden", "Send the X-CSRF-Token header (from a page response) with cookie-authenticated requests.",
		"invalid_request", "This form has expired or did not come from this site. Go back, reload the page and try again.")
}

// refuse answers a request the CSRF middleware stopped: the error page to
// a browser's form (Accept: text/html), else — a script calling the JSON
// API with the session cookie — the API's error body (SPEC §3.5).
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, apiCode, apiMsg, pageCode, pageMsg string) {
	if !PrefersHTML(r) {
		b, _ := json.Marshal(map[string]string{"error": apiCode, "message": apiMsg})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			// SPEC §3.5: the API's 401 and 403 carry an RFC 6750 §3 challenge.
			w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey"`)
		}
		w.WriteHeader(status)
		_, _ = w.Write(append(b, '\n'))
		return
	}
	h.renderError(w, r, status, pageCode, pageMsg)
}

// SessionCookie is the name of the session cookie.
func (h *Handler) SessionCookie() string { return h.sessionName }

// Static serves the stylesheet and other embedded assets under /static/.
func (h *Handler) Static() http.Handler {
	sub, err := fs.Sub(templates.FS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
}

// pageUser is the signed-in person as templates see them.
type pageUser struct {
	ID       string
	Username string
	// Admin: an instance administrator, who sees the overview's link.
	Admin bool
}

// pageData is what every template receives.
type pageData struct {
	Title     string
	CSRFField template.HTML
	User      *pageUser
	Flash     string
	Page      any
	// Section is the site navigation entry the page belongs to ("keys",
	// "apps", "authorized", "account", "orgs" or ""), marked aria-current.
	Section string
	// Orgs are the signed-in person's organizations for the switcher, and
	// OrgName the one the page belongs to ("" = their personal workspace).
	Orgs    []navOrg
	OrgName string
}

// navSections are the first path segments the layout's navigation names.
var navSections = []string{"keys", "apps", "authorized", "account", "orgs", "admin"}

// section returns the navigation entry of a request path: "/keys/x" →
// "keys", "/" → "".
func section(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if slices.Contains(navSections, first) {
		return first
	}
	return ""
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, title string, user *storage.User, data any) {
	pd := pageData{Title: title, CSRFField: csrf.TemplateField(r), Page: data, Section: section(r.URL.Path)}
	if user != nil {
		pd.User = &pageUser{ID: user.ID, Username: user.Username, Admin: user.Admin}
		pd.Orgs, pd.OrgName = h.navOrgs(r, user)
	}
	pd.Flash = h.takeFlash(w, r)
	var buf bytes.Buffer
	t := h.pages[page]
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		h.log.ErrorContext(r.Context(), "render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Scripts on our pages call the JSON API with the session cookie and
	// echo this token in X-CSRF-Token.
	w.Header().Set("X-CSRF-Token", csrf.Token(r))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type homePage struct{ Issuer string }

// Home serves GET /.
func (h *Handler) Home(c *gin.Context) {
	u, _ := h.currentUser(c.Request)
	h.render(c.Writer, c.Request, http.StatusOK, "home", "Home", u, homePage{Issuer: h.auth.Issuer()})
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
