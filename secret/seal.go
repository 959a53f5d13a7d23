package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// ErrUnseal means sealed data could not be opened: it is damaged, was
// sealed under another key, or is bound to other associated data.
var ErrUnseal = errors.New("secret: cannot unseal")

// DeriveAEAD returns AES-256-GCM under a key derived with HKDF-SHA256
// (RFC 5869) from master for one purpose, named by label, so each use of
// encryption at rest (recoverable API keys, TOTP secrets) has its own key.
func DeriveAEAD(master []byte, label string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, master, nil, label, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plain with a under a fresh random nonce, bound to ad (the
// record's id, so a sealed value cannot be moved to another record), and
// returns nonce || ciphertext.
func Seal(a cipher.AEAD, plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, plain, ad), nil
}

// Open decrypts what Seal returned for the same ad; ErrUnseal otherwise.
func Open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := a.NonceSize()
	if len(sealed) < n+a.Overhead() {
		return nil, ErrUnseal
	}
	out, err := a.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrUnseal
	}
	return out, nil
}
