package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/latchkey/latchkey/secret"
)

// JWT access tokens (RFC 9068). Opaque HMAC tokens stay the default; an
// access token is a JWT when Config.JWTAccessTokens is set or its client
// was registered with JWT access tokens (storage.Client.JWTAccessTokens).
// Tokens exchanged from an API key (MintKeyToken) stay opaque: they belong
// to no client (RFC 9068 §2.2 requires client_id) and are bound to the
// key's state at each use.
//
// A JWT access token is stored like an opaque one, keyed by its signature
// (jwtSignature), so revocation (RFC 7009), introspection (RFC 7662),
// userinfo and Latchkey's own API treat both kinds alike: a revoked JWT is
// inactive everywhere Latchkey answers, though a resource server that
// only checks the signature offline accepts it until it expires.

// AccessTokenJWTType is the typ header of JWT access tokens (RFC 9068 §2.1).
const AccessTokenJWTType = "at+jwt"

// jwtAccessStrategy is fosite's CoreStrategy with access tokens as JWTs
// where they are wanted; refresh tokens and authorization codes stay
// HMAC tokens.
type jwtAccessStrategy struct {
	oauth2.CoreStrategy
	ring   *keyRing
	issuer string
	// global makes every client's access tokens JWTs.
	global bool
	now    func() time.Time
	// extra adds Latchkey's claims (organization) to a token's claims.
	extra func(ctx context.Context, r fosite.Requester, claims map[string]any)
}

var _ oauth2.CoreStrategy = (*jwtAccessStrategy)(nil)

// isJWT reports whether token has the shape of a compact JWS (RFC 7515
// §7.1): three base64url parts, the header a JSON object.
func isJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}

// jwtSignature is the storage key of a JWT access token: the SHA-256 of
// its signature part, base64url (43 characters, like an HMAC token's).
func jwtSignature(token string) string {
	i := strings.LastIndexByte(token, '.')
	sum := sha256.Sum256([]byte(token[i+1:]))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// wantsJWT reports whether r's access token is to be a JWT.
func (s *jwtAccessStrategy) wantsJWT(r fosite.Requester) bool {
	c := r.GetClient()
	if c == nil || c.GetID() == "" {
		return false // an API key's token (MintKeyToken)
	}
	if s.global {
		return true
	}
	jc, ok := c.(interface{ wantsJWTAccessTokens() bool })
	return ok && jc.wantsJWTAccessTokens()
}

// AccessTokenSignature implements oauth2.AccessTokenStrategy.
func (s *jwtAccessStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return jwtSignature(token)
	}
	return s.CoreStrategy.AccessTokenSignature(ctx, token)
}

// GenerateAccessToken implements oauth2.AccessTokenStrategy: a JWT with
// the claims of RFC 9068 §2.2 signed by the ring's signing key, or an
// opaque token.
func (s *jwtAccessStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !s.wantsJWT(r) {
		return s.CoreStrategy.GenerateAccessToken(ctx, r)
	}
	key, err := s.ring.signing(ctx)
	if err != nil {
		return "", "", err
	}
	jti, err := secret.Random(128)
	if err != nil {
		return "", "", err
	}
	sess := r.GetSession()
	now := s.now().UTC()
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		return "", "", errors.New("oauth: access token without expiry")
	}
	clientID := r.GetClient().GetID()
	claims := map[string]any{
		"iss":       s.issuer,
		"exp":       exp.Unix(),
		"aud":       accessTokenAudience(r, s.issuer),
		"sub":       orString(sess.GetSubject(), clientID),
		"client_id": clientID,
		"iat":       now.Unix(),
		"jti":       jti,
	}
	if scopes := r.GetGrantedScopes(); len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if ls, ok := sess.(*Session); ok && ls.Claims != nil && sess.GetSubject() != clientID {
		// RFC 9068 §2.2.1: the authentication information of the person.
		if !ls.Claims.AuthTime.IsZero() {
			claims["auth_time"] = ls.Claims.AuthTime.Unix()
		}
		if ls.Claims.AuthenticationContextClassReference != "" {
			claims["acr"] = ls.Claims.AuthenticationContextClassReference
		}
		if len(ls.Claims.AuthenticationMethodsReferences) > 0 {
			claims["amr"] = ls.Claims.AuthenticationMethodsReferences
		}
	}
	if s.extra != nil {
		s.extra(ctx, r, claims)
	}
	if ls, ok := sess.(*Session); ok && ls.DPoPJKT != "" {
		claims["cnf"] = map[string]string{"jkt": ls.DPoPJKT} // RFC 9449 §6.1
	}
	opts := (&jose.SignerOptions{}).WithType(AccessTokenJWTType).WithHeader(jose.HeaderKey("kid"), key.kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.alg), Key: key.priv}, opts)
	if err != nil {
		return "", "", err
	}
	token, err := josejwt.Signed(signer).Claims(claims).CompactSerialize()
	if err != nil {
		return "", "", err
	}
	return token, jwtSignature(token), nil
}

// accessTokenAudience is the aud claim (RFC 9068 §3): the audience granted
// to the request (RFC 8707 resource indicators set it), else the issuer —
// Latchkey's own API, the resource every token is good for when none was
// named.
func accessTokenAudience(r fosite.Requester, issuer string) any {
	aud := r.GetGrantedAudience()
	switch len(aud) {
	case 0:
		return issuer
	case 1:
		return aud[0]
	}
	return []string(aud)
}

func orString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ValidateAccessToken implements oauth2.AccessTokenStrategy. fosite calls
// it after loading the stored record (so a revoked token never gets here
// as active); a JWT must carry typ at+jwt, a published kid whose
// algorithm it uses, a valid signature, this issuer and an unexpired exp.
func (s *jwtAccessStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if !isJWT(token) {
		return s.CoreStrategy.ValidateAccessToken(ctx, r, token)
	}
	claims, err := s.verifyJWT(ctx, token)
	if err != nil {
		return fosite.ErrTokenSignatureMismatch.WithWrap(err).WithDebug(err.Error())
	}
	if claims.Expiry == nil || !s.now().Before(claims.Expiry.Time()) {
		return fosite.ErrTokenExpired.WithHintf("Access token expired.")
	}
	return nil
}

var errBadJWT = errors.New("oauth: not a JWT access token of this server")

// verifyJWT checks a JWT access token's header, signature and issuer.
func (s *jwtAccessStrategy) verifyJWT(ctx context.Context, token string) (*josejwt.Claims, error) {
	parsed, err := josejwt.ParseSigned(token)
	if err != nil || len(parsed.Headers) != 1 {
		return nil, errBadJWT
	}
	h := parsed.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, AccessTokenJWTType) && !strings.EqualFold(typ, "application/"+AccessTokenJWTType) {
		return nil, errBadJWT
	}
	key, ok := s.ring.byKID(ctx, h.KeyID)
	if !ok || h.Algorithm != key.alg {
		return nil, errBadJWT
	}
	var c josejwt.Claims
	if err := parsed.Claims(key.priv.Public(), &c); err != nil {
		return nil, errBadJWT
	}
	if c.Issuer != s.issuer {
		return nil, errBadJWT
	}
	return &c, nil
}

// ringSigner is the jwt.Signer of ID tokens: it signs with the ring's
// signing key (its kid in the header, whatever kid the stored session's
// header names) and verifies with the published key the token names.
type ringSigner struct{ ring *keyRing }

var _ jwt.Signer = (*ringSigner)(nil)

// Generate implements jwt.Signer.
func (s *ringSigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	key, err := s.ring.signing(ctx)
	if err != nil {
		return "", "", err
	}
	if header == nil || claims == nil {
		return "", "", errors.New("oauth: jwt claims and header are required")
	}
	t := jwt.NewWithClaims(jose.SignatureAlgorithm(key.alg), claims)
	for k, v := range header.ToMap() {
		t.Header[k] = v
	}
	t.Header["kid"] = key.kid
	raw, err := t.SignedString(key.priv)
	if err != nil {
		return "", "", err
	}
	return raw, raw[strings.LastIndexByte(raw, '.')+1:], nil
}

// Decode implements jwt.Signer.
func (s *ringSigner) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := s.ring.byKID(ctx, kid)
		if !ok || string(t.Method) != key.alg {
			return nil, errBadJWT
		}
		return key.priv.Public(), nil
	})
}

// Validate implements jwt.Signer.
func (s *ringSigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// Hash implements jwt.Signer (at_hash and c_hash use SHA-256 for RS256 and ES256).
func (s *ringSigner) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSignature implements jwt.Signer.
func (s *ringSigner) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errBadJWT
	}
	return parts[2], nil
}

// GetSigningMethodLength implements jwt.Signer.
func (s *ringSigner) GetSigningMethodLength(context.Context) int { return sha256.Size }

// jwtOrgClaims adds the organization the person bound the grant to
// (Session.OrgID) as org_id, and the API key a token came from as
// key_id: what introspection names too, without a lookup.
func jwtOrgClaims(_ context.Context, r fosite.Requester, claims map[string]any) {
	if s, ok := r.GetSession().(*Session); ok {
		if s.OrgID != "" {
			claims["org_id"] = s.OrgID
		}
		if s.KeyID != "" {
			claims["key_id"] = s.KeyID
		}
	}
}
