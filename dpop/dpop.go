// Package dpop checks and makes DPoP proofs (RFC 9449, OAuth 2.0
// Demonstrating Proof of Possession): the JWT a client signs with its own
// key for each HTTP request, so that a token bound to that key (by its JWK
// SHA-256 thumbprint, RFC 7638) is worthless to anyone who does not hold
// the private key. It is shared by the authorization server (oauth), the
// server's own API (api) and the Go resource-server middleware (client),
// and depends only on go-jose.
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// HeaderName is the request header that carries a proof (RFC 9449 §4.1)
// and NonceHeader the response header that carries a server nonce (§8).
const (
	HeaderName  = "DPoP"
	NonceHeader = "DPoP-Nonce"
	// ProofType is the typ header of a proof (RFC 9449 §4.2).
	ProofType = "dpop+jwt"
	// TokenType is the token_type of a DPoP-bound access token (RFC 9449
	// §5) and the Authorization scheme it is presented with (§7.1).
	TokenType = "DPoP"
)

// Error codes of RFC 9449 §5 / §7.1 / §8 / §9.
const (
	CodeInvalidProof = "invalid_dpop_proof"
	CodeUseNonce     = "use_dpop_nonce"
)

// Algorithms are the JWS algorithms a proof may use: asymmetric only (RFC
// 9449 §4.2: "MUST NOT be none or an identifier for a symmetric
// algorithm"), as listed in discovery (dpop_signing_alg_values_supported).
var Algorithms = []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"}

// Errors: ErrInvalidProof (wrapped with the reason) for any proof that is
// not acceptable, ErrUseNonce when the proof lacks a current server nonce,
// ErrReplayed (which also matches ErrInvalidProof) for a jti already seen.
var (
	ErrInvalidProof = errors.New("invalid DPoP proof")
	ErrUseNonce     = errors.New("a fresh DPoP nonce is required")
	ErrReplayed     = fmt.Errorf("%w: the proof was already used (jti replay)", ErrInvalidProof)
)

// maxProofLen bounds a proof before any parsing.
const maxProofLen = 8 << 10

// Proof is a checked DPoP proof.
type Proof struct {
	// JKT is the base64url JWK SHA-256 thumbprint (RFC 7638) of the
	// proof's public key: what a bound token's cnf.jkt names (RFC 9449 §6).
	JKT      string
	JTI      string
	IssuedAt time.Time
	Nonce    string
	// Key is the proof's public key.
	Key *jose.JSONWebKey
}

// Request is what a proof must match.
type Request struct {
	// Method is the HTTP method (htm, compared exactly).
	Method string
	// URL is the absolute URL of the request as the client addressed it
	// (htu; query and fragment are ignored, RFC 9449 §4.3 item 9).
	URL string
	// AccessToken, when set, must be what the proof's ath claim hashes
	// (RFC 9449 §4.3 item 12): proofs at resource servers.
	AccessToken string
}

// claims are a proof's payload (RFC 9449 §4.2).
type claims struct {
	JTI   string      `json:"jti"`
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	Nonce *string     `json:"nonce"`
	ATH   *string     `json:"ath"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, args...)...)
}

// Parse checks the proof's form, signature and claims against req (RFC
// 9449 §4.3 items 1-9, 11, 12; the time window is Checker's): one compact
// JWS, typ dpop+jwt, an asymmetric algorithm of Algorithms, a public jwk
// header whose key verifies the signature, jti, htm, htu and iat present,
// htm and htu matching, ath matching when req has an access token.
func Parse(proof string, req Request) (*Proof, error) {
	if proof == "" {
		return nil, invalid("no proof")
	}
	if len(proof) > maxProofLen {
		return nil, invalid("the proof is too long")
	}
	// Compact serialisation only: three base64url parts, nothing else.
	if strings.Count(proof, ".") != 2 || strings.ContainsAny(proof, " \t\r\n{}\"") {
		return nil, invalid("the proof is not a compact JWS")
	}
	jws, err := jose.ParseSigned(proof)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("the proof is not a well-formed JWS")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, ProofType) {
		return nil, invalid("the typ header must be %s", ProofType)
	}
	if !slices.Contains(Algorithms, h.Algorithm) {
		return nil, invalid("the algorithm %q is not accepted; use one of %s", h.Algorithm, strings.Join(Algorithms, ", "))
	}
	jwk := h.JSONWebKey
	if jwk == nil || jwk.Key == nil {
		return nil, invalid("the jwk header with the public key is missing")
	}
	if !jwk.IsPublic() || !jwk.Valid() {
		return nil, invalid("the jwk header must hold a valid public key and no private key")
	}
	if err := keyFitsAlg(jwk.Key, h.Algorithm); err != nil {
		return nil, err
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, invalid("the signature does not verify with the jwk header's key")
	}
	var c claims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalid("the claims are not a JSON object")
	}
	if c.JTI == "" || len(c.JTI) > 256 {
		return nil, invalid("the jti claim is missing or too long")
	}
	if c.HTM == "" || c.HTU == "" || c.IAT == "" {
		return nil, invalid("the htm, htu and iat claims are required")
	}
	if c.HTM != req.Method {
		return nil, invalid("htm %q does not match the request method %s", c.HTM, req.Method)
	}
	if !SameURL(c.HTU, req.URL) {
		return nil, invalid("htu does not match the request URL %s", stripQuery(req.URL))
	}
	iat, err := c.IAT.Float64()
	if err != nil || math.IsNaN(iat) || math.IsInf(iat, 0) || iat < 0 || iat > 1<<40 {
		return nil, invalid("iat is not a number of seconds")
	}
	if req.AccessToken != "" {
		if c.ATH == nil {
			return nil, invalid("the ath claim (the access token's hash) is required")
		}
		if subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(AccessTokenHash(req.AccessToken))) != 1 {
			return nil, invalid("ath does not match the access token")
		}
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return nil, invalid("the key's thumbprint cannot be computed")
	}
	p := &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: time.Unix(int64(iat), 0), Key: jwk}
	if c.Nonce != nil {
		p.Nonce = *c.Nonce
	}
	return p, nil
}

// keyFitsAlg refuses a key of the wrong type for alg, and RSA keys under
// 2048 bits.
func keyFitsAlg(key any, alg string) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if alg != "RS256" && alg != "PS256" {
			break
		}
		if k.N.BitLen() < 2048 {
			return invalid("RSA keys must have at least 2048 bits")
		}
		return nil
	case *ecdsa.PublicKey:
		if (alg == "ES256" && k.Curve.Params().BitSize == 256) || (alg == "ES384" && k.Curve.Params().BitSize == 384) {
			return nil
		}
	case ed25519.PublicKey:
		if alg == "EdDSA" {
			return nil
		}
	}
	return invalid("the jwk's key type does not fit the algorithm %s", alg)
}

// Thumbprint is the base64url JWK SHA-256 thumbprint of key (RFC 7638),
// the jkt of RFC 9449 §6.1.
func Thumbprint(key *jose.JSONWebKey) (string, error) {
	pub := key.Public()
	sum, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// AccessTokenHash is the ath of a proof for token: base64url SHA-256 of
// its ASCII bytes (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameURL reports whether htu and want name the same resource, ignoring
// query and fragment (RFC 9449 §4.3 item 9) after the syntax-based
// normalisation of RFC 3986 §6.2.2 and scheme-based default ports
// (§6.2.3): scheme and host are case-insensitive, :443 on https and :80
// on http are dropped, an empty path is "/", percent-encoding is decoded.
func SameURL(htu, want string) bool {
	a, ok1 := normURL(htu)
	b, ok2 := normURL(want)
	return ok1 && ok2 && a == b
}

func normURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// ReplayCache remembers proofs (by jti and key) until they can no longer
// pass the time window, so each is accepted once (RFC 9449 §11.1).
type ReplayCache interface {
	// Mark records key until until; it returns ErrReplayed when key is
	// already recorded and unexpired, another error when it cannot tell.
	Mark(ctx context.Context, key string, until time.Time) error
}

// ReplayKey is the replay-cache key of p: a digest of its key's
// thumbprint and jti (43 characters after "dpop:"), so a jti chosen by one
// client never blocks another's.
func ReplayKey(p *Proof) string {
	sum := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	return "dpop:" + base64.RawURLEncoding.EncodeToString(sum[:])
}
