package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
)

// refreshHandler is fosite's refresh_token grant (rotation and reuse
// detection stay fosite's) with two rules fosite v0.49.0 lacks:
//
//   - scope narrowing (RFC 6749 §6): a "scope" parameter must name only
//     scopes originally granted (else invalid_scope) and the access token
//     gets exactly those; the new refresh token keeps the original scope
//     ("If a new refresh token is issued, the refresh token scope MUST be
//     identical to that of the refresh token included by the client"), so
//     a later refresh may ask for the full scope again. fosite v0.49.0
//     ignores the parameter and re-grants everything.
//   - a maximum family lifetime: a grant approved longer than
//     familyLifetime ago cannot be refreshed any more (invalid_grant), and
//     no refresh token of it expires later than that (RFC 9700 §4.14.2
//     lets servers bound refresh token lifetime).
//
// It also refuses (invalid_grant) a refresh for a person who may not use
// the grant now (Config.TokenRights: suspended, or no longer a member of
// the organization the grant is bound to); the refresh token is not
// consumed, so it works again if they are reinstated.
type refreshHandler struct {
	*oauth2.RefreshTokenGrantHandler
	familyLifetime time.Duration
	now            func() time.Time
	rights         func(ctx context.Context, owner TokenOwner) (*Rights, error)
}

var _ fosite.TokenEndpointHandler = (*refreshHandler)(nil)

// refreshFactory composes refreshHandler in place of
// compose.OAuth2RefreshTokenGrantFactory.
func refreshFactory(familyLifetime time.Duration, now func() time.Time, rights func(context.Context, TokenOwner) (*Rights, error)) compose.Factory {
	return func(config fosite.Configurator, storage interface{}, strategy interface{}) interface{} {
		inner := compose.OAuth2RefreshTokenGrantFactory(config, storage, strategy).(*oauth2.RefreshTokenGrantHandler)
		return &refreshHandler{RefreshTokenGrantHandler: inner, familyLifetime: familyLifetime, now: now, rights: rights}
	}
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *refreshHandler) HandleTokenEndpointRequest(ctx context.Context, request fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, request) {
		return h.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, request)
	}
	// fosite set the requested scopes from the "scope" parameter; its
	// handler replaces them with the original request's.
	asked := slices.Clone(request.GetRequestedScopes())
	if err := h.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, request); err != nil {
		return err
	}
	sess, ok := request.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected session type %T", request.GetSession())
	}
	sess.FamilyScope, sess.FamilyAudience = nil, nil
	if err := narrowRefreshAudience(request, sess); err != nil {
		return err
	}
	if err := h.checkFamilyLifetime(sess); err != nil {
		return err
	}
	if err := h.checkRights(ctx, request, sess); err != nil {
		return err
	}
	if len(asked) == 0 {
		return nil // RFC 6749 §6: omitted means the scope originally granted
	}
	granted := request.GetGrantedScopes()
	var narrowed fosite.Arguments
	for _, s := range asked {
		// Scope values are case-sensitive (RFC 6749 §3.3); fosite's
		// Arguments.Has is not.
		if !slices.Contains(granted, s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted to this refresh token; a refresh may only narrow the scope.", s)
		}
		if !slices.Contains(narrowed, s) {
			narrowed = append(narrowed, s)
		}
	}
	if len(narrowed) == len(granted) {
		return nil // the scope originally granted, perhaps in another order
	}
	ar, ok := request.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected access request type %T", request)
	}
	sess.FamilyScope = slices.Clone(granted)
	ar.GrantedScope = narrowed
	ar.SetRequestedScopes(narrowed)
	return nil
}

// checkFamilyLifetime refuses a grant older than the family lifetime and
// keeps the new refresh token from outliving it.
func (h *refreshHandler) checkFamilyLifetime(sess *Session) error {
	if h.familyLifetime <= 0 {
		return nil
	}
	start := sess.grantStart()
	if start.IsZero() {
		return nil
	}
	end := start.Add(h.familyLifetime)
	if !h.now().Before(end) {
		return fosite.ErrInvalidGrant.WithHint("The authorization is older than the maximum refresh lifetime; the person must authorize the app again.")
	}
	if exp := sess.GetExpiresAt(fosite.RefreshToken); exp.IsZero() || exp.After(end) {
		sess.SetExpiresAt(fosite.RefreshToken, end.UTC())
	}
	return nil
}

// checkRights refuses a refresh for a person who may not use the grant
// now (refreshHandler).
func (h *refreshHandler) checkRights(ctx context.Context, request fosite.AccessRequester, sess *Session) error {
	if h.rights == nil || sess.GetSubject() == "" || sess.GetSubject() == request.GetClient().GetID() {
		return nil
	}
	_, err := h.rights(ctx, TokenOwner{UserID: sess.GetSubject(), OrgID: sess.OrgID, KeyID: sess.KeyID, Scopes: request.GetGrantedScopes()})
	switch {
	case errors.Is(err, ErrInvalidToken):
		return fosite.ErrInvalidGrant.WithHint("The account is suspended or no longer belongs to the organization this access was granted for.")
	case err != nil:
		return fosite.ErrServerError.WithWrap(err)
	}
	return nil
}

// narrowRefreshAudience applies the resource parameters of a refresh
// request (RFC 8707 §2.2; Provider.Token has checked that each is a known
// resource): each must be in the audience the refresh token was granted
// (else invalid_target), and the access token gets only those; the new
// refresh token keeps the whole audience (Session.FamilyAudience).
func narrowRefreshAudience(request fosite.AccessRequester, sess *Session) error {
	granted := slices.Clone(request.GetGrantedAudience())
	narrowed, err := narrowAudience(uniq(request.GetRequestForm()[resourceParam]), granted)
	if err != nil || narrowed == nil || len(narrowed) == len(granted) {
		return err
	}
	ar, ok := request.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected access request type %T", request)
	}
	sess.FamilyAudience = granted
	ar.GrantedAudience = narrowed
	return nil
}

// uniq returns v without repeats, in order.
func uniq(v []string) []string {
	var out []string
	for _, s := range v {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
