package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// The OAuth 2.0 Device Authorization Grant (RFC 8628). fosite v0.49.0
// has no handler for it, so it lives here in three parts:
//
//   - DeviceAuthorization serves POST /oauth/device_authorization (§3.1,
//     §3.2): the client authenticates as at the token endpoint and gets a
//     device code, a user code and where to send the person.
//   - LookupUserCode and DecideDevice are what the /device page drives
//     (§3.3): the signed-in person types the user code, sees the consent
//     page and allows or denies.
//   - deviceGrantHandler is a fosite TokenEndpointHandler for the grant
//     type urn:ietf:params:oauth:grant-type:device_code (§3.4, §3.5),
//     composed into the provider beside the code flow, so its tokens are
//     stored, refreshed, revoked and introspected like every other.
//
// Neither code is stored: the device authorization row holds HMAC digests
// of both (Config.Hasher, under the pepper that is not in the database).

// GrantTypeDeviceCode is the grant_type of the device flow's token request
// (RFC 8628 §3.4).
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Device flow defaults (Config.DeviceCodeLifespan, DevicePollInterval).
const (
	DefaultDeviceCodeLifespan = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
	// slowDownStep is how much slow_down raises the polling interval
	// (RFC 8628 §3.5: "the interval MUST be increased by 5 seconds").
	slowDownStep = 5
)

// userCodeAlphabet has no vowels (no words) and no look-alike characters
// (RFC 8628 §6.1 suggests exactly these 20 consonants); userCodeLen of
// them carry 20^8 ≈ 2^34.6 possibilities, shown as XXXX-XXXX.
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
)

// Errors of the /device page (LookupUserCode, DecideDevice).
var (
	// ErrUserCodeUnknown: no device request has this user code (mistyped,
	// made up, or purged long after it expired). Counts as a wrong guess.
	ErrUserCodeUnknown = errors.New("oauth: unknown user code")
	// ErrUserCodeExpired: the request's lifetime ended before a decision.
	ErrUserCodeExpired = errors.New("oauth: user code expired")
	// ErrUserCodeUsed: the request was already allowed or denied.
	ErrUserCodeUsed = errors.New("oauth: user code already used")
)

// deviceError is an RFC 8628 §3.5 token error (400, RFC 6749 §5.2 form).
func deviceError(code, description string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: code, DescriptionField: description, CodeField: http.StatusBadRequest}
}

func errAuthorizationPending() error {
	return deviceError("authorization_pending",
		"The authorization request is still pending: the person has not yet entered the user code and decided. Keep polling at the interval.")
}

func errSlowDown(interval int) error {
	return deviceError("slow_down",
		fmt.Sprintf("The authorization request is still pending and you are polling too fast: wait at least %d seconds between requests from now on.", interval))
}

func errExpiredToken() error {
	return deviceError("expired_token",
		"The device code has expired. Start a new device authorization request.")
}

// deviceLifespan and pollInterval apply the defaults.
func (p *Provider) deviceLifespan() time.Duration {
	if p.cfg.DeviceCodeLifespan > 0 {
		return p.cfg.DeviceCodeLifespan
	}
	return DefaultDeviceCodeLifespan
}

func (p *Provider) pollInterval() int {
	if p.cfg.DevicePollInterval >= time.Second {
		return int(p.cfg.DevicePollInterval / time.Second)
	}
	return int(DefaultDevicePollInterval / time.Second)
}

// VerificationURI is where the person enters the user code (RFC 8628 §3.2).
func (p *Provider) VerificationURI() string { return p.cfg.Issuer + "/device" }

// digest is the hex HMAC digest of a device or user code under the
// current pepper. A pepper rotation makes pending requests unknown, which
// costs at most one device-code lifetime of restarts.
func (p *Provider) digest(kind, code string) string {
	d, _ := p.cfg.Hasher.Digest([]byte("device-flow:" + kind + ":" + code))
	return hex.EncodeToString(d)
}

// NormalizeUserCode returns the user code as stored (upper case, without
// dashes or spaces) and whether it can be one: RFC 8628 §6.1 asks that
// case and punctuation typed by the person not matter.
func NormalizeUserCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if !strings.ContainsRune(userCodeAlphabet, r) || b.Len() >= userCodeLen {
			return "", false
		}
		b.WriteRune(r)
	}
	return b.String(), b.Len() == userCodeLen
}

// FormatUserCode shows a normalised user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

func newUserCode() (string, error) {
	n := big.NewInt(int64(len(userCodeAlphabet)))
	b := make([]byte, userCodeLen)
	for i := range b {
		k, err := rand.Int(rand.Reader, n)
		if err != nil {
			return "", err
		}
		b[i] = userCodeAlphabet[k.Int64()]
	}
	return string(b), nil
}

// DeviceAuthorization serves POST /oauth/device_authorization (RFC 8628
// §3.1, §3.2): parse → authenticate the client → check its grant types and
// scopes → store the request → answer the codes.
func (p *Provider) DeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.clientAuthBlocked(w, r) {
		return
	}
	fail := func(err error) {
		p.clientAuthFailed(w, r, err)
		p.f.WriteAccessError(ctx, w, nil, err)
	}
	if err := p.normalizeBody(w, r); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			p.writeBodyError(w, r, err)
			return
		}
		fail(err)
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(fosite.ErrInvalidRequest.WithHint("The request body could not be parsed."))
		return
	}
	form := r.PostForm
	// RFC 8628 §3.1: client authentication as at the token endpoint
	// (RFC 6749 §3.2.1) — a public client names itself by client_id.
	client, err := p.f.AuthenticateClient(ctx, r, form)
	if err != nil {
		fail(err)
		return
	}
	if !client.GetGrantTypes().Has(GrantTypeDeviceCode) {
		fail(fosite.ErrUnauthorizedClient.WithHintf("The client is not registered for the grant type %q.", GrantTypeDeviceCode))
		return
	}
	if p.limitClient(w, r, client.GetID()) {
		return
	}
	scopes := fosite.RemoveEmpty(strings.Split(form.Get("scope"), " "))
	strategy := p.fcfg.GetScopeStrategy(ctx)
	for _, s := range scopes {
		if !strategy(client.GetScopes(), s) {
			fail(fosite.ErrInvalidScope.WithHintf("The client is not allowed to request scope %q.", s))
			return
		}
	}
	// RFC 8707 §2: resources named here become the grant's audience;
	// the token request may narrow them (deviceAudience).
	resources, err := p.requestedResources(form)
	if err != nil {
		fail(err)
		return
	}
	var pending string
	if len(resources) > 0 {
		data, err := json.Marshal(deviceGrant{Audience: resources})
		if err != nil {
			fail(fosite.ErrServerError.WithWrap(err))
			return
		}
		pending = string(data)
	}
	device, err := secret.Random(256)
	if err != nil {
		fail(fosite.ErrServerError.WithWrap(err))
		return
	}
	now := p.cfg.Now().UTC()
	lifespan := p.deviceLifespan()
	var user string
	for attempt := 0; ; attempt++ {
		if user, err = newUserCode(); err != nil {
			fail(fosite.ErrServerError.WithWrap(err))
			return
		}
		err = p.store.db.CreateDeviceAuthorization(ctx, &storage.DeviceAuthorization{
			DeviceDigest: p.digest("device", device), UserDigest: p.digest("user", user),
			ClientID: client.GetID(), Scopes: scopes, Status: storage.DevicePending,
			PollInterval: p.pollInterval(), CreatedAt: now, ExpiresAt: now.Add(lifespan),
			GrantData: pending,
		})
		// A user code already taken (one in 2^34 per live request) is
		// drawn again.
		if err == nil || !errors.Is(err, storage.ErrConflict) || attempt == 3 {
			break
		}
	}
	if err != nil {
		p.log.ErrorContext(ctx, "store device authorization", "client_id", client.GetID(), "error", err)
		fail(fosite.ErrServerError.WithHint("The request could not be stored; try again."))
		return
	}
	shown := FormatUserCode(user)
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               device,
		"user_code":                 shown,
		"verification_uri":          p.VerificationURI(),
		"verification_uri_complete": p.VerificationURI() + "?user_code=" + url.QueryEscape(shown),
		"expires_in":                int(lifespan / time.Second),
		"interval":                  p.pollInterval(),
	})
}

// DeviceRequest is a pending device authorization as the /device page
// shows it before the person decides.
type DeviceRequest struct {
	// UserCode is the normalised user code (what DecideDevice takes).
	UserCode  string
	ClientID  string
	Scopes    []string
	ExpiresAt time.Time
}

// LookupUserCode finds the pending request with a user code as the person
// typed it (RFC 8628 §3.3). Errors: ErrUserCodeUnknown for a code that is
// malformed or matches nothing (the caller throttles these),
// ErrUserCodeExpired, ErrUserCodeUsed; others mean it could not be checked.
func (p *Provider) LookupUserCode(ctx context.Context, typed string) (*DeviceRequest, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return nil, ErrUserCodeUnknown
	}
	rec, err := p.store.db.GetDeviceAuthorizationByUserCode(ctx, p.digest("user", code), p.cfg.Now())
	if err := userCodeError(rec, err); err != nil {
		return nil, err
	}
	return &DeviceRequest{UserCode: code, ClientID: rec.ClientID, Scopes: rec.Scopes, ExpiresAt: rec.ExpiresAt}, nil
}

func userCodeError(rec *storage.DeviceAuthorization, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return ErrUserCodeUnknown
	case errors.Is(err, storage.ErrInactive) && rec != nil && rec.Status == storage.DevicePending:
		return ErrUserCodeExpired
	case errors.Is(err, storage.ErrInactive):
		return ErrUserCodeUsed
	}
	return err
}

// DecideDevice records the person's decision on the pending request with
// the normalised user code (RFC 8628 §3.3): allow with the grant g (the
// person, how they signed in, the organization they chose; g.Scopes must
// be the request's scopes or fewer), or deny. It succeeds once per
// request; errors as LookupUserCode. The device's next poll gets the
// tokens, or access_denied.
func (p *Provider) DecideDevice(ctx context.Context, userCode string, allow bool, g Grant) error {
	digest := p.digest("user", userCode)
	now := p.cfg.Now()
	rec, err := p.store.db.GetDeviceAuthorizationByUserCode(ctx, digest, now)
	if err := userCodeError(rec, err); err != nil {
		return err
	}
	if !allow {
		return p.decided(ctx, digest, now, p.store.db.DecideDeviceAuthorization(ctx, digest, storage.DeviceDenied, g.Subject, "", now))
	}
	for _, s := range g.Scopes {
		if !fosite.Arguments(rec.Scopes).Has(s) {
			return fmt.Errorf("oauth: scope %q was not requested by the device", s)
		}
	}
	// The ID token's sid would name the browser session on the page, not
	// the device, so the device's grant has none (and the browser's
	// sign-out does not send the device's client a logout token).
	g.SessionID = ""
	sess := p.grantSession(g, rec.ClientID, fosite.Arguments(g.Scopes), rec.CreatedAt)
	data, err := json.Marshal(deviceGrant{Session: sess, Scopes: g.Scopes, Audience: pendingAudience(rec.GrantData)})
	if err != nil {
		return fmt.Errorf("oauth: encode device grant: %w", err)
	}
	return p.decided(ctx, digest, now, p.store.db.DecideDeviceAuthorization(ctx, digest, storage.DeviceApproved, g.Subject, string(data), now))
}

// decided translates a decision's error: a request decided or expired
// meanwhile is reported as it is now.
func (p *Provider) decided(ctx context.Context, digest string, now time.Time, err error) error {
	if !errors.Is(err, storage.ErrInactive) {
		return userCodeError(nil, err)
	}
	rec, err := p.store.db.GetDeviceAuthorizationByUserCode(ctx, digest, now)
	if err == nil {
		return ErrUserCodeUsed // decided and undone cannot happen; be safe
	}
	return userCodeError(rec, err)
}

// deviceGrant is what an approval stores for the token request to issue;
// while the request is pending it holds only the audience.
type deviceGrant struct {
	Session *Session `json:"session,omitempty"`
	Scopes  []string `json:"scopes,omitempty"`
	// Audience is the resources the device authorization request named
	// (RFC 8707 §2), none when it named none.
	Audience []string `json:"audience,omitempty"`
}

// pendingAudience is the audience a pending request's GrantData holds.
func pendingAudience(data string) []string {
	var g deviceGrant
	if data == "" || json.Unmarshal([]byte(data), &g) != nil {
		return nil
	}
	return g.Audience
}

// deviceAudience is the audience of the access token a device code
// request r gets (RFC 8707 §2.2), for a request whose device
// authorization named granted: the resources r names, each of which must
// be in granted (else invalid_target), or all of granted when r names
// none. A device authorization that named none grants what the token
// request names (each a known resource, Provider.Token checked). family
// is the audience the refresh token keeps.
func deviceAudience(r fosite.AccessRequester, granted []string) (access, family []string, err error) {
	asked := uniq(r.GetRequestForm()[resourceParam])
	if len(granted) == 0 {
		return asked, asked, nil
	}
	narrowed, err := narrowAudience(asked, granted)
	if err != nil {
		return nil, nil, err
	}
	if narrowed == nil {
		return granted, granted, nil
	}
	return narrowed, granted, nil
}
