// Package api serves Latchkey's JSON API (SPEC §3.3): API-key management,
// key-for-token exchange, credential tests, the caller's user and
// workspace, and key verification for resource servers. Every endpoint
// accepts an API key, an API token, an OAuth access token, HTTP Basic
// with the owner's password, or the browser session (with a CSRF header);
// authenticated requests then pass their rate-limit tier (RateLimit).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/logging"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/throttle"
)

// Credential kinds reported by /tokens/test.
const (
	KindAPIKey     = "api_key"
	KindAPIToken   = "api_token"
	KindOAuthToken = "oauth_access_token"
	KindSession    = "session"
	KindPassword   = "password"
)

// Principal is the authenticated caller of an API request.
type Principal struct {
	Kind     string
	UserID   string
	ClientID string
	// GrantID is the OAuth grant (request id) of an OAuth access token.
	GrantID   string
	KeyID     string
	Scopes    []string
	ExpiresAt *time.Time
	// KeyExpiresAt is the expiry now of the API key behind an API key or
	// API token (nil = the key does not expire).
	KeyExpiresAt *time.Time
	// GrantEndsAt is the last moment the OAuth grant behind a person's
	// access token can yield tokens (nil = no bound in time).
	GrantEndsAt *time.Time
	// GrantedScopes are the scopes the credential carries before its
	// rights at this request narrowed them to Scopes (nil when they were
	// not narrowed): the measure of what it may put in keys.
	GrantedScopes []string
	// OrgID is the organization an OAuth token's grant is bound to (the
	// person's choice on the consent page; "" = their personal account).
	OrgID string
	// Key is set when the credential is an API key.
	Key *storage.APIKey
	// ResourceServer is set for a client_credentials token of a client
	// flagged resource_server (oauth.TokenInfo.ResourceServer).
	ResourceServer bool
	// Rights is what the credential reaches at this request (its
	// organization, role, tenants and effective scopes), resolved by
	// Authenticate through Config.Orgs; nil for a client's own token or
	// when no Orgs is configured.
	Rights *orgs.Rights
	// Narrowed is the tenant narrowing of the API key behind an API key
	// or API token (storage.APIKey.Tenants; nil = none).
	Narrowed []string
	// TenantID is set for a workspace key (and its tokens): the tenant it
	// belongs to. UserID is then "": it acts for no person.
	TenantID string
}

// Has reports whether the credential carries scope.
func (p *Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// authority is what the credential may do to keys (keys.Authority): the
// owner signed in (session, password) has every right and no expiry
// bound; any other credential has its scopes now, and its expiry bound is
// the life of what it stands for, not of the bearer string — an API
// key's or API token's is the key's expiry now (keys it creates record
// the key as parent and die with it), an OAuth access token of a grant
// has none (keys it creates record the grant and client and are revoked
// when the grant ends: revoked at /authorized or /oauth/revoke, a reused
// refresh token, the client deleted).
func (p *Principal) authority() keys.Authority {
	if p.Kind == KindSession || p.Kind == KindPassword {
		return keys.OwnerAuthority(p.Scopes)
	}
	scopes := p.Scopes
	if p.GrantedScopes != nil {
		scopes = p.GrantedScopes
	}
	a := keys.Authority{Scopes: scopes, ExpiresAt: p.ExpiresAt, CanRead: p.Has("keys:read"), KeyID: p.KeyID,
		Reach: &keys.Reach{OrgID: p.orgBound(), Tenants: p.Narrowed}}
	switch p.Kind {
	case KindAPIKey, KindAPIToken:
		a.ExpiresAt = p.KeyExpiresAt
	case KindOAuthToken:
		a.GrantID, a.ClientID = p.GrantID, p.ClientID
		if p.GrantID != "" {
			// The grant, not this one access token: keys it creates are
			// revoked with the grant and never outlive its end.
			a.ExpiresAt = p.GrantEndsAt
		}
	}
	return a
}

// Keys is the key service the API uses.
type Keys interface {
	Format() keys.Format
	Scopes() []string
	Verify(ctx context.Context, raw, ip string) (*storage.APIKey, error)
	Create(ctx context.Context, userID string, a keys.Authority, req keys.CreateRequest) (*storage.APIKey, string, error)
	Get(ctx context.Context, userID, handle string) (*storage.APIKey, error)
	List(ctx context.Context, userID string) ([]storage.APIKey, error)
	Update(ctx context.Context, userID, handle string, a keys.Authority, p keys.Patch) (*storage.APIKey, error)
	Revoke(ctx context.Context, userID, handle string, a keys.Authority, ip string) (*storage.APIKey, error)
	Rotate(ctx context.Context, userID, handle string, a keys.Authority, grace time.Duration, ip string) (*storage.APIKey, string, error)
	Reveal(k *storage.APIKey) (string, error)
	Audit(ctx context.Context, k *storage.APIKey, typ, ip, detail string)
	Current(ctx context.Context, id string) (*storage.APIKey, error)
	ListOrg(ctx context.Context, orgID string) ([]storage.APIKey, error)
	GetInOrg(ctx context.Context, orgID, id string) (*storage.APIKey, error)
	RevokeInOrg(ctx context.Context, orgID, id, ip string) (*storage.APIKey, error)
}

// Tokens is the OAuth side the API uses.
type Tokens interface {
	// Exchange issues the token of POST /tokens/generate (the
	// token-exchange grant's one function, RFC 8693).
	Exchange(ctx context.Context, x oauth.ExchangeRequest) (*oauth.Exchanged, error)
	ValidateAccessToken(ctx context.Context, token string) (*oauth.TokenInfo, error)
}

// Users looks people up.
type Users interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	// UpgradePasswordHash stores a re-hashed password after HTTP Basic.
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) error
}

// Config wires the API.
type Config struct {
	Keys   Keys
	Tokens Tokens
	Users  Users
	// DPoP checks the proofs of DPoP-bound access tokens (RFC 9449 §7.1);
	// nil = such tokens are refused.
	DPoP DPoP
	// Orgs resolves each credential's organization rights and decides
	// organization key permissions; nil = no organizations (every
	// credential reaches its owner's personal workspace only).
	Orgs Orgs
	// InvitationMail mails a just-created invitation's link to the address
	// it names and reports whether it did (accounts.SelfService
	// .MailInvitation); nil = invitations are never mailed.
	InvitationMail func(ctx context.Context, token string) bool
	// SessionUser returns the signed-in user of a browser request, if any:
	// the pages' own session check (web.Handler.SessionUserID), so a
	// session the pages refuse — logged out, past its lifetime — is refused
	// here too. The server has already checked the CSRF header on unsafe
	// methods.
	SessionUser func(r *http.Request) (string, bool)
	// SessionCookie is the name of the browser session cookie.
	SessionCookie string
	// MaxBodyBytes bounds JSON bodies (413 beyond).
	MaxBodyBytes int64
	// PasswordFailures throttles HTTP Basic failures per username and per
	// client IP (shared with the login page); nil disables throttling.
	PasswordFailures throttle.Counter
	// CredentialFailures throttles failed API-key and access-token
	// authentications (any endpoint, /tokens/generate included) per client
	// IP, so keys cannot be guessed at speed; nil disables it. (The keys a
	// resource server asks about at POST /v1/keys/verify are its callers',
	// not its own credential: they are not counted.)
	CredentialFailures throttle.Counter
	// RateLimits limits authenticated requests per credential; nil
	// disables rate limiting.
	RateLimits *RateLimits
	// OnRateLimited, when set, is called once per request refused with
	// 429, with the limit that refused it: api_key_quota, api_key_burst,
	// client_quota, client_burst, user_quota, user_burst (RateLimits),
	// login (PasswordFailures) or credential_guessing (CredentialFailures).
	OnRateLimited func(scope string)
	// CountUsage, when set, adds one request's outcome to the usage
	// aggregate (keys.Service.CountUsage; see CountRequests).
	CountUsage func(subject, id, outcome string)
	// Usage reads the usage aggregate for GET /user/keys/{handle}/usage
	// and the operator's overview; nil answers them 404.
	Usage UsageStore
	// SecondFactor reports whether a user signs in with two factors; HTTP
	// Basic, which cannot carry the second one, is refused for them (an
	// API key is the way). nil = no user has two factors.
	SecondFactor func(ctx context.Context, userID string) (bool, error)
	// PasswordGate bounds concurrent argon2id runs (HTTP Basic), shared
	// with the login form; nil = a gate of its own.
	PasswordGate *secret.PasswordGate
	// Apps reaches organizations' OAuth clients (GET/DELETE
	// /v1/orgs/{id}/apps).
	Apps OrgApps
	// Issuer starts the invitation links (issuer + "/invitations/<token>").
	Issuer string
	// ResourceMetadata, when set, is the URL of the API's protected
	// resource metadata (RFC 9728): every WWW-Authenticate challenge the
	// API writes carries it as resource_metadata (§5.1).
	ResourceMetadata string
	// Logger receives the causes of refused and failed key operations
	// (default slog.Default()).
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves the JSON API.
type Handler struct {
	cfg Config
	// limitFailures counts requests that met an unavailable limiter.
	limitFailures limiterFailures
}

// New returns the API handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.PasswordGate == nil {
		cfg.PasswordGate = secret.NewPasswordGate(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg}
}

const principalKey = "latchkey.principal"

// resourceMetadataKey holds Config.ResourceMetadata for writeError.
const resourceMetadataKey = "latchkey.resource_metadata"

// queryCredentialParams are refused: credentials in URLs end up in logs.
var queryCredentialParams = []string{"api_key", "apikey", "key", "access_token", "token"}

// Authenticate resolves the caller and stores the Principal; it answers
// 401 itself when the credential is missing or bad.
func (h *Handler) Authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		if h.cfg.ResourceMetadata != "" {
			c.Set(resourceMetadataKey, h.cfg.ResourceMetadata)
		}
		q := c.Request.URL.Query()
		for _, p := range queryCredentialParams {
			if q.Has(p) {
				writeError(c, http.StatusBadRequest, "invalid_request",
					"Credentials are not accepted in the query string; send them in the Authorization header.")
				return
			}
		}
		p, status, code, msg := h.resolve(c)
		if p == nil {
			writeError(c, status, code, msg)
			return
		}
		if status, code, msg := h.withRights(c.Request.Context(), p); status != 0 {
			writeError(c, status, code, msg)
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

func principal(c *gin.Context) *Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(*Principal)
	return pr
}

func (h *Handler) resolve(c *gin.Context) (*Principal, int, string, string) {
	r := c.Request
	ctx := r.Context()
	authz := strings.TrimSpace(r.Header.Get("Authorization"))
	if authz == "" {
		if uid, ok := h.sessionUser(r); ok {
			return &Principal{Kind: KindSession, UserID: uid, Scopes: h.cfg.Keys.Scopes()}, 0, "", ""
		}
		return nil, http.StatusUnauthorized, "missing_api_key", "Send an API key or access token in the Authorization header."
	}
	if len(authz) > 4096 {
		return nil, http.StatusUnauthorized, "invalid_api_key", "The credential is not valid."
	}
	if strings.EqualFold(authz, "Bearer") {
		return nil, http.StatusUnauthorized, "missing_api_key", "The Authorization header carries no credential."
	}
	scheme, cred, hasSpace := strings.Cut(authz, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case hasSpace && strings.EqualFold(scheme, "Bearer"):
		return h.bearer(ctx, c, cred, false)
	case hasSpace && strings.EqualFold(scheme, dpop.TokenType):
		// RFC 9449 §7.1: a DPoP-bound access token with its proof.
		return h.bearer(ctx, c, cred, true)
	case hasSpace && strings.EqualFold(scheme, "Basic"):
		return h.basic(c)
	case !hasSpace && h.cfg.Keys.Format().Looks(authz):
		// Flare documents the bare form: "Authorization: <api-key>".
		return h.bearer(ctx, c, authz, false)
	}
	return nil, http.StatusUnauthorized, "invalid_api_key", "Unsupported Authorization scheme; use Bearer (or DPoP for DPoP-bound tokens)."
}

func (h *Handler) bearer(ctx context.Context, c *gin.Context, cred string, dpopScheme bool) (*Principal, int, string, string) {
	if cred == "" {
		return nil, http.StatusUnauthorized, "missing_api_key", "The Authorization header carries no credential."
	}
	ipKey := "auth-ip:" + clientip.Bucket(c.Request)
	if wait := h.credentialBlocked(c, ipKey); wait > 0 {
		return nil, http.StatusTooManyRequests, "rate_limit_exceeded", retryMessage(wait)
	}
	p, status, code, msg := h.bearerCredential(ctx, c, cred, dpopScheme)
	if status == http.StatusUnauthorized && code != codeUseDPoPNonce {
		// (Asking for a nonce is a step of the DPoP protocol, not a guess.)
		h.credentialFailed(ipKey)
	}
	return p, status, code, msg
}

// keyPrincipal is the caller authenticated by the verified API key k.
func keyPrincipal(k *storage.APIKey) *Principal {
	return &Principal{Kind: KindAPIKey, UserID: k.UserID, KeyID: k.ID, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, KeyExpiresAt: k.ExpiresAt, Key: k}
}

func (h *Handler) bearerCredential(ctx context.Context, c *gin.Context, cred string, dpopScheme bool) (*Principal, int, string, string) {
	if h.cfg.Keys.Format().Looks(cred) {
		if dpopScheme {
			msg := "API keys are not DPoP-bound: send them as \"Authorization: Bearer <key>\"."
			c.Header("WWW-Authenticate", dpopChallenge("invalid_token", msg))
			return nil, http.StatusUnauthorized, "invalid_api_key", msg
		}
		k, err := h.cfg.Keys.Verify(ctx, cred, clientip.FromRequest(c.Request))
		switch {
		case err == nil:
			return keyPrincipal(k), 0, "", ""
		case errors.Is(err, keys.ErrExpired):
			return nil, http.StatusUnauthorized, "token_expired", "This API key has expired."
		case errors.Is(err, keys.ErrRevoked), errors.Is(err, keys.ErrNotFound):
			return nil, http.StatusUnauthorized, "invalid_api_key", "The API key is not valid."
		default:
			return nil, http.StatusServiceUnavailable, "unavailable", "Credentials cannot be checked right now."
		}
	}
	info, err := h.cfg.Tokens.ValidateAccessToken(ctx, cred)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidToken) {
			return nil, http.StatusUnauthorized, "invalid_api_key", "The access token is not valid, has expired or was revoked."
		}
		return nil, http.StatusServiceUnavailable, "unavailable", "Credentials cannot be checked right now."
	}
	if status, code, msg := h.checkDPoP(c, cred, info, dpopScheme); status != 0 {
		return nil, status, code, msg
	}
	// A token exchanged from a key arrives bound by the key as it is now
	// (oauth.Config.KeyState): its scopes and expiry are the key's at most.
	p := &Principal{Kind: KindOAuthToken, UserID: info.Subject, ClientID: info.ClientID, GrantID: info.GrantID, KeyID: info.KeyID, Scopes: info.Scopes, OrgID: info.OrgID, GrantedScopes: info.GrantedScopes}
	if !info.ExpiresAt.IsZero() {
		e := info.ExpiresAt
		p.ExpiresAt = &e
	}
	if info.KeyID != "" {
		p.Kind, p.GrantID = KindAPIToken, ""
		if !info.KeyExpiresAt.IsZero() {
			e := info.KeyExpiresAt
			p.KeyExpiresAt = &e
		}
	} else if !info.GrantEndsAt.IsZero() {
		e := info.GrantEndsAt
		p.GrantEndsAt = &e
	}
	if info.KeyID == "" && info.ClientID != "" && info.Subject == info.ClientID {
		// A client_credentials token acts for its client, not for a user.
		p.UserID = ""
		p.ResourceServer = info.ResourceServer
	}
	return p, 0, "", ""
}

// basic authenticates the owner with username and password (argon2id;
// unknown usernames cost the same as wrong passwords). It counts in the
// login form's counter under the same keys (username, client IP); having
// no cookies, it never presents a device cookie, so it always meets the
// untrusted-client limit — and its failures lock the username for other
// untrusted clients, never for the owner's known browsers.
func (h *Handler) basic(c *gin.Context) (*Principal, int, string, string) {
	user, pass, ok := c.Request.BasicAuth()
	if !ok || user == "" || len(user) > 64 || len(pass) > 1024 {
		return nil, http.StatusUnauthorized, "unauthorized", "Malformed Basic credentials."
	}
	ctx := c.Request.Context()
	keys := []string{"u:" + strings.ToLower(user), "ip:" + clientip.Bucket(c.Request)}
	if f := h.cfg.PasswordFailures; f != nil {
		if wait := f.Blocked(keys...); wait > 0 {
			h.rateLimited("login")
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			return nil, http.StatusTooManyRequests, "rate_limit_exceeded",
				fmt.Sprintf("Too many failed sign-in attempts. Try again in %d seconds.", int(math.Ceil(wait.Seconds())))
		}
	}
	u, err := h.cfg.Users.GetUserByUsername(ctx, user)
	if err != nil {
		u = nil // unknown: the check costs the same as a wrong password
	}
	// Queued for the shared PasswordGate; an old hash is upgraded on success.
	err = accounts.CheckPassword(ctx, h.cfg.PasswordGate, h.cfg.Users, h.cfg.Logger, u, pass)
	if errors.Is(err, accounts.ErrBusy) {
		return nil, http.StatusServiceUnavailable, "unavailable", "The request was cancelled."
	}
	if u == nil || err != nil {
		if f := h.cfg.PasswordFailures; f != nil {
			f.Fail(keys...)
		}
		// A security event, as on the login form (never the password).
		existing := ""
		if u != nil {
			existing = u.Username
		}
		h.cfg.Logger.WarnContext(ctx, "login failed", "event", "login_failed", "via", "http_basic",
			"username", logging.TypedUsername(user, existing), "client_ip", clientip.FromRequest(c.Request))
		return nil, http.StatusUnauthorized, "unauthorized", "The username or password is not right."
	}
	if f := h.cfg.PasswordFailures; f != nil {
		f.Reset(keys[0])
	}
	if u.SuspendedAt != nil {
		return nil, http.StatusUnauthorized, "unauthorized", "This account is suspended."
	}
	if f := h.cfg.SecondFactor; f != nil {
		// The password alone is one factor of two: never a session's
		// equal. The refusal comes only after the right password, as the
		// login form's second step does.
		switch on, err := f(ctx, u.ID); {
		case err != nil:
			return nil, http.StatusServiceUnavailable, "unavailable", "Credentials cannot be checked right now."
		case on:
			return nil, http.StatusUnauthorized, "second_factor_required",
				"This account signs in with two factors, which HTTP Basic cannot carry. Use an API key (Authorization: Bearer <key>) instead."
		}
	}
	return &Principal{Kind: KindPassword, UserID: u.ID, Scopes: h.cfg.Keys.Scopes()}, 0, "", ""
}

func (h *Handler) sessionUser(r *http.Request) (string, bool) {
	if h.cfg.SessionUser == nil {
		return "", false
	}
	return h.cfg.SessionUser(r)
}

// Require answers 403 unless the caller carries scope. A key that lacks a
// write scope and holds no write scope at all gets the message the seed
// documentation shows for read-only keys.
func Require(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		if p == nil {
			writeError(c, http.StatusUnauthorized, "missing_api_key", "Send an API key or access token in the Authorization header.")
			return
		}
		if p.Has(scope) {
			c.Next()
			return
		}
		refused(c, storage.OutcomeScopeDenied)
		if strings.HasSuffix(scope, ":write") && (p.Kind == KindAPIKey || p.Kind == KindAPIToken) && !hasWrite(p.Scopes) {
			writeError(c, http.StatusForbidden, "forbidden", "This operation requires a read-write key")
			return
		}
		c.Header("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
		writeError(c, http.StatusForbidden, "insufficient_scope", "This operation requires the "+scope+" scope.")
	}
}

// RequireUser refuses credentials that act for a client, not a person.
func RequireUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		if p != nil && p.TenantID != "" {
			refused(c, storage.OutcomeScopeDenied)
			writeError(c, http.StatusForbidden, "forbidden", "This endpoint acts for a person; a workspace key belongs to a tenant and cannot use it.")
			return
		}
		if p == nil || p.UserID == "" {
			refused(c, storage.OutcomeScopeDenied)
			writeError(c, http.StatusForbidden, "forbidden", "This endpoint acts for a user; a client credential cannot use it.")
			return
		}
		c.Next()
	}
}

// RequireResourceServer lets through only a resource server: a
// client_credentials access token of a client flagged resource_server
// (`latchkey client create --resource-server`). SPEC §3.3 makes the caller
// of POST /v1/keys/verify "a client token with scope keys:verify" — a
// resource server checking the keys its own callers present. Any other
// credential — a user's API key or token (the read-write preset includes
// keys:verify), a session, HTTP Basic, an app's token, a client not
// flagged — gets 403: the answer names another user's key's owner, id,
// scopes, tier, expiry and rate-limit state. Mount it before
// Require("keys:verify").
func RequireResourceServer() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		if p == nil || p.Kind != KindOAuthToken || p.UserID != "" || !p.ResourceServer {
			refused(c, storage.OutcomeScopeDenied)
			writeError(c, http.StatusForbidden, "forbidden",
				"Only a resource server may verify keys: use a client_credentials access token of a client created with `latchkey client create --resource-server`.")
			return
		}
		c.Next()
	}
}

func hasWrite(scopes []string) bool {
	for _, s := range scopes {
		if strings.HasSuffix(s, ":write") {
			return true
		}
	}
	return false
}

// writeError writes the documented error body (SPEC §3.5); 401 and 403
// carry an RFC 6750 §3 WWW-Authenticate challenge.
func writeError(c *gin.Context, status int, code, msg string) {
	if (status == http.StatusUnauthorized || status == http.StatusForbidden) && c.Writer.Header().Get("WWW-Authenticate") == "" {
		e := "invalid_token"
		if status == http.StatusForbidden {
			e = "insufficient_scope"
		}
		challenge := `Bearer realm="latchkey"`
		if code != "missing_api_key" {
			challenge += `, error="` + e + `"`
		}
		if u := c.GetString(resourceMetadataKey); u != "" {
			challenge += `, resource_metadata="` + u + `"`
		}
		c.Header("WWW-Authenticate", challenge)
		if code == "missing_api_key" {
			// RFC 9449 §7.1: DPoP-bound tokens are accepted too.
			c.Writer.Header().Add("WWW-Authenticate", dpopChallenge("", ""))
		}
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"error": code, "message": msg})
}
