package keys

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Verification outcomes (SPEC §3.3 codes). Every one is a sentinel, checked
// with errors.Is.
var (
	ErrNotFound = errors.New("keys: key not found")
	ErrExpired  = errors.New("keys: key expired")
	ErrRevoked  = errors.New("keys: key revoked")
	// ErrInvalid wraps request problems (bad handle, unknown scope, …).
	ErrInvalid = errors.New("keys: invalid request")
	// ErrConflict means the handle is already used by this user.
	ErrConflict = errors.New("keys: handle already exists")
	// ErrScopeExceeded means the request asks for more than the caller may grant.
	ErrScopeExceeded = errors.New("keys: scopes exceed the caller's rights")
)

// Store is the storage the service needs.
type Store interface {
	storage.APIKeys
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Config configures the service.
type Config struct {
	Format Format
	Hasher *secret.Hasher
	// Sealer, when set, keeps each key encrypted so its owner can read it
	// again (recoverable keys); nil stores only the digest.
	Sealer cipher.AEAD
	// Scopes are the fine-grained API scopes keys may carry.
	Scopes      []string
	Tiers       []string
	DefaultTier string
	// CacheTTL bounds how long a verification result is reused (default 1s).
	CacheTTL time.Duration
	// RevokeTokens revokes every OAuth access token exchanged from a key;
	// called when the key is revoked or rotated with no grace.
	RevokeTokens func(ctx context.Context, keyID string) error
	Now          func() time.Time
}

// Service creates, verifies, rotates and revokes API keys.
type Service struct {
	cfg   Config
	store Store
	cache *cache
	usage *usageBatcher
}

// New returns a service; call Close to flush batched usage.
func New(cfg Config, store Store) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = time.Second
	}
	if cfg.DefaultTier == "" {
		cfg.DefaultTier = "free"
	}
	s := &Service{cfg: cfg, store: store, cache: newCache(cfg.CacheTTL, cfg.Now)}
	s.usage = newUsageBatcher(store, cfg.Now)
	return s
}

// Close flushes batched usage records and stops the background flusher.
func (s *Service) Close(ctx context.Context) error { return s.usage.close(ctx) }

// Format returns the key format.
func (s *Service) Format() Format { return s.cfg.Format }

// Scopes returns the fine-grained scopes keys may carry.
func (s *Service) Scopes() []string { return slices.Clone(s.cfg.Scopes) }

// ExpandScopes resolves the presets "read-only" (every *:read scope) and
// "read-write" (every scope) and checks each name is known.
func (s *Service) ExpandScopes(in []string) ([]string, error) {
	var out []string
	add := func(v string) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, sc := range in {
		switch sc {
		case "read-only":
			for _, k := range s.cfg.Scopes {
				if strings.HasSuffix(k, ":read") {
					add(k)
				}
			}
		case "read-write":
			for _, k := range s.cfg.Scopes {
				add(k)
			}
		default:
			if !slices.Contains(s.cfg.Scopes, sc) {
				return nil, fmt.Errorf("%w: unknown scope %q", ErrInvalid, sc)
			}
			add(sc)
		}
	}
	slices.Sort(out)
	return out, nil
}

var handleRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateRequest is what a caller asks for (SPEC §3.3 POST /user/keys).
type CreateRequest struct {
	Handle      string
	Alias       string
	Scopes      []string
	ExpiresIn   time.Duration // 0 = never
	Environment string        // "live" (default) or "test"
	Tier        string
	IP          string
}

// Create makes a key for userID. callerScopes are the rights of the
// credential making the request; a key can never exceed them, and a key
// created without scopes gets exactly them (its owner's rights).
func (s *Service) Create(ctx context.Context, userID string, callerScopes []string, req CreateRequest) (*storage.APIKey, string, error) {
	if !handleRe.MatchString(req.Handle) {
		return nil, "", fmt.Errorf("%w: handle must be 1-64 letters, digits, '.', '_' or '-'", ErrInvalid)
	}
	if len(req.Alias) > 200 {
		return nil, "", fmt.Errorf("%w: alias is longer than 200 characters", ErrInvalid)
	}
	env := req.Environment
	if env == "" {
		env = EnvLive
	}
	if env != EnvLive && env != EnvTest {
		return nil, "", fmt.Errorf("%w: environment must be live or test", ErrInvalid)
	}
	tier := req.Tier
	if tier == "" {
		tier = s.cfg.DefaultTier
	}
	if len(s.cfg.Tiers) > 0 && !slices.Contains(s.cfg.Tiers, tier) {
		return nil, "", fmt.Errorf("%w: unknown tier %q", ErrInvalid, tier)
	}
	if req.ExpiresIn < 0 {
		return nil, "", fmt.Errorf("%w: expires_in must be positive", ErrInvalid)
	}
	scopes, err := s.grantable(req.Scopes, callerScopes)
	if err != nil {
		return nil, "", err
	}
	now := s.cfg.Now().UTC()
	rec := &storage.APIKey{
		ID: uuid.NewString(), UserID: userID, Handle: req.Handle, Alias: req.Alias,
		Environment: env, Tier: tier, Scopes: scopes, CreatedAt: now,
	}
	if req.ExpiresIn > 0 {
		exp := now.Add(req.ExpiresIn).Truncate(time.Second)
		rec.ExpiresAt = &exp
	}
	plain, err := s.mint(rec)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateAPIKey(ctx, rec); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, "", fmt.Errorf("%w: %q", ErrConflict, req.Handle)
		}
		return nil, "", err
	}
	s.Audit(ctx, rec, "created", req.IP, "")
	return rec, plain, nil
}

// grantable resolves requested scopes and checks them against the caller.
func (s *Service) grantable(requested, caller []string) ([]string, error) {
	if len(requested) == 0 {
		return s.ExpandScopes(intersect(s.cfg.Scopes, caller))
	}
	scopes, err := s.ExpandScopes(requested)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !slices.Contains(caller, sc) {
			return nil, fmt.Errorf("%w: %q", ErrScopeExceeded, sc)
		}
	}
	return scopes, nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// mint generates the key material for rec: digest, display and, for
// recoverable keys, the sealed copy.
func (s *Service) mint(rec *storage.APIKey) (string, error) {
	plain, err := s.cfg.Format.New(rec.Environment)
	if err != nil {
		return "", err
	}
	p, _ := s.cfg.Format.Parse(plain)
	rec.Display = s.cfg.Format.Display(p)
	rec.Digest, rec.PepperVersion = s.cfg.Hasher.Digest([]byte(plain))
	if s.cfg.Sealer != nil {
		nonce := make([]byte, s.cfg.Sealer.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return "", err
		}
		rec.Sealed = s.cfg.Sealer.Seal(nonce, nonce, []byte(plain), []byte(rec.ID))
	}
	return plain, nil
}

// Reveal returns a recoverable key's plain value, or ErrNotFound when the
// deployment does not keep keys recoverable.
func (s *Service) Reveal(k *storage.APIKey) (string, error) {
	if s.cfg.Sealer == nil || len(k.Sealed) < s.cfg.Sealer.NonceSize() {
		return "", ErrNotFound
	}
	n := s.cfg.Sealer.NonceSize()
	out, err := s.cfg.Sealer.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte(k.ID))
	if err != nil {
		return "", fmt.Errorf("keys: unseal: %w", err)
	}
	return string(out), nil
}

// Verify checks a presented key on the hot path: parse and checksum (no
// I/O for garbage) → HMAC digest → cache → one indexed query on a miss.
// It returns the key together with ErrExpired or ErrRevoked for keys that
// exist but may not be used, so callers can report the right code.
func (s *Service) Verify(ctx context.Context, raw string, ip string) (*storage.APIKey, error) {
	if _, err := s.cfg.Format.Parse(raw); err != nil {
		return nil, ErrNotFound
	}
	digest, _ := s.cfg.Hasher.Digest([]byte(raw))
	k, ok := s.cache.get(digest)
	if !ok {
		var err error
		k, err = s.store.GetAPIKeyByDigest(ctx, digest)
		if errors.Is(err, storage.ErrNotFound) {
			k = nil
		} else if err != nil {
			return nil, err
		}
		s.cache.put(digest, k)
	}
	if k == nil {
		return nil, ErrNotFound
	}
	now := s.cfg.Now()
	switch Status(k, now) {
	case StatusRevoked:
		return k, ErrRevoked
	case StatusExpired:
		return k, ErrExpired
	}
	if s.usage.record(k.ID, now, ip) {
		s.Audit(ctx, k, "new_ip", ip, "first use from this address")
	}
	return k, nil
}

// Key states reported by Status.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Status reports a key's state at now: revoked wins over expired.
func Status(k *storage.APIKey, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return StatusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// Introspect answers RFC 7662 introspection for an API key: ok is false
// when raw is not shaped like a key of this deployment; an unknown, expired
// or revoked key is {"active": false}.
func (s *Service) Introspect(ctx context.Context, raw string) (map[string]any, bool) {
	if !s.cfg.Format.Looks(raw) {
		return nil, false
	}
	k, err := s.Verify(ctx, raw, "")
	if err != nil {
		return map[string]any{"active": false}, true
	}
	out := map[string]any{
		"active": true, "token_type": "api_key", "token_use": "api_key",
		"scope": strings.Join(k.Scopes, " "), "sub": k.UserID, "key_id": k.ID,
		"iat": k.CreatedAt.Unix(), "environment": k.Environment, "tier": k.Tier,
	}
	if k.ExpiresAt != nil {
		out["exp"] = k.ExpiresAt.Unix()
	}
	return out, true
}

// Get returns the user's key by handle.
func (s *Service) Get(ctx context.Context, userID, handle string) (*storage.APIKey, error) {
	k, err := s.store.GetAPIKeyByHandle(ctx, userID, handle)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	return k, err
}

// List returns the user's keys, newest first.
func (s *Service) List(ctx context.Context, userID string) ([]storage.APIKey, error) {
	return s.store.ListAPIKeys(ctx, userID)
}

// Events returns a key's audit log.
func (s *Service) Events(ctx context.Context, keyID string) ([]storage.KeyEvent, error) {
	return s.store.ListKeyEvents(ctx, keyID, 100)
}

// Patch is a partial update (SPEC §3.3 PATCH /user/keys/{handle}).
type Patch struct {
	Alias     *string
	Scopes    []string // nil = unchanged; may only narrow
	ExpiresIn *time.Duration
	IP        string
}

// Update applies p to the user's key: alias, narrower scopes, expiry.
func (s *Service) Update(ctx context.Context, userID, handle string, p Patch) (*storage.APIKey, error) {
	k, err := s.Get(ctx, userID, handle)
	if err != nil {
		return nil, err
	}
	var narrowed []string
	if p.Scopes != nil {
		if narrowed, err = s.ExpandScopes(p.Scopes); err != nil {
			return nil, err
		}
		for _, sc := range narrowed {
			if !slices.Contains(k.Scopes, sc) {
				return nil, fmt.Errorf("%w: scopes can only be narrowed; %q is not on the key", ErrScopeExceeded, sc)
			}
		}
	}
	if p.Alias != nil && len(*p.Alias) > 200 {
		return nil, fmt.Errorf("%w: alias is longer than 200 characters", ErrInvalid)
	}
	if p.ExpiresIn != nil && *p.ExpiresIn <= 0 {
		return nil, fmt.Errorf("%w: expires_in must be positive", ErrInvalid)
	}
	var out *storage.APIKey
	err = s.store.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error {
		if r.RevokedAt != nil {
			return ErrRevoked
		}
		if p.Alias != nil {
			r.Alias = *p.Alias
		}
		if p.Scopes != nil {
			r.Scopes = narrowed
		}
		if p.ExpiresIn != nil {
			exp := s.cfg.Now().UTC().Add(*p.ExpiresIn).Truncate(time.Second)
			r.ExpiresAt = &exp
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.cache.invalidate(k.Digest)
	s.Audit(ctx, out, "updated", p.IP, "")
	return out, nil
}

// Revoke revokes the user's key from the next request on.
func (s *Service) Revoke(ctx context.Context, userID, handle, ip string) (*storage.APIKey, error) {
	k, err := s.Get(ctx, userID, handle)
	if err != nil {
		return nil, err
	}
	err = s.store.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error {
		if r.RevokedAt == nil {
			now := s.cfg.Now().UTC()
			r.RevokedAt = &now
		}
		k = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.cache.invalidate(k.Digest)
	s.revokeTokens(ctx, k.ID)
	s.Audit(ctx, k, "revoked", ip, "")
	return k, nil
}

// Rotate issues a new key inheriting scopes, tier, environment and expiry;
// the old key's expiry becomes min(original, now + grace), so grace 0
// retires it at once.
func (s *Service) Rotate(ctx context.Context, userID, handle string, grace time.Duration, ip string) (*storage.APIKey, string, error) {
	if grace < 0 || grace > 30*24*time.Hour {
		return nil, "", fmt.Errorf("%w: grace_seconds must be between 0 and 2592000", ErrInvalid)
	}
	old, err := s.Get(ctx, userID, handle)
	if err != nil {
		return nil, "", err
	}
	if old.RevokedAt != nil {
		return nil, "", ErrRevoked
	}
	now := s.cfg.Now().UTC()
	if old.ExpiresAt != nil && !now.Before(*old.ExpiresAt) {
		return nil, "", ErrExpired
	}
	fresh := &storage.APIKey{
		ID: uuid.NewString(), UserID: userID, Alias: old.Alias,
		Environment: old.Environment, Tier: old.Tier, Scopes: old.Scopes,
		ExpiresAt: old.ExpiresAt, RotatedFrom: old.ID, CreatedAt: now,
	}
	plain, err := s.mint(fresh)
	if err != nil {
		return nil, "", err
	}
	retireAt := now.Add(grace)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		err := s.store.UpdateAPIKey(ctx, old.ID, func(r *storage.APIKey) error {
			if r.RevokedAt != nil {
				return ErrRevoked
			}
			// The handle moves to the new key; the old one keeps a dated handle.
			fresh.Handle = r.Handle
			r.Handle = retiredHandle(r.Handle, now)
			if r.ExpiresAt == nil || retireAt.Before(*r.ExpiresAt) {
				r.ExpiresAt = &retireAt
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.store.CreateAPIKey(ctx, fresh)
	})
	if err != nil {
		return nil, "", err
	}
	s.cache.invalidate(old.Digest)
	if grace == 0 {
		s.revokeTokens(ctx, old.ID)
	}
	s.Audit(ctx, fresh, "rotated", ip, "replaces "+old.Display)
	return fresh, plain, nil
}

// retiredHandle renames a rotated-out key so the handle can move on.
func retiredHandle(h string, now time.Time) string {
	suffix := "~" + now.Format("20060102T150405")
	if len(h)+len(suffix) > 64 {
		h = h[:64-len(suffix)]
	}
	return h + suffix
}

func (s *Service) revokeTokens(ctx context.Context, keyID string) {
	if s.cfg.RevokeTokens != nil {
		_ = s.cfg.RevokeTokens(ctx, keyID)
	}
}

// Audit appends an event to the key's audit log (best effort: a failed
// write never fails the operation it records).
func (s *Service) Audit(ctx context.Context, k *storage.APIKey, typ, ip, detail string) {
	_ = s.store.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: k.ID, UserID: k.UserID, Type: typ, IP: ip, Detail: detail, At: s.cfg.Now()})
}
