package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/dpop"
	"github.com/latchkey/latchkey/internal/flowtest"
)

// outcome is the result of one unit of work: one request, or one whole
// flow (then status and body are those of its last or failing step).
type outcome struct {
	status int
	body   []byte
	err    error
	check  func(body []byte) bool // validates a sampled 2xx body; nil = no check
}

// errFlow marks a flow that did not go the way a browser's would (an
// unexpected status, a missing form field, a state mismatch).
var errFlow = errors.New("broken flow")

// scenario is one measured workload.
type scenario struct {
	name  string
	conns int // workers; 0 = -conns
	setup func(ctx context.Context) error
	run   func(ctx context.Context, rng *rand.Rand) outcome
}

// bench holds what the scenarios share on one server.
type bench struct {
	s  *server
	o  *options
	hc *http.Client
	// apiKeys are the keys the key scenarios present (a sample of the
	// stored ones).
	apiKeys   []string
	introOnce sync.Once
	introErr  error
	intro     atomic.Pointer[minted]
	reminting atomic.Bool
	introCtx  context.Context
	// DPoP-bound tokens for introspect_dpop (one batch, like intro).
	dpopOnce      sync.Once
	dpopErr       error
	dpopIntro     atomic.Pointer[minted]
	dpopReminting atomic.Bool
	// flowSlots bounds the flows (logins) running at once.
	flowSlots chan struct{}
	// sessions are authcode_session's signed-in browsers, one per worker.
	sessions     chan signedIn
	sessionsOnce sync.Once
	sessionsErr  error
}

// newBench builds the shared HTTP client.
func newBench(s *server, o *options) *bench {
	b := &bench{s: s, o: o, flowSlots: make(chan struct{}, o.flowConns), apiKeys: s.storedKeys}
	b.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.conns, MaxIdleConnsPerHost: o.conns, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	return b
}

// scenarios returns every scenario by name.
func (b *bench) scenarios() map[string]scenario {
	s := b.s
	ccBody := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}.Encode()
	machine := func(path, body string) *http.Request {
		r := s.req(http.MethodPost, path, body)
		r.SetBasicAuth(url.QueryEscape(s.machine.id), url.QueryEscape(s.machine.secret)) // RFC 6749 §2.3.1
		return r
	}
	keyReq := func(rng *rand.Rand, method, path string) *http.Request {
		r := s.req(method, path, "")
		r.Header.Set("Authorization", "Bearer "+b.apiKeys[rng.IntN(len(b.apiKeys))])
		return r
	}
	has := func(sub string) func([]byte) bool {
		return func(body []byte) bool { return bytes.Contains(body, []byte(sub)) }
	}
	single := func(req func(*rand.Rand) *http.Request, check func([]byte) bool) func(context.Context, *rand.Rand) outcome {
		return func(ctx context.Context, rng *rand.Rand) outcome {
			status, body, err := do(ctx, b.hc, req(rng))
			return outcome{status: status, body: body, err: err, check: check}
		}
	}
	all := map[string]scenario{
		"healthz": {run: single(func(*rand.Rand) *http.Request { return s.req(http.MethodGet, "/healthz", "") }, nil)},
		"client_credentials": {run: single(func(*rand.Rand) *http.Request { return machine("/oauth/token", ccBody) },
			has(`"access_token":"`))},
		// The same grant for a client registered for RFC 9068 JWT access
		// tokens: signing (RS256 or ES256, whichever key signs) instead of
		// an HMAC, and the same INSERT.
		"client_credentials_jwt": {run: single(func(*rand.Rand) *http.Request {
			r := s.req(http.MethodPost, "/oauth/token", ccBody)
			r.SetBasicAuth(url.QueryEscape(s.jwtMachine.id), url.QueryEscape(s.jwtMachine.secret))
			return r
		}, has(`"access_token":"eyJ`))},
		"introspect": {setup: b.mintOnce, run: single(func(rng *rand.Rand) *http.Request {
			bodies := b.introspectBodies()
			return machine("/oauth/introspect", bodies[rng.IntN(len(bodies))])
		}, has(`"active":true`))},
		// The same for DPoP-bound tokens (RFC 9449): the answer carries
		// cnf.jkt and token_type DPoP (the proofs were checked at minting).
		"introspect_dpop": {setup: b.mintDPoPOnce, run: single(func(rng *rand.Rand) *http.Request {
			bodies := b.dpopBodies()
			return machine("/oauth/introspect", bodies[rng.IntN(len(bodies))])
		}, has(`"token_type":"DPoP"`))},
		"users_me_key": {run: single(func(rng *rand.Rand) *http.Request { return keyReq(rng, http.MethodGet, "/v1/users/me") },
			has(`"username":"`+benchUser+`"`))},
		"tokens_generate": {run: single(func(rng *rand.Rand) *http.Request { return keyReq(rng, http.MethodPost, "/tokens/generate") },
			has(`"token":"`))},
		"authcode":         {conns: b.o.flowConns, run: b.flow},
		"authcode_session": {setup: b.signInBrowsers, run: b.sessionFlow},
	}
	// mixed draws one of the parts per unit of work, by weight.
	total := 0
	for _, p := range b.o.mix {
		total += p.weight
	}
	all["mixed"] = scenario{setup: b.mintOnce, run: func(ctx context.Context, rng *rand.Rand) outcome {
		n := rng.IntN(total)
		for _, p := range b.o.mix {
			if n -= p.weight; n < 0 {
				return all[p.name].run(ctx, rng)
			}
		}
		panic("unreachable: weights add up to total")
	}}
	for name, sc := range all {
		sc.name = name
		all[name] = sc
	}
	return all
}

// mintOnce issues -tokens access tokens with the client credentials grant
// for the introspection scenarios (once per server).
func (b *bench) mintOnce(ctx context.Context) error {
	b.introOnce.Do(func() {
		var bodies []string
		bodies, b.introErr = b.mint(ctx)
		b.intro.Store(&minted{bodies: bodies, at: time.Now()})
		b.introCtx = ctx
	})
	return b.introErr
}

// minted is one batch of pre-minted tokens (introspection request bodies).
type minted struct {
	bodies []string
	at     time.Time
}

// introspectBodies returns the current batch. Once it is half as old as
// the server's access-token lifespan (short in a soak run), one caller
// mints a fresh batch in the background, so introspection keeps asking
// about live tokens.
func (b *bench) introspectBodies() []string {
	cur := b.intro.Load()
	if time.Since(cur.at) > b.s.cfg.OAuth.AccessTokenLifespan.Duration()/2 && b.reminting.CompareAndSwap(false, true) {
		go func() {
			defer b.reminting.Store(false)
			if bodies, err := b.mint(b.introCtx); err == nil {
				b.intro.Store(&minted{bodies: bodies, at: time.Now()})
			}
		}()
	}
	return cur.bodies
}

// mintDPoPOnce issues -tokens DPoP-bound access tokens for introspect_dpop
// (once per server).
func (b *bench) mintDPoPOnce(ctx context.Context) error {
	b.dpopOnce.Do(func() {
		var bodies []string
		bodies, b.dpopErr = b.mintWith(ctx, true)
		b.dpopIntro.Store(&minted{bodies: bodies, at: time.Now()})
		b.introCtx = cmpCtx(b.introCtx, ctx)
	})
	return b.dpopErr
}

// dpopBodies is introspectBodies for the DPoP-bound batch.
func (b *bench) dpopBodies() []string {
	cur := b.dpopIntro.Load()
	if time.Since(cur.at) > b.s.cfg.OAuth.AccessTokenLifespan.Duration()/2 && b.dpopReminting.CompareAndSwap(false, true) {
		go func() {
			defer b.dpopReminting.Store(false)
			if bodies, err := b.mintWith(b.introCtx, true); err == nil {
				b.dpopIntro.Store(&minted{bodies: bodies, at: time.Now()})
			}
		}()
	}
	return cur.bodies
}

// cmpCtx keeps the first context set.
func cmpCtx(cur, next context.Context) context.Context {
	if cur != nil {
		return cur
	}
	return next
}

func (b *bench) mint(ctx context.Context) ([]string, error) { return b.mintWith(ctx, false) }

// mintWith issues -tokens client_credentials tokens; with bound, each
// request carries a DPoP proof (RFC 9449 §4) of a key per worker, so the
// tokens are DPoP-bound.
func (b *bench) mintWith(ctx context.Context, bound bool) ([]string, error) {
	n, s := b.o.tokens, b.s
	ccBody := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}.Encode()
	bodies, errs := make([]string, n), make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(b.o.conns, n) {
		wg.Go(func() {
			var signer *dpop.Signer
			if bound {
				var err error
				if signer, err = dpop.NewES256Signer(); err != nil {
					errs[0] = err
					return
				}
			}
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				r := s.req(http.MethodPost, "/oauth/token", ccBody)
				r.SetBasicAuth(url.QueryEscape(s.machine.id), url.QueryEscape(s.machine.secret))
				if signer != nil {
					proof, err := signer.Proof(http.MethodPost, s.base+"/oauth/token", "", "")
					if err != nil {
						errs[i] = err
						continue
					}
					r.Header.Set("DPoP", proof)
				}
				status, body, err := do(ctx, b.hc, r)
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				if err == nil && (status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "") {
					err = fmt.Errorf("token endpoint: HTTP %d: %.200s", status, body)
				}
				bodies[i], errs[i] = url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode(), err
			}
		})
	}
	wg.Wait()
	return bodies, errors.Join(ctx.Err(), errors.Join(errs...))
}

// flow runs one authorization-code flow (RFC 6749 §4.1 with PKCE S256,
// RFC 7636) as a new browser and the app would: the authorization request
// (prompt=consent, so the consent form is shown every time) is sent to the
// login form, which is fetched and posted with its CSRF token; the consent
// form is posted with "allow"; the code from the redirect is exchanged at
// the token endpoint with the verifier. It waits for one of -flow-conns
// slots first.
func (b *bench) flow(ctx context.Context, rng *rand.Rand) outcome {
	select {
	case b.flowSlots <- struct{}{}:
	case <-ctx.Done():
		return outcome{err: ctx.Err()}
	}
	defer func() { <-b.flowSlots }()
	user := b.s.flowUsers[rng.IntN(len(b.s.flowUsers))]
	return b.codeFlow(ctx, rng, b.browser(), user, true, true)
}

// browser is a new browser: its own cookie jar, the shared transport, no
// redirects followed.
func (b *bench) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: b.hc.Transport, Jar: jar, Timeout: b.hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signedIn is a browser with a session of user and a remembered consent.
type signedIn struct {
	c    *http.Client
	user string
}

// signInBrowsers (setup of authcode_session) gives every worker a browser
// that has signed in once, through the whole flow without prompt=consent
// (so a consent is asked for once per user and remembered), -flow-conns at
// a time. The logins happen before the warm-up, outside the measurement.
func (b *bench) signInBrowsers(ctx context.Context) error {
	b.sessionsOnce.Do(func() {
		n := b.o.conns
		b.sessions = make(chan signedIn, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, b.o.flowConns)
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				rng := rand.New(rand.NewPCG(uint64(i), 17))
				br := signedIn{c: b.browser(), user: b.s.flowUsers[i%len(b.s.flowUsers)]}
				if o := b.codeFlow(ctx, rng, br.c, br.user, false, true); o.err != nil || o.status != http.StatusOK {
					errs <- fmt.Errorf("signing in browser %d: HTTP %d: %w", i, o.status, o.err)
					return
				}
				b.sessions <- br
			})
		}
		wg.Wait()
		close(errs)
		b.sessionsErr = <-errs
	})
	return b.sessionsErr
}

// sessionFlow is one authorization-code flow of a person who is signed in
// and has consented before — the common case: GET /oauth/authorize (no
// prompt) → redirect with code → POST /oauth/token. No password is checked
// and no form is shown; a flow that meets the login or consent page fails.
func (b *bench) sessionFlow(ctx context.Context, rng *rand.Rand) outcome {
	var br signedIn
	select {
	case br = <-b.sessions:
	case <-ctx.Done():
		return outcome{err: ctx.Err()}
	}
	defer func() { b.sessions <- br }()
	return b.codeFlow(ctx, rng, br.c, br.user, false, false)
}

// codeFlow runs the authorization-code flow with PKCE S256 (RFC 6749
// §4.1, RFC 7636) in browser c as user: the authorization request
// (with prompt=consent when promptConsent), then — only when interactive —
// the login form (fetched and posted with its CSRF token) if the browser
// has no session, and the consent form (posted with "allow") if it is
// shown; the code from the redirect is exchanged at the token endpoint
// with the verifier. Not interactive, any login or consent page breaks
// the flow.
func (b *bench) codeFlow(ctx context.Context, rng *rand.Rand, c *http.Client, user string, promptConsent, interactive bool) outcome {
	s := b.s
	verifier, state := randText(rng, 64), randText(rng, 22) // RFC 7636 §4.1: 43-128 unreserved characters
	sum := sha256.Sum256([]byte(verifier))
	authQuery := url.Values{
		"response_type": {"code"}, "client_id": {s.web.id}, "redirect_uri": {redirectURI}, "scope": {flowScope},
		"state": {state}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if promptConsent {
		authQuery.Set("prompt", "consent")
	}
	broken := func(step string, r page, err error) outcome {
		if err != nil {
			return outcome{status: r.status, err: err}
		}
		return outcome{status: r.status, body: r.body, err: fmt.Errorf("%w: %s: HTTP %d %s: %.300s", errFlow, step, r.status, r.header.Get("Location"), r.body)}
	}
	r, err := send(ctx, c, http.MethodGet, s.base+"/oauth/authorize?"+authQuery.Encode(), nil, nil)
	if err != nil {
		return broken("authorize", r, err)
	}
	if loginURL, _ := url.Parse(r.header.Get("Location")); r.status == http.StatusSeeOther && loginURL != nil && loginURL.Path == "/login" {
		if !interactive {
			return broken("authorize (the session was lost)", r, nil)
		}
		next := loginURL.Query().Get("next")
		r, err = send(ctx, c, http.MethodGet, s.base+loginURL.String(), nil, nil)
		token := formField(flowtest.CSRFRe, r.body)
		if err != nil || r.status != http.StatusOK || token == "" {
			return broken("login form", r, err)
		}
		form := url.Values{"username": {user}, "password": {benchPassword}, "csrf_token": {token}, "next": {next}}
		r, err = send(ctx, c, http.MethodPost, s.base+"/login", form, nil)
		if err != nil || r.status != http.StatusSeeOther || r.header.Get("Location") != next {
			return broken("login", r, err)
		}
		r, err = send(ctx, c, http.MethodGet, s.base+next, nil, nil)
		if err != nil {
			return broken("authorize (signed in)", r, err)
		}
	}
	if r.status == http.StatusOK {
		if !interactive {
			return broken("authorize (the consent was not remembered)", r, nil)
		}
		token, challenge := formField(flowtest.CSRFRe, r.body), formField(flowtest.ChallengeRe, r.body)
		if token == "" || challenge == "" {
			return broken("consent form", r, nil)
		}
		form := url.Values{"csrf_token": {token}, "challenge": {challenge}, "decision": {"allow"}}
		r, err = send(ctx, c, http.MethodPost, s.base+"/oauth/consent", form, nil)
		if err != nil {
			return broken("consent", r, err)
		}
	} else if promptConsent {
		return broken("consent form (prompt=consent)", r, nil)
	}
	back, _ := url.Parse(r.header.Get("Location"))
	if r.status < 300 || r.status > 399 || back == nil || !strings.HasPrefix(back.String(), redirectURI+"?") ||
		back.Query().Get("state") != state || back.Query().Get("code") == "" {
		return broken("redirect with the code", r, nil)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	r, err = send(ctx, c, http.MethodPost, s.base+"/oauth/token", form, &s.web)
	if err != nil || r.status != http.StatusOK {
		return broken("token exchange", r, err)
	}
	return outcome{status: r.status, body: r.body, check: func(body []byte) bool {
		return bytes.Contains(body, []byte(`"access_token":"`)) && bytes.Contains(body, []byte(`"id_token":"`))
	}}
}

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request of a flow: a form POST when form is set (with
// the Origin a browser sends), with HTTP Basic client authentication when
// client is set.
func send(ctx context.Context, c *http.Client, method, u string, form url.Values, client *creds) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return page{header: http.Header{}}, err
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", r.URL.Scheme+"://"+r.URL.Host)
	}
	if client != nil {
		r.SetBasicAuth(url.QueryEscape(client.id), url.QueryEscape(client.secret))
	}
	resp, err := c.Do(r)
	if err != nil {
		return page{header: http.Header{}}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// formField returns the unescaped value of a hidden form field, or "".
func formField(re *regexp.Regexp, body []byte) string {
	m := re.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// randText returns n random characters that need no escaping in a URL.
// A benchmark's state and verifier need to be unique, not secret.
func randText(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = unreserved[rng.IntN(len(unreserved))]
	}
	return string(b)
}

// do sends r and reads the whole body so the connection is reused.
func do(ctx context.Context, hc *http.Client, r *http.Request) (int, []byte, error) {
	resp, err := hc.Do(r.WithContext(ctx))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
