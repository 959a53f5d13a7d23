package oauth

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/internal/ttlcache"
	"github.com/latchkey/latchkey/storage"
)

// The access-token cache maps an active access token's signature to its
// decoded record for Config.TokenCacheTTL, so that introspecting (or
// otherwise reading) the same token again costs neither a query nor a
// JSON decode. Only active tokens are cached: an unknown or inactive
// token always reaches the database. Expiry is still checked on every use
// (fosite's ValidateAccessToken reads the session's expiry), and what can
// change while a token stays stored — the person's rights, a key it was
// exchanged from — is checked at each use after the cache, as before.
//
// Coherence follows the API-key cache: every write that deletes or
// deactivates access tokens publishes storage.TopicToken (one signature,
// one grant, or every token); this process drops the entries after the
// commit (storage.DB.OnChange) and other instances when the bus delivers
// it (Subscriber). A lookup that started before an invalidation never
// stores its result (tickets, as in internal/ttlcache), and while the bus
// is down the cache is bypassed.

// tokenCacheMax bounds the access-token cache.
const tokenCacheMax = 100_000

// tokenCache is the in-process cache of active access tokens.
type tokenCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.RWMutex
	// bySig holds the entries; byGrant indexes their signatures by grant
	// (request id), for TopicToken's TokenByGrant.
	bySig   map[string]tokenEntry
	byGrant map[string][]string
	// swept is when expired entries were last dropped: put sweeps once per
	// TTL, as ttlcache does, so the cache holds the tokens read lately.
	swept time.Time
	// gen counts invalidations: a lookup's ticket is the gen it started
	// at, and its result is stored only if no invalidation came between.
	gen    uint64
	bypass bool

	hits, misses atomic.Uint64
}

// tokenEntry is one cached token: a decoded record nobody mutates (every
// reader gets a copy, copyRequest) and when it was read.
type tokenEntry struct {
	req *fosite.Request
	at  time.Time
}

// newTokenCache returns a cache keeping entries for ttl, or nil (a cache
// that keeps nothing) when ttl is not positive.
func newTokenCache(ttl time.Duration, max int, now func() time.Time) *tokenCache {
	if ttl <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &tokenCache{ttl: ttl, max: max, now: now, bySig: map[string]tokenEntry{}, byGrant: map[string][]string{}, swept: now()}
}

// get returns a copy of the cached record of sig with its session copied
// into sess, or ok false and the ticket a later put must present.
func (c *tokenCache) get(sig string, sess fosite.Session) (req *fosite.Request, ok bool, ticket uint64) {
	if c == nil {
		return nil, false, 0
	}
	c.mu.RLock()
	e, found := c.bySig[sig]
	ticket, bypass := c.gen, c.bypass
	c.mu.RUnlock()
	if bypass || !found || c.now().Sub(e.at) >= c.ttl {
		c.misses.Add(1)
		return nil, false, ticket
	}
	cp, ok := copyRequest(e.req, sess)
	if !ok {
		c.misses.Add(1)
		return nil, false, ticket
	}
	c.hits.Add(1)
	return cp, true, 0
}

// put stores the active record req of sig unless an invalidation (or a
// bypass) came after ticket was taken. req must not be changed afterwards
// by anyone: the caller hands over a copy (copyRequest).
func (c *tokenCache) put(sig string, req *fosite.Request, ticket uint64) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bypass || c.gen != ticket {
		return
	}
	if _, exists := c.bySig[sig]; (!exists && len(c.bySig) >= c.max) || now.Sub(c.swept) >= c.ttl {
		c.sweepLocked(now)
	}
	if _, exists := c.bySig[sig]; !exists {
		c.byGrant[req.ID] = append(c.byGrant[req.ID], sig)
	}
	c.bySig[sig] = tokenEntry{req: req, at: now}
}

// sweepLocked drops expired entries (all of them if that frees nothing)
// and rebuilds the grant index.
func (c *tokenCache) sweepLocked(now time.Time) {
	c.bySig = ttlcache.SweepExpired(c.bySig, func(e tokenEntry) bool { return now.Sub(e.at) >= c.ttl })
	c.swept = now
	if len(c.bySig) >= c.max {
		c.bySig = map[string]tokenEntry{}
	}
	c.byGrant = map[string][]string{}
	for sig, e := range c.bySig {
		c.byGrant[e.req.ID] = append(c.byGrant[e.req.ID], sig)
	}
}

// Invalidate drops the entries a storage.TopicToken invalidation names;
// other topics are ignored. Every call (whatever it names) refuses the
// results of lookups that started before it.
func (c *tokenCache) Invalidate(inv storage.Invalidation) {
	if c == nil || inv.Topic != storage.TopicToken {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch {
	case inv.ID == storage.TokenAll:
		clear(c.bySig)
		clear(c.byGrant)
	case strings.HasPrefix(inv.ID, "s:"):
		sig := strings.TrimPrefix(inv.ID, "s:")
		if e, ok := c.bySig[sig]; ok {
			delete(c.bySig, sig)
			c.byGrant[e.req.ID] = slices.DeleteFunc(c.byGrant[e.req.ID], func(s string) bool { return s == sig })
			if len(c.byGrant[e.req.ID]) == 0 {
				delete(c.byGrant, e.req.ID)
			}
		}
	case strings.HasPrefix(inv.ID, "g:"):
		rid := strings.TrimPrefix(inv.ID, "g:")
		for _, sig := range c.byGrant[rid] {
			delete(c.bySig, sig)
		}
		delete(c.byGrant, rid)
	default: // a form this version does not know: forget everything
		clear(c.bySig)
		clear(c.byGrant)
	}
}

// SetListening bypasses the cache (dropping every entry) while
// invalidations from other instances may be lost.
func (c *tokenCache) SetListening(ok bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		clear(c.bySig)
		clear(c.byGrant)
	}
	c.bypass = !ok
	c.gen++
}

// stats returns the hit and miss counts.
func (c *tokenCache) stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}

// copyRequest returns a copy of r that its reader may change without
// touching r: the scopes, audiences and form are cloned, and r's session
// (a *Session) is copied into sess (a *Session, as fosite passes to the
// storage) with its maps, its slices (FamilyScope, FamilyAudience) and the
// ID-token claims and headers cloned. ok is
// false when either session is of another type.
func copyRequest(r *fosite.Request, sess fosite.Session) (*fosite.Request, bool) {
	src, ok := r.Session.(*Session)
	dst, ok2 := sess.(*Session)
	if !ok || !ok2 || src == nil || dst == nil {
		return nil, false
	}
	*dst = *src
	dst.ExpiresAt = maps.Clone(src.ExpiresAt)
	dst.FamilyScope = slices.Clone(src.FamilyScope)
	dst.FamilyAudience = slices.Clone(src.FamilyAudience)
	if src.Claims != nil {
		cl := *src.Claims
		cl.Audience = slices.Clone(cl.Audience)
		cl.AuthenticationMethodsReferences = slices.Clone(cl.AuthenticationMethodsReferences)
		cl.Extra = maps.Clone(cl.Extra)
		dst.Claims = &cl
	}
	if src.Headers != nil {
		h := *src.Headers
		h.Extra = maps.Clone(h.Extra)
		dst.Headers = &h
	}
	cp := *r
	cp.RequestedScope = slices.Clone(r.RequestedScope)
	cp.GrantedScope = slices.Clone(r.GrantedScope)
	cp.RequestedAudience = slices.Clone(r.RequestedAudience)
	cp.GrantedAudience = slices.Clone(r.GrantedAudience)
	cp.Form = cloneValues(r.Form)
	cp.Session = dst
	return &cp, true
}

func cloneValues(f map[string][]string) map[string][]string {
	if f == nil {
		return nil
	}
	out := make(map[string][]string, len(f))
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

// Invalidate implements storage.Subscriber: it drops the access-token
// cache entries a storage.TopicToken invalidation names (other topics are
// not cached here and are ignored). Wire it to storage.DB.OnChange and the
// cross-instance bus.
func (p *Provider) Invalidate(inv storage.Invalidation) { p.store.tokens.Invalidate(inv) }

// SetListening implements storage.Subscriber: while invalidations from
// other instances may be lost, the access-token cache is emptied and
// bypassed.
func (p *Provider) SetListening(ok bool) { p.store.tokens.SetListening(ok) }

// TokenCacheStats returns the access-token cache's hits and misses.
func (p *Provider) TokenCacheStats() (hits, misses uint64) { return p.store.tokens.stats() }

var _ storage.Subscriber = (*Provider)(nil)
