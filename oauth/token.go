package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/storage"
)

// errBodyTooLarge marks a body over the configured limit.
var errBodyTooLarge = errors.New("oauth: request body too large")

// normalizeBody makes a protocol POST body safe for fosite: it enforces the
// size limit, accepts application/x-www-form-urlencoded (RFC 6749 §3.2) and
// application/json (the seed documentation posts JSON, which is rewritten
// into an equivalent form body), and refuses other content types and
// repeated parameters ("Request and response parameters MUST NOT be
// included more than once", RFC 6749 §3.1).
func (p *Provider) normalizeBody(w http.ResponseWriter, r *http.Request) error {
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
		if len(v) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", k)
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
// booleans become single values; a "scope" or "resource"/"audience" array
// of strings is accepted too (joined by spaces or repeated, respectively).
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
			if k == "scope" {
				form.Set(k, strings.Join(parts, " "))
			} else {
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
	if err := p.normalizeBody(w, r); err != nil {
		p.writeBodyError(w, r, err)
		return
	}
	sess := NewSession("")
	ar, err := p.f.NewAccessRequest(ctx, r, sess)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	if p.limitClient(w, r, ar.GetClient().GetID()) {
		return
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
	resp, err := p.f.NewAccessResponse(ctx, ar)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	if f := p.cfg.OnTokenIssued; f != nil && len(ar.GetGrantTypes()) > 0 {
		f(ar.GetGrantTypes()[0])
	}
	p.f.WriteAccessResponse(ctx, w, ar, resp)
}

// writeAccessError maps storage races onto the errors a client can act on:
// a code redeemed concurrently is a replay (invalid_grant, and what the
// winner received is revoked as RFC 6749 §4.1.2 asks); a refresh token
// rotated concurrently is a reuse.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	switch {
	case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		if ar != nil && ar.GetID() != "" {
			_ = p.store.RevokeAccessToken(r.Context(), ar.GetID())
			_ = p.store.RevokeRefreshToken(r.Context(), ar.GetID())
		}
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	case errors.Is(err, fosite.ErrInactiveToken) && !errors.Is(err, fosite.ErrInvalidGrant):
		err = fosite.ErrInvalidGrant.WithHint("The refresh token was already used.")
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
	err = clientAuthMissingToInvalidClient(err)
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		p.log.ErrorContext(r.Context(), "token endpoint failure", "error", rfc.ErrorField, "debug", rfc.DebugField, "cause", fmt.Sprint(rfc.Cause()))
	}
	p.f.WriteAccessError(r.Context(), w, ar, err)
}

// fositeNoClientHint is the hint fosite v0.49.0 gives when a request names
// no client at all (client_authentication.go).
const fositeNoClientHint = "Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body."

// clientAuthMissingToInvalidClient maps fosite's invalid_request for a
// request without (readable) client authentication onto invalid_client
// (401), which RFC 6749 §5.2 prescribes for "no client authentication
// included".
func clientAuthMissingToInvalidClient(err error) error {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField && rfc.HintField == fositeNoClientHint {
		return fosite.ErrInvalidClient.WithHint("Client authentication is missing or malformed.")
	}
	return err
}

// Revoke serves POST /oauth/revoke (RFC 7009 §2).
func (p *Provider) Revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
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
	p.f.WriteRevocationResponse(ctx, w, clientAuthMissingToInvalidClient(p.f.NewRevocationRequest(ctx, r)))
}

// Introspect serves POST /oauth/introspect (RFC 7662 §2). The caller must
// authenticate as a client with HTTP Basic credentials. A client flagged
// as a resource server may introspect every token and API key; any other
// client only tokens issued to itself — anything else is reported as
// {"active": false}, as RFC 7662 §2.2 allows for tokens a caller may not
// see. Failed client authentications and inactive answers count in
// Config.IntrospectFailures per client IP (RFC 7662 §4: guard against
// token scanning); a blocked IP gets 429 until its window ends.
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
	if fosite.AccessTokenFromRequest(r) != "" {
		p.introspectFailed(ipKey)
		p.writeIntrospectionError(w, r, fosite.ErrRequestUnauthorized.WithHint("Authenticate as an OAuth client with HTTP Basic credentials to introspect tokens."))
		return
	}
	ir, err := p.f.NewIntrospectionRequest(ctx, r, NewSession(""))
	if err != nil && !errors.Is(err, fosite.ErrInactiveToken) {
		if errors.Is(err, fosite.ErrRequestUnauthorized) {
			p.introspectFailed(ipKey)
		}
		p.writeIntrospectionError(w, r, err)
		return
	}
	// The caller authenticated (fosite checks the client before the token).
	caller, cerr := p.introspectionCaller(r)
	switch {
	case errors.Is(cerr, storage.ErrNotFound): // deleted a moment ago
		p.writeIntrospectionError(w, r, fosite.ErrRequestUnauthorized.WithHint("The client no longer exists."))
		return
	case cerr != nil:
		p.log.ErrorContext(ctx, "introspection caller lookup", "error", cerr)
		p.writeIntrospectionError(w, r, fosite.ErrServerError.WithWrap(cerr))
		return
	}
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
	if ir.IsActive() && ir.GetTokenUse() == fosite.AccessToken {
		if _, err := p.boundByKey(ctx, ir.GetAccessRequester()); errors.Is(err, ErrInvalidToken) {
			writeJSON(w, http.StatusOK, map[string]any{"active": false})
			return
		} else if err != nil {
			p.log.ErrorContext(ctx, "introspection: the API key behind the token cannot be checked", "error", err)
			p.writeIntrospectionError(w, r, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	p.writeIntrospection(w, r, ir)
}

// introspectionCaller returns the client that authenticated an
// introspection request with HTTP Basic (its id form-urlencoded, RFC 6749
// §2.3.1, as fosite decodes it).
func (p *Provider) introspectionCaller(r *http.Request) (*storage.Client, error) {
	id, _, _ := r.BasicAuth()
	clientID, err := url.QueryUnescape(id)
	if err != nil {
		return nil, err
	}
	return p.store.db.GetClient(r.Context(), clientID)
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

func (p *Provider) introspectFailed(ipKey string) {
	if f := p.cfg.IntrospectFailures; f != nil {
		f.Fail(ipKey)
	}
}

// writeIntrospection writes fosite's RFC 7662 §2.2 response and adds what
// fosite leaves out: token_type "Bearer" for access tokens only, and
// token_use ("access_token" or "refresh_token") so a resource server can
// refuse a refresh token presented as a bearer credential.
func (p *Provider) writeIntrospection(w http.ResponseWriter, r *http.Request, ir fosite.IntrospectionResponder) {
	var buf bufferWriter
	p.f.WriteIntrospectionResponse(r.Context(), &buf, ir)
	var body map[string]any
	if buf.status != http.StatusOK || json.Unmarshal(buf.body.Bytes(), &body) != nil {
		copyHeader(w.Header(), buf.header)
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
		return
	}
	if ir.IsActive() {
		body["token_use"] = string(ir.GetTokenUse())
		if ir.GetTokenUse() == fosite.AccessToken {
			body["token_type"] = "Bearer"
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// bufferWriter captures a response so it can be amended before sending.
type bufferWriter struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (b *bufferWriter) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferWriter) WriteHeader(code int) { b.status = code }

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// writeIntrospectionError answers as fosite does, except that a caller that
// did not authenticate as a client gets RFC 6749 §5.2 invalid_client (401),
// as RFC 7662 §2.3 asks, instead of fosite's non-standard
// request_unauthorized.
func (p *Provider) writeIntrospectionError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fosite.ErrRequestUnauthorized) && !errors.Is(err, fosite.ErrInactiveToken) {
		hint := fosite.ErrorToRFC6749Error(err).HintField
		p.f.WriteAccessError(r.Context(), w, nil, fosite.ErrInvalidClient.WithHint(hint))
		return
	}
	p.f.WriteIntrospectionError(r.Context(), w, err)
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
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error":             "temporarily_unavailable",
			"error_description": "Rate limits cannot be checked right now; try again shortly.",
		})
		return true
	case wait > 0:
		writeTooManyRequests(w, wait, "Rate limit exceeded. Try again in %d seconds.")
		return true
	}
	return false
}
