package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Paths of the pages mailed links open (package web serves them).
const (
	VerifyPath = "/verify-email"
	ResetPath  = "/reset-password"
)

// resetSendTimeout bounds a background reset mail.
const resetSendTimeout = time.Minute

// maxTokenLen bounds a link token read from a request (ours are 43).
const maxTokenLen = 128

// newLinkToken returns a fresh 256-bit link token and the digest stored
// for it. The digest is a plain SHA-256: the token is random and high
// entropy, so no slow or keyed hash is needed to keep a database copy from
// opening accounts.
func newLinkToken() (token, digest string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, tokenDigest(token)
}

func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// mailData is what the mail templates receive.
type mailData struct {
	Username, Email, Link, Expires, Site string
}

// LifetimeWords says a link lifetime for people, as the mails and the
// pages do ("30 minutes", "1 hour", "24 hours").
func LifetimeWords(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0 && d > time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(math.Ceil(d.Minutes())))
	}
	return d.String()
}

// sendLink stores a new link of purpose for u and mails it to u.Email.
func (s *SelfService) sendLink(ctx context.Context, u *storage.User, purpose string) error {
	if u.Email == "" {
		return ErrNoEmail
	}
	ttl, path, name := s.cfg.VerifyTTL, VerifyPath, "verify"
	if purpose == storage.PurposeReset {
		ttl, path, name = s.cfg.ResetTTL, ResetPath, "reset"
	}
	token, digest := newLinkToken()
	now := s.cfg.Now()
	if err := s.store.CreateEmailToken(ctx, &storage.EmailToken{
		Digest: digest, Purpose: purpose, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}); err != nil {
		return err
	}
	link := s.cfg.BaseURL + path + "?token=" + url.QueryEscape(token)
	m, err := s.composer.Compose(name, u.Email, mailData{
		Username: u.Username, Email: u.Email, Link: link, Expires: LifetimeWords(ttl), Site: s.cfg.BaseURL,
	})
	if err != nil {
		return err
	}
	if err := s.cfg.Sender.Send(ctx, m); err != nil {
		return fmt.Errorf("%w: %w", ErrMail, err)
	}
	return nil
}

// SendVerification mails u a link proving they read mail at u.Email.
// ErrNoEmail when u has no address; ErrMail when sending failed.
func (s *SelfService) SendVerification(ctx context.Context, u *storage.User) error {
	return s.sendLink(ctx, u, storage.PurposeVerify)
}

// RequestReset mails a reset link to the account named by who — a
// username, or an email address (every account with that address) — and
// returns at once, before any lookup: the mail is sent in the background,
// so neither the answer nor its timing says whether an account exists.
// Accounts without an address get nothing. Wait waits for the sends.
func (s *SelfService) RequestReset(ctx context.Context, who string) {
	who = strings.TrimSpace(who)
	if who == "" || len(who) > maxEmailLen {
		return
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resetSendTimeout)
		defer cancel()
		var users []storage.User
		if strings.Contains(who, "@") {
			found, err := s.store.FindUsersByEmail(ctx, who)
			if err != nil {
				s.cfg.Logger.ErrorContext(ctx, "reset lookup", "error", err)
				return
			}
			users = found
		} else if u, err := s.store.GetUserByUsername(ctx, who); err == nil {
			users = []storage.User{*u}
		} else if !errors.Is(err, storage.ErrNotFound) {
			s.cfg.Logger.ErrorContext(ctx, "reset lookup", "error", err)
			return
		}
		for i := range users {
			u := &users[i]
			err := s.sendLink(ctx, u, storage.PurposeReset)
			switch {
			case errors.Is(err, ErrNoEmail):
				s.cfg.Logger.InfoContext(ctx, "password reset requested for an account without email", "event", "password_reset_no_email", "user_id", u.ID)
			case err != nil:
				s.cfg.Logger.ErrorContext(ctx, "password reset mail", "user_id", u.ID, "error", err)
			default:
				s.cfg.Logger.InfoContext(ctx, "password reset mail sent", "event", "password_reset_requested", "user_id", u.ID)
			}
		}
	}()
}

// Wait returns when every reset mail RequestReset started is sent or
// has failed (for tests and shutdown).
func (s *SelfService) Wait() { s.pending.Wait() }

// CheckLink returns the account a mailed link of purpose ("verify" or
// "reset") opens, without using the link; ErrLinkInvalid when it opens
// none.
func (s *SelfService) CheckLink(ctx context.Context, purpose, token string) (*storage.User, error) {
	u, _, err := s.link(ctx, purpose, token, false)
	return u, err
}

// link finds (use=false) or uses (use=true) the link and its account;
// ErrLinkInvalid when the account's address is no longer the one it went to.
func (s *SelfService) link(ctx context.Context, purpose, token string, use bool) (*storage.User, *storage.EmailToken, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, nil, ErrLinkInvalid
	}
	get := s.store.GetEmailToken
	if use {
		get = s.store.UseEmailToken
	}
	t, err := get(ctx, purpose, tokenDigest(token), s.cfg.Now())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInactive) {
		return nil, nil, fmt.Errorf("%w: %w", ErrLinkInvalid, err)
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.GetUser(ctx, t.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %w", ErrLinkInvalid, err)
	}
	if err != nil {
		return nil, nil, err
	}
	// Either link proves the mailbox it went to, so it dies when the
	// account's address changes: a reset link to the old mailbox (often
	// why the address was changed) must not reset the password.
	if !strings.EqualFold(u.Email, t.Email) {
		return nil, nil, fmt.Errorf("%w: the address changed since the link was sent", ErrLinkInvalid)
	}
	return u, t, nil
}

// ResetPassword sets a new password through a reset link: the link must
// be valid, the password must pass the sign-up rules (checked before the
// link is used, so a refused password does not spend it), then the link
// is used, the password replaced, every session of the account ended and
// the address the link went to counts as verified. Errors:
// ErrLinkInvalid, FieldErrors on FieldPassword, ErrBusy, storage errors.
func (s *SelfService) ResetPassword(ctx context.Context, token, password string) (*storage.User, error) {
	u, err := s.CheckLink(ctx, storage.PurposeReset, token)
	if err != nil {
		return nil, err
	}
	if msg := passwordProblem(password, u.Username); msg != "" {
		return nil, FieldErrors{{Field: FieldPassword, Message: msg}}
	}
	release, err := s.cfg.Gate.Enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	hash, err := secret.HashPassword(password)
	release()
	if err != nil {
		return nil, fmt.Errorf("accounts: hash password: %w", err)
	}
	u, t, err := s.link(ctx, storage.PurposeReset, token, true)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	if err := s.store.SetPassword(ctx, u.ID, hash, now); err != nil {
		return nil, err
	}
	if err := s.store.VerifyEmail(ctx, u.ID, t.Email, now); err != nil && !errors.Is(err, storage.ErrConflict) {
		s.cfg.Logger.WarnContext(ctx, "verify email after reset", "user_id", u.ID, "error", err)
	}
	return u, nil
}

// ConfirmEmail uses a verification link: the address it was sent to is
// verified, provided it is still the account's. ErrLinkInvalid otherwise.
func (s *SelfService) ConfirmEmail(ctx context.Context, token string) (*storage.User, error) {
	u, t, err := s.link(ctx, storage.PurposeVerify, token, true)
	if err != nil {
		return nil, err
	}
	if err := s.store.VerifyEmail(ctx, u.ID, t.Email, s.cfg.Now()); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, fmt.Errorf("%w: %w", ErrLinkInvalid, err)
		}
		return nil, err
	}
	return s.store.GetUser(ctx, u.ID)
}
