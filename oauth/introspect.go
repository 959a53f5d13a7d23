package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/storage"
)

// Introspect serves POST /oauth/introspect (RFC 7662 §2). The caller must
// authenticate as a confidential client, by the method it registered
// (client_secret_basic and/or client_secret_post, authenticateClient, as
// at the token endpoint); a bearer token or a public client is refused. A
// client flagged as a resource server may introspect every token and API
// key; any other client only tokens issued to itself — anything else is
// reported as {"active": false}, as RFC 7662 §2.2 allows for tokens a
// caller may not see. Failed client authentications and inactive answers
// count in Config.IntrospectFailures per client IP (RFC 7662 §4: guard
// against token scanning); a blocked IP gets 429 until its window ends.
func (p *Provider) Introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ipKey := "ip:" + clientip.Bucket(r)
	if p.introspectBlocked(w, ipKey) {
		return
	}
	if err := p.normalizeBody(w, r); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			p.writeBodyError(w, r, err)
			return
		}
		p.writeIntrospectionError(w, r, err)
		return
	}
	formErr := r.ParseForm()
	if bearerPresented(r) {
		p.introspectFailed(ipKey)
		p.writeIntrospectionError(w, r, fosite.ErrInvalidClient.WithHint("Authenticate as an OAuth client (client_secret_basic or client_secret_post) to introspect tokens."))
		return
	}
	if formErr != nil || len(r.PostForm) == 0 {
		p.writeIntrospectionError(w, r, fosite.ErrInvalidRequest.WithHint("The POST body can not be empty."))
		return
	}
	c, err := p.authenticateClient(r)
	if err == nil && c.IsPublic() {
		err = fosite.ErrInvalidClient.WithHint("A public client cannot introspect tokens.")
	}
	if err != nil {
		if !serverFault(err) { // a failed client lookup is no guess (clientAuthFailed)
			p.introspectFailed(ipKey)
		}
		p.writeIntrospectionError(w, r, err)
		return
	}
	caller, err := p.store.db.GetClient(ctx, c.GetID())
	switch {
	case errors.Is(err, storage.ErrNotFound): // deleted a moment ago
		p.writeIntrospectionError(w, r, fosite.ErrInvalidClient.WithHint("The client no longer exists."))
		return
	case err != nil:
		p.log.ErrorContext(ctx, "introspection caller lookup", "error", err)
		p.writeIntrospectionError(w, r, fosite.ErrServerError.WithWrap(err))
		return
	}
	ir, err := p.introspectToken(ctx, r.PostForm)
	if err != nil {
		// No active OAuth token: it may be an API key (token_type_hint=
		// api_key, or recognised by format), which only resource servers
		// may introspect. A resource server introspects what its own
		// callers present, so its inactive answers are not counted
		// against its IP: anyone sending it bad tokens would otherwise
		// stop its introspection for everyone. (Its failed
		// authentications above still count.)
		if caller.ResourceServer && p.cfg.IntrospectKey != nil {
			if body, ok := p.cfg.IntrospectKey(ctx, r.PostForm.Get("token")); ok {
				writeJSON(w, http.StatusOK, body)
				return
			}
		}
		if !caller.ResourceServer {
			p.introspectFailed(ipKey)
		}
		p.writeIntrospectionError(w, r, err)
		return
	}
	if !caller.ResourceServer && ir.GetAccessRequester().GetClient().GetID() != caller.ID {
		p.introspectFailed(ipKey)
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	var err2 error
	if ir.GetTokenUse() == fosite.AccessToken {
		_, err2 = p.boundByKey(ctx, ir.GetAccessRequester())
	}
	var rights *Rights
	if err2 == nil {
		// The person's (or key's) rights now: a token whose person was
		// suspended or left the organization it is bound to is inactive.
		rights, err2 = p.currentRights(ctx, ir.GetAccessRequester())
	}
	if errors.Is(err2, ErrInvalidToken) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	} else if err2 != nil {
		p.log.ErrorContext(ctx, "introspection: the rights behind the token cannot be checked", "error", err2)
		p.writeIntrospectionError(w, r, fosite.ErrServerError.WithWrap(err2))
		return
	}
	p.writeIntrospection(w, ir, rights)
}

// bearerPresented reports whether r carries a bearer token as fosite's
// AccessTokenFromRequest finds one (RFC 6750 §2.1 Authorization: Bearer,
// else an access_token parameter), on a request whose form is parsed
// already — AccessTokenFromRequest would parse it once more.
func bearerPresented(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "bearer") {
		return tok != ""
	}
	return r.Form.Get("access_token") != ""
}

// introspectToken is the second half of fosite's NewIntrospectionRequest
// (its first half authenticates with HTTP Basic only): it checks the
// token named by form (RFC 7662 §2.1 token, token_type_hint, and fosite's
// scope extension) and fails with fosite.ErrInactiveToken when it is not
// active.
func (p *Provider) introspectToken(ctx context.Context, form url.Values) (*fosite.IntrospectionResponse, error) {
	use, ar, err := p.f.IntrospectToken(ctx, form.Get("token"), fosite.TokenUse(form.Get("token_type_hint")), NewSession(""),
		fosite.RemoveEmpty(strings.Split(form.Get("scope"), " "))...)
	if err != nil {
		return nil, fosite.ErrInactiveToken.WithHint("An introspection strategy indicated that the token is inactive.").WithWrap(err)
	}
	ir := &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: use}
	if use == fosite.AccessToken {
		ir.AccessTokenType = fosite.BearerAccessToken
	}
	return ir, nil
}

// introspectBlocked answers 429 when the guessing throttle blocks ipKey,
// and reports whether it did.
func (p *Provider) introspectBlocked(w http.ResponseWriter, ipKey string) bool {
	if p.cfg.IntrospectFailures == nil {
		return false
	}
	wait := p.cfg.IntrospectFailures.Blocked(ipKey)
	if wait <= 0 {
		return false
	}
	writeTooManyRequests(w, wait, "Too many failed introspection requests. Try again in %d seconds.")
	return true
}

func (p *Provider) introspectFailed(ipKey string) {
	if f := p.cfg.IntrospectFailures; f != nil {
		f.Fail(ipKey)
	}
}

// writeIntrospection writes the RFC 7662 §2.2 answer for the active
// token of ir: the members fosite's WriteIntrospectionResponse writes
// (introspectionBody), plus what fosite leaves out: token_type "Bearer"
// for access tokens only ("DPoP" with cnf.jkt for a DPoP-bound one, RFC
// 9449 §6.2), and token_use ("access_token" or
// "refresh_token") so a resource server can refuse a refresh token
// presented as a bearer credential; and the organization members of
// rights (org_id, org_role, tenants, key_kind). It builds the answer
// directly rather than letting fosite write it and decoding that again.
func (p *Provider) writeIntrospection(w http.ResponseWriter, ir fosite.IntrospectionResponder, rights *Rights) {
	body := introspectionBody(ir.GetAccessRequester())
	body["token_use"] = string(ir.GetTokenUse())
	if ir.GetTokenUse() == fosite.AccessToken {
		body["token_type"] = "Bearer"
	}
	if s, ok := ir.GetAccessRequester().GetSession().(*Session); ok && s.DPoPJKT != "" {
		// RFC 9449 §6.2: the key the token is bound to. A public
		// client's refresh token is bound to it too (§5).
		body["cnf"] = map[string]string{"jkt": s.DPoPJKT}
		if ir.GetTokenUse() == fosite.AccessToken {
			body["token_type"] = dpop.TokenType
		}
	}
	if rights != nil {
		for k, v := range rights.Claims {
			if _, taken := body[k]; !taken {
				body[k] = v
			}
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// introspectionBody is the answer fosite v0.49.0's
// WriteIntrospectionResponse gives for an active token (RFC 7662 §2.2),
// member for member: "active": true, the session's extra claims (never
// one of the standard members), exp, client_id, scope, iat, sub, aud and
// username where set. TestIntrospectionBodyIsFosites holds the two
// together.
func introspectionBody(ar fosite.AccessRequester) map[string]any {
	body := map[string]any{"active": true}
	sess := ar.GetSession()
	if ecs, ok := sess.(fosite.ExtraClaimsSession); ok {
		for name, value := range ecs.GetExtraClaims() {
			switch name {
			case "exp", "client_id", "scope", "iat", "sub", "aud", "username":
			default:
				body[name] = value
			}
		}
	}
	if exp := sess.GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		body["exp"] = exp.Unix()
	}
	if id := ar.GetClient().GetID(); id != "" {
		body["client_id"] = id
	}
	if scopes := ar.GetGrantedScopes(); len(scopes) > 0 {
		body["scope"] = strings.Join(scopes, " ")
	}
	if at := ar.GetRequestedAt(); !at.IsZero() {
		body["iat"] = at.Unix()
	}
	if sub := sess.GetSubject(); sub != "" {
		body["sub"] = sub
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		body["aud"] = aud
	}
	if u := sess.GetUsername(); u != "" {
		body["username"] = u
	}
	return body
}

// writeIntrospectionError answers as fosite does (a bad request is
// invalid_request, anything else {"active": false}), except that a failed
// client authentication is answered as at the token endpoint: RFC 6749
// §5.2 invalid_client (401, with a Basic challenge when the client tried
// Basic), as RFC 7662 §2.3 asks.
func (p *Provider) writeIntrospectionError(w http.ResponseWriter, r *http.Request, err error) {
	if fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidClient.ErrorField {
		challengeBasic(w, r, err)
		p.f.WriteAccessError(r.Context(), w, nil, err)
		return
	}
	p.f.WriteIntrospectionError(r.Context(), w, err)
}
