package oauth

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/storage"
)

// Userinfo serves GET/POST /oauth/userinfo (OpenID Connect Core §5.3): the
// bearer access token must be active and carry the openid scope; profile
// and email claims follow the granted scopes. The token is accepted in the
// Authorization header only (RFC 6750 §2.1): a token in the query string
// or a form body (RFC 6750 §2.2–2.3; RFC 9700 §4.3.2 warns that URLs leak
// through logs and referrers) is refused with invalid_request.
func (p *Provider) Userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if inURL, err := p.tokenOutsideHeader(w, r); inURL || err != nil {
		switch {
		case errors.Is(err, errBodyTooLarge):
			p.writeBodyError(w, r, err)
		case err != nil:
			bearerError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
		default:
			bearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token in the Authorization: Bearer header, not in the URL or the body.")
		}
		return
	}
	tok, isDPoP := bearerToken(r), false
	if tok == "" {
		tok, isDPoP = dpopToken(r), true
	}
	if tok == "" {
		bearerError(w, http.StatusUnauthorized, "invalid_request", "Send the access token in the Authorization: Bearer header.")
		return
	}
	use, ar, err := p.f.IntrospectToken(ctx, tok, fosite.AccessToken, NewSession(""))
	if err == nil && use != fosite.AccessToken {
		err = fosite.ErrInvalidTokenFormat // a refresh token is not a bearer credential
	}
	if err == nil && !p.forOwnAPI(ar) {
		err = fosite.ErrInvalidTokenFormat // for another resource only (RFC 8707)
	}
	if err == nil {
		_, err = p.boundByKey(ctx, ar) // a key's token is never more than the key now
	}
	var rights *Rights
	if err == nil {
		rights, err = p.currentRights(ctx, ar) // refused for suspended people, people who left the org
	}
	if err != nil {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing, expired or revoked.")
		return
	}
	if !p.userinfoDPoP(w, r, ar, tok, isDPoP) {
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	sub := ar.GetSession().GetSubject()
	u, err := p.users.GetUser(ctx, sub)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			bearerError(w, http.StatusUnauthorized, "invalid_token", "The token's subject no longer exists.")
			return
		}
		p.log.ErrorContext(ctx, "userinfo lookup", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	claims := scopeClaims(ar.GetGrantedScopes(), u.Username, u.Name, u.Email, u.EmailVerifiedAt != nil)
	claims["sub"] = u.ID
	if rights != nil && rights.Org != nil {
		// The organization the person chose on the consent page, with
		// their role there now (a Latchkey claim, OpenID Connect Core §5.1.2).
		claims["org"] = rights.Org
	}
	writeJSON(w, http.StatusOK, claims)
}

// bearerToken returns the credential of an "Authorization: Bearer" header
// (the scheme is case-insensitive, RFC 9110 §11.1), or "".
func bearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// dpopToken returns the credential of an "Authorization: DPoP" header
// (RFC 9449 §7.1), or "".
func dpopToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, dpop.TokenType) {
		return ""
	}
	return strings.TrimSpace(tok)
}

// userinfoDPoP applies RFC 9449 §7.1 at the userinfo endpoint: a
// DPoP-bound token only with the DPoP scheme and a valid proof of its
// key, a bearer token only with the Bearer scheme. It reports whether the
// request may go on, having answered otherwise.
func (p *Provider) userinfoDPoP(w http.ResponseWriter, r *http.Request, ar fosite.Requester, tok string, isDPoP bool) bool {
	jkt := ""
	if s, ok := ar.GetSession().(*Session); ok {
		jkt = s.DPoPJKT
	}
	challenge := func(code, desc string) bool {
		w.Header().Set("WWW-Authenticate", `DPoP algs="`+strings.Join(dpop.Algorithms, " ")+`", error="`+code+`", error_description="`+strings.ReplaceAll(desc, `"`, `'`)+`"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": code, "error_description": desc})
		return false
	}
	switch {
	case jkt == "" && !isDPoP:
		return true
	case jkt == "":
		return challenge("invalid_token", "The access token is not DPoP-bound: send it with the Bearer scheme.")
	case !isDPoP:
		return challenge("invalid_token", "The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof.")
	}
	err := p.ResourceProof(r.Context(), r, p.cfg.Issuer+r.URL.Path, tok, jkt)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrDPoPNonce):
		w.Header().Set(dpop.NonceHeader, p.DPoPNonce())
		return challenge(dpop.CodeUseNonce, "Resource server requires nonce in DPoP proof.")
	case errors.Is(err, ErrDPoPProof):
		return challenge(dpop.CodeInvalidProof, strings.TrimPrefix(err.Error(), ErrDPoPProof.Error()+": "))
	}
	p.log.ErrorContext(r.Context(), "userinfo: dpop proof check", "error", err)
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
	return false
}

// tokenOutsideHeader reports whether the request carries an access_token
// parameter in its query string or in a form-encoded body (read within
// MaxBodyBytes).
func (p *Provider) tokenOutsideHeader(w http.ResponseWriter, r *http.Request) (bool, error) {
	if r.URL.Query().Has("access_token") {
		return true, nil
	}
	if r.Method != http.MethodPost {
		return false, nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return false, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return false, errBodyTooLarge
		}
		return false, err
	}
	return r.PostForm.Has("access_token"), nil
}

// bearerError answers with an RFC 6750 §3 error and WWW-Authenticate header.
func bearerError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
