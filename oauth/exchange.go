package oauth

import (
	"cmp"
	"context"
	"crypto/hmac"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
)

// OAuth 2.0 Token Exchange (RFC 8693) at the token endpoint. A client that
// registered the grant trades a subject token — an API key of this
// deployment or an access token Latchkey issued — for an access token that
// is never wider than the subject: its scopes a subset of the subject's
// scopes now, at most one audience, and an expiry no later than the
// subject's. POST /tokens/generate is the same exchange with the key in
// the Authorization header (Exchange is the one function behind both).

// Token exchange identifiers (RFC 8693 §2.1, §3).
const (
	// GrantTypeTokenExchange is the grant_type of a token exchange request.
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is RFC 8693 §3's type of an OAuth access token.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeAPIKey is Latchkey's own token type URI (RFC 8693 §3 allows
	// others) for an API key of this deployment as subject_token.
	TokenTypeAPIKey = "urn:latchkey:params:oauth:token-type:api_key"
	// GrantTokenExchange is the grant reported to Config.OnTokenIssued for
	// tokens of the token-exchange grant.
	GrantTokenExchange = "token_exchange"
	// grantTypeAPIKey marks the stored requests of tokens from POST
	// /tokens/generate.
	grantTypeAPIKey = "urn:latchkey:api-key"
)

// Subject is what a subject token (RFC 8693 §2.1) stands for now: the
// bound within which an exchanged token is issued.
type Subject struct {
	// KeyID names the API key behind the subject ("" = none): the new
	// token is bound to it as tokens from /tokens/generate are (its grant
	// id is the key id, so revoking the key revokes it, and on every use
	// it is no more than the key then, Config.KeyState).
	KeyID string
	// GrantID is the grant (request id) the new token joins when no key
	// is behind it: revoking that grant revokes the new token too.
	GrantID  string
	UserID   string
	Username string
	// OrgID is the organization a person's grant is bound to.
	OrgID string
	// Granted are the scopes the new token carries when the request names
	// none (an API key's scopes as granted, narrowed at each use).
	Granted []string
	// Effective are the subject's scopes now (an API key's scopes
	// intersected with its owner's rights): a requested scope must be one
	// of them.
	Effective []string
	// Audience is the subject token's audience; empty = not restricted.
	Audience []string
	// ExpiresAt is the subject's own expiry (zero = none): the new token
	// never outlives it.
	ExpiresAt time.Time
	// Issued, when set, is called once the new token is stored (the key's
	// audit log).
	Issued func(ctx context.Context)
	// session is the subject token's session, kept for the new token's
	// authentication claims (auth_time, acr, amr); nil = a new session.
	session *Session
}

// ExchangeRequest is one exchange: a subject, what is asked of it, and
// the client the token is issued to.
type ExchangeRequest struct {
	Subject Subject
	// Scopes are the requested scopes (RFC 8693 §2.1 scope); nil = none
	// named, the token carries Subject.Granted.
	Scopes []string
	// Audience is the one audience requested (audience or resource);
	// "" = the subject's.
	Audience string
	// Client receives the token; nil = none (POST /tokens/generate).
	Client fosite.Client
	// Grant is reported to Config.OnTokenIssued.
	Grant string
	// DPoPJKT binds the token to a DPoP key (RFC 9449 §5, the thumbprint
	// of the token request's proof); "" = a bearer token.
	DPoPJKT string
}

// Exchanged is an issued token.
type Exchanged struct {
	AccessToken string
	ExpiresAt   time.Time
	// Scopes are what the token may do now: its scopes within the
	// subject's effective scopes.
	Scopes   []string
	Audience []string
}

// Exchange issues an access token for x.Subject narrowed as x asks
// (RFC 8693 §2.1): the one function behind the token-exchange grant and
// POST /tokens/generate (MintKeyToken). A requested scope outside the
// subject's current scopes is invalid_scope; an audience outside the
// subject's, or one the client may not name (audienceAllowed), is
// invalid_target (RFC 8693 §2.2.2); the token expires at the end of
// Config.AccessTokenLifespan or the subject's expiry, whichever is first.
func (p *Provider) Exchange(ctx context.Context, x ExchangeRequest) (*Exchanged, error) {
	now := time.Now().UTC().Truncate(time.Second)
	s := x.Subject
	scopes := s.Granted
	if x.Scopes != nil {
		scopes = nil
		for _, sc := range x.Scopes {
			if !slices.Contains(s.Effective, sc) {
				return nil, fosite.ErrInvalidScope.WithHintf("The scope '%s' is not among the subject token's current scopes: an exchanged token can only be narrower.", sc)
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	aud := s.Audience
	if x.Audience != "" {
		if len(s.Audience) > 0 && !slices.Contains(s.Audience, x.Audience) {
			return nil, ErrInvalidTarget.WithHintf("The audience '%s' is not one of the subject token's audiences.", x.Audience)
		}
		if !p.audienceAllowed(x.Client, x.Audience) {
			return nil, ErrInvalidTarget.WithHintf("The audience '%s' is not a resource this client may ask tokens for: use one registered for the client or %s.", x.Audience, p.cfg.Issuer)
		}
		aud = []string{x.Audience}
	}
	exp := now.Add(p.cfg.AccessTokenLifespan)
	if !s.ExpiresAt.IsZero() && s.ExpiresAt.Before(exp) {
		exp = s.ExpiresAt.UTC()
	}
	if !exp.After(now) {
		return nil, fosite.ErrInvalidRequest.WithHint("The subject token has expired.")
	}

	var sess *Session
	if s.session != nil {
		sess = s.session.Clone().(*Session)
		sess.FamilyScope = nil
		sess.ExpiresAt = nil
	} else {
		sess = NewSession(s.UserID)
	}
	sess.Subject = s.UserID
	sess.Username = s.Username
	sess.KeyID = s.KeyID
	sess.OrgID = s.OrgID
	sess.ClientID = ""
	sess.DPoPJKT = x.DPoPJKT // never the subject's binding: the proof's key or none
	sess.SetExpiresAt(fosite.AccessToken, exp)
	req := fosite.NewAccessRequest(sess)
	// The grant the token belongs to: the key's, the subject token's, or
	// a new one when the subject names neither.
	req.ID = cmp.Or(s.KeyID, s.GrantID)
	if req.ID == "" {
		req.ID = newRequestID()
	}
	req.RequestedAt = now
	req.Client = &client{}
	req.GrantTypes = fosite.Arguments{grantTypeAPIKey}
	if x.Client != nil {
		req.Client = x.Client
		req.GrantTypes = fosite.Arguments{GrantTypeTokenExchange}
		sess.ClientID = x.Client.GetID()
	}
	for _, sc := range scopes {
		req.RequestedScope = append(req.RequestedScope, sc)
		req.GrantScope(sc)
	}
	for _, a := range aud {
		req.RequestedAudience = append(req.RequestedAudience, a)
		req.GrantAudience(a)
	}
	token, sig, err := p.strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := p.store.CreateAccessTokenSession(ctx, sig, req); err != nil {
		return nil, err
	}
	if f := p.cfg.OnTokenIssued; f != nil && x.Grant != "" {
		f(x.Grant)
	}
	if s.Issued != nil {
		s.Issued(ctx)
	}
	out := &Exchanged{AccessToken: token, ExpiresAt: exp, Audience: aud}
	for _, sc := range scopes {
		if slices.Contains(s.Effective, sc) {
			out.Scopes = append(out.Scopes, sc)
		}
	}
	return out, nil
}

// audienceAllowed is the one rule for the audience (or resource) a client
// may ask an exchanged token for: Latchkey's own API (the issuer, the
// audience of every token that names none) or a value registered in the
// client's audience list (a resource's URI or a resource server's client
// id). Resource indicators (RFC 8707) extend it with the configured
// resources.
func (p *Provider) audienceAllowed(c fosite.Client, aud string) bool {
	// Latchkey's own API and the configured resources (RFC 8707,
	// oauth.resources; the issuer is always among them).
	if aud == p.cfg.Issuer || slices.Contains(p.cfg.Resources, aud) {
		return true
	}
	return c != nil && slices.Contains(c.GetAudience(), aud)
}

// exchangeParams are the RFC 8693 §2.1 parameters of one request.
type exchangeParams struct {
	subjectToken, subjectType string
	// scopes are the requested scopes; nil = none named.
	scopes   []string
	audience string
}

// parseExchange reads and checks the parameters of a token exchange
// request (RFC 8693 §2.1). Delegation is not offered: an actor_token is
// refused with invalid_request, as is a requested_token_type other than
// an access token. audience and resource (RFC 8707) name one target
// between them; several are refused with invalid_target.
func parseExchange(form url.Values) (exchangeParams, error) {
	x := exchangeParams{subjectToken: form.Get("subject_token"), subjectType: form.Get("subject_token_type")}
	switch {
	case x.subjectToken == "":
		return x, fosite.ErrInvalidRequest.WithHint("The subject_token parameter is missing.")
	case x.subjectType == "":
		return x, fosite.ErrInvalidRequest.WithHint("The subject_token_type parameter is missing.")
	case x.subjectType != TokenTypeAPIKey && x.subjectType != TokenTypeAccessToken:
		return x, fosite.ErrInvalidRequest.WithHintf("The subject_token_type is not supported: use %s or %s.", TokenTypeAccessToken, TokenTypeAPIKey)
	case form.Get("actor_token") != "" || form.Get("actor_token_type") != "":
		return x, fosite.ErrInvalidRequest.WithHint("Delegation is not supported: send no actor_token; the exchanged token acts for the subject alone (impersonation, RFC 8693 §1.1).")
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
		return x, fosite.ErrInvalidRequest.WithHintf("The requested_token_type is not supported: only %s is issued.", TokenTypeAccessToken)
	}
	if s := strings.TrimSpace(form.Get("scope")); s != "" {
		x.scopes = fosite.RemoveEmpty(strings.Split(s, " "))
	}
	var targets []string
	for _, k := range []string{"audience", "resource"} {
		for _, v := range form[k] {
			if v = strings.TrimSpace(v); v != "" && !slices.Contains(targets, v) {
				targets = append(targets, v)
			}
		}
	}
	switch {
	case len(targets) > 1:
		return x, ErrInvalidTarget.WithHint("Name one audience: an exchanged token has at most one.")
	case len(targets) == 1:
		x.audience = targets[0]
		if strings.ContainsAny(x.audience, " \t\r\n") {
			return x, ErrInvalidTarget.WithHint("Name one audience: an exchanged token has at most one.")
		}
		if form.Get("resource") != "" {
			// RFC 8707 §2: an absolute URI without a fragment.
			if u, err := url.Parse(x.audience); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(x.audience, "#") {
				return x, ErrInvalidTarget.WithHint("The resource must be an absolute URI without a fragment (RFC 8707 §2).")
			}
		}
	}
	return x, nil
}

// subject resolves a subject token into what it stands for now. An
// invalid, expired or revoked subject token is invalid_request, as RFC
// 8693 §2.2.2 requires ("if either the subject_token or actor_token are
// invalid for any reason, or are unacceptable based on policy"). An access
// token is accepted from the client it was issued to only; a token that
// belongs to no client (POST /tokens/generate) from any client, since it
// is a bearer credential of its API key and the new token stays bound to
// that key.
func (p *Provider) subject(ctx context.Context, x exchangeParams, caller fosite.Client) (Subject, error) {
	invalid := func(err error, hint string) (Subject, error) {
		if errors.Is(err, ErrInvalidToken) || err == nil {
			return Subject{}, fosite.ErrInvalidRequest.WithHint(hint)
		}
		p.log.ErrorContext(ctx, "token exchange: the subject token cannot be checked", "error", err)
		return Subject{}, fosite.ErrTemporarilyUnavailable.WithHint("The subject token cannot be checked right now; try again shortly.")
	}
	switch x.subjectType {
	case TokenTypeAPIKey:
		if p.cfg.ExchangeKey == nil {
			return invalid(nil, "API keys cannot be exchanged on this server.")
		}
		s, err := p.cfg.ExchangeKey(ctx, x.subjectToken)
		if err != nil {
			return invalid(err, "The subject_token is not a valid API key of this server, or it has expired or was revoked.")
		}
		return s, nil
	default: // TokenTypeAccessToken
		if !LooksLikeAccessToken(x.subjectToken) {
			return invalid(nil, "The subject_token is not an access token of this server.")
		}
		info, ar, err := p.validateAccess(ctx, x.subjectToken)
		if err != nil {
			return invalid(err, "The subject_token is not active: it is unknown, has expired or was revoked.")
		}
		if info.ClientID != "" && info.ClientID != caller.GetID() {
			return invalid(nil, "The subject_token was issued to another client; only that client may exchange it.")
		}
		s := Subject{
			KeyID: info.KeyID, GrantID: info.GrantID, UserID: info.Subject, Username: info.Username, OrgID: info.OrgID,
			Granted: info.Scopes, Effective: info.Scopes, Audience: info.Audience, ExpiresAt: info.ExpiresAt,
			session: sessionOf(ar),
		}
		return s, nil
	}
}

// exchangeHandler is the token-exchange grant as a fosite token endpoint
// handler: fosite authenticates the client; HandleTokenEndpointRequest
// checks the client and the parameters (no lookups, so a client over its
// rate limit learns nothing about subject tokens); after the client's
// rate limit, PopulateTokenEndpointResponse resolves the subject and
// issues through Exchange.
type exchangeHandler struct{ p *Provider }

var _ fosite.TokenEndpointHandler = (*exchangeHandler)(nil)

// exchangeFactory returns the compose factory of the grant; its provider
// is set once New has built it.
func exchangeFactory(h *exchangeHandler) compose.Factory {
	return func(fosite.Configurator, interface{}, interface{}) interface{} { return h }
}

// CanSkipClientAuth implements fosite.TokenEndpointHandler: only an
// authenticated client may exchange tokens.
func (h *exchangeHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *exchangeHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantTypeTokenExchange)
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *exchangeHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	c := ar.GetClient()
	if c.IsPublic() {
		return fosite.ErrUnauthorizedClient.WithHint("A public client cannot exchange tokens: token exchange needs an authenticated client.")
	}
	if !c.GetGrantTypes().Has(GrantTypeTokenExchange) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not registered for the grant type '%s'.", GrantTypeTokenExchange)
	}
	_, err := parseExchange(ar.GetRequestForm())
	return err
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler:
// the RFC 8693 §2.2.1 response (issued_token_type, no refresh token).
func (h *exchangeHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	x, err := parseExchange(ar.GetRequestForm())
	if err != nil {
		return err
	}
	if err := requireProof(ctx, ar.GetClient()); err != nil {
		return err
	}
	s, err := h.p.subject(ctx, x, ar.GetClient())
	if err != nil {
		return err
	}
	// A DPoP-bound subject token is no bearer credential (RFC 9449 §7.1):
	// it is exchanged only with a proof of its key.
	if s.session != nil && s.session.DPoPJKT != "" {
		if proof := proofIn(ctx); proof == nil || !hmac.Equal([]byte(proof.JKT), []byte(s.session.DPoPJKT)) {
			return errDPoP("The subject_token is DPoP-bound: send a DPoP proof signed with the key it is bound to.")
		}
	}
	jkt, err := h.p.populateProof(ctx)
	if err != nil {
		return err
	}
	out, err := h.p.Exchange(ctx, ExchangeRequest{Subject: s, Scopes: x.scopes, Audience: x.audience, Client: ar.GetClient(),
		Grant: GrantTokenExchange, DPoPJKT: jkt})
	if err != nil {
		return err
	}
	for _, sc := range out.Scopes {
		ar.GrantScope(sc)
	}
	resp.SetAccessToken(out.AccessToken)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(out.ExpiresAt).Round(time.Second))
	resp.SetScopes(out.Scopes)
	resp.SetExtra("issued_token_type", TokenTypeAccessToken)
	return nil
}
