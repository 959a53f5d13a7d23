package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Signing-key rotation (OpenID Connect Core §10.1.1, RFC 7517): the key
// ring holds every key that signs ID tokens and JWT access tokens. The
// newest key that is not retired signs; `latchkey keys rotate` adds a key
// and retires the previous one, which keeps verifying and stays published
// in the JWKS until every token it signed has expired — Config's longest
// of IDTokenLifespan and AccessTokenLifespan after it was retired — and
// then drops out. Keys live in storage sealed with AES-256-GCM
// (Config.SigningKeySealer). Every instance reloads its ring when a
// rotation is announced (storage.TopicSigningKey over the invalidation
// bus), when it meets a kid it does not know, and at the latest every
// keyReloadEvery.

// Signing algorithms the ring can create and publish (RFC 7518 §3.1).
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// SigningAlgs lists the algorithms `latchkey keys rotate --alg` accepts.
var SigningAlgs = []string{AlgRS256, AlgES256}

// ErrUnsupportedAlg means a signing algorithm outside SigningAlgs.
var ErrUnsupportedAlg = errors.New("oauth: unsupported signing algorithm")

// keyReloadEvery bounds how long an instance that missed a rotation
// announcement (a bus outage, rows edited by hand) keeps signing
// with the previous key.
const keyReloadEvery = 30 * time.Second

// unknownKidReloadEvery bounds the reloads an unknown kid may cause.
const unknownKidReloadEvery = time.Second

// SigningKeyStore is the storage the key ring needs (storage.SigningKeys).
type SigningKeyStore interface {
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	AddSigningKey(ctx context.Context, k *storage.SigningKey) error
}

type ringKey struct {
	kid     string
	alg     string
	priv    crypto.Signer
	created time.Time
	retired *time.Time
}

// keyRing is the set of signing keys; without a store it holds only the
// configured key, which never retires.
type keyRing struct {
	store  SigningKeyStore
	sealer interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
		Overhead() int
	}
	now func() time.Time
	// publishFor is how long a retired key stays published and verifying.
	publishFor time.Duration
	// seed is the configured key: the ring's first key when storage holds none.
	seed ringKey

	mu         sync.RWMutex
	keys       []ringKey // newest first
	loadedAt   time.Time
	stale      bool
	lastForced time.Time
}

// kidOf is the key id of a public key: base64url of the first 12 bytes of
// the SHA-256 of its DER (the configured key's id is made the same way).
func kidOf(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:12]), nil
}

// algOf is the JWS algorithm a key signs with.
func algOf(k crypto.Signer) (string, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return AlgRS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return AlgES256, nil
		}
	}
	return "", fmt.Errorf("%w: key %T", ErrUnsupportedAlg, k)
}

// generateSigningKey makes a new key for alg.
func generateSigningKey(alg string) (crypto.Signer, error) {
	switch alg {
	case AlgRS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("%w %q (use %v)", ErrUnsupportedAlg, alg, SigningAlgs)
}

// load reads the stored keys; when storage holds none it stores the
// configured key as the first one (instances starting together may race:
// the loser's conflict is harmless, it reads the winner's).
func (r *keyRing) load(ctx context.Context) error {
	if r.store == nil {
		r.mu.Lock()
		r.keys, r.loadedAt = []ringKey{r.seed}, r.now()
		r.mu.Unlock()
		return nil
	}
	recs, err := r.store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		if err := r.add(ctx, r.seed.priv, r.seed.kid, r.seed.alg); err != nil && !errors.Is(err, storage.ErrConflict) {
			return err
		}
		if recs, err = r.store.ListSigningKeys(ctx); err != nil {
			return err
		}
	}
	keys := make([]ringKey, 0, len(recs))
	for _, rec := range recs {
		der, err := secret.Open(r.sealer, rec.PrivateKeySealed, []byte(rec.KID))
		if err != nil {
			return fmt.Errorf("oauth: signing key %s cannot be unsealed (was the HMAC secret changed?): %w", rec.KID, err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("oauth: signing key %s: %w", rec.KID, err)
		}
		priv, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("oauth: signing key %s: %T is not a signer", rec.KID, parsed)
		}
		keys = append(keys, ringKey{kid: rec.KID, alg: rec.Alg, priv: priv, created: rec.CreatedAt, retired: rec.RetiredAt})
	}
	r.mu.Lock()
	r.keys, r.loadedAt, r.stale = keys, r.now(), false
	r.mu.Unlock()
	return nil
}

// add seals and stores priv as the signing key (storage.AddSigningKey
// retires the others).
func (r *keyRing) add(ctx context.Context, priv crypto.Signer, kid, alg string) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	sealed, err := secret.Seal(r.sealer, der, []byte(kid))
	if err != nil {
		return err
	}
	return r.store.AddSigningKey(ctx, &storage.SigningKey{KID: kid, Alg: alg, PrivateKeySealed: sealed, CreatedAt: r.now().UTC()})
}

// rotate adds a new key of alg, which signs from now on.
func (r *keyRing) rotate(ctx context.Context, alg string) (string, error) {
	if r.store == nil {
		return "", errors.New("oauth: signing keys are not stored; rotation needs the database")
	}
	priv, err := generateSigningKey(alg)
	if err != nil {
		return "", err
	}
	kid, err := kidOf(priv.Public())
	if err != nil {
		return "", err
	}
	if err := r.add(ctx, priv, kid, alg); err != nil {
		return "", err
	}
	return kid, r.load(ctx)
}

// current returns the ring, reloading it first when a rotation was
// announced or keyReloadEvery has passed. A failed reload keeps the ring
// it has (the keys it holds stay valid) and tries again next time.
func (r *keyRing) current(ctx context.Context) []ringKey {
	r.mu.RLock()
	keys, fresh := r.keys, !r.stale && r.now().Sub(r.loadedAt) < keyReloadEvery && r.keys != nil
	r.mu.RUnlock()
	if fresh || r.store == nil && keys != nil {
		return keys
	}
	_ = r.load(ctx)
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys
}

// signing returns the key that signs now.
func (r *keyRing) signing(ctx context.Context) (ringKey, error) {
	for _, k := range r.current(ctx) {
		if k.retired == nil {
			return k, nil
		}
	}
	return ringKey{}, errors.New("oauth: no signing key")
}

// published reports whether k still verifies and belongs in the JWKS.
func (r *keyRing) published(k ringKey, now time.Time) bool {
	return k.retired == nil || now.Before(k.retired.Add(r.publishFor))
}

// verifying returns the published keys; JWKS serves them.
func (r *keyRing) verifying(ctx context.Context) []ringKey {
	now := r.now()
	var out []ringKey
	for _, k := range r.current(ctx) {
		if r.published(k, now) {
			out = append(out, k)
		}
	}
	return out
}

// byKID returns the published key kid. An unknown kid may be a rotation
// made at another instance a moment ago: the ring reloads, at most once
// per unknownKidReloadEvery.
func (r *keyRing) byKID(ctx context.Context, kid string) (ringKey, bool) {
	for _, k := range r.verifying(ctx) {
		if k.kid == kid {
			return k, true
		}
	}
	if r.store == nil {
		return ringKey{}, false
	}
	r.mu.Lock()
	force := r.now().Sub(r.lastForced) >= unknownKidReloadEvery
	if force {
		r.lastForced, r.stale = r.now(), true
	}
	r.mu.Unlock()
	if !force {
		return ringKey{}, false
	}
	for _, k := range r.verifying(ctx) {
		if k.kid == kid {
			return k, true
		}
	}
	return ringKey{}, false
}

// algs lists the algorithms of the published keys, signing key first.
func (r *keyRing) algs(ctx context.Context) []string {
	var out []string
	for _, k := range r.verifying(ctx) {
		if !containsString(out, k.alg) {
			out = append(out, k.alg)
		}
	}
	return out
}

// jwks is the published key set (RFC 7517 §5).
func (r *keyRing) jwks(ctx context.Context) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range r.verifying(ctx) {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	return set
}

// Invalidate implements storage.Subscriber: a rotation elsewhere makes the
// ring reload on its next use.
func (r *keyRing) Invalidate(inv storage.Invalidation) {
	if inv.Topic != storage.TopicSigningKey {
		return
	}
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
}

// SetListening implements storage.Subscriber; while announcements may be
// lost the ring still reloads every keyReloadEvery.
func (r *keyRing) SetListening(ok bool) {
	if !ok {
		r.Invalidate(storage.Invalidation{Topic: storage.TopicSigningKey})
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
