package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/dpop"
)

// Identity kinds.
const (
	// KindAPIKey marks an Identity verified from a Latchkey API key.
	KindAPIKey = "api_key"
	// KindAccessToken marks an Identity verified from an OAuth access token
	// by introspection (RFC 7662), including tokens exchanged from API keys
	// at /tokens/generate (their KeyID is set).
	KindAccessToken = "access_token"
)

// VerifyScope is the scope a resource server's client must be registered
// for so that its Verifier may call POST /v1/keys/verify (the client must
// also be flagged resource_server: `latchkey client create
// --resource-server`).
const VerifyScope = "keys:verify"

// maxCredentialLen matches the server's limit on Authorization headers.
const maxCredentialLen = 4096

// Verifier checks credentials presented to a resource server against a
// Latchkey server. API keys (recognised by the deployment's key prefix, see
// [WithKeyPrefix]) are checked at POST /v1/keys/verify with a
// client_credentials access token of scope keys:verify, which the Verifier
// obtains and renews itself (RFC 6749 §4.4); the server answers it only
// for a client flagged resource_server, and any other client's Verify of
// a key fails with ErrUnavailable (403 forbidden). Anything else is treated as an
// OAuth access token and checked by token introspection (RFC 7662) at
// POST /oauth/introspect, authenticating with HTTP Basic client
// credentials.
//
// Results (valid and invalid) are cached for a short time ([WithCacheTTL],
// default 5 s) under the SHA-256 digest of the credential, never under the
// credential itself, together with the digest of the [Check] Latchkey
// evaluated for an API key, if any: a check's result is only ever served
// for the same credential and the same check. A Verifier is safe for
// concurrent use.
type Verifier struct {
	base         string
	clientID     string
	clientSecret string
	hc           *http.Client
	ccConf       *clientcredentials.Config
	ccCtx        context.Context
	keyPrefixes  [2]string
	ttl          time.Duration
	maxEntries   int
	realm        string
	now          func() time.Time
	// publicURL is the resource server's external base URL ("" = from
	// the request), dpop checks the proofs of DPoP-bound tokens.
	publicURL string
	dpop      *dpop.Checker

	tsMu sync.Mutex
	ts   oauth2.TokenSource

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

// cacheKey names a cached answer: the digest of the credential and, for an
// API key verified with a Check, the digest of that check (zero without).
type cacheKey struct {
	cred, check [sha256.Size]byte
}

type cacheEntry struct {
	id      *Identity    // nil for a negative result
	check   *CheckResult // the check's result, for entries keyed with one
	err     error
	expires time.Time
}

// NewVerifier returns a Verifier for the Latchkey server at baseURL that
// authenticates as the OAuth client clientID / clientSecret. The client
// must be a resource server (`latchkey client create --resource-server`)
// registered for the client_credentials grant and the keys:verify scope:
// only resource servers may verify API keys or introspect tokens issued
// to other clients (any other client learns only about its own tokens).
func NewVerifier(baseURL, clientID, clientSecret string, opts ...Option) *Verifier {
	o := newOptions(opts)
	hc := o.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	base := strings.TrimRight(baseURL, "/")
	v := &Verifier{
		base:         base,
		clientID:     clientID,
		clientSecret: clientSecret,
		hc:           hc,
		ccConf: &clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			TokenURL:     base + "/oauth/token",
			Scopes:       []string{VerifyScope},
			AuthStyle:    oauth2.AuthStyleInHeader,
		},
		ccCtx:       context.WithValue(context.Background(), oauth2.HTTPClient, hc),
		keyPrefixes: [2]string{o.keyPrefix + "_live_", o.keyPrefix + "_test_"},
		ttl:         o.cacheTTL,
		maxEntries:  o.cacheSize,
		realm:       o.realm,
		now:         o.now,
		cache:       map[cacheKey]cacheEntry{},
		publicURL:   o.publicURL,
		dpop: &dpop.Checker{MaxAge: o.dpopMaxAge, Now: o.now,
			Replay: dpop.NewMemoryReplay(0, o.now)},
	}
	if v.maxEntries <= 0 {
		v.ttl = 0
	}
	return v
}

// IsAPIKey reports whether credential has the shape of an API key of the
// deployment ("<prefix>_live_…" or "<prefix>_test_…"). It does not check
// that the key is valid.
func (v *Verifier) IsAPIKey(credential string) bool {
	return strings.HasPrefix(credential, v.keyPrefixes[0]) || strings.HasPrefix(credential, v.keyPrefixes[1])
}

// Verify checks credential (an API key or an OAuth access token, without
// any "Bearer " prefix) and returns the identity it carries. It returns an
// error matching [ErrInvalidCredential] when Latchkey does not accept the
// credential (unknown, expired, revoked, inactive), [ErrRateLimited] when
// the key is over its rate limit, and an error matching [ErrUnavailable]
// when no answer could be obtained. The returned Identity is the caller's
// own copy.
func (v *Verifier) Verify(ctx context.Context, credential string) (*Identity, error) {
	id, _, err := v.verify(ctx, credential, nil)
	return id, err
}

// verify is Verify, with Latchkey evaluating pc in the same call when it
// is not nil (API keys only) and the answer cached under the check too.
func (v *Verifier) verify(ctx context.Context, credential string, pc *preparedCheck) (*Identity, *CheckResult, error) {
	if credential == "" || len(credential) > maxCredentialLen {
		return nil, nil, fmt.Errorf("%w: empty or oversized credential", ErrInvalidCredential)
	}
	key := cacheKey{cred: sha256.Sum256([]byte(credential))}
	if pc != nil {
		key.check = pc.digest
	}
	if id, res, err, ok := v.lookup(key); ok {
		return id, res, err
	}
	var (
		id  *Identity
		res *CheckResult
		err error
	)
	if v.IsAPIKey(credential) {
		id, res, err = v.verifyKey(ctx, credential, pc)
	} else {
		id, err = v.introspect(ctx, credential)
	}
	if err == nil && !id.ExpiresAt.IsZero() && !v.now().Before(id.ExpiresAt) {
		id, res, err = nil, nil, fmt.Errorf("%w: expired", ErrInvalidCredential)
	}
	v.store(key, id, res, err)
	if id != nil {
		id = id.clone()
	}
	return id, res.clone(), err
}

// lookup returns a cached, unexpired result.
func (v *Verifier) lookup(key cacheKey) (*Identity, *CheckResult, error, bool) {
	if v.ttl <= 0 {
		return nil, nil, nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.cache[key]
	if !ok {
		return nil, nil, nil, false
	}
	if !v.now().Before(e.expires) {
		delete(v.cache, key)
		return nil, nil, nil, false
	}
	if e.id == nil {
		return nil, nil, e.err, true
	}
	return e.id.clone(), e.check.clone(), nil, true
}

// store caches a definite answer: a valid identity (never past its own
// expiry) or an invalid credential. Unavailability and rate limits are not
// answers about the credential and are not cached.
func (v *Verifier) store(key cacheKey, id *Identity, res *CheckResult, err error) {
	if v.ttl <= 0 {
		return
	}
	if err != nil && !errors.Is(err, ErrInvalidCredential) {
		return
	}
	now := v.now()
	exp := now.Add(v.ttl)
	if id != nil && !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(exp) {
		exp = id.ExpiresAt
	}
	if !exp.After(now) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.cache[key]; !ok && len(v.cache) >= v.maxEntries {
		for k, e := range v.cache {
			if !now.Before(e.expires) {
				delete(v.cache, k)
			}
		}
		// Still full: drop arbitrary entries (map order is random).
		for k := range v.cache {
			if len(v.cache) < v.maxEntries {
				break
			}
			delete(v.cache, k)
		}
	}
	if id != nil {
		id = id.clone()
	}
	v.cache[key] = cacheEntry{id: id, check: res.clone(), err: err, expires: exp}
}

// cacheLen reports the number of cached entries (tests).
func (v *Verifier) cacheLen() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.cache)
}

// clientToken returns the current client_credentials token source.
func (v *Verifier) clientToken() oauth2.TokenSource {
	v.tsMu.Lock()
	defer v.tsMu.Unlock()
	if v.ts == nil {
		v.ts = v.ccConf.TokenSource(v.ccCtx)
	}
	return v.ts
}

// dropClientToken forgets ts (when Latchkey refused its token) so the next
// call obtains a new one.
func (v *Verifier) dropClientToken(ts oauth2.TokenSource) {
	v.tsMu.Lock()
	defer v.tsMu.Unlock()
	if v.ts == ts {
		v.ts = nil
	}
}

// introspectResponse is an RFC 7662 §2.2 introspection response plus
// Latchkey's key_id and, for organization credentials, org_id, org_role,
// tenants and key_kind.
type introspectResponse struct {
	Active   *bool    `json:"active"`
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
	Sub      string   `json:"sub"`
	Exp      int64    `json:"exp"`
	KeyID    string   `json:"key_id"`
	OrgID    string   `json:"org_id"`
	OrgRole  string   `json:"org_role"`
	Tenants  []Tenant `json:"tenants"`
	KeyKind  string   `json:"key_kind"`
	// Cnf names the key a DPoP-bound token is bound to (RFC 9449 §6.2).
	Cnf struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// introspect asks POST /oauth/introspect (RFC 7662 §2.1) about an access
// token, authenticating with HTTP Basic client credentials (RFC 6749
// §2.3.1: id and secret form-encoded first).
func (v *Verifier) introspect(ctx context.Context, token string) (*Identity, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/oauth/introspect", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(v.clientID), url.QueryEscape(v.clientSecret))
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspecting token: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// 401 here means our client credentials were refused (RFC 7662 §2.3).
		return nil, fmt.Errorf("%w: introspecting token: %w", ErrUnavailable, errorFromResponse(resp))
	}
	var ir introspectResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&ir); err != nil || ir.Active == nil {
		return nil, fmt.Errorf("%w: unexpected answer from /oauth/introspect", ErrUnavailable)
	}
	if !*ir.Active {
		return nil, fmt.Errorf("%w: inactive token", ErrInvalidCredential)
	}
	id := &Identity{Kind: KindAccessToken, Subject: ir.Sub, ClientID: ir.ClientID, KeyID: ir.KeyID, Scopes: strings.Fields(ir.Scope),
		KeyKind: ir.KeyKind, Tenants: ir.Tenants, DPoPJKT: ir.Cnf.JKT}
	if ir.OrgID != "" {
		// Introspection names the organization's id, not its name.
		id.Organization = &Organization{ID: ir.OrgID, Role: ir.OrgRole}
	}
	if ir.Exp > 0 {
		id.ExpiresAt = time.Unix(ir.Exp, 0)
	}
	return id, nil
}
