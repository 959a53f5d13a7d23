package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/oauth"
)

// DPoP is the proof check of DPoP-bound access tokens (RFC 9449 §7.1),
// oauth.Provider's.
type DPoP interface {
	// ResourceProof checks the request's proof for token, bound to jkt,
	// as a request to url; errors wrap oauth.ErrDPoPProof or
	// oauth.ErrDPoPNonce, others mean it could not be checked.
	ResourceProof(ctx context.Context, r *http.Request, url, token, jkt string) error
	// DPoPNonce is a fresh nonce for the DPoP-Nonce header.
	DPoPNonce() string
}

// Codes of DPoP refusals (RFC 9449 §7.1, §9), in the API's error body too.
const (
	codeInvalidDPoPProof = dpop.CodeInvalidProof
	codeUseDPoPNonce     = dpop.CodeUseNonce
)

// dpopChallenge is the WWW-Authenticate challenge of the DPoP scheme (RFC
// 9449 §7.1): the algorithms accepted and, when set, the error.
func dpopChallenge(errCode, description string) string {
	ch := `DPoP algs="` + strings.Join(dpop.Algorithms, " ") + `"`
	if errCode != "" {
		ch += `, error="` + errCode + `"`
	}
	if description != "" {
		ch += `, error_description="` + strings.ReplaceAll(description, `"`, `'`) + `"`
	}
	return ch
}

// checkDPoP decides a validated access token's binding (RFC 9449 §7.1):
// a DPoP-bound token needs the DPoP scheme and a valid proof of its key;
// a bearer token is refused under the DPoP scheme. It answers the
// refusal's status, code and message (0 when the token may be used) and
// sets the DPoP challenge.
func (h *Handler) checkDPoP(c *gin.Context, token string, info *oauth.TokenInfo, dpopScheme bool) (int, string, string) {
	switch {
	case info.DPoPJKT == "" && !dpopScheme:
		return 0, "", ""
	case info.DPoPJKT == "":
		msg := "This access token is not DPoP-bound: send it as \"Authorization: Bearer <token>\"."
		c.Header("WWW-Authenticate", dpopChallenge("invalid_token", msg))
		return http.StatusUnauthorized, "invalid_api_key", msg
	case !dpopScheme:
		// §7.1: a bound token presented as a bearer token is refused, so
		// a stolen one is useless without the key.
		msg := "This access token is DPoP-bound: send it as \"Authorization: DPoP <token>\" with a DPoP proof."
		c.Header("WWW-Authenticate", dpopChallenge("invalid_token", msg))
		return http.StatusUnauthorized, "invalid_api_key", msg
	case h.cfg.DPoP == nil:
		msg := "DPoP-bound tokens are not accepted here."
		c.Header("WWW-Authenticate", dpopChallenge("invalid_token", msg))
		return http.StatusUnauthorized, "invalid_api_key", msg
	}
	r := c.Request
	err := h.cfg.DPoP.ResourceProof(r.Context(), r, strings.TrimRight(h.cfg.Issuer, "/")+r.URL.Path, token, info.DPoPJKT)
	switch {
	case err == nil:
		return 0, "", ""
	case errors.Is(err, oauth.ErrDPoPNonce):
		msg := "Resource server requires nonce in DPoP proof: retry with the nonce of the DPoP-Nonce header."
		c.Header(dpop.NonceHeader, h.cfg.DPoP.DPoPNonce())
		c.Header("WWW-Authenticate", dpopChallenge(codeUseDPoPNonce, msg))
		return http.StatusUnauthorized, codeUseDPoPNonce, msg
	case errors.Is(err, oauth.ErrDPoPProof):
		msg := strings.TrimPrefix(err.Error(), oauth.ErrDPoPProof.Error()+": ")
		c.Header("WWW-Authenticate", dpopChallenge(codeInvalidDPoPProof, msg))
		return http.StatusUnauthorized, codeInvalidDPoPProof, msg
	}
	h.cfg.Logger.ErrorContext(r.Context(), "dpop proof check", "error", err)
	return http.StatusServiceUnavailable, "unavailable", "Credentials cannot be checked right now."
}
