package keys

import (
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/latchkey/latchkey/internal/ttlcache"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Verification outcomes (SPEC §3.3 codes). Every one is a sentinel, checked
// with errors.Is.
var (
	ErrNotFound = errors.New("keys: key not found")
	ErrExpired  = errors.New("keys: key expired")
	ErrRevoked  = errors.New("keys: key revoked")
	// ErrInvalid is matched by every request problem (bad handle, unknown
	// scope, …); each is a *FieldError naming the field.
	ErrInvalid = errors.New("keys: invalid request")
	// ErrConflict means the handle is already used by this user.
	ErrConflict = errors.New("keys: handle already exists")
	// ErrScopeExceeded means the request asks for more than the caller may grant.
	ErrScopeExceeded = errors.New("keys: scopes exceed the caller's rights")
	// ErrOwnerGone means the key's owner was deleted while the request
	// ran (storage refuses a key for a user that does not exist).
	ErrOwnerGone = errors.New("keys: the owner no longer exists")
)

// createKey stores rec, translating a missing owner to ErrOwnerGone and a
// taken handle to ErrConflict.
func (s *Service) createKey(ctx context.Context, rec *storage.APIKey) error {
	err := s.store.CreateAPIKey(ctx, rec)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrOwnerGone, err)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w: %q", ErrConflict, rec.Handle)
	}
	return err
}

// Store is the storage the service needs.
type Store interface {
	storage.APIKeys
	// ListOrgAPIKeys returns every key bound to an organization (see
	// storage.Orgs).
	ListOrgAPIKeys(ctx context.Context, orgID string) ([]storage.APIKey, error)
	// GetTenant returns the tenant id of orgID, or storage.ErrNotFound
	// (also for a tenant of another organization): organization keys name
	// tenants through it.
	GetTenant(ctx context.Context, orgID, id string) (*storage.Tenant, error)
	// RecordUsage writes a flush of batched usage (storage.UsageStore).
	RecordUsage(ctx context.Context, keys []storage.KeyUsage, deltas []storage.UsageDelta) error
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Config configures the service.
type Config struct {
	Format Format
	// Rights, when set, answers what a key reaches now
	// (orgs.Service.KeyRights) for Introspect.
	Rights func(ctx context.Context, k *storage.APIKey) (*orgs.Rights, error)
	Hasher *secret.Hasher
	// Sealer, when set, keeps each key encrypted so its owner can read it
	// again (recoverable keys); nil stores only the digest.
	Sealer cipher.AEAD
	// Scopes are the fine-grained API scopes keys may carry.
	Scopes      []string
	Tiers       []string
	DefaultTier string
	// CacheTTL bounds how long a verification result is reused (default
	// 1s). Changes made by other instances are seen at the latest after
	// it, or as soon as they are pushed through Invalidate.
	CacheTTL time.Duration
	// NoCache turns the verification cache off, so every Verify of a
	// well-formed key runs the indexed digest query: the worst case, used
	// by the benchmarks that compare verification cost at different
	// numbers of stored keys. Servers leave it false.
	NoCache bool
	// RevokeTokens revokes every OAuth access token exchanged from a key;
	// called when the key is revoked or rotated with no grace.
	RevokeTokens func(ctx context.Context, keyID string) error
	// OnVerify, when set, is called once per Verify with its result: one
	// of the Verify* constants.
	OnVerify func(result string)
	// NewIPEventsPerMinute bounds the "new_ip" audit entries (first use
	// of a key from an address) written per key and minute (default 10);
	// the addresses beyond it are counted in the next entry.
	NewIPEventsPerMinute int
	Now                  func() time.Time
}

// Service creates, verifies, rotates and revokes API keys.
type Service struct {
	cfg   Config
	store Store
	cache *ttlcache.Cache[*storage.APIKey]
	// ids maps key ids to digests (which never change), so Current finds
	// a key's entry in cache by id.
	ids   *lru.Cache[string, string]
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
	if cfg.NewIPEventsPerMinute <= 0 {
		cfg.NewIPEventsPerMinute = 10
	}
	s := &Service{cfg: cfg, store: store}
	s.cache = newCache(s)
	s.ids, _ = lru.New[string, string](keyCacheMax)
	s.usage = newUsageBatcher(store, cfg.Now, cfg.NewIPEventsPerMinute)
	return s
}

// Close flushes batched usage records and stops the background flusher.
func (s *Service) Close(ctx context.Context) error { return s.usage.close(ctx) }

// CountUsage adds one event with outcome (storage.Outcome*) to the usage
// aggregate of a subject (storage.UsageKey, UsageClient or UsageInstance)
// now. It takes a lock and increments a counter; the count reaches the
// database with the next batched flush (every 2 s, and on Close).
func (s *Service) CountUsage(subject, id, outcome string) {
	s.usage.count(subject, id, outcome, s.cfg.Now())
}

// FlushUsage writes the batched usage now (for tests and tools; Close
// flushes too).
func (s *Service) FlushUsage(ctx context.Context) error { return s.usage.flush(ctx) }

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
				return nil, invalid("scopes", "unknown scope %q", sc)
			}
			add(sc)
		}
	}
	slices.Sort(out)
	return out, nil
}

var handleRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateRequest is what a caller asks for (SPEC §3.3 POST /user/keys,
// §3.3a organization keys).
type CreateRequest struct {
	Handle      string
	Alias       string
	Scopes      []string
	ExpiresIn   time.Duration // 0 = never
	Environment string        // "live" (default) or "test"
	// Tier is the rate-limit tier; "" = the deployment default for a key
	// outside organizations, and "inherit the organization's tier" for an
	// organization key (stored as "", resolved at each request) made by
	// the owner signed in or by an organization key that inherits too; a
	// credential with a tier of its own passes that on (no higher).
	Tier string
	IP   string
	// OrgID binds the key to an organization ("" = the owner's personal
	// workspace). The caller has checked that the person may make keys
	// there (package orgs decides; this package holds no role logic).
	OrgID string
	// TenantID makes a workspace key: it belongs to this tenant of OrgID
	// (the record's UserID is the tenant id, so handles are unique per
	// tenant) and survives changes to the members who made it.
	TenantID string
	// Tenants narrows a personal organization key to some of OrgID's
	// tenants (empty = every tenant its owner reaches); each must be a
	// tenant of OrgID. Not allowed on workspace keys or outside
	// organizations.
	Tenants []string
	// CreatedBy is the person making the key ("" = the owner itself); it
	// is recorded on the key (storage.APIKey.CreatedBy).
	CreatedBy string
}

// Create makes a key for userID on behalf of the credential a (see
// Authority): a key can never exceed a's scopes, a key created without
// scopes gets exactly them, it never outlives a (no expiry asked for →
// a's), its tier is no higher than a's (tierFor), and it records a as its
// parent, which must still be valid when the key is written (creatorKey).
func (s *Service) Create(ctx context.Context, userID string, a Authority, req CreateRequest) (*storage.APIKey, string, error) {
	if !handleRe.MatchString(req.Handle) {
		return nil, "", invalid("handle", "handle must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if len(req.Alias) > 200 {
		return nil, "", invalid("alias", "alias is longer than 200 characters")
	}
	env := req.Environment
	if env == "" {
		env = EnvLive
	}
	if env != EnvLive && env != EnvTest {
		return nil, "", invalid("environment", "environment must be live or test")
	}
	orgKey := req.OrgID != ""
	if len(s.cfg.Tiers) > 0 && !slices.Contains(s.cfg.Tiers, cmp.Or(req.Tier, s.cfg.DefaultTier)) {
		return nil, "", invalid("tier", "unknown tier %q", cmp.Or(req.Tier, s.cfg.DefaultTier))
	}
	if req.ExpiresIn < 0 {
		return nil, "", invalid("expires_in", "expires_in must be positive")
	}
	scopes, err := s.grantable(req.Scopes, a.Scopes)
	if err != nil {
		return nil, "", err
	}
	owner, tenants, err := s.orgOwner(ctx, userID, req)
	if err != nil {
		return nil, "", err
	}
	if tenants, err = a.Reach.narrow(req.OrgID, req.TenantID, tenants); err != nil {
		return nil, "", err
	}
	now := s.cfg.Now().UTC()
	if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
		return nil, "", ErrForbidden // the credential itself has ended
	}
	rec := &storage.APIKey{
		ID: uuid.NewString(), UserID: owner, Handle: req.Handle, Alias: req.Alias,
		Environment: env, Scopes: scopes, CreatedAt: now,
		ParentKeyID: a.KeyID, ParentGrantID: a.GrantID, ParentClientID: a.ClientID,
		OrgID: req.OrgID, TenantID: req.TenantID, Tenants: tenants, CreatedBy: cmp.Or(req.CreatedBy, userID),
	}
	var exp *time.Time
	if req.ExpiresIn > 0 {
		e := now.Add(req.ExpiresIn).Truncate(time.Second)
		exp = &e
	}
	rec.ExpiresAt = a.clampExpiry(exp)
	plain, err := s.mint(rec)
	if err != nil {
		return nil, "", err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		// The key behind the credential, as it is now and locked: a
		// revocation of it racing this create either came first (refused
		// here) or waits and revokes the new key with it.
		creator, err := s.creatorKey(ctx, a)
		if err != nil {
			return err
		}
		if orgKey && req.Tier == "" && (a.Owner || creator != nil && creator.Tier == "" && creator.OrgID == req.OrgID) {
			// Inherits the organization's tier at each request, as the
			// credential making it does: a credential with a tier of its
			// own passes that on instead (tierFor), so a key of a lower
			// tier never mints one of its organization's higher tier.
			rec.Tier = ""
		} else if rec.Tier, err = s.tierFor(a, creator, req.Tier); err != nil {
			return err
		}
		return s.createKey(ctx, rec)
	})
	if err != nil {
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
		if rec.Sealed, err = secret.Seal(s.cfg.Sealer, []byte(plain), []byte(rec.ID)); err != nil {
			return "", err
		}
	}
	return plain, nil
}

// Reveal returns a recoverable key's plain value, or ErrNotFound when the
// deployment does not keep keys recoverable.
func (s *Service) Reveal(k *storage.APIKey) (string, error) {
	if s.cfg.Sealer == nil || len(k.Sealed) == 0 {
		return "", ErrNotFound
	}
	out, err := secret.Open(s.cfg.Sealer, k.Sealed, []byte(k.ID))
	if err != nil {
		return "", fmt.Errorf("keys: unseal: %w", err)
	}
	return string(out), nil
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
