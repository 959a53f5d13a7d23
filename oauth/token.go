package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/dpop"
)

// errBodyTooLarge marks a body over the configured limit.
var errBodyTooLarge = errors.New("oauth: request body too large")

// normalizeBody makes a protocol POST body safe for fosite: it enforces the
// size limit, accepts application/x-www-form-urlencoded (RFC 6749 §3.2) and
// application/json (the seed documentation posts JSON, which is rewritten
// into an equivalent form body), and refuses other content types and
// repeated parameters ("Request and response parameters MUST NOT be
// included more than once", RFC 6749 §3.1) other than resource, which RFC
// 8707 §2 lets a request repeat.
func (p *Provider) normalizeBody(w http.ResponseWriter, r *http.Request) error {
	return p.normalizeForm(w, r, nil)
}

// normalizeForm is normalizeBody with edit applied to the form before it
// is written back (nil = none); an error of edit is returned as it is.
func (p *Provider) normalizeForm(w http.ResponseWriter, r *http.Request, edit func(url.Values) error) error {
	if r.Method != http.MethodPost {
		return fosite.ErrInvalidRequest.WithHintf("HTTP method is '%s' but expected 'POST'.", r.Method)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return fosite.ErrInvalidRequest.WithHint("The request body could not be read.")
	}
	ct := r.Header.Get("Content-Type")
	mt, _, perr := mime.ParseMediaType(ct)
	if ct == "" || perr != nil {
		mt = ""
	}
	var form url.Values
	switch mt {
	case "application/x-www-form-urlencoded":
		form, err = url.ParseQuery(string(body))
		if err != nil {
			return fosite.ErrInvalidRequest.WithHint("The request body is not valid application/x-www-form-urlencoded.")
		}
	case "application/json":
		form, err = jsonToForm(body)
		if err != nil {
			return fosite.ErrInvalidRequest.WithHint(err.Error())
		}
	default:
		return fosite.ErrInvalidRequest.WithHint("Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
	if err := checkBodyText(mt, body, form); err != nil {
		return err
	}
	for k, v := range form {
		if len(v) > 1 && k != resourceParam {
			return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", k)
		}
	}
	if edit != nil {
		if err := edit(form); err != nil {
			return err
		}
	}
	enc := form.Encode()
	r.Body = io.NopCloser(strings.NewReader(enc))
	r.ContentLength = int64(len(enc))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.PostForm = nil
	r.Form = nil
	return nil
}

// jsonToForm turns a flat JSON object into form values. Strings, numbers and
// booleans become single values; a "scope" array of strings is accepted too
// (joined by spaces), and a "resource" array becomes repeated parameters
// (RFC 8707 §2).
func jsonToForm(body []byte) (url.Values, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("The request body is not a valid JSON object.")
	}
	if dec.More() {
		return nil, errors.New("The request body must hold exactly one JSON object.")
	}
	if k, dup := repeatedJSONKey(body); dup {
		return nil, fmt.Errorf("The parameter '%s' is included more than once.", k)
	}
	form := url.Values{}
	for k, v := range obj {
		switch t := v.(type) {
		case string:
			form.Set(k, t)
		case json.Number:
			form.Set(k, t.String())
		case bool:
			form.Set(k, strconv.FormatBool(t))
		case nil:
		case []any:
			parts := make([]string, 0, len(t))
			for _, e := range t {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("The JSON field '%s' must be a string or an array of strings.", k)
				}
				parts = append(parts, s)
			}
			switch k {
			case "scope":
				form.Set(k, strings.Join(parts, " "))
			case resourceParam:
				form[k] = parts
			default:
				return nil, fmt.Errorf("The JSON field '%s' must be a string.", k)
			}
		default:
			return nil, fmt.Errorf("The JSON field '%s' must be a string.", k)
		}
	}
	return form, nil
}

// repeatedJSONKey reports a top-level key that body (one JSON object,
// already decoded once) names twice: encoding/json keeps the last value
// silently, where a form with the parameter twice is refused (RFC 6749
// §3.2). Keys are compared decoded, so an escape does not hide a repeat.
func repeatedJSONKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := t.(string)
		if seen[k] {
			return k, true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// writeBodyError answers a normalizeBody failure in RFC 6749 §5.2 form.
func (p *Provider) writeBodyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errBodyTooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{
			"error":             "invalid_request",
			"error_description": fmt.Sprintf("The request body is larger than %d bytes.", p.cfg.MaxBodyBytes),
		})
		return
	}
	p.f.WriteAccessError(r.Context(), w, nil, err)
}

// Token serves POST /oauth/token (RFC 6749 §3.2): parse → decide → respond.
func (p *Provider) Token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.clientAuthBlocked(w, r) {
		return
	}
	var form url.Values
	if err := p.normalizeForm(w, r, func(f url.Values) error {
		form = f
		if f.Get("grant_type") == GrantTypeTokenExchange {
			// A token exchange names its one target itself (RFC 8693 §2.1
			// audience or resource), checked by audienceAllowed: the
			// configured resources, the issuer and the client's audiences.
			return nil
		}
		return p.resourcesAsAudience(f)
	}); err != nil {
		p.writeBodyError(w, r, err)
		return
	}
	if err := p.checkCodeResources(ctx, form); err != nil {
		p.writeAccessError(w, r, nil, err)
		return
	}
	// RFC 9449 §5: a DPoP proof (optional unless the client or its grant
	// is bound) is checked before anything else, so a refusal consumes
	// nothing but the proof.
	proof, err := p.endpointProof(w, r, p.fcfg.TokenURL)
	if err != nil {
		p.writeAccessError(w, r, nil, err)
		return
	}
	sess := NewSession("")
	// dpopHandler binds the tokens while fosite handles the request.
	ar, err := p.f.NewAccessRequest(context.WithValue(ctx, dpopProofKey{}, proof), r, sess)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	if p.limitClient(w, r, ar.GetClient().GetID()) {
		return
	}
	if startsGrant(ar) {
		ar.SetID(newRequestID())
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// RFC 6749 §4.4: the client acts on its own behalf; fosite has
		// already checked each requested scope and audience against it.
		c := ar.GetClient()
		sess.Subject = c.GetID()
		sess.ClientID = c.GetID()
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
	}
	var issue fosite.AccessRequester = ar
	if ar.GetGrantTypes().ExactOne("authorization_code") {
		if issue, err = narrowCodeAudience(ar); err != nil {
			p.writeAccessError(w, r, ar, err)
			return
		}
	}
	// The device-code and token-exchange grants bind their tokens while
	// fosite populates the response (populateProof).
	resp, err := p.f.NewAccessResponse(context.WithValue(ctx, dpopProofKey{}, proof), issue)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	omitEmptyScope(resp)
	if proof != nil {
		resp.SetTokenType(dpop.TokenType) // RFC 9449 §5
		if n := p.DPoPNonce(); n != "" {
			w.Header().Set(dpop.NonceHeader, n) // §8.2: a fresh nonce for the next request
		}
	}
	if f := p.cfg.OnTokenIssued; f != nil && len(ar.GetGrantTypes()) > 0 && ar.GetGrantTypes()[0] != GrantTypeTokenExchange {
		// Exchange counts the tokens it issues (as token_exchange).
		f(grantName(ar.GetGrantTypes()[0]))
	}
	p.f.WriteAccessResponse(ctx, w, ar, resp)
}

// grantName is a grant type as metrics name it: device_code for the
// device flow's URN, the grant type itself otherwise.
func grantName(grantType string) string {
	if grantType == GrantTypeDeviceCode {
		return "device_code"
	}
	return grantType
}

// checkCodeResources refuses, before fosite sees the request, a code
// exchange naming a resource its authorization was not granted for
// (invalid_target, RFC 8707 §2.2): fosite's PKCE handler consumes the
// code's PKCE record while it validates the request, so a refusal after
// that would leave the code unusable. An unknown or used code is left to
// fosite.
func (p *Provider) checkCodeResources(ctx context.Context, form url.Values) error {
	if form.Get("grant_type") != "authorization_code" || len(form[resourceParam]) == 0 || form.Get("code") == "" {
		return nil
	}
	req, err := p.store.GetAuthorizeCodeSession(ctx, p.strategy.AuthorizeCodeSignature(ctx, form.Get("code")), NewSession(""))
	if req == nil || err != nil {
		return nil
	}
	_, err = narrowAudience(uniq(form[resourceParam]), req.GetGrantedAudience())
	return err
}

// narrowCodeAudience applies the resource parameters of a code exchange
// (RFC 8707 §2.2; already checked to be known resources): each must be
// one the authorization was granted for (else invalid_target), and then
// only those reach the access token (audienceFilter), while the refresh
// token keeps the whole audience (Session.FamilyAudience). It runs before
// the code is consumed, so a refused request leaves the code usable.
func narrowCodeAudience(ar fosite.AccessRequester) (fosite.AccessRequester, error) {
	// fosite set the requested audience to the authorization's, all of
	// which WriteGrant granted.
	granted := slices.Clone(ar.GetRequestedAudience())
	narrowed, err := narrowAudience(uniq(ar.GetRequestForm()[resourceParam]), granted)
	if err != nil || narrowed == nil || len(narrowed) == len(granted) {
		return ar, err
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return nil, fosite.ErrServerError.WithDebugf("unexpected session type %T", ar.GetSession())
	}
	sess.FamilyAudience = granted
	return audienceFilter{AccessRequester: ar, allow: narrowed}, nil
}

// omitEmptyScope drops "scope": "" from a token response: fosite always
// writes the granted scope, which is empty for a client_credentials request
// without one. RFC 6749 §5.1 makes scope OPTIONAL when it is identical to
// the scope requested — here none — and an empty string is no valid scope
// (§3.3 scope = scope-token *( SP scope-token )).
func omitEmptyScope(resp fosite.AccessResponder) {
	if r, ok := resp.(*fosite.AccessResponse); ok {
		if s, ok := r.Extra["scope"].(string); ok && s == "" {
			delete(r.Extra, "scope")
		}
	}
}

// writeAccessError maps storage races onto the errors a client can act on:
// a code redeemed concurrently is a replay (invalid_grant, and what the
// winner received is revoked as RFC 6749 §4.1.2 asks); a refresh token
// rotated concurrently is a reuse. An inactive refresh token is
// invalid_grant either way (RFC 6749 §5.2), and the description says
// whether it was revoked or reused.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	switch {
	case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		if ar != nil && ar.GetID() != "" {
			_ = p.store.RevokeAccessToken(r.Context(), ar.GetID())
			_ = p.store.RevokeRefreshToken(r.Context(), ar.GetID())
		}
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	case errors.Is(err, errGrantRevoked):
		err = fosite.ErrInvalidGrant.WithHint("The refresh token was revoked: the authorization it belongs to has ended (the person or the app revoked it). Ask the person to authorize the app again.")
	case errors.Is(err, fosite.ErrInactiveToken) && errors.Is(err, fosite.ErrInvalidGrant):
		// fosite detected reuse of a rotated token and revoked the grant.
		err = fosite.ErrInvalidGrant.WithHint("The refresh token was already used: it was rotated, and a rotated refresh token may be used only once. As a precaution every token of this authorization is now revoked.")
	case errors.Is(err, fosite.ErrInactiveToken):
		// A concurrent request rotated the token first.
		err = fosite.ErrInvalidGrant.WithHint("The refresh token was already used: it was rotated, and a rotated refresh token may be used only once.")
	case errors.Is(err, fosite.ErrNotFound) && fosite.ErrorToRFC6749Error(err).CodeField >= 500:
		// The code vanished between fosite's read and its write: a
		// revocation ("Authorized apps", client deletion) raced the
		// exchange. The grant is gone, which RFC 6749 §5.2 calls
		// invalid_grant, not a server error.
		err = fosite.ErrInvalidGrant.WithHint("The grant was revoked while this request was being processed.")
	}
	if ar == nil && errors.Is(err, fosite.ErrInvalidRequest) {
		// fosite answers (nil, invalid_request) only when no handler
		// accepted the grant_type: RFC 6749 §5.2 calls that
		// unsupported_grant_type.
		err = fosite.ErrUnsupportedGrantType.WithHint("The grant_type is not supported by this authorization server.")
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		p.log.ErrorContext(r.Context(), "token endpoint failure", "error", rfc.ErrorField, "debug", rfc.DebugField, "cause", fmt.Sprint(rfc.Cause()))
	}
	p.clientAuthFailed(w, r, err)
	p.f.WriteAccessError(r.Context(), w, ar, err)
}

// Revoke serves POST /oauth/revoke (RFC 7009 §2).
func (p *Provider) Revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.clientAuthBlocked(w, r) {
		return
	}
	if err := p.normalizeBody(w, r); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			p.writeBodyError(w, r, err)
			return
		}
		p.f.WriteRevocationResponse(ctx, w, err)
		return
	}
	if p.revokeKeyTokenRequest(w, r) {
		return
	}
	err := p.f.NewRevocationRequest(ctx, r)
	p.clientAuthFailed(w, r, err)
	p.f.WriteRevocationResponse(ctx, w, err)
}

// writeTooManyRequests answers 429 (RFC 6585 §4) with Retry-After: wait
// in whole seconds (at least 1), which format's %d also shows.
func writeTooManyRequests(w http.ResponseWriter, wait time.Duration, format string) {
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{
		"error":             "rate_limit_exceeded",
		"error_description": fmt.Sprintf(format, secs),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// limitClient applies Config.LimitClient; it reports whether it answered.
// It runs before NewAccessResponse, so a refused request has not consumed
// its authorization code or rotated its refresh token.
func (p *Provider) limitClient(w http.ResponseWriter, r *http.Request, clientID string) bool {
	if p.cfg.LimitClient == nil {
		return false
	}
	wait, err := p.cfg.LimitClient(r.Context(), clientID)
	return writeLimited(w, wait, err, "Rate limit exceeded. Try again in %d seconds.")
}

// writeLimited answers a rate-limit decision of a protocol endpoint: 503
// temporarily_unavailable when it could not be made (err), 429 with
// Retry-After and msg (one %d: the seconds) when wait > 0. It reports
// whether it answered.
func writeLimited(w http.ResponseWriter, wait time.Duration, err error, msg string) bool {
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error":             "temporarily_unavailable",
			"error_description": "Rate limits cannot be checked right now; try again shortly.",
		})
		return true
	case wait > 0:
		writeTooManyRequests(w, wait, msg)
		return true
	}
	return false
}

// skipUnrelated wraps a token endpoint handler so that fosite's
// NewAccessResponse, which calls every handler's
// PopulateTokenEndpointResponse whatever the grant, gets a plain
// fosite.ErrUnknownRequest from a handler that cannot handle the request.
// fosite's own handlers answer errorsx.WithStack(ErrUnknownRequest)
// there: a stack capture per unrelated handler per token, 7 % of a
// client_credentials token's CPU (BENCHMARKS.md "Issue 16, closing").
// NewAccessRequest already asks CanHandleTokenEndpointRequest first, and
// every handler's PopulateTokenEndpointResponse begins with the same
// check, so nothing else changes.
type skipUnrelated struct{ fosite.TokenEndpointHandler }

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler.
func (h skipUnrelated) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}
