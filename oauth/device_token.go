package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	fstorage "github.com/ory/fosite/storage"

	"github.com/latchkey/latchkey/storage"
)

// deviceGrantHandler is the token endpoint's side of the device flow
// (RFC 8628 §3.4, §3.5), a fosite TokenEndpointHandler. Its
// HandleTokenEndpointRequest only reads, so the checks Token makes after
// it (the client's rate limit) come before anything changes; the poll is
// counted, or the device code used and the tokens issued, in
// PopulateTokenEndpointResponse. Tokens are issued as the authorization
// code flow issues them (fosite's AuthorizeExplicitGrantHandler and
// OpenIDConnectExplicitHandler): an access token, a refresh token when
// offline_access was granted and the client may refresh, an ID token when
// openid was granted — stored through the same adapter, so refresh,
// revocation and introspection treat them alike.
type deviceGrantHandler struct{ p *Provider }

var _ fosite.TokenEndpointHandler = (*deviceGrantHandler)(nil)

// CanSkipClientAuth implements fosite.TokenEndpointHandler: the client
// authenticates (a public client by client_id), RFC 8628 §3.4.
func (h *deviceGrantHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *deviceGrantHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTypeDeviceCode)
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler: the
// checks that need no write (RFC 8628 §3.5 and RFC 6749 §5.2).
func (h *deviceGrantHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	_, err := h.lookup(ctx, r)
	return err
}

// lookup finds the request of the device code r presents and refuses
// what can be refused without a write.
func (h *deviceGrantHandler) lookup(ctx context.Context, r fosite.AccessRequester) (*storage.DeviceAuthorization, error) {
	if !r.GetClient().GetGrantTypes().Has(GrantTypeDeviceCode) {
		return nil, fosite.ErrUnauthorizedClient.WithHintf("The client is not registered for the grant type %q.", GrantTypeDeviceCode)
	}
	code := r.GetRequestForm().Get("device_code")
	if code == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("The device_code parameter is required.")
	}
	rec, err := h.p.store.db.GetDeviceAuthorization(ctx, h.p.digest("device", code))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fosite.ErrInvalidGrant.WithHint("The device code is not valid.")
	case err != nil:
		return nil, fosite.ErrServerError.WithWrap(err)
	case rec.ClientID != r.GetClient().GetID():
		// RFC 6749 §5.2: the grant "was issued to another client".
		return nil, fosite.ErrInvalidGrant.WithHint("The device code was issued to another client.")
	case rec.Status == storage.DeviceUsed:
		return nil, fosite.ErrInvalidGrant.WithHint("The device code has already been used.")
	case rec.Status == storage.DeviceDenied:
		// RFC 8628 §3.5 access_denied, a token error: 400 (RFC 6749
		// §5.2), not fosite's 403 of the authorization endpoint.
		return nil, deviceError("access_denied", "The person denied the authorization request.")
	case !h.p.cfg.Now().Before(rec.ExpiresAt):
		return nil, errExpiredToken()
	}
	// A resource outside what the device authorization named is refused
	// before the poll counts or the code is used (RFC 8707 §2.2).
	if _, _, err := deviceAudience(r, pendingAudience(rec.GrantData)); err != nil {
		return nil, err
	}
	return rec, nil
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler:
// a pending request counts the poll (authorization_pending, or slow_down
// with a longer interval when it came sooner than the interval after the
// last, RFC 8628 §3.5); an approved one is used — once — and its tokens
// issued.
func (h *deviceGrantHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) (err error) {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	rec, err := h.lookup(ctx, r)
	if err != nil {
		return err
	}
	if err := requireProof(ctx, r.GetClient()); err != nil {
		return err
	}
	p := h.p
	now := p.cfg.Now().UTC()
	if rec.Status == storage.DevicePending {
		interval := rec.PollInterval
		early := rec.LastPolledAt != nil && now.Sub(*rec.LastPolledAt) < time.Duration(interval)*time.Second
		if early {
			interval += slowDownStep
		}
		recorded, err := p.store.db.PollDeviceAuthorization(ctx, rec.DeviceDigest, rec.Polls, interval, now)
		if err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
		if early || !recorded { // !recorded: another poll raced this one
			return errSlowDown(interval)
		}
		return errAuthorizationPending()
	}

	// RFC 9449 §5: the tokens are bound to the proof's key (a public
	// client's refresh token too, bindDPoP); the proof is spent only now
	// that the device code is approved.
	jkt, err := p.populateProof(ctx)
	if err != nil {
		return err
	}
	ctx, err = fstorage.MaybeBeginTx(ctx, p.store)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	defer func() {
		if err != nil {
			_ = fstorage.MaybeRollbackTx(ctx, p.store)
		}
	}()
	used, err := p.store.db.UseDeviceAuthorization(ctx, rec.DeviceDigest, now)
	switch {
	case errors.Is(err, storage.ErrInactive) && used != nil && used.Status == storage.DeviceApproved:
		return errExpiredToken()
	case errors.Is(err, storage.ErrInactive):
		return fosite.ErrInvalidGrant.WithHint("The device code has already been used.")
	case err != nil:
		return fosite.ErrServerError.WithWrap(err)
	}
	var g deviceGrant
	if err = json.Unmarshal([]byte(used.GrantData), &g); err != nil || g.Session == nil {
		return fosite.ErrServerError.WithHint("The approved grant could not be read.")
	}
	g.Session.DPoPJKT = jkt
	r.SetSession(g.Session)
	r.SetRequestedScopes(used.Scopes)
	for _, s := range g.Scopes {
		r.GrantScope(s)
	}
	// RFC 8707: the access token is for the resources asked for; the
	// refresh token keeps the whole audience (Session.FamilyAudience).
	audience, family, err := deviceAudience(r, g.Audience)
	if err != nil {
		return err
	}
	r.SetRequestedAudience(family)
	for _, a := range audience {
		r.GrantAudience(a)
	}
	if len(audience) < len(family) {
		g.Session.FamilyAudience = family
	}
	client := r.GetClient()
	atLifespan := fosite.GetEffectiveLifespan(client, fosite.GrantType(GrantTypeDeviceCode), fosite.AccessToken, p.fcfg.GetAccessTokenLifespan(ctx))
	g.Session.SetExpiresAt(fosite.AccessToken, now.Add(atLifespan).Round(time.Second))
	refreshable := r.GetGrantedScopes().HasOneOf(p.fcfg.GetRefreshTokenScopes(ctx)...) && client.GetGrantTypes().Has("refresh_token")
	if refreshable {
		if rtLifespan := fosite.GetEffectiveLifespan(client, fosite.GrantType(GrantTypeDeviceCode), fosite.RefreshToken, p.fcfg.GetRefreshTokenLifespan(ctx)); rtLifespan > -1 {
			g.Session.SetExpiresAt(fosite.RefreshToken, now.Add(rtLifespan).Round(time.Second))
		}
	}

	access, accessSig, err := p.strategy.GenerateAccessToken(ctx, r)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	var refresh, refreshSig string
	if refreshable {
		if refresh, refreshSig, err = p.strategy.GenerateRefreshToken(ctx, r); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	if err = p.store.CreateAccessTokenSession(ctx, accessSig, r.Sanitize(nil)); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	if refreshSig != "" {
		if err = p.store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, r.Sanitize(nil)); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(atLifespan)
	resp.SetScopes(r.GetGrantedScopes())
	if refresh != "" {
		resp.SetExtra("refresh_token", refresh)
	}
	if r.GetGrantedScopes().Has("openid") {
		// OpenID Connect Core §3.1.3.3, as the code flow answers.
		helper := &openid.IDTokenHandleHelper{IDTokenStrategy: p.strategy.OpenIDConnectTokenStrategy}
		g.Session.IDTokenClaims().AccessTokenHash = helper.GetAccessTokenHash(ctx, r, resp)
		idLifespan := fosite.GetEffectiveLifespan(client, fosite.GrantType(GrantTypeDeviceCode), fosite.IDToken, p.fcfg.GetIDTokenLifespan(ctx))
		if err = helper.IssueExplicitIDToken(ctx, idLifespan, r, resp); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	if err = fstorage.MaybeCommitTx(ctx, p.store); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	return nil
}
