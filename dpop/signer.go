package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// Signer makes proofs with one key, the client side of RFC 9449 §4 (used
// by the load generator and tests; Go clients may use it too).
type Signer struct {
	key    crypto.Signer
	alg    jose.SignatureAlgorithm
	jwk    jose.JSONWebKey
	jkt    string
	Now    func() time.Time
	random func() string
}

// NewSigner returns a Signer for key: an ECDSA P-256 key signs ES256, an
// RSA key RS256, an Ed25519 key EdDSA.
func NewSigner(key crypto.Signer) (*Signer, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("dpop: only P-256 ECDSA keys")
		}
		alg = jose.ES256
	case *rsa.PrivateKey:
		alg = jose.RS256
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	default:
		return nil, errors.New("dpop: unsupported key type")
	}
	jwk := jose.JSONWebKey{Key: key.Public()}
	jkt, err := Thumbprint(&jwk)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, alg: alg, jwk: jwk, jkt: jkt, Now: time.Now, random: randomJTI}, nil
}

// NewES256Signer returns a Signer with a fresh P-256 key.
func NewES256Signer() (*Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewSigner(k)
}

// JKT is the thumbprint of the signer's key.
func (s *Signer) JKT() string { return s.jkt }

// Proof returns a proof for a request with method to url; accessToken
// (for resource requests) sets ath, nonce (a server's DPoP-Nonce) sets
// nonce.
func (s *Signer) Proof(method, url, accessToken, nonce string) (string, error) {
	claims := map[string]any{"jti": s.random(), "htm": method, "htu": url, "iat": s.Now().Unix()}
	if accessToken != "" {
		claims["ath"] = AccessTokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return s.Sign(map[string]any{"typ": ProofType, "jwk": s.jwk}, claims)
}

// Sign signs claims with extra protected headers as given (alg is the
// key's): tests use it to make proofs that break one rule.
func (s *Signer) Sign(headers map[string]any, claims map[string]any) (string, error) {
	opts := &jose.SignerOptions{}
	for k, v := range headers {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func randomJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// JWK is the signer's public key as a JWK.
func (s *Signer) JWK() jose.JSONWebKey { return s.jwk }
