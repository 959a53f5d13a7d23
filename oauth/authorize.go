package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/latchkey/latchkey/storage"
)

// AuthorizeRequest is a parsed and validated authorization request
// (RFC 6749 §4.1.1): the client, redirect URI, scopes and PKCE challenge
// have been checked by fosite.
type AuthorizeRequest struct {
	ar fosite.AuthorizeRequester
}

// ClientID is the requesting client's id.
func (a *AuthorizeRequest) ClientID() string { return a.ar.GetClient().GetID() }

// Scopes are the requested scopes.
func (a *AuthorizeRequest) Scopes() []string { return a.ar.GetRequestedScopes() }

// PublicClient reports whether the requesting client is public (RFC 6749
// §2.1): anyone can use its client_id, so remembered consent must not
// approve its requests unseen.
func (a *AuthorizeRequest) PublicClient() bool { return a.ar.GetClient().IsPublic() }

// Prompt returns the OIDC prompt values (OpenID Connect Core §3.1.2.1).
func (a *AuthorizeRequest) Prompt() []string {
	return strings.Fields(a.ar.GetRequestForm().Get("prompt"))
}

// HasPrompt reports whether prompt contains v.
func (a *AuthorizeRequest) HasPrompt(v string) bool {
	for _, p := range a.Prompt() {
		if p == v {
			return true
		}
	}
	return false
}

// ACRValues returns the requested authentication context classes, in
// order of preference (acr_values, OpenID Connect Core §3.1.2.1); see
// NeedsMultiFactor.
func (a *AuthorizeRequest) ACRValues() []string {
	return strings.Fields(a.ar.GetRequestForm().Get("acr_values"))
}

// MaxAge returns the max_age parameter in seconds, or -1 when absent.
func (a *AuthorizeRequest) MaxAge() int64 {
	v := a.ar.GetRequestForm().Get("max_age")
	if v == "" {
		return -1
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
		if n > 1<<40 {
			return -1
		}
	}
	return n
}

// ParseAuthorize validates an authorization request. The returned request
// is non-nil even on error, so the error can be delivered by
// WriteAuthorizeError when the redirect URI is known to be registered.
func (p *Provider) ParseAuthorize(r *http.Request) (*AuthorizeRequest, error) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(nil, r.Body, p.cfg.MaxBodyBytes)
	}
	// RFC 8707 resource parameters become the requested audience; a bad
	// one is reported once fosite has validated the client and redirect
	// URI, so it reaches the client (invalid_target, RFC 8707 §2).
	var resErr error
	if err := r.ParseForm(); err == nil {
		resErr = p.resourcesAsAudience(r.Form)
	}
	ar, err := p.f.NewAuthorizeRequest(r.Context(), r)
	if ar != nil {
		ar.SetID(newRequestID())
	}
	err = allowAnyState(err)
	if err == nil {
		err = resErr
	}
	if err == nil {
		err = checkStateNonce(ar)
	}
	if err == nil {
		err = checkPKCE(ar)
	}
	if err == nil {
		err = checkDPoPJKT(ar)
	}
	return &AuthorizeRequest{ar: ar}, err
}

// allowAnyState waives fosite's minimum length of state (issue 12): state
// is optional with no minimum (RFC 6749 §4.1.1; PKCE carries the CSRF
// protection, RFC 9700 §2.1), but fosite refuses a state shorter than
// MinParameterEntropy (at least 1, whatever the configuration) with
// invalid_state. That check is the last one of fosite's authorization
// request validation (fosite v0.49.0 authorize_request_handler.go), so
// the request it returns is otherwise fully validated.
func allowAnyState(err error) error {
	if errors.Is(err, fosite.ErrInvalidState) {
		return nil
	}
	return err
}

// checkStateNonce bounds state and nonce (maxStateBytes, maxNonceBytes)
// when the request is parsed, before the person signs in. Neither has a
// minimum and both may be absent. An oversized state is not echoed in the
// error response.
func checkStateNonce(ar fosite.AuthorizeRequester) error {
	if len(ar.GetState()) > maxStateBytes {
		if r, ok := ar.(*fosite.AuthorizeRequest); ok {
			r.State = ""
		}
		return fosite.ErrInvalidRequest.WithHintf("The state parameter must not be longer than %d bytes.", maxStateBytes)
	}
	if len(ar.GetRequestForm().Get("nonce")) > maxNonceBytes {
		return fosite.ErrInvalidRequest.WithHintf("The nonce parameter must not be longer than %d bytes.", maxNonceBytes)
	}
	return nil
}

// pkceClient is a client that may demand PKCE (client.RequiresPKCE).
type pkceClient interface{ RequiresPKCE() bool }

// checkPKCE applies the PKCE rules (RFC 7636) when an authorization
// request is parsed, so the person is never sent to sign in or consent for
// a request that would fail afterwards: a client that requires PKCE must
// send a code_challenge (RFC 7636 §4.4.1), and a challenge must use S256
// (plain is refused, §4.2). fosite checks the same again when it issues
// the code.
func checkPKCE(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	if form.Get("code_challenge") == "" {
		if c, ok := ar.GetClient().(pkceClient); ok && c.RequiresPKCE() {
			return fosite.ErrInvalidRequest.WithHint("This client requires PKCE: send code_challenge and code_challenge_method=S256 (RFC 7636).")
		}
		return nil
	}
	if form.Get("code_challenge_method") != "S256" {
		return fosite.ErrInvalidRequest.WithHint("The code_challenge_method must be S256; plain and other methods are not allowed.")
	}
	return nil
}

// Redirectable reports whether errors for this request may be sent to its
// redirect URI. When false, the caller must show an error page: an error is
// never redirected to a URI that was not registered exactly (RFC 6749 §4.1.2.1).
func (a *AuthorizeRequest) Redirectable() bool {
	return a != nil && a.ar != nil && a.ar.IsRedirectURIValid()
}

// ErrorInfo describes err for an error page: status, RFC 6749 code and a
// sentence safe to show.
func ErrorInfo(err error) (status int, code, description string) {
	e := fosite.ErrorToRFC6749Error(err)
	desc := e.DescriptionField
	if e.HintField != "" {
		desc = strings.TrimSpace(desc + " " + e.HintField)
	}
	return e.CodeField, e.ErrorField, desc
}

// Authorize errors the web layer may raise (OpenID Connect Core §3.1.2.6).
var (
	ErrLoginRequired   = fosite.ErrLoginRequired
	ErrConsentRequired = fosite.ErrConsentRequired
	ErrAccessDenied    = fosite.ErrAccessDenied
	// ErrUserDeclined is access_denied (RFC 6749 §4.1.2.1) for a person
	// who pressed Deny on the consent page; its error_description says so.
	ErrUserDeclined = fosite.ErrAccessDenied.WithHint("The user declined to authorize the application.")
)

// WriteAuthorizeError redirects err to the client with state and iss. It
// must only be called when a.Redirectable().
func (p *Provider) WriteAuthorizeError(w http.ResponseWriter, r *http.Request, a *AuthorizeRequest, err error) {
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		err = fosite.ErrServerError.WithWrap(err)
	}
	p.f.WriteAuthorizeError(r.Context(), p.issWriter(w), a.ar, err)
}

// Grant describes what the person approved.
type Grant struct {
	Subject  string
	Username string
	Email    string
	// EmailVerified says the person proved they read mail at Email.
	EmailVerified bool
	Name          string
	AuthTime      time.Time
	Scopes        []string
	// SessionID is the opaque id of the browser sign-in session that
	// approved the request, "" when unknown: it becomes the sid claim of
	// the ID token (OpenID Connect Back-Channel Logout 1.0 §2.1) and the
	// session is recorded as having reached the client, which is sent a
	// logout token when it ends.
	SessionID string
	// OrgID is the organization the person chose on the consent page for
	// the app to act in ("" = their personal account); the caller checks
	// they are a member. Every token of the grant carries it.
	OrgID string
	// Methods are how the person signed in (RFC 8176 values, e.g. "pwd",
	// "otp", "hwk"): the ID token's amr, and its acr (authContext).
	Methods []string
}

// WriteGrant issues the authorization code for an approved request and
// redirects back to the client (RFC 6749 §4.1.2, with RFC 9207 iss).
func (p *Provider) WriteGrant(w http.ResponseWriter, r *http.Request, a *AuthorizeRequest, g Grant) {
	ctx := r.Context()
	ar := a.ar
	for _, s := range g.Scopes {
		ar.GrantScope(s)
	}
	for _, aud := range ar.GetRequestedAudience() {
		ar.GrantAudience(aud)
	}
	if g.SessionID != "" {
		sc := &storage.SessionClient{SID: g.SessionID, ClientID: ar.GetClient().GetID(), UserID: g.Subject}
		if err := p.store.db.AddSessionClient(ctx, sc); err != nil {
			// The grant goes ahead; only its back-channel logout is lost.
			p.log.ErrorContext(ctx, "record session client", "client_id", sc.ClientID, "error", err)
		}
	}
	sess := p.grantSession(g, ar.GetClient().GetID(), ar.GetGrantedScopes(), ar.GetRequestedAt())
	// RFC 9449 §10: the code is bound to the DPoP key the client named
	// (checked at the token endpoint, bindDPoP).
	sess.DPoPJKT = ar.GetRequestForm().Get("dpop_jkt")
	resp, err := p.newAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.f.WriteAuthorizeError(ctx, p.issWriter(w), ar, err)
		return
	}
	p.f.WriteAuthorizeResponse(ctx, p.issWriter(w), ar, resp)
}

// grantSession is the session of every token a person's grant issues,
// from the authorization code flow (WriteGrant) and the device flow
// (DecideDevice) alike: subject, username, client, organization, when it
// was granted, and the ID token's claims (scope claims, auth_time,
// acr/amr, sid when g names a browser session).
func (p *Provider) grantSession(g Grant, clientID string, granted fosite.Arguments, requestedAt time.Time) *Session {
	sess := NewSession(g.Subject)
	sess.Username = g.Username
	sess.ClientID = clientID
	sess.GrantedAt = p.cfg.Now().UTC().Truncate(time.Second)
	sess.OrgID = g.OrgID
	extra := scopeClaims(granted, g.Username, g.Name, g.Email, g.EmailVerified)
	if g.SessionID != "" {
		extra["sid"] = g.SessionID
	}
	acr, amr := authContext(g.Methods)
	sess.Claims = &jwt.IDTokenClaims{
		Subject:                             g.Subject,
		Issuer:                              p.cfg.Issuer,
		AuthTime:                            g.AuthTime.UTC().Truncate(time.Second),
		AuthenticationContextClassReference: acr,
		AuthenticationMethodsReferences:     amr,
		RequestedAt:                         requestedAt,
		Extra:                               extra,
	}
	// The signer names its own kid (ringSigner), the key signing at the time.
	sess.Headers = &jwt.Headers{}
	return sess
}

// newAuthorizeResponse is fosite's NewAuthorizeResponse in one
// transaction: the code, its PKCE session and its OpenID Connect session
// are written together (one commit instead of three; on SQLite one turn
// of the single writer), and none of them without the others.
func (p *Provider) newAuthorizeResponse(ctx context.Context, ar fosite.AuthorizeRequester, sess *Session) (fosite.AuthorizeResponder, error) {
	txCtx, err := p.store.db.BeginTx(ctx)
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	resp, err := p.f.NewAuthorizeResponse(txCtx, ar, sess)
	if err != nil {
		_ = p.store.db.Rollback(txCtx)
		return nil, err
	}
	if err := p.store.db.Commit(txCtx); err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	return resp, nil
}

func (p *Provider) issWriter(w http.ResponseWriter) issWriter {
	return issWriter{ResponseWriter: w, iss: p.cfg.Issuer}
}

// responseParams makes the parameters of an authorization response (a
// redirect's query or fragment, or the form_post page's fields) what the
// RFCs ask: iss in every response, errors included (RFC 9207 §2), and no
// state unless the client sent one (RFC 6749 §4.1.2) — fosite always adds
// state, empty when the request carried none.
func responseParams(v url.Values, iss string) {
	if v.Get("iss") == "" {
		v.Set("iss", iss)
	}
	if v.Has("state") && v.Get("state") == "" {
		v.Del("state")
	}
}

// issWriter rewrites the redirect of an authorization response with
// responseParams.
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w issWriter) WriteHeader(code int) {
	if code >= 300 && code < 400 {
		if loc := w.Header().Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil {
				if u.Fragment != "" {
					if f, err := url.ParseQuery(u.Fragment); err == nil {
						responseParams(f, w.iss)
						u.Fragment, u.RawFragment = "", ""
						w.Header().Set("Location", u.String()+"#"+f.Encode())
					}
				} else {
					q := u.Query()
					responseParams(q, w.iss)
					u.RawQuery = q.Encode()
					w.Header().Set("Location", u.String())
				}
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// ResumeForm returns the request's parameters for re-sending it later (after
// sign-in or consent) as a plain authorization request: a pushed request
// (RFC 9126) is expanded, since its request_uri is single use, and no
// credential is ever included.
func (a *AuthorizeRequest) ResumeForm() url.Values {
	out := url.Values{}
	for k, v := range a.ar.GetRequestForm() {
		out[k] = append([]string(nil), v...)
	}
	out.Del("request_uri")
	for _, k := range sensitiveForm {
		out.Del(k)
	}
	out.Del("client_assertion_type")
	return out
}

// PAR serves POST /oauth/par (RFC 9126 §2): the client authenticates and
// pushes its authorization parameters, and gets a single-use request_uri
// valid for one minute (201).
func (p *Provider) PAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.clientAuthBlocked(w, r) {
		return
	}
	if err := p.normalizeForm(w, r, p.resourcesAsAudience); err != nil {
		p.writeBodyError(w, r, err)
		return
	}
	ar, err := p.f.NewPushedAuthorizeRequest(ctx, r)
	if ar != nil {
		ar.SetID(newRequestID())
	}
	if errors.Is(err, fosite.ErrInvalidState) {
		// allowAnyState; fosite returned before its last PAR check,
		// made here instead.
		err = nil
		if ar.GetRequestedScopes().Has("openid") && ar.GetRequestForm().Get("redirect_uri") == "" {
			err = fosite.ErrInvalidRequest.WithHint("Query parameter 'redirect_uri' is required when performing an OpenID Connect flow.")
		}
	}
	if err == nil {
		// RFC 9126 §2.1: pushed requests are validated as the
		// authorization endpoint would.
		err = checkStateNonce(ar)
	}
	if err == nil {
		err = checkPKCE(ar)
	}
	if err == nil {
		err = checkDPoPJKT(ar)
	}
	if err == nil {
		err = p.parProof(w, r, ar)
	}
	if err != nil {
		p.clientAuthFailed(w, r, err)
		p.f.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	resp, err := p.f.NewPushedAuthorizeResponse(ctx, ar, NewSession(""))
	if err != nil {
		p.f.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	p.f.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// Bounds of the state and nonce parameters; neither has a minimum.
const (
	maxStateBytes = 512
	maxNonceBytes = 512
)
