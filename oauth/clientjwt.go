package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9): a
// client registered for private_key_jwt signs a client assertion with
// its private key (its public keys registered inline as jwks or published
// at jwks_uri); one registered for client_secret_jwt signs it with its
// client secret (HS256), which Latchkey therefore keeps sealed
// (AES-256-GCM) besides the digest. Both are checked in
// clientAuthStrategy before fosite sees the request (checkAssertion):
// iss and sub the client, aud the token endpoint or the issuer, exp in
// the future and no further than Config.MaxAssertionLifetime, a jti the
// client never used before (remembered per client until exp,
// assertionJTIKey, storage.UsedJTI), and exactly the
// algorithm the client registered — never none, never HS256 with an RSA
// key. Every failure is invalid_client (RFC 7523 §3.2 and RFC 6749 §5.2).

// Client assertion methods and their algorithms.
const (
	AuthMethodSecretJWT = "client_secret_jwt"
	// ClientAssertionType is the client_assertion_type of RFC 7523 §2.2.
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// Algorithms a client may register for its assertions, per method
// (discovery's token_endpoint_auth_signing_alg_values_supported lists
// them all).
var (
	PrivateKeyJWTAlgs   = []string{"RS256", "ES256", "PS256"}
	ClientSecretJWTAlgs = []string{"HS256"}
)

// maxJWKSBytes bounds a client's JWK Set, inline or fetched.
const maxJWKSBytes = 64 << 10

// maxRSABits bounds the RSA keys of a client's JWK Set. Each assertion
// is verified with the key before its jti is checked, and verification
// costs grow with the modulus (a 300,000-bit key, which fits
// maxJWKSBytes, costs seconds per token request); 8192 bits is twice
// what clients use in practice (RFC 7518 §3.3 asks for at least 2048).
const maxRSABits = 8192

// ValidateJWKS checks a client's JWK Set (RFC 7517 §5) for
// private_key_jwt: JSON with 1 to 20 public signing keys — RSA of 2048 to
// maxRSABits bits or EC P-256, no private or symmetric key, use "sig" or none —
// and returns it with use set to "sig" where it was missing. Dynamic
// registration calls it for the jwks metadata (RFC 7591 §2).
func ValidateJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	if len(raw) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: jwks is larger than %d bytes", ErrInvalidClientMetadata, maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("%w: jwks is not a JWK Set: %v", ErrInvalidClientMetadata, err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > 20 {
		return nil, fmt.Errorf("%w: jwks must hold 1 to 20 keys", ErrInvalidClientMetadata)
	}
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.Use == "" {
			k.Use = "sig"
		}
		if k.Use != "sig" {
			return nil, fmt.Errorf("%w: jwks key %d: use must be sig", ErrInvalidClientMetadata, i)
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 || pub.N.BitLen() > maxRSABits {
				return nil, fmt.Errorf("%w: jwks key %d: RSA keys need 2048 to %d bits", ErrInvalidClientMetadata, i, maxRSABits)
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return nil, fmt.Errorf("%w: jwks key %d: only the P-256 curve is supported", ErrInvalidClientMetadata, i)
			}
		default:
			return nil, fmt.Errorf("%w: jwks key %d: only public RSA and EC keys are allowed (%T)", ErrInvalidClientMetadata, i, k.Key)
		}
	}
	return &set, nil
}

// ValidateJWKSURI checks a client's jwks_uri: an https URL (http only for
// loopback hosts, for development), at most 2000 characters.
func ValidateJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || len(raw) > 2000 || u.Fragment != "" {
		return fmt.Errorf("%w: jwks_uri must be an absolute https URL", ErrInvalidClientMetadata)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return fmt.Errorf("%w: jwks_uri must use https", ErrInvalidClientMetadata)
		}
	default:
		return fmt.Errorf("%w: jwks_uri must use https", ErrInvalidClientMetadata)
	}
	return nil
}

// jwksFetcher implements fosite.JWKSFetcherStrategy for clients' jwks_uri:
// bounded size and time, no redirects, private destinations refused at
// dial time (backchannel_dial.go) when configured, and a cache of
// jwksCacheTTL per URL (a forced refresh, which fosite asks for when a
// kid is missing, at most once per jwksMinRefresh).
type jwksFetcher struct {
	client *http.Client
	now    func() time.Time
	mu     sync.Mutex
	cache  map[string]jwksEntry
}

type jwksEntry struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

const (
	jwksCacheTTL   = 5 * time.Minute
	jwksMinRefresh = 10 * time.Second
	jwksCacheMax   = 1000
)

var _ fosite.JWKSFetcherStrategy = (*jwksFetcher)(nil)

// Resolve implements fosite.JWKSFetcherStrategy.
func (f *jwksFetcher) Resolve(ctx context.Context, location string, ignoreCache bool) (*jose.JSONWebKeySet, error) {
	now := f.now()
	f.mu.Lock()
	e, ok := f.cache[location]
	f.mu.Unlock()
	if ok && (now.Sub(e.fetched) < jwksCacheTTL && !ignoreCache || now.Sub(e.fetched) < jwksMinRefresh) {
		return e.set, nil
	}
	set, err := f.fetch(ctx, location)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client's jwks_uri could not be read.").WithWrap(err).WithDebug(err.Error())
	}
	f.mu.Lock()
	if len(f.cache) >= jwksCacheMax {
		clear(f.cache)
	}
	f.cache[location] = jwksEntry{set: set, fetched: now}
	f.mu.Unlock()
	return set, nil
}

func (f *jwksFetcher) fetch(ctx context.Context, location string) (*jose.JSONWebKeySet, error) {
	if err := ValidateJWKSURI(location); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	return ValidateJWKS(body)
}

// newJWKSClient is the HTTP client of jwks_uri fetches: 5 s, no
// redirects, and with blockPrivate the back-channel dialer's refusal of
// non-public addresses.
func newJWKSClient(blockPrivate bool) *http.Client {
	c := newBackchannelHTTPClient(blockPrivate)
	c.Timeout = 5 * time.Second
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// assertionClaims are the parts of a client assertion checkAssertion reads.
type assertionClaims struct {
	josejwt.Claims
}

// checkAssertion applies the rules fosite's client authentication leaves
// out or answers with other codes, before fosite checks the signature
// against the client's keys: a well-formed compact JWS whose algorithm is
// the one the client registered, iss = sub = the client, aud the token
// endpoint or the issuer, exp present, in the future and within
// MaxAssertionLifetime, a jti. For client_secret_jwt, which fosite v0.49.0
// refuses, it verifies the HS256 signature with the client's sealed
// secret, records the jti and returns the client (done = true).
//
// The context it returns names the asserting client (withAssertionClient),
// so the replay cache keys the jti by client (assertionJTIKey); fosite's
// signature check must run with it.
func (p *Provider) checkAssertion(ctx context.Context, form url.Values) (_ context.Context, c fosite.Client, done bool, err error) {
	bad := func(hint string) (context.Context, fosite.Client, bool, error) {
		return ctx, nil, true, fosite.ErrInvalidClient.WithHint(hint)
	}
	raw := form.Get("client_assertion")
	if raw == "" {
		return bad("The client_assertion parameter is missing.")
	}
	if len(raw) > 16<<10 {
		return bad("The client_assertion is too large.")
	}
	tok, err := josejwt.ParseSigned(raw)
	if err != nil || len(tok.Headers) != 1 {
		return bad("The client_assertion is not a signed JWT.")
	}
	var cl assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&cl); err != nil {
		return bad("The client_assertion claims cannot be read.")
	}
	id := form.Get("client_id")
	if id == "" {
		id = cl.Subject
	}
	if id == "" || cl.Issuer != id || cl.Subject != id {
		return bad("The client_assertion's iss and sub must both be the client_id.")
	}
	rec, err := p.store.db.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return bad("The client is unknown.")
	}
	if err != nil {
		// The lookup failed, not the client: answered as fosite answers
		// it, invalid_client wrapping a server_error, which the guessing
		// throttle does not count (clientAuthFailed).
		return ctx, nil, true, fosite.ErrInvalidClient.WithHint("The client could not be looked up.").
			WithWrap(fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
	}
	alg := tok.Headers[0].Algorithm
	method, want := rec.TokenEndpointAuthMethod, assertionAlg(rec.TokenEndpointAuthMethod, rec.TokenEndpointAuthSigningAlg)
	if method != AuthMethodPrivateKeyJWT && method != AuthMethodSecretJWT {
		return bad("The client is not registered for JWT client authentication.")
	}
	if alg != want {
		return bad(fmt.Sprintf("The client_assertion must be signed with %s.", want))
	}
	if !cl.Audience.Contains(p.cfg.Issuer+"/oauth/token") && !cl.Audience.Contains(p.cfg.Issuer) {
		return bad("The client_assertion's aud must be the token endpoint or the issuer.")
	}
	now := p.cfg.Now()
	if cl.Expiry == nil {
		return bad("The client_assertion has no exp.")
	}
	exp := cl.Expiry.Time()
	if !now.Before(exp) {
		return bad("The client_assertion has expired.")
	}
	if exp.After(now.Add(p.cfg.MaxAssertionLifetime + time.Minute)) {
		return bad(fmt.Sprintf("The client_assertion's exp is more than %s away.", p.cfg.MaxAssertionLifetime))
	}
	if cl.NotBefore != nil && now.Add(time.Minute).Before(cl.NotBefore.Time()) {
		return bad("The client_assertion is not valid yet.")
	}
	if cl.ID == "" || len(cl.ID) > 200 {
		return bad("The client_assertion needs a jti.")
	}
	ctx = withAssertionClient(ctx, rec.ID)
	if method == AuthMethodPrivateKeyJWT {
		return ctx, nil, false, nil // fosite verifies the signature, the jti and aud again
	}
	// client_secret_jwt: the HMAC key is the client secret (RFC 7523 §2.2,
	// OpenID Connect Core §9).
	if p.cfg.ClientSecretSealer == nil || len(rec.SecretSealed) == 0 {
		return bad("The client has no secret for client_secret_jwt.")
	}
	plain, err := secret.Open(p.cfg.ClientSecretSealer, rec.SecretSealed, []byte(rec.ID))
	if err != nil {
		return bad("The client's secret cannot be used.")
	}
	if err := tok.Claims(plain, &josejwt.Claims{}); err != nil {
		return bad("The client_assertion's signature is not valid.")
	}
	if err := p.store.ClientAssertionJWTValid(ctx, cl.ID); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			return bad("The client_assertion's jti was used before.")
		}
		return ctx, nil, true, err
	}
	if err := p.store.SetClientAssertionJWT(ctx, cl.ID, exp); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			return bad("The client_assertion's jti was used before.")
		}
		return ctx, nil, true, err
	}
	return ctx, newClient(rec, p.store.hasher, now), true, nil
}

// assertionClientCtx is the context key of the client whose assertion is
// being checked (withAssertionClient).
type assertionClientCtx struct{}

// withAssertionClient names, in ctx, the client whose assertion is being
// checked, for the replay cache (assertionJTIKey).
func withAssertionClient(ctx context.Context, clientID string) context.Context {
	return context.WithValue(ctx, assertionClientCtx{}, clientID)
}

// assertionJTIKey is what the replay cache of client assertions stores
// for jti (storage.UsedJTI, RFC 7523 §3): the hex SHA-256 of the asserting
// client's id (from ctx, withAssertionClient) and the jti. A jti is thus
// unique per client, as RFC 7519 §4.1.7 makes it ("unique identifier"
// chosen by its issuer, the client) — one client cannot lock another out
// by using its jti first — and the key has a fixed length whatever the
// jti's (PostgreSQL's column holds 128 characters; checkAssertion allows
// jtis of 200).
func assertionJTIKey(ctx context.Context, jti string) string {
	id, _ := ctx.Value(assertionClientCtx{}).(string)
	sum := sha256.Sum256([]byte(id + "\x00" + jti))
	return "c:" + hex.EncodeToString(sum[:])
}

// assertionAlg is the algorithm a client's assertions must use.
func assertionAlg(method, registered string) string {
	switch {
	case registered != "":
		return registered
	case method == AuthMethodSecretJWT:
		return "HS256"
	}
	return "RS256"
}

// assertionFailure maps what fosite answers for a private_key_jwt
// assertion it refused (invalid_request for a key it could not find,
// jti_known for a replay) onto invalid_client, keeping 5xx errors.
func assertionFailure(err error) error {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 || rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		return err
	}
	hint := rfc.HintField
	if rfc.ErrorField == fosite.ErrJTIKnown.ErrorField {
		hint = "The client_assertion's jti was used before."
	}
	if strings.TrimSpace(hint) == "" {
		hint = "The client_assertion could not be verified."
	}
	return fosite.ErrInvalidClient.WithHint(hint).WithWrap(err)
}
