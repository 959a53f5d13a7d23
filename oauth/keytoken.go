package oauth

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/ory/fosite"
)

// KeyState is what the API key behind a token from MintKeyToken allows
// now (Config.KeyState).
type KeyState struct {
	// Scopes are the key's scopes now.
	Scopes []string
	// ExpiresAt is the key's expiry now; zero = never.
	ExpiresAt time.Time
}

// boundByKey makes a token exchanged from an API key (its session names
// the key) never more than the key now, on every use — resource
// requests (ValidateAccessToken), introspection and userinfo: the key is
// looked up through Config.KeyState, the token's granted scopes are
// intersected with the key's and its expiry is clamped to the key's. It
// returns ErrInvalidToken when the key may not be used any more
// (revoked, expired, rotated out after its grace) or the clamped expiry
// has passed, and the hook's other errors as they are (the key could not
// be checked). For such a token it returns the key's state it applied;
// other tokens pass unchanged (nil state).
func (p *Provider) boundByKey(ctx context.Context, ar fosite.Requester) (*KeyState, error) {
	sess, _ := ar.GetSession().(*Session)
	if sess == nil || sess.KeyID == "" || p.cfg.KeyState == nil {
		return nil, nil
	}
	st, err := p.cfg.KeyState(ctx, sess.KeyID)
	if err != nil {
		return nil, err
	}
	var scopes fosite.Arguments
	for _, s := range ar.GetGrantedScopes() {
		if slices.Contains(st.Scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if err := setGranted(ar, scopes); err != nil {
		return nil, err
	}
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if !st.ExpiresAt.IsZero() && (exp.IsZero() || st.ExpiresAt.Before(exp)) {
		exp = st.ExpiresAt
		sess.SetExpiresAt(fosite.AccessToken, exp)
	}
	if !exp.IsZero() && !time.Now().Before(exp) {
		return nil, ErrInvalidToken
	}
	return &st, nil
}

// revokeKeyToken revokes a token exchanged from an API key (POST
// /tokens/generate) presented to the revocation endpoint, and reports
// whether token was one. Such tokens belong to no client (MintKeyToken),
// so fosite's check that the token was issued to the authenticating
// client (RFC 7009 §2.1) can never pass for them; like a public client's
// token, the token itself is the proof: whoever presents it may end it —
// that one token, not the key or its other tokens — with or without
// client authentication. Revoking the key (DELETE /user/keys/{handle})
// ends all of them.
func (p *Provider) revokeKeyToken(ctx context.Context, token string) (bool, error) {
	if !LooksLikeAccessToken(token) {
		return false, nil
	}
	// IntrospectToken checks the token's HMAC and expiry before anything
	// is looked up by its signature.
	_, ar, err := p.f.IntrospectToken(ctx, token, fosite.AccessToken, NewSession(""))
	if err != nil {
		return false, nil // unknown, expired or revoked: fosite answers
	}
	sess, _ := ar.GetSession().(*Session)
	if sess == nil || sess.KeyID == "" {
		return false, nil
	}
	sig := p.strategy.AccessTokenSignature(ctx, token)
	if err := p.store.DeleteAccessTokenSession(ctx, sig); err != nil {
		return true, err
	}
	return true, nil
}

// revokeKeyTokenRequest handles a revocation request for a key-exchanged
// token; it reports whether it answered.
func (p *Provider) revokeKeyTokenRequest(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		return false
	}
	ok, err := p.revokeKeyToken(r.Context(), r.PostForm.Get("token"))
	if !ok {
		return false
	}
	if err != nil {
		// RFC 7009 §2.2.1: 503 tells the client the token may still be valid.
		p.log.ErrorContext(r.Context(), "revoke key token", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error":             "temporarily_unavailable",
			"error_description": "The token could not be revoked right now; try again shortly.",
		})
		return true
	}
	p.f.WriteRevocationResponse(r.Context(), w, nil)
	return true
}
