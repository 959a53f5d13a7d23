package dpop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// Default time window of a proof: its iat may lie up to DefaultMaxAge in
// the past and DefaultLeeway in the future (RFC 9449 §4.3 item 11 asks
// for "a reasonable window"; §11.1 ties it to how long jtis are kept).
const (
	DefaultMaxAge = 60 * time.Second
	DefaultLeeway = 5 * time.Second
)

// Checker checks proofs presented with requests: Parse, then the time
// window, then the server nonce when one is required, then replay.
type Checker struct {
	// MaxAge and Leeway bound iat (0 = DefaultMaxAge, DefaultLeeway).
	MaxAge, Leeway time.Duration
	// Nonces, with RequireNonce, makes every proof carry a current server
	// nonce (RFC 9449 §8, §9); nil = nonces are neither issued nor checked.
	Nonces       *Nonces
	RequireNonce bool
	// Replay remembers accepted proofs; nil = no replay check (tests only).
	Replay ReplayCache
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

// Check checks the DPoP header values of a request (RFC 9449 §4.3): there
// must be exactly one (item 1). It returns the proof, or an error matching
// ErrInvalidProof (ErrReplayed for a replay) or ErrUseNonce; any other
// error means the replay cache could not be asked.
func (c *Checker) Check(ctx context.Context, headers []string, req Request) (*Proof, error) {
	p, err := c.Verify(headers, req)
	if err != nil {
		return nil, err
	}
	if err := c.Remember(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Remember records p in the replay cache (RFC 9449 §11.1): ErrReplayed
// when it was seen before. Check calls it; a server that wants to spend a
// write only on requests it otherwise accepts calls Verify first and
// Remember once the rest of the request is known to be good.
func (c *Checker) Remember(ctx context.Context, p *Proof) error {
	if c.Replay == nil {
		return nil
	}
	maxAge, leeway := c.window()
	return c.Replay.Mark(ctx, ReplayKey(p), c.now().Add(maxAge+leeway))
}

// Verify is Check without the replay check (see Remember).
func (c *Checker) Verify(headers []string, req Request) (*Proof, error) {
	if len(headers) != 1 {
		return nil, invalid("exactly one DPoP header is required")
	}
	p, err := Parse(headers[0], req)
	if err != nil {
		return nil, err
	}
	now := c.now()
	maxAge, leeway := c.window()
	if p.IssuedAt.Before(now.Add(-maxAge)) {
		return nil, invalid("the proof is too old (iat more than %s ago)", maxAge)
	}
	if p.IssuedAt.After(now.Add(leeway)) {
		return nil, invalid("the proof's iat is in the future")
	}
	if c.RequireNonce && c.Nonces != nil && (p.Nonce == "" || !c.Nonces.Valid(p.Nonce)) {
		return nil, ErrUseNonce
	}
	return p, nil
}

// NextNonce is the nonce to send in a DPoP-Nonce header, "" when nonces
// are not required.
func (c *Checker) NextNonce() string {
	if !c.RequireNonce || c.Nonces == nil {
		return ""
	}
	return c.Nonces.New()
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) window() (time.Duration, time.Duration) {
	maxAge, leeway := c.MaxAge, c.Leeway
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if leeway <= 0 {
		leeway = DefaultLeeway
	}
	return maxAge, leeway
}

// Nonces are stateless, rotating server nonces (RFC 9449 §8): a nonce is
// the index of the current period and an HMAC of it, so every instance
// sharing the key accepts every other's nonces without storage. A nonce
// is accepted in the period it was made and the next one, so it lives
// between one and two periods.
type Nonces struct {
	key    []byte
	period time.Duration
	now    func() time.Time
}

// NewNonces returns nonces keyed by key (≥ 32 bytes, secret) rotating
// every period (0 = 5 minutes); now nil = time.Now.
func NewNonces(key []byte, period time.Duration, now func() time.Time) *Nonces {
	if period <= 0 {
		period = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: key, period: period, now: now}
}

func (n *Nonces) index() uint64 { return uint64(n.now().UnixNano() / int64(n.period)) }

func (n *Nonces) make(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("latchkey dpop nonce\x00"))
	m.Write(b[:])
	return append(b[:], m.Sum(nil)[:16]...)
}

// New returns the current nonce.
func (n *Nonces) New() string { return base64.RawURLEncoding.EncodeToString(n.make(n.index())) }

// Valid reports whether s is a nonce of this period or the previous one.
func (n *Nonces) Valid(s string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 24 {
		return false
	}
	i := binary.BigEndian.Uint64(raw[:8])
	cur := n.index()
	if i != cur && i+1 != cur {
		return false
	}
	return hmac.Equal(raw, n.make(i))
}

// ErrReplayCacheFull is returned by MemoryReplay when it holds max
// unexpired entries: a proof is refused rather than accepted unchecked.
var ErrReplayCacheFull = errors.New("dpop: replay cache full")

// MemoryReplay is a ReplayCache in process memory, for one instance (the
// client package's middleware); servers with several instances share one
// in storage.
type MemoryReplay struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	entries map[string]time.Time
}

// NewMemoryReplay returns a cache of at most max entries (0 = 100,000).
func NewMemoryReplay(max int, now func() time.Time) *MemoryReplay {
	if max <= 0 {
		max = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplay{max: max, now: now, entries: map[string]time.Time{}}
}

// Mark implements ReplayCache.
func (m *MemoryReplay) Mark(_ context.Context, key string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.entries[key]; ok && now.Before(exp) {
		return ErrReplayed
	}
	if len(m.entries) >= m.max {
		for k, exp := range m.entries {
			if !now.Before(exp) {
				delete(m.entries, k)
			}
		}
		if len(m.entries) >= m.max {
			return ErrReplayCacheFull
		}
	}
	m.entries[key] = until
	return nil
}
