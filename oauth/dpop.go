package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/storage"
)

// DPoP (RFC 9449): sender-constrained tokens. A token request with a valid
// DPoP proof gets an access token bound to the proof's key (Session
// .DPoPJKT, the key's JWK SHA-256 thumbprint) and token_type DPoP; a
// public client's refresh tokens are bound too (§5), so a refresh must
// prove the same key. Introspection answers cnf.jkt (§6.2), JWT access
// tokens carry it (§6.1), and the resource side (ResourceProof) checks
// the proof that must accompany a bound token.

// DPoPConfig configures DPoP.
type DPoPConfig struct {
	// RequireNonce makes every proof carry a server nonce (RFC 9449 §8,
	// §9): a proof without a current one is refused with use_dpop_nonce
	// and a DPoP-Nonce header the client retries with.
	RequireNonce bool
	// NoncePeriod is how often nonces rotate; a nonce is accepted for one
	// to two periods (0 = 5 minutes).
	NoncePeriod time.Duration
	// MaxAge is how old a proof's iat may be (0 = 60 s); its iat may be
	// at most 5 s in the future.
	MaxAge time.Duration
}

// newDPoPChecker builds the proof checker: nonces keyed by a key derived
// from the HMAC secret (so every instance accepts every other's), replays
// remembered in storage next to client-assertion jtis (shared by all
// instances).
func newDPoPChecker(cfg Config, db Backend) *dpop.Checker {
	m := hmac.New(sha256.New, cfg.HMACKey)
	m.Write([]byte("latchkey dpop nonce key v1"))
	return &dpop.Checker{
		MaxAge:       cfg.DPoP.MaxAge,
		Nonces:       dpop.NewNonces(m.Sum(nil), cfg.DPoP.NoncePeriod, cfg.Now),
		RequireNonce: cfg.DPoP.RequireNonce,
		Replay:       storeReplay{db: db},
		Now:          cfg.Now,
	}
}

// storeReplay is dpop.ReplayCache on storage's used-jti table.
type storeReplay struct{ db Backend }

// Mark implements dpop.ReplayCache.
func (s storeReplay) Mark(ctx context.Context, key string, until time.Time) error {
	err := s.db.MarkJTI(ctx, key, until)
	if errors.Is(err, storage.ErrConflict) {
		return dpop.ErrReplayed
	}
	return err
}

// DPoPAlgorithms lists the proof algorithms accepted (discovery's
// dpop_signing_alg_values_supported, WWW-Authenticate algs).
func DPoPAlgorithms() []string { return append([]string(nil), dpop.Algorithms...) }

// errDPoP is an invalid_dpop_proof error (RFC 9449 §5): 400 at the
// token endpoint.
func errDPoP(description string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: dpop.CodeInvalidProof, DescriptionField: description, CodeField: http.StatusBadRequest}
}

// errUseNonce asks for a proof with the server's nonce (RFC 9449 §8).
var errUseNonce = &fosite.RFC6749Error{ErrorField: dpop.CodeUseNonce,
	DescriptionField: "The authorization server requires a nonce in the DPoP proof: retry with the nonce of the DPoP-Nonce header.",
	CodeField:        http.StatusBadRequest}

// endpointProof checks the DPoP proof of a request to the endpoint at
// url (the token endpoint, PAR), all but replay (rememberProof): nil when
// the request has none. Its errors are RFC 6749 errors for the endpoint's
// error writer.
func (p *Provider) endpointProof(w http.ResponseWriter, r *http.Request, url string) (*dpop.Proof, error) {
	headers := r.Header.Values(dpop.HeaderName)
	if len(headers) == 0 {
		return nil, nil
	}
	// The replay check (a write) waits until the grant is known to be
	// good (dpopHandler), so requests that fail anyway cost no write.
	proof, err := p.dpop.Verify(headers, dpop.Request{Method: r.Method, URL: url})
	switch {
	case err == nil:
		return proof, nil
	case errors.Is(err, dpop.ErrUseNonce):
		w.Header().Set(dpop.NonceHeader, p.dpop.NextNonce())
		return nil, errUseNonce
	case errors.Is(err, dpop.ErrInvalidProof):
		return nil, errDPoP(err.Error() + ".")
	}
	return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
}

// dpopProofKey carries the checked proof of a token request (nil = none)
// in the context fosite hands its token endpoint handlers.
type dpopProofKey struct{}

// dpopHandler is a fosite token endpoint handler composed after the grant
// handlers (which load the grant's session: the code's, the refresh
// token's) and before PKCE (which deletes the code's challenge while it
// handles the request): it applies bindDPoP to code, refresh and client
// credentials requests. It handles no grant of its own, so it answers
// fosite.ErrUnknownRequest when it lets a request through.
type dpopHandler struct{ checker *dpop.Checker }

var _ fosite.TokenEndpointHandler = dpopHandler{}

func dpopFactory(checker *dpop.Checker) compose.Factory {
	return func(fosite.Configurator, interface{}, interface{}) interface{} { return dpopHandler{checker: checker} }
}

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (dpopHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	g := r.GetGrantTypes()
	return g.ExactOne("authorization_code") || g.ExactOne("refresh_token") || g.ExactOne("client_credentials")
}

// CanSkipClientAuth implements fosite.TokenEndpointHandler.
func (dpopHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h dpopHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	proof, _ := ctx.Value(dpopProofKey{}).(*dpop.Proof)
	if err := bindDPoP(r, proof); err != nil {
		return err
	}
	if proof != nil {
		if err := rememberProof(ctx, h.checker, proof); err != nil {
			return err
		}
	}
	return fosite.ErrUnknownRequest
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler.
func (dpopHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// rememberProof refuses a replayed proof (RFC 9449 §11.1) as
// invalid_dpop_proof.
func rememberProof(ctx context.Context, c *dpop.Checker, proof *dpop.Proof) error {
	err := c.Remember(ctx, proof)
	switch {
	case errors.Is(err, dpop.ErrReplayed):
		return errDPoP("The DPoP proof was already used (its jti was seen before): sign a new proof for every request.")
	case err != nil:
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	return nil
}

// requireProof and populateProof apply RFC 9449 §5 to the grants whose
// session is known only when their response is populated (device code,
// token exchange): dpopHandler does not see them, so the proof reaches
// them in the context NewAccessResponse gets (dpopProofKey). requireProof
// refuses a
// request without a proof from a client registered with
// dpop_bound_access_tokens (§5.2): no write, so a grant checks it first.
func requireProof(ctx context.Context, c fosite.Client) error {
	if dc, ok := c.(dpopClient); ok && dc.requiresDPoP() && proofIn(ctx) == nil {
		return errDPoP("This client is registered with dpop_bound_access_tokens: send a DPoP proof with every token request.")
	}
	return nil
}

// proofIn is the checked DPoP proof of the token request in ctx, nil
// when it has none.
func proofIn(ctx context.Context) *dpop.Proof {
	proof, _ := ctx.Value(dpopProofKey{}).(*dpop.Proof)
	return proof
}

// populateProof remembers the proof of the token request in ctx (replay,
// §11.1) once the grant is known to be good, and returns the key the new
// tokens are bound to: the proof's, "" without one.
func (p *Provider) populateProof(ctx context.Context) (string, error) {
	proof := proofIn(ctx)
	if proof == nil {
		return "", nil
	}
	if err := rememberProof(ctx, p.dpop, proof); err != nil {
		return "", err
	}
	return proof.JKT, nil
}

// dpopClient is a client that may require DPoP (client.requiresDPoP).
type dpopClient interface{ requiresDPoP() bool }

// bindDPoP decides the binding of the tokens a token request is about to
// get, once fosite has loaded the grant's session: the client's
// requirement (RFC 9449 §5.2), an authorization code bound by dpop_jkt
// (§10), a public client's refresh token bound to its key (§5). The new
// tokens are bound to proof's key (none without a proof).
func bindDPoP(ar fosite.AccessRequester, proof *dpop.Proof) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	if c, ok := ar.GetClient().(dpopClient); ok && c.requiresDPoP() && proof == nil {
		return errDPoP("This client is registered with dpop_bound_access_tokens: send a DPoP proof with every token request.")
	}
	grants := ar.GetGrantTypes()
	switch {
	case grants.ExactOne("authorization_code") && sess.DPoPJKT != "":
		if proof == nil || !hmac.Equal([]byte(proof.JKT), []byte(sess.DPoPJKT)) {
			return errDPoP("The authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof signed with that key.")
		}
	case grants.ExactOne("refresh_token") && sess.DPoPJKT != "" && ar.GetClient().IsPublic():
		if proof == nil || !hmac.Equal([]byte(proof.JKT), []byte(sess.DPoPJKT)) {
			return errDPoP("The refresh token is bound to a DPoP key: send a DPoP proof signed with the key the tokens were issued to.")
		}
	}
	sess.DPoPJKT = ""
	if proof != nil {
		sess.DPoPJKT = proof.JKT
	}
	return nil
}

// validJKT reports whether s has the form of a SHA-256 JWK thumbprint
// (43 base64url characters).
func validJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// checkDPoPJKT checks the dpop_jkt authorization request parameter (RFC
// 9449 §10) when there is one.
func checkDPoPJKT(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	if form.Has("dpop_jkt") && !validJKT(form.Get("dpop_jkt")) {
		return fosite.ErrInvalidRequest.WithHint("dpop_jkt must be the base64url SHA-256 JWK thumbprint (RFC 7638) of the DPoP key.")
	}
	return nil
}

// Resource-side errors of ResourceProof.
var (
	// ErrDPoPProof means a DPoP-bound token came without a valid proof,
	// with a proof of another key, or as a Bearer token (RFC 9449 §7.1).
	ErrDPoPProof = errors.New("oauth: invalid DPoP proof")
	// ErrDPoPNonce means the proof lacks a current server nonce (§9).
	ErrDPoPNonce = errors.New("oauth: a DPoP nonce is required")
)

// ResourceProof checks the DPoP proof of a resource request (RFC 9449
// §7.1) to url carrying token, bound to jkt: exactly one proof, of the
// request's method and url, with ath of token, signed with the key whose
// thumbprint is jkt, never seen before, with a current nonce when nonces
// are required. Errors wrap ErrDPoPProof (the reason in the message) or
// ErrDPoPNonce; any other error means replay could not be checked.
func (p *Provider) ResourceProof(ctx context.Context, r *http.Request, url, token, jkt string) error {
	// The key is compared before the proof is remembered: a proof of
	// another key (someone holding a stolen token, not its key) costs no
	// write in the replay store.
	proof, err := p.dpop.Verify(r.Header.Values(dpop.HeaderName), dpop.Request{Method: r.Method, URL: url, AccessToken: token})
	if err == nil && !hmac.Equal([]byte(proof.JKT), []byte(jkt)) {
		return fmt.Errorf("%w: the proof is signed with another key than the token is bound to", ErrDPoPProof)
	}
	if err == nil {
		err = p.dpop.Remember(ctx, proof)
	}
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return ErrDPoPNonce
	case errors.Is(err, dpop.ErrInvalidProof):
		return fmt.Errorf("%w: %w", ErrDPoPProof, err)
	}
	return err
}

// DPoPNonce is a fresh server nonce for a DPoP-Nonce header, "" when
// nonces are not required.
func (p *Provider) DPoPNonce() string { return p.dpop.NextNonce() }

// parProof applies a DPoP proof sent to the PAR endpoint (RFC 9449 §10.1):
// the code will be bound to its key, as dpop_jkt would bind it; with both,
// they must name the same key.
func (p *Provider) parProof(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester) error {
	proof, err := p.endpointProof(w, r, p.cfg.Issuer+"/oauth/par")
	if err != nil || proof == nil {
		return err
	}
	if err := rememberProof(r.Context(), p.dpop, proof); err != nil {
		return err
	}
	form := ar.GetRequestForm()
	if jkt := form.Get("dpop_jkt"); jkt != "" && jkt != proof.JKT {
		return errDPoP("dpop_jkt names another key than the DPoP proof's.")
	}
	form.Set("dpop_jkt", proof.JKT)
	return nil
}
