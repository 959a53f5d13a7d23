package client

import (
	"net/http"
	"strings"
	"time"
)

// Option configures [KeyTokenSource] and [NewVerifier]. Options that do not
// concern the value being built are ignored (for example WithEarlyExpiry
// for a Verifier).
type Option func(*options)

type options struct {
	httpClient  *http.Client
	earlyExpiry time.Duration
	keyPrefix   string
	cacheTTL    time.Duration
	cacheSize   int
	realm       string
	now         func() time.Time
	publicURL   string
	dpopMaxAge  time.Duration
}

// Defaults.
const (
	// DefaultEarlyExpiry is how long before its expiry a token from
	// KeyTokenSource is renewed.
	DefaultEarlyExpiry = time.Minute
	// DefaultKeyPrefix is the key prefix of a default Latchkey deployment
	// (config keys.prefix): keys look like lk_live_… or lk_test_….
	DefaultKeyPrefix = "lk"
	// DefaultCacheTTL is how long a Verifier remembers a verification.
	DefaultCacheTTL = 5 * time.Second
	// DefaultCacheSize bounds the number of credentials a Verifier remembers.
	DefaultCacheSize = 10000
	// DefaultRealm is the realm of the RFC 6750 WWW-Authenticate challenges.
	DefaultRealm = "latchkey"
	// defaultTimeout bounds each call to Latchkey when no client is given.
	defaultTimeout = 10 * time.Second
)

func newOptions(opts []Option) options {
	o := options{
		earlyExpiry: DefaultEarlyExpiry,
		keyPrefix:   DefaultKeyPrefix,
		cacheTTL:    DefaultCacheTTL,
		cacheSize:   DefaultCacheSize,
		realm:       DefaultRealm,
		now:         time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// WithHTTPClient sets the HTTP client used to talk to Latchkey (token
// exchange, client-credentials tokens, key verification, introspection).
// Without it, KeyTokenSource uses the client in its context under
// oauth2.HTTPClient if any, and otherwise (like NewVerifier) a client with
// a 10-second timeout. Never pass a client that itself authenticates with
// the token source being built.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) { o.httpClient = c }
}

// WithEarlyExpiry sets how long before its expiry KeyTokenSource renews a
// token (default one minute), so a request never leaves with a token about
// to expire. Zero or negative renews only once the token has expired.
func WithEarlyExpiry(d time.Duration) Option {
	return func(o *options) { o.earlyExpiry = d }
}

// WithKeyPrefix sets the key prefix of the deployment (config keys.prefix,
// default "lk"). A Verifier treats credentials starting with
// "<prefix>_live_" or "<prefix>_test_" as API keys and anything else as an
// OAuth access token.
func WithKeyPrefix(prefix string) Option {
	return func(o *options) {
		if prefix != "" {
			o.keyPrefix = prefix
		}
	}
}

// WithCacheTTL sets how long a Verifier remembers the result of a
// verification, valid or not (default 5 s). A revoked credential may be
// accepted for up to this long after revocation; 0 disables the cache.
// Positive results are never kept past the credential's own expiry.
func WithCacheTTL(d time.Duration) Option {
	return func(o *options) {
		if d < 0 {
			d = 0
		}
		o.cacheTTL = d
	}
}

// WithCacheSize bounds how many credentials a Verifier remembers (default
// 10000); 0 or negative disables the cache.
func WithCacheSize(n int) Option {
	return func(o *options) { o.cacheSize = n }
}

// WithRealm sets the realm of the WWW-Authenticate challenges the
// middleware sends (RFC 6750 §3; default "latchkey").
func WithRealm(realm string) Option {
	return func(o *options) { o.realm = realm }
}

// withClock replaces time.Now for the Verifier's cache (tests).
func withClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithPublicURL sets the external base URL of the resource server (scheme,
// host and any path prefix a proxy strips, e.g. "https://api.example.com"):
// a DPoP proof's htu must be this followed by the request's path (RFC 9449
// §4.3). Without it the URL is rebuilt from the request (https when it
// came over TLS, else http, and its Host header), which is wrong behind a
// TLS-terminating proxy.
func WithPublicURL(base string) Option {
	return func(o *options) { o.publicURL = strings.TrimRight(base, "/") }
}

// WithDPoPMaxAge sets how old a DPoP proof's iat may be (default 60 s);
// the Verifier remembers each proof's jti that long to refuse replays.
func WithDPoPMaxAge(d time.Duration) Option {
	return func(o *options) { o.dpopMaxAge = d }
}
