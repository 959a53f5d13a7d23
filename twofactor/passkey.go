package twofactor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/storage"
)

// ErrPasskey means a passkey ceremony failed: the response does not
// verify, the credential is unknown or not the user's, the ceremony
// expired, or the authenticator looks cloned.
var ErrPasskey = errors.New("twofactor: the passkey was not accepted")

// ErrNoRelyingParty means passkeys cannot be offered at this issuer:
// WebAuthn needs a domain name (or localhost) as relying party id, never
// an IP address (WebAuthn Level 3 §5.1.4.1; browsers refuse it).
var ErrNoRelyingParty = errors.New("twofactor: passkeys need an issuer with a domain name, not an IP address")

// Authentication methods of a passkey (RFC 8176 §2): "hwk" for a
// device-bound key, "swk" for a synced one (backup eligible, WebAuthn
// Level 3 §6.1.3), and "mfa" when the authenticator verified the user
// (PIN or biometrics) besides possession.
const (
	amrHardwareKey = "hwk"
	amrSoftwareKey = "swk"
	amrMulti       = "mfa"
)

// ceremonyTimeout bounds a passkey ceremony from its options to its answer.
const ceremonyTimeout = 5 * time.Minute

// UserLookup finds the account a passkey's user handle names.
type UserLookup func(ctx context.Context, id string) (*storage.User, error)

// Passkeys runs the WebAuthn ceremonies (go-webauthn/webauthn): register
// a passkey to an account, and sign in with one — as the second factor
// after a password, or alone ("passwordless", a discoverable credential
// with user verification). The relying party id and origin come from the
// issuer URL. Ceremony state (the challenge) is returned to the caller as
// JSON to keep in its integrity-protected session, never given to the
// browser.
type Passkeys struct {
	wa     *webauthn.WebAuthn
	store  Store
	lookup UserLookup
	now    func() time.Time
}

// NewPasskeys returns the passkey ceremonies for the site at issuer (its
// host is the RP ID, its scheme, host and port the one allowed origin).
func NewPasskeys(issuer string, store Store, lookup UserLookup, now func() time.Time) (*Passkeys, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("twofactor: issuer %q is not a URL", issuer)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, ErrNoRelyingParty
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: "Latchkey", RPOrigins: []string{u.Scheme + "://" + u.Host},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("twofactor: webauthn: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Passkeys{wa: wa, store: store, lookup: lookup, now: now}, nil
}

// waUser is an account as the WebAuthn library sees it. The user handle
// is the user's id (random, no personal data, at most 64 bytes).
type waUser struct {
	u     *storage.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Username }
func (w *waUser) WebAuthnDisplayName() string                { return displayName(w.u) }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func displayName(u *storage.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Username
}

// user loads u's passkeys as credentials.
func (p *Passkeys) user(ctx context.Context, u *storage.User) (*waUser, error) {
	rows, err := p.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	w := &waUser{u: u}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal(r.Credential, &c); err != nil {
			return nil, fmt.Errorf("twofactor: passkey %s: %w", r.ID, err)
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// BeginRegistration returns the creation options for the browser
// (navigator.credentials.create) and the ceremony state to keep: a
// discoverable credential (so it can sign in alone), the user's existing
// passkeys excluded.
func (p *Passkeys) BeginRegistration(ctx context.Context, u *storage.User) (options, state []byte, err error) {
	w, err := p.user(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	creation, sess, err := p.wa.BeginRegistration(w,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()))
	if err != nil {
		return nil, nil, fmt.Errorf("twofactor: begin registration: %w", err)
	}
	return marshalCeremony(creation, sess)
}

// FinishRegistration verifies the browser's answer against state and
// stores the passkey under name.
func (p *Passkeys) FinishRegistration(ctx context.Context, u *storage.User, state, response []byte, name string) error {
	w, err := p.user(ctx, u)
	if err != nil {
		return err
	}
	var sess webauthn.SessionData
	if err := json.Unmarshal(state, &sess); err != nil {
		return ErrPasskey
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	cred, err := p.wa.CreateCredential(w, sess, parsed)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	rec, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	err = p.store.CreatePasskey(ctx, &storage.Passkey{
		ID: base64.RawURLEncoding.EncodeToString(cred.ID), UserID: u.ID, Name: name, Credential: rec,
	})
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("%w: the passkey is already registered", ErrPasskey)
	}
	return err
}

// BeginLogin returns the request options for navigator.credentials.get and
// the ceremony state. With u, the passkey is the second factor after u's
// password: u's passkeys are allowed. Without, any discoverable passkey of
// this site may answer, and it must verify the user.
func (p *Passkeys) BeginLogin(ctx context.Context, u *storage.User) (options, state []byte, err error) {
	if u == nil {
		assertion, sess, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return nil, nil, fmt.Errorf("twofactor: begin login: %w", err)
		}
		return marshalCeremony(assertion, sess)
	}
	w, err := p.user(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	if len(w.creds) == 0 {
		return nil, nil, fmt.Errorf("%w: no passkey registered", ErrPasskey)
	}
	assertion, sess, err := p.wa.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("twofactor: begin login: %w", err)
	}
	return marshalCeremony(assertion, sess)
}

// FinishLogin verifies the browser's assertion against state (and u, when
// the ceremony was begun for u) and returns the account it signs in and
// the RFC 8176 methods the passkey proved. The credential's sign count and
// flags are stored; an authenticator whose count went backwards (a
// cloned key, WebAuthn §6.1.1) is refused.
func (p *Passkeys) FinishLogin(ctx context.Context, u *storage.User, state, response []byte) (*storage.User, []string, error) {
	var sess webauthn.SessionData
	if err := json.Unmarshal(state, &sess); err != nil {
		return nil, nil, ErrPasskey
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrPasskey, err)
	}
	var cred *webauthn.Credential
	if u != nil {
		w, err := p.user(ctx, u)
		if err != nil {
			return nil, nil, err
		}
		if cred, err = p.wa.ValidateLogin(w, sess, parsed); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrPasskey, err)
		}
	} else {
		found, c, err := p.wa.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			owner, err := p.lookup(ctx, string(handle))
			if err != nil {
				return nil, err
			}
			return p.user(ctx, owner)
		}, sess, parsed)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrPasskey, err)
		}
		u, cred = found.(*waUser).u, c
	}
	if cred.Authenticator.CloneWarning {
		return nil, nil, fmt.Errorf("%w: the sign count went backwards (a cloned authenticator?)", ErrPasskey)
	}
	rec, err := json.Marshal(cred)
	if err != nil {
		return nil, nil, err
	}
	if err := p.store.UpdatePasskeyUse(ctx, base64.RawURLEncoding.EncodeToString(cred.ID), rec, p.now()); err != nil {
		return nil, nil, err
	}
	method := amrHardwareKey
	if cred.Flags.BackupEligible {
		method = amrSoftwareKey
	}
	methods := []string{method}
	if parsed.Response.AuthenticatorData.Flags.HasUserVerified() && sess.UserVerification == protocol.VerificationRequired {
		methods = append(methods, amrMulti)
	}
	return u, methods, nil
}

// Remove deletes the user's passkey id.
func (p *Passkeys) Remove(ctx context.Context, userID, id string) error {
	if err := p.store.DeletePasskey(ctx, userID, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%w: no such passkey", ErrPasskey)
		}
		return err
	}
	return nil
}

// marshalCeremony encodes a ceremony's browser options and its state.
func marshalCeremony(options any, sess *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(sess)
	if err != nil {
		return nil, nil, err
	}
	return o, s, nil
}

// PasskeyName cleans a name typed for a passkey: trimmed, at most 100
// characters, "Passkey" when empty.
func PasskeyName(name string) string {
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	if name == "" {
		return "Passkey"
	}
	return name
}
