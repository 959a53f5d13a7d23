package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// BackchannelLogoutEvent is the event a logout token carries (OpenID
// Connect Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenType is the typ header of a logout token (§2.4).
const LogoutTokenType = "logout+jwt"

// logoutTokenLifetime is how long a logout token is valid: long enough for
// a delivery and its retries, short enough that a captured one is soon
// worthless (§2.4 recommends "a few minutes").
const logoutTokenLifetime = 2 * time.Minute

// Back-channel delivery bounds (Config fields of the same meaning override them).
const (
	defaultBackchannelTimeout = 5 * time.Second
	defaultBackchannelRetries = 2
	defaultBackchannelWorkers = 4
	// backchannelQueue bounds the deliveries waiting for a worker, and
	// backchannelPerPerson the share of them one person's sign-outs may
	// hold: a person who reached a thousand of their own apps (each
	// answering slowly) cannot fill the queue and have everyone else's
	// logout tokens dropped.
	backchannelQueue     = 1024
	backchannelPerPerson = 128
)

// LogoutToken returns a logout token (§2.4) for clientID about the person
// sub and, when sid is not "", their sign-in session sid: signed with the
// ID-token key, typ logout+jwt, iss, aud, iat, exp, jti, events, and
// never a nonce (§2.4 forbids one).
func (p *Provider) LogoutToken(clientID, sub, sid string) (string, error) {
	now := p.cfg.Now()
	jti, err := secret.Random(128)
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": p.cfg.Issuer, "aud": clientID, "iat": now.Unix(), "exp": now.Add(logoutTokenLifetime).Unix(),
		"jti": jti, "events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	if sub != "" {
		claims["sub"] = sub
	}
	if sid != "" {
		claims["sid"] = sid
	}
	key, err := p.ring.signing(context.Background())
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.alg), Key: jose.JSONWebKey{Key: key.priv, KeyID: key.kid}},
		(&jose.SignerOptions{}).WithType(LogoutTokenType))
	if err != nil {
		return "", fmt.Errorf("oauth: logout token signer: %w", err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("oauth: sign logout token: %w", err)
	}
	return jws.CompactSerialize()
}

// SessionsEnded tells the clients that every sign-in session of userID
// has ended (web /logout and RP-Initiated Logout end them all): each
// client a session issued a code to, and that registered a
// backchannel_logout_uri, is sent a logout token with that session's sid
// (§2.5, §2.7). Delivery is asynchronous and never blocks the caller.
func (p *Provider) SessionsEnded(ctx context.Context, userID string) {
	p.notifyLogout(ctx, userID, "")
}

// SessionEnded tells the clients that userID's one sign-in session sid
// has ended (signed out from the session list on /account): each client
// that session issued a code to, and that registered a
// backchannel_logout_uri, is sent a logout token with sid (§2.5, §2.7);
// the person's other sessions are not mentioned. Asynchronous, like
// SessionsEnded.
func (p *Provider) SessionEnded(ctx context.Context, userID, sid string) {
	records, err := p.store.db.TakeSessionClientsBySID(ctx, userID, sid)
	if err != nil {
		p.log.ErrorContext(ctx, "back-channel logout: session records", "error", err)
		return
	}
	p.sendLogout(ctx, userID, records)
}

// GrantRevoked tells clientID that userID revoked its access ("Revoke
// access" on /authorized): a logout token for each of the person's
// sessions that reached the client, or, when none is known and the client
// does not require sid, one naming only the person.
func (p *Provider) GrantRevoked(ctx context.Context, userID, clientID string) {
	p.notifyLogout(ctx, userID, clientID)
}

// SessionLive reports whether the verified id_token_hint of lr names a
// sign-in session that reached the client the hint was issued to, and
// that neither ended since nor had that client's access revoked (the
// records are taken then): RP-Initiated Logout from a client without the
// browser's cookie (a server-side call, or a browser whose cookie is
// gone) ends the person's sessions only then, so an old ID token cannot
// end later sessions, and an app the person revoked cannot sign them out.
func (p *Provider) SessionLive(ctx context.Context, lr *LogoutRequest) (bool, error) {
	if !lr.HintVerified || lr.Subject == "" || lr.SID == "" {
		return false, nil
	}
	for _, clientID := range lr.hintAudience {
		if clientID == "" {
			continue
		}
		known, err := p.store.db.SessionKnown(ctx, lr.Subject, lr.SID, clientID)
		if known || err != nil {
			return known, err
		}
	}
	return false, nil
}

func (p *Provider) notifyLogout(ctx context.Context, userID, clientID string) {
	records, err := p.store.db.TakeSessionClients(ctx, userID, clientID)
	if err != nil {
		p.log.ErrorContext(ctx, "back-channel logout: session records", "error", err)
		return
	}
	if clientID != "" && len(records) == 0 {
		records = []storage.SessionClient{{ClientID: clientID, UserID: userID}}
	}
	p.sendLogout(ctx, userID, records)
}

// sendLogout queues a logout token for each record whose client registered
// a backchannel_logout_uri (a record without sid only to a client that does
// not require one).
func (p *Provider) sendLogout(ctx context.Context, userID string, records []storage.SessionClient) {
	clients := map[string]*storage.Client{}
	for _, rec := range records {
		cl, seen := clients[rec.ClientID]
		if !seen {
			cl, _ = p.store.db.GetClient(ctx, rec.ClientID) // a deleted client is told nothing
			clients[rec.ClientID] = cl
		}
		if cl == nil || cl.BackchannelLogoutURI == "" || (rec.SID == "" && cl.BackchannelLogoutSessionRequired) {
			continue
		}
		tok, err := p.LogoutToken(cl.ID, userID, rec.SID)
		if err != nil {
			p.log.ErrorContext(ctx, "back-channel logout: token", "client_id", cl.ID, "error", err)
			continue
		}
		p.backchannel.enqueue(logoutDelivery{userID: userID, clientID: cl.ID, uri: cl.BackchannelLogoutURI, token: tok})
	}
}

// logoutDelivery is one logout token on its way to one client, about
// the person userID.
type logoutDelivery struct {
	userID, clientID, uri, token string
}

// backchannel posts logout tokens (§2.5) with a fixed number of workers
// from a bounded queue that is fair between people: each person's
// deliveries wait in their own line and the workers serve the lines in
// turn (round robin), so one person's many deliveries to slow or dead
// clients — their own apps, say — delay someone else's by at most a turn,
// not by the whole backlog (a logout token lives 2 minutes). A full queue,
// or a person's full line, drops (and logs) rather than block a sign-out.
type backchannel struct {
	client   *http.Client
	workers  int
	retries  int
	wait     time.Duration
	log      *slog.Logger
	onResult func(ok bool)

	mu      sync.Mutex // guards everything below
	ready   *sync.Cond // a delivery was queued, or the queue closed
	lines   map[string][]logoutDelivery
	turns   []string // people with queued deliveries, next to serve first
	queued  int
	started bool
	closed  bool
	running sync.WaitGroup // the workers
}

func newBackchannel(cfg Config) *backchannel {
	b := &backchannel{
		client: cfg.BackchannelClient, workers: cfg.BackchannelWorkers, retries: cfg.BackchannelRetries,
		wait: cfg.BackchannelRetryWait, log: cfg.Logger, onResult: cfg.OnBackchannelLogout,
		lines: map[string][]logoutDelivery{},
	}
	b.ready = sync.NewCond(&b.mu)
	if b.client == nil {
		b.client = newBackchannelHTTPClient(cfg.BackchannelBlockPrivate)
	} else {
		c := *b.client // the caller's client keeps its own redirect policy
		b.client = &c
	}
	// §2.5 defines no redirects; following one would let a registered URI
	// bounce the token (and our request) anywhere.
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if b.workers <= 0 {
		b.workers = defaultBackchannelWorkers
	}
	if b.retries < 0 {
		b.retries = 0
	} else if b.retries == 0 {
		b.retries = defaultBackchannelRetries
	}
	if b.wait <= 0 {
		b.wait = time.Second
	}
	return b
}

func (b *backchannel) enqueue(d logoutDelivery) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.log.Warn("back-channel logout dropped: shutting down", "client_id", d.clientID)
		b.result(false)
		return
	}
	if !b.started {
		b.started = true
		for range b.workers {
			b.running.Add(1)
			go b.work()
		}
	}
	line := b.lines[d.userID]
	switch {
	case b.queued >= backchannelQueue:
		b.log.Warn("back-channel logout dropped: queue full", "client_id", d.clientID)
		b.result(false)
		return
	case len(line) >= backchannelPerPerson:
		b.log.Warn("back-channel logout dropped: too many queued for one person", "client_id", d.clientID)
		b.result(false)
		return
	}
	if len(line) == 0 {
		b.turns = append(b.turns, d.userID)
	}
	b.lines[d.userID] = append(line, d)
	b.queued++
	b.ready.Signal()
}

// work delivers queued tokens until the queue is closed and empty.
func (b *backchannel) work() {
	defer b.running.Done()
	for {
		b.mu.Lock()
		for b.queued == 0 && !b.closed {
			b.ready.Wait()
		}
		if b.queued == 0 {
			b.mu.Unlock()
			return
		}
		d := b.next()
		b.mu.Unlock()
		b.deliver(d)
	}
}

// next takes the first delivery of the person whose turn it is and puts
// them at the back of the turns if they have more. b.mu is held and
// b.queued > 0.
func (b *backchannel) next() logoutDelivery {
	who := b.turns[0]
	b.turns = b.turns[1:]
	line := b.lines[who]
	d := line[0]
	if len(line) == 1 {
		delete(b.lines, who)
	} else {
		b.lines[who] = line[1:]
		b.turns = append(b.turns, who)
	}
	b.queued--
	return d
}

// close stops taking deliveries and waits, until ctx ends, for the queued
// ones to be sent; what is still queued then is lost (and logged as the
// count left).
func (b *backchannel) close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.ready.Broadcast()
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		n := b.queued
		b.mu.Unlock()
		if n > 0 {
			b.log.Warn("back-channel logout: deliveries left unsent at shutdown", "count", n)
		}
		return ctx.Err()
	}
}

func (b *backchannel) result(ok bool) {
	if b.onResult != nil {
		b.onResult(ok)
	}
}

// deliver posts d, retrying a network failure or a 5xx up to b.retries
// times; a 4xx is the client's final answer (§2.8).
func (b *backchannel) deliver(d logoutDelivery) {
	var err error
	for attempt := 0; attempt <= b.retries; attempt++ {
		if attempt > 0 {
			time.Sleep(b.wait * time.Duration(attempt))
		}
		var retry bool
		if retry, err = b.post(d); err == nil {
			b.result(true)
			return
		}
		if !retry {
			break
		}
	}
	// The URI's host only: a registered URI may carry secrets in its query.
	host := ""
	if u, perr := url.Parse(d.uri); perr == nil {
		host = u.Host
	}
	b.log.Warn("back-channel logout failed", "client_id", d.clientID, "host", host, "error", err)
	b.result(false)
}

func (b *backchannel) post(d logoutDelivery) (retry bool, err error) {
	if err := checkBackchannelURI(d.uri); err != nil {
		return false, err
	}
	body := url.Values{"logout_token": {d.token}}.Encode()
	req, err := http.NewRequest(http.MethodPost, d.uri, strings.NewReader(body))
	if err != nil {
		return false, errors.New("bad backchannel_logout_uri")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // drop the URL from the message
			err = ue.Err
		}
		// A refused destination stays refused: no retry.
		return !errors.Is(err, errPrivateDestination), err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500:
		return true, fmt.Errorf("status %d", resp.StatusCode)
	}
	return false, fmt.Errorf("status %d", resp.StatusCode)
}

// checkBackchannelURI is the rule for backchannel_logout_uri (§2.2): an
// absolute http or https URL with a host and no fragment. Latchkey makes
// the request itself, so other schemes are refused outright.
func checkBackchannelURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("must be an http or https URL with a host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	return nil
}

// Close stops sending back-channel logout tokens: tokens queued before it
// are still delivered until ctx ends, later ones are dropped (counted as
// failed). Call it on shutdown, before the store closes.
func (p *Provider) Close(ctx context.Context) error {
	return p.backchannel.close(ctx)
}
