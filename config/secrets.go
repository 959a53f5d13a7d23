package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Names of the files EnsureSecrets keeps in the data directory (mode 0600).
const (
	SecretsFileName    = "secrets.json"
	SigningKeyFileName = "signing-key.pem"
)

const redacted = "[REDACTED]"

// Secrets are the resolved secret keys. They must never be logged: String,
// GoString, LogValue and MarshalJSON all redact.
type Secrets struct {
	HMACKey        []byte // signs opaque tokens and codes (>= 32 bytes)
	Pepper         []byte // HMAC-SHA256 key for API keys and client secrets (>= 32 bytes)
	PepperVersion  int    // stored next to each digest so the pepper can rotate
	CookieHashKey  []byte // cookie authentication key (>= 32 bytes, 64 generated)
	CookieBlockKey []byte // cookie AES encryption key (16, 24 or 32 bytes)
	CSRFKey        []byte // CSRF token key (>= 32 bytes)
	SigningKey     crypto.Signer
	SigningKeyID   string // base64url of the first 12 bytes of SHA-256 of the DER public key
	// DataDirWasMode is the permission bits the data directory had when
	// EnsureSecrets found it readable or writable by group or others and
	// tightened it to 0700 (the caller logs it); 0 when it was not.
	DataDirWasMode fs.FileMode
}

// String redacts the secrets.
func (Secrets) String() string { return "config.Secrets" + redacted }

// GoString redacts the secrets.
func (Secrets) GoString() string { return "config.Secrets" + redacted }

// LogValue redacts the secrets in log/slog output.
func (Secrets) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the secrets.
func (Secrets) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// String redacts the configured secrets (so printing a Config is safe).
func (SecretsConfig) String() string { return "config.SecretsConfig" + redacted }

// GoString redacts the configured secrets.
func (SecretsConfig) GoString() string { return "config.SecretsConfig" + redacted }

// LogValue redacts the configured secrets in log/slog output.
func (SecretsConfig) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the configured secrets.
func (SecretsConfig) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// redactedString shows MetricsConfig with the token redacted.
func (m MetricsConfig) redactedString() string {
	tok := `""`
	if m.Token != "" {
		tok = redacted
	}
	return fmt.Sprintf("{Enabled:%v Token:%s}", m.Enabled, tok)
}

// String redacts the token (so printing a Config is safe).
func (m MetricsConfig) String() string { return m.redactedString() }

// GoString redacts the token.
func (m MetricsConfig) GoString() string { return "config.MetricsConfig" + m.redactedString() }

// LogValue redacts the token in log/slog output.
func (m MetricsConfig) LogValue() slog.Value { return slog.StringValue(m.redactedString()) }

// secretSpec describes one symmetric secret: its yaml key, configured value,
// generated length, length check and destination.
type secretSpec struct {
	name  string
	value string
	gen   int
	check func([]byte) error
	dst   *[]byte
}

func atLeast(n int) func([]byte) error {
	return func(b []byte) error {
		if len(b) < n {
			return fmt.Errorf("must be at least %d bytes (after base64 decoding), got %d", n, len(b))
		}
		return nil
	}
}

func aesKeyLen(b []byte) error {
	if l := len(b); l != 16 && l != 24 && l != 32 {
		return fmt.Errorf("must be 16, 24 or 32 bytes (after base64 decoding), got %d", l)
	}
	return nil
}

// secretSpecs lists the symmetric secrets, writing into s (nil: discard).
func (c *Config) secretSpecs(s *Secrets) []secretSpec {
	if s == nil {
		s = &Secrets{}
	}
	sc := c.Secrets
	return []secretSpec{
		{"hmac_key", sc.HMACKey, 32, atLeast(32), &s.HMACKey},
		{"pepper", sc.Pepper, 32, atLeast(32), &s.Pepper},
		{"cookie_hash_key", sc.CookieHashKey, 64, atLeast(32), &s.CookieHashKey},
		{"cookie_block_key", sc.CookieBlockKey, 32, aesKeyLen, &s.CookieBlockKey},
		{"csrf_key", sc.CSRFKey, 32, atLeast(32), &s.CSRFKey},
	}
}

// decodeSecret decodes a configured secret: base64 (standard or URL alphabet,
// padded or not) when it parses as such, otherwise the raw bytes. Surrounding
// whitespace is ignored.
func decodeSecret(s string) []byte {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b
		}
	}
	return []byte(s)
}

// EnsureSecrets resolves every secret. It creates DataDir (0700) if needed,
// and tightens an existing DataDir that group or others may enter to 0700
// (reported in Secrets.DataDirWasMode), since it holds the secrets and the
// SQLite database.
// Configured secrets (from YAML or env) win and are never written to disk;
// the others are read from DataDir/secrets.json or generated with crypto/rand
// and saved there atomically with mode 0600. The signing key comes from
// secrets.signing_key_file, or DataDir/signing-key.pem (RSA 2048, generated on
// first run). Repeated calls on the same DataDir return identical secrets.
func (c *Config) EnsureSecrets() (*Secrets, error) {
	was, err := privateDir(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("config: data_dir: %w", err)
	}
	s := &Secrets{PepperVersion: c.Secrets.PepperVersion, DataDirWasMode: was}
	var missing []secretSpec
	for _, sp := range c.secretSpecs(s) {
		if sp.value == "" {
			missing = append(missing, sp)
			continue
		}
		b := decodeSecret(sp.value)
		if err := sp.check(b); err != nil {
			return nil, fmt.Errorf("config: secrets.%s: %w", sp.name, err)
		}
		*sp.dst = b
	}
	if len(missing) > 0 {
		if err := c.loadOrGenerate(missing); err != nil {
			return nil, err
		}
	}
	key, err := c.loadSigningKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("config: signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	s.SigningKey, s.SigningKeyID = key, base64.RawURLEncoding.EncodeToString(sum[:12])
	return s, nil
}

// loadOrGenerate fills the missing secrets from secrets.json, generating and
// saving any that are absent. If another process creates the file first, its
// values are used.
func (c *Config) loadOrGenerate(missing []secretSpec) error {
	path := filepath.Join(c.DataDir, SecretsFileName)
	for range 3 {
		stored := map[string]string{}
		data, err := readPrivate(path)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("config: %w", err)
		}
		if exists && json.Unmarshal(data, &stored) != nil {
			return fmt.Errorf("config: %s is not a JSON object of base64 strings", path)
		}
		dirty := false
		for _, sp := range missing {
			if enc, ok := stored[sp.name]; ok {
				b, err := base64.StdEncoding.DecodeString(enc)
				if err != nil {
					return fmt.Errorf("config: %s: %s is not valid base64", path, sp.name)
				}
				if err := sp.check(b); err != nil {
					return fmt.Errorf("config: %s: %s: %w", path, sp.name, err)
				}
				*sp.dst = b
				continue
			}
			b := make([]byte, sp.gen)
			_, _ = rand.Read(b) // never fails (Go >= 1.24)
			stored[sp.name] = base64.StdEncoding.EncodeToString(b)
			*sp.dst = b
			dirty = true
		}
		if !dirty {
			return nil
		}
		out, err := json.MarshalIndent(stored, "", "  ")
		if err != nil {
			return fmt.Errorf("config: encode %s: %w", path, err)
		}
		err = writePrivate(path, append(out, '\n'), !exists)
		if errors.Is(err, fs.ErrExist) {
			continue // lost a first-run race: reload the winner's file
		}
		return err
	}
	return fmt.Errorf("config: could not create %s", path)
}

// loadSigningKey loads secrets.signing_key_file, or loads or generates
// DataDir/signing-key.pem.
func (c *Config) loadSigningKey() (crypto.Signer, error) {
	if f := c.Secrets.SigningKeyFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("config: secrets.signing_key_file: %w", err)
		}
		key, err := parseSigningKey(data)
		if err != nil {
			return nil, fmt.Errorf("config: secrets.signing_key_file %s: %w", f, err)
		}
		return key, nil
	}
	path := filepath.Join(c.DataDir, SigningKeyFileName)
	for range 3 {
		data, err := readPrivate(path)
		if err == nil {
			key, err := parseSigningKey(data)
			if err != nil {
				return nil, fmt.Errorf("config: %s: %w", path, err)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: %w", err)
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("config: generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("config: encode signing key: %w", err)
		}
		err = writePrivate(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), true)
		if errors.Is(err, fs.ErrExist) {
			continue // lost a first-run race: load the winner's key
		}
		if err != nil {
			return nil, err
		}
		return key, nil
	}
	return nil, fmt.Errorf("config: could not create %s", path)
}

// parseSigningKey returns the first private key in PEM data: PKCS#1 or PKCS#8
// RSA (>= 2048 bits), or PKCS#8 / SEC 1 ECDSA P-256.
func parseSigningKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, errors.New("no unencrypted private key PEM block found")
		}
		var key any
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported")
		default:
			continue
		}
		if _, enc := b.Headers["DEK-Info"]; enc {
			return nil, errors.New("encrypted private keys are not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", b.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if k.N.BitLen() < 2048 {
				return nil, fmt.Errorf("RSA key is %d bits; at least 2048 required", k.N.BitLen())
			}
			return k, nil
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() {
				return nil, errors.New("EC key must use curve P-256")
			}
			return k, nil
		default:
			return nil, fmt.Errorf("unsupported key type %T (need RSA or EC P-256)", key)
		}
	}
}

// privateDir creates dir with mode 0700, or tightens an existing dir that
// group or others can use to 0700, returning its former permission bits
// (0 when nothing changed).
func privateDir(dir string) (fs.FileMode, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return 0, fmt.Errorf("tighten permissions of %s to 0700: %w", dir, err)
		}
		return perm, nil
	}
	return 0, nil
}

// readPrivate reads a secret file, first tightening its mode to 0600 if it
// is readable or writable by group or others.
func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("tighten permissions of %s to 0600: %w", path, err)
		}
	}
	return os.ReadFile(path)
}

// writePrivate writes data to path with mode 0600 via a temporary file. With
// exclusive, it fails with fs.ErrExist if path already exists (it links rather
// than renames; on file systems without hard links it falls back to rename).
func writePrivate(path string, data []byte, exclusive bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if exclusive {
		err = os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if !exclusive || err != nil {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("config: write %s: %w", path, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
