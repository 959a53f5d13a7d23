// Package server turns a configuration into a running Latchkey. Build
// (build.go) wires every package — storage opened by the caller, secrets,
// the OAuth provider, the key service, rate limits and guessing throttles,
// metrics, pages and the JSON API — into an App whose Run serves, runs the
// janitor and the invalidation bus and shuts down gracefully. New builds
// the gin engine: the middleware every request passes (client IP behind
// trusted proxies, request id, access log, panic recovery, security
// headers, refusal of NUL and invalid UTF-8, request metrics), the route
// table that mounts the OAuth endpoints, the HTML pages and the JSON API
// through the narrow interfaces OAuth, Pages and API, the health endpoints
// (/healthz, /readyz, /metrics) and the one JSON error writer for the API
// surface. cmd/latchkey parses flags, opens the configured driver and
// calls Build.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/api"
	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/internal/textcheck"
	"github.com/latchkey/latchkey/logging"
)

// OAuth is the protocol surface the server mounts.
type OAuth interface {
	Token(w http.ResponseWriter, r *http.Request)
	Revoke(w http.ResponseWriter, r *http.Request)
	Introspect(w http.ResponseWriter, r *http.Request)
	PAR(w http.ResponseWriter, r *http.Request)
	// DeviceAuthorization serves POST /oauth/device_authorization (RFC 8628).
	DeviceAuthorization(w http.ResponseWriter, r *http.Request)
	Userinfo(w http.ResponseWriter, r *http.Request)
	ServeDiscovery(w http.ResponseWriter, r *http.Request)
	ServeJWKS(w http.ResponseWriter, r *http.Request)
}

// Pages is the HTML surface the server mounts.
type Pages interface {
	CSRF() gin.HandlerFunc
	// RequireUser lets only a signed-in person through (others are sent
	// to the login page); the pages behind it read the user it found.
	RequireUser() gin.HandlerFunc
	Static() http.Handler
	// ErrorPage answers with the HTML error page (status, error code, sentence).
	ErrorPage(c *gin.Context, status int, code, desc string)
	Home(c *gin.Context)
	LoginForm(c *gin.Context)
	Login(c *gin.Context)
	Logout(c *gin.Context)
	EndSession(c *gin.Context)
	EndSessionPost(c *gin.Context)
	ConfirmLogout(c *gin.Context)
	// SecondStepForm and SecondStep are the second factor after a right
	// password (GET/POST /login/two-factor).
	SecondStepForm(c *gin.Context)
	SecondStep(c *gin.Context)
	// Two-factor settings (/account/two-factor).
	TwoFactorPage(c *gin.Context)
	EnrolTOTP(c *gin.Context)
	ConfirmTOTP(c *gin.Context)
	DisableTwoFactor(c *gin.Context)
	// Passkeys: registration (signed in, JSON for static/passkey.js),
	// removal (a form), and sign-in as second factor or alone.
	BeginPasskeyRegistration(c *gin.Context)
	FinishPasskeyRegistration(c *gin.Context)
	RemovePasskey(c *gin.Context)
	NewRecoveryCodesPage(c *gin.Context)
	BeginPasskeyLogin(c *gin.Context)
	FinishPasskeyLogin(c *gin.Context)
	SignupForm(c *gin.Context)
	Signup(c *gin.Context)
	Account(c *gin.Context)
	Apps(c *gin.Context)
	CreateApp(c *gin.Context)
	App(c *gin.Context)
	UpdateApp(c *gin.Context)
	AppSecret(c *gin.Context)
	RotateAppSecret(c *gin.Context)
	EndAppSecretGrace(c *gin.Context)
	DeleteApp(c *gin.Context)
	Authorized(c *gin.Context)
	RevokeAuthorized(c *gin.Context)
	Authorize(c *gin.Context)
	AuthorizePost(c *gin.Context)
	Consent(c *gin.Context)
	// DeviceForm, DeviceSubmit and DeviceConsent are the /device page of
	// the device authorization grant (RFC 8628 §3.3).
	DeviceForm(c *gin.Context)
	DeviceSubmit(c *gin.Context)
	DeviceConsent(c *gin.Context)
	KeysPage(c *gin.Context)
	CreateKeyForm(c *gin.Context)
	KeyPage(c *gin.Context)
	RotateKeyForm(c *gin.Context)
	RevokeKeyForm(c *gin.Context)
	DeleteKeyForm(c *gin.Context)
	// AdminPage is the operator's overview (GET /admin), for instance
	// administrators.
	AdminPage(c *gin.Context)
	// APIDocs renders the OpenAPI document (GET /docs/api).
	APIDocs(c *gin.Context)
	AccountPages
	OrgPages
}

// API is the JSON surface the server mounts (SPEC §3.3).
type API interface {
	Authenticate() gin.HandlerFunc
	// RateLimit limits authenticated requests; it runs after Authenticate.
	RateLimit() gin.HandlerFunc
	// CountRequests counts each request's outcome in the usage
	// aggregate; it runs between Authenticate and RateLimit.
	CountRequests() gin.HandlerFunc
	// KeyUsage serves GET /user/keys/{handle}/usage; AdminOverview
	// GET /v1/admin/overview.
	KeyUsage(c *gin.Context)
	AdminOverview(c *gin.Context)
	CreateKey(c *gin.Context)
	ListKeys(c *gin.Context)
	GetKey(c *gin.Context)
	UpdateKey(c *gin.Context)
	DeleteKey(c *gin.Context)
	RotateKey(c *gin.Context)
	GenerateToken(c *gin.Context)
	TestToken(c *gin.Context)
	Me(c *gin.Context)
	Workspace(c *gin.Context)
	VerifyKey(c *gin.Context)
	// OrgRoutes are the organization routes with the scope each needs
	// (api.Handler.OrgRoutes, their one home), the organization keys
	// included.
	OrgRoutes() []api.Route
}

// Pinger reports whether a dependency (the database, Redis) answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

// Ping implements Pinger.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// RequestObserver records each finished request (the metrics).
type RequestObserver interface {
	// ObserveRequest is called once per request with the matched route
	// pattern (gin's FullPath: "/user/keys/:handle", never the raw path;
	// "" when no route matched), the method, the status written and the
	// time taken.
	ObserveRequest(route, method string, status int, elapsed time.Duration)
}

// Deps are the server's collaborators.
type Deps struct {
	OAuth OAuth
	Pages Pages
	API   API
	// OpenAPI, when set, serves the API's OpenAPI document at GET
	// /openapi.json (apidoc.Doc).
	OpenAPI http.Handler
	// SessionCookie names the browser session cookie: API requests that
	// carry it and no Authorization header must pass the CSRF check.
	SessionCookie string
	DB            Pinger
	Logger        *slog.Logger
	// Secure adds Strict-Transport-Security (the issuer is https).
	Secure bool
	// Redis, when set, is checked by /readyz too; RedisRequired makes
	// /readyz answer 503 while it is down (rate limits fail closed).
	Redis         Pinger
	RedisRequired bool
	// Metrics, when set, is served at GET /metrics; Observer, when set,
	// records every request.
	Metrics  http.Handler
	Observer RequestObserver
	// Registration, when set, serves dynamic client registration
	// (oauth.registration.mode not off); ProtectedResource, when set,
	// serves GET /.well-known/oauth-protected-resource (RFC 9728).
	Registration      Registration
	ProtectedResource ProtectedResource
	// TrustedProxies are the IPs and CIDRs (server.trusted_proxies) whose
	// X-Forwarded-For is believed; empty = none, the TCP peer is the client.
	TrustedProxies []string
}

// New returns the configured engine.
func New(d Deps) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RemoveExtraSlash = false
	e.Use(resolveClientIP(e, d.TrustedProxies, d.Logger))
	if d.Observer != nil {
		e.Use(observe(d.Observer))
	}
	e.Use(requestID(), accessLog(d.Logger), recovery(d.Logger), securityHeaders(d.Secure), checkInput(d.Pages))
	e.NoRoute(func(c *gin.Context) {
		refuse(c, d.Pages, http.StatusNotFound, "not_found", "No such endpoint.",
			"There is no page at this address. Check the link, or start again from the home page.")
	})
	e.NoMethod(func(c *gin.Context) {
		refuse(c, d.Pages, http.StatusMethodNotAllowed, "invalid_request", "This method is not allowed on this endpoint.",
			"This page cannot be used that way. Go back and use the page's own buttons and links.")
	})

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", readyz(d))
	if d.Metrics != nil {
		e.GET("/metrics", gin.WrapH(d.Metrics))
	}

	// Protocol endpoints: no cookies, no CSRF; bodies are bounded inside oauth.
	e.GET("/.well-known/openid-configuration", gin.WrapF(d.OAuth.ServeDiscovery))
	e.GET("/.well-known/oauth-authorization-server", gin.WrapF(d.OAuth.ServeDiscovery))
	e.GET("/.well-known/jwks.json", gin.WrapF(d.OAuth.ServeJWKS))
	if d.OpenAPI != nil {
		e.GET("/openapi.json", gin.WrapH(d.OpenAPI))
	}
	e.POST("/oauth/token", gin.WrapF(d.OAuth.Token))
	e.POST("/oauth/revoke", gin.WrapF(d.OAuth.Revoke))
	e.POST("/oauth/introspect", gin.WrapF(d.OAuth.Introspect))
	e.POST("/oauth/par", gin.WrapF(d.OAuth.PAR))
	e.POST("/oauth/device_authorization", gin.WrapF(d.OAuth.DeviceAuthorization))
	e.GET("/oauth/userinfo", gin.WrapF(d.OAuth.Userinfo))
	e.POST("/oauth/userinfo", gin.WrapF(d.OAuth.Userinfo))
	mountRegistration(e, d)

	// Pages: cookie session + CSRF on every unsafe method.
	e.GET("/static/*path", gin.WrapH(d.Pages.Static()))
	pages := e.Group("/", d.Pages.CSRF(), checkForm(d.Pages))
	pages.GET("/", d.Pages.Home)
	pages.GET("/login", d.Pages.LoginForm)
	pages.POST("/login", d.Pages.Login)
	pages.POST("/logout", d.Pages.Logout)
	pages.GET("/login/two-factor", d.Pages.SecondStepForm)
	pages.POST("/login/two-factor", d.Pages.SecondStep)
	pages.POST("/login/passkey/begin", d.Pages.BeginPasskeyLogin)
	pages.POST("/login/passkey/finish", d.Pages.FinishPasskeyLogin)
	pages.GET("/signup", d.Pages.SignupForm)
	pages.POST("/signup", d.Pages.Signup)
	pages.GET("/docs/api", d.Pages.APIDocs)
	// /oauth/authorize accepts GET and POST (RFC 6749 §3.1). A POST there is
	// a client's request, not one of our forms, so it carries no CSRF token:
	// it is answered with a redirect to the equivalent GET.
	pages.GET("/oauth/authorize", d.Pages.Authorize)
	e.POST("/oauth/authorize", d.Pages.AuthorizePost)
	pages.POST("/oauth/consent", d.Pages.Consent)
	// The device flow's page (RFC 8628 §3.3): a person who is not signed
	// in is sent to sign in and back with the user code kept.
	pages.GET("/device", d.Pages.DeviceForm)
	pages.POST("/device", d.Pages.DeviceSubmit)
	pages.POST("/device/consent", d.Pages.DeviceConsent)
	// OpenID Connect RP-Initiated Logout 1.0: GET and POST; a client's POST
	// carries no CSRF token and is redirected to the GET, and the
	// confirmation page's own form is CSRF-checked.
	pages.GET("/oauth/logout", d.Pages.EndSession)
	e.POST("/oauth/logout", d.Pages.EndSessionPost)
	pages.POST("/oauth/logout/confirm", d.Pages.ConfirmLogout)

	// Pages for a signed-in person only.
	user := pages.Group("/", d.Pages.RequireUser())
	user.GET("/account", d.Pages.Account)
	user.GET("/account/two-factor", d.Pages.TwoFactorPage)
	user.POST("/account/two-factor/enrol", d.Pages.EnrolTOTP)
	user.POST("/account/two-factor/confirm", d.Pages.ConfirmTOTP)
	user.POST("/account/two-factor/disable", d.Pages.DisableTwoFactor)
	user.POST("/account/two-factor/passkeys/begin", d.Pages.BeginPasskeyRegistration)
	user.POST("/account/two-factor/passkeys/finish", d.Pages.FinishPasskeyRegistration)
	user.POST("/account/two-factor/passkeys/remove", d.Pages.RemovePasskey)
	user.GET("/account/two-factor/recovery-codes", d.Pages.NewRecoveryCodesPage)
	user.GET("/apps", d.Pages.Apps)
	user.POST("/apps", d.Pages.CreateApp)
	user.GET("/apps/:id", d.Pages.App)
	user.POST("/apps/:id", d.Pages.UpdateApp)
	user.GET("/apps/:id/secret", d.Pages.AppSecret)
	user.POST("/apps/:id/rotate", d.Pages.RotateAppSecret)
	user.POST("/apps/:id/end-grace", d.Pages.EndAppSecretGrace)
	user.POST("/apps/:id/delete", d.Pages.DeleteApp)
	user.GET("/authorized", d.Pages.Authorized)
	user.POST("/authorized/:client_id/revoke", d.Pages.RevokeAuthorized)
	user.GET("/keys", d.Pages.KeysPage)
	user.POST("/keys", d.Pages.CreateKeyForm)
	user.GET("/keys/:handle", d.Pages.KeyPage)
	user.POST("/keys/:handle/rotate", d.Pages.RotateKeyForm)
	user.POST("/keys/:handle/revoke", d.Pages.RevokeKeyForm)
	user.POST("/keys/:handle/delete", d.Pages.DeleteKeyForm)
	user.GET("/admin", d.Pages.AdminPage)
	mountAccountPages(pages, user, d.Pages)
	mountOrgPages(pages, user, d.Pages)

	if d.API != nil {
		mountAPI(e, d)
	}
	return e
}

// mountAPI adds the JSON API, grouped by the scope each route needs.
func mountAPI(e *gin.Engine, d Deps) {
	a := d.API
	g := e.Group("/", sessionCSRF(d.Pages, d.SessionCookie), a.Authenticate(), a.CountRequests(), a.RateLimit())
	g.GET("/tokens/test", a.TestToken)
	g.POST("/tokens/generate", a.GenerateToken)

	// A workspace key has no person but has a tenant: it may ask for it.
	g.GET("/v1/workspace", api.Require("users:read"), a.Workspace)

	user := g.Group("/", api.RequireUser())
	user.GET("/user", api.Require("users:read"), a.Me)
	user.GET("/v1/users/me", api.Require("users:read"), a.Me)
	user.GET("/user/keys", api.Require("keys:read"), a.ListKeys)
	user.GET("/user/keys/:handle", api.Require("keys:read"), a.GetKey)
	user.GET("/user/keys/:handle/usage", api.Require("keys:read"), a.KeyUsage)
	user.GET("/v1/admin/overview", a.AdminOverview)
	user.POST("/user/keys", api.Require("keys:write"), a.CreateKey)
	user.PATCH("/user/keys/:handle", api.Require("keys:write"), a.UpdateKey)
	user.DELETE("/user/keys/:handle", api.Require("keys:write"), a.DeleteKey)
	user.POST("/user/keys/:handle/rotate", api.Require("keys:write"), a.RotateKey)
	for _, r := range a.OrgRoutes() {
		user.Handle(r.Method, r.Path, api.Require(r.Scope), r.Handler)
	}

	g.POST("/v1/keys/verify", api.RequireResourceServer(), api.Require("keys:verify"), a.VerifyKey)
}

// sessionCSRF applies the CSRF check to API requests authenticated by the
// browser session cookie (no Authorization header): their unsafe methods
// must carry the X-CSRF-Token header. Requests with an Authorization
// header are not ambient-credential requests and skip it.
func sessionCSRF(p Pages, cookie string) gin.HandlerFunc {
	csrf := p.CSRF()
	return func(c *gin.Context) {
		if c.GetHeader("Authorization") != "" || cookie == "" {
			c.Next()
			return
		}
		if _, err := c.Request.Cookie(cookie); err != nil {
			c.Next()
			return
		}
		csrf(c)
	}
}

// apiError writes the documented JSON error body (SPEC §3.5).
func apiError(c *gin.Context, status int, code, msg string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"error": code, "message": msg})
}

func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if id == "" || len(id) > 64 || strings.ContainsAny(id, "\r\n\" ") || !textcheck.Valid(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set("request_id", id)
		c.Header("X-Request-Id", id)
		// Every line logged with this request's context carries the id
		// (logging.RequestIDHandler).
		c.Request = c.Request.WithContext(logging.ContextWithRequestID(c.Request.Context(), id))
		c.Next()
	}
}

// accessLog logs one line per request. It logs the path only (never the
// query string, which may carry codes or state) and never a header.
func accessLog(l *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		// 4xx lines (every refused credential, every 429 of a guessing
		// attack) stay at debug so an attacker cannot flood the log at
		// info; failed sign-ins are logged as security events by the
		// pages, and 429s are counted in latchkey_rate_limited_total.
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		l.Log(c.Request.Context(), level, "request",
			"request_id", c.GetString("request_id"),
			"method", c.Request.Method,
			"path", c.Request.URL.Path,
			"status", status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"remote", clientip.FromRequest(c.Request))
	}
}

// resolveClientIP configures e to believe X-Forwarded-For only from
// trusted (server.trusted_proxies; gin trusts every peer unless told
// otherwise) and returns the middleware that resolves each request's
// client IP once — the rightmost X-Forwarded-For entry that is not a
// trusted proxy when the peer is one, else the TCP peer — and stores it
// for clientip.FromRequest, the one accessor every package uses. X-Real-IP
// and platform headers are ignored. A list the config check let through
// but gin refuses leaves no proxy trusted (fail closed).
func resolveClientIP(e *gin.Engine, trusted []string, l *slog.Logger) gin.HandlerFunc {
	e.ForwardedByClientIP = len(trusted) > 0
	e.RemoteIPHeaders = []string{"X-Forwarded-For"}
	e.TrustedPlatform = ""
	if len(trusted) == 0 {
		trusted = nil
	}
	if err := e.SetTrustedProxies(trusted); err != nil {
		l.Error("server.trusted_proxies: trusting no proxy", "error", err)
		_ = e.SetTrustedProxies(nil)
		e.ForwardedByClientIP = false
	}
	return func(c *gin.Context) {
		ip := c.ClientIP()
		if ip == "" {
			ip = clientip.Peer(c.Request)
		}
		c.Request = c.Request.WithContext(clientip.WithIP(c.Request.Context(), ip))
		c.Next()
	}
}

func recovery(l *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				l.ErrorContext(c.Request.Context(), "panic", "request_id", c.GetString("request_id"), "path", c.Request.URL.Path, "panic", slog.AnyValue(v).String())
				apiError(c, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
			}
		}()
		c.Next()
	}
}

// securityHeaders sets the headers every response carries.
func securityHeaders(secure bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		c.Next()
	}
}
