package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey/api"
	"github.com/latchkey/latchkey/apidoc"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/logging"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/web"
)

// newHandler composes the pages, the JSON API and the protocol endpoints
// into the engine serving every endpoint.
func (a *App) newHandler() (http.Handler, error) {
	failures := a.guessingThrottle("login:", a.cfg.RateLimits.LoginPerMinute)
	passwords := secret.NewPasswordGate(a.cfg.Server.PasswordMemoryMiB) // one gate for every argon2id run
	doc, err := apidoc.Load(a.cfg.Server.Issuer)
	if err != nil {
		return nil, err
	}
	reference := doc.Reference()
	self, devMail, err := a.accountService(passwords)
	if err != nil {
		return nil, err
	}
	var passkeys web.PasskeyService // nil, never a nil *twofactor.Passkeys
	if a.passkeys != nil {
		passkeys = a.passkeys
	}
	// The key page's headroom is the API's own figure (built below).
	var apiHandler *api.Handler
	keyLimit := func(ctx context.Context, k *storage.APIKey) (ratelimit.Decision, bool, error) {
		return apiHandler.KeyLimit(ctx, k)
	}
	pages, err := web.New(web.Config{
		PasswordGate:     passwords,
		UserOrgs:         a.db.ListUserOrgs,
		CookieHashKey:    a.secrets.CookieHashKey,
		CookieBlockKey:   a.secrets.CookieBlockKey,
		CSRFKey:          a.secrets.CSRFKey,
		Secure:           a.cfg.SecureCookies(),
		SessionLifetime:  a.cfg.Web.SessionAbsoluteLifetime.Duration(),
		ScopeDescription: a.cfg.ScopeDescription,
		Clients:          a.provider,
		Devices:          a.provider,
		// Wrong user codes on /device, per person and network, on every
		// instance (login_per_minute, as wrong passwords).
		DeviceFailures: a.guessingThrottle("device:", a.cfg.RateLimits.LoginPerMinute),
		Scopes:         scopeNames(a.cfg),
		LoginLimit:     a.cfg.RateLimits.LoginPerMinute,
		Failures:       failures,
		// Wrong second-factor codes, per user, on every instance.
		SecondFactorFailures: newWindowThrottle(a.cfg, a.redis, a.metrics, a.log, "second-factor:", web.SecondFactorLimit, web.SecondFactorWindow),
		Keys:                 a.keys,
		Orgs:                 a.orgs,
		OrgKeys:              a.keys,
		OrgApps:              a.db,
		APIReference:         &reference,
		Logout:               a.provider,
		Account:              self,
		InvitationMail:       self.MailInvitation,
		ResetTTL:             a.cfg.SMTP.ResetLinkLifetime.Duration(),
		DevMail:              devMail,
		Sessions:             a.db,
		TwoFactor:            a.twoFactor,
		Passkeys:             passkeys,
		OnRateLimited:        a.metrics.RateLimited,
		Usage:                a.db,
		KeyLimit:             keyLimit,
		CountUsage:           a.keys.CountUsage,
		Logger:               a.log,
	}, a.provider, a.db)
	if err != nil {
		return nil, err
	}
	limits := a.apiRateLimits()
	apiHandler = api.New(api.Config{
		Keys: a.keys, Tokens: a.provider, DPoP: a.provider, Users: a.db, Orgs: a.orgs, SessionUser: pages.SessionUserID,
		SessionCookie: pages.SessionCookie(), MaxBodyBytes: a.cfg.Server.MaxBodyBytes,
		PasswordFailures: failures, RateLimits: limits, PasswordGate: passwords, SecondFactor: a.twoFactor.Enabled,
		CredentialFailures: a.guessingThrottle("credentials:", a.cfg.RateLimits.TokenPerMinute),
		OnRateLimited:      a.metrics.RateLimited,
		Apps:               a.db, Issuer: a.cfg.Server.Issuer,
		InvitationMail: self.MailInvitation,
		CountUsage:     a.keys.CountUsage,
		Usage:          a.db,
		Logger:         a.log,
		// RFC 9728 §5.1: 401s point at the API's protected resource metadata.
		ResourceMetadata: a.provider.ResourceMetadataURL(),
	})
	a.api = apiHandler
	d := Deps{
		OAuth: a.provider, Pages: pages, API: apiHandler, OpenAPI: doc, SessionCookie: pages.SessionCookie(),
		DB: a.db, Logger: a.log, Secure: a.cfg.SecureCookies(), TrustedProxies: a.cfg.Server.TrustedProxies,
		ProtectedResource: a.provider,
	}
	if a.registrar != nil {
		d.Registration = a.registrar
	}
	return New(a.observability(d)), nil
}

// NewLogger writes log.format lines at log.level and above to w. Lines
// logged with a request's context carry its request_id, and credentials
// are redacted (logging.Redactor) before anything is written.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(logging.NewRedactor(logging.NewRequestIDHandler(h), cfg.Keys.Prefix))
}
