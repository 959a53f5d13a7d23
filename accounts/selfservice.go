package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Sentinel errors of self-service; check them with errors.Is.
var (
	// ErrLinkInvalid means a mailed link is unknown, used, expired, or no
	// longer matches the account (its address changed since).
	ErrLinkInvalid = errors.New("accounts: link invalid, used or expired")
	// ErrNoEmail means the account has no address to send mail to.
	ErrNoEmail = errors.New("accounts: no email address")
	// ErrMail means the mail could not be sent (it wraps the cause).
	ErrMail = errors.New("accounts: mail not sent")
)

// FieldCurrentPassword names the current-password field of a password change.
const FieldCurrentPassword = "current_password"

// Default lifetimes of mailed links.
const (
	DefaultResetTTL  = 30 * time.Minute
	DefaultVerifyTTL = 24 * time.Hour
)

// SelfStore is the storage self-service reads and writes.
type SelfStore interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	FindUsersByEmail(ctx context.Context, email string) ([]storage.User, error)
	UpdateProfile(ctx context.Context, userID, name, email string) (*storage.User, error)
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) error
	SetPassword(ctx context.Context, userID, hash string, sessionsNotBefore time.Time) error
	VerifyEmail(ctx context.Context, userID, email string, at time.Time) error
	CreateEmailToken(ctx context.Context, t *storage.EmailToken) error
	GetEmailToken(ctx context.Context, purpose, digest string, at time.Time) (*storage.EmailToken, error)
	UseEmailToken(ctx context.Context, purpose, digest string, at time.Time) (*storage.EmailToken, error)
	DeleteUser(ctx context.Context, userID string) (*storage.UserDeletion, error)
}

// SelfConfig holds a SelfService's collaborators and settings.
type SelfConfig struct {
	// Sender delivers mail (SMTP, or the development outbox).
	Sender mail.Sender
	// BaseURL is the site's public URL (the issuer); links start with it.
	BaseURL string
	// ResetTTL and VerifyTTL are the links' lifetimes; 0 = the defaults.
	ResetTTL, VerifyTTL time.Duration
	// Gate bounds concurrent argon2id runs; nil does not limit.
	Gate *secret.PasswordGate
	// Invitations describes the invitation a token names, for
	// MailInvitation (orgs.Service.Peek); nil = invitations are not mailed.
	Invitations InvitationLookup
	// Now is the clock; nil = time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// SelfService is what a signed-in person does to their own account (edit
// name and email, change password, verify the address) and the password
// reset of one who cannot sign in. Every rule about fields and passwords
// is the one Validate applies at sign-up.
type SelfService struct {
	store    SelfStore
	cfg      SelfConfig
	composer *mail.Composer
	// pending tracks reset mails sent in the background.
	pending sync.WaitGroup
}

// NewSelfService returns a SelfService over store.
func NewSelfService(store SelfStore, cfg SelfConfig) (*SelfService, error) {
	c, err := mail.NewComposer()
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	if cfg.VerifyTTL <= 0 {
		cfg.VerifyTTL = DefaultVerifyTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &SelfService{store: store, cfg: cfg, composer: c}, nil
}

// UpdateProfile validates and stores u's display name and email address
// (an address is required: it is where a reset link goes). A new address
// needs current, u's password: the address is where a reset link goes, so
// a borrowed or stolen session that could change it could take the
// account for good. When the address changed it is no longer verified,
// and a verification mail goes to the new one; sent reports whether one
// went. Errors: FieldErrors (ErrInvalid; FieldCurrentPassword for a
// missing or wrong password), ErrBusy, storage errors; a failed mail is
// logged, not returned, since the profile is saved.
func (s *SelfService) UpdateProfile(ctx context.Context, u *storage.User, name, email, current string) (updated *storage.User, sent bool, err error) {
	var errs FieldErrors
	if utf8.RuneCountInString(name) > maxNameLen {
		errs = append(errs, &FieldError{Field: FieldName, Message: "Use at most " + strconv.Itoa(maxNameLen) + " characters."})
	}
	if msg := emailProblem(email, true); msg != "" {
		errs = append(errs, &FieldError{Field: FieldEmail, Message: msg})
	}
	if len(errs) > 0 {
		return nil, false, errs
	}
	if !strings.EqualFold(u.Email, email) {
		if err := s.checkCurrent(ctx, u, current, "Enter your current password to change the email address."); err != nil {
			return nil, false, err
		}
	}
	updated, err = s.store.UpdateProfile(ctx, u.ID, name, email)
	if err != nil {
		return nil, false, err
	}
	if strings.EqualFold(u.Email, email) {
		return updated, false, nil
	}
	if err := s.SendVerification(ctx, updated); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "verification mail", "user_id", u.ID, "error", err)
		return updated, false, nil
	}
	return updated, true, nil
}

// checkCurrent checks that current is u's password: FieldErrors on
// FieldCurrentPassword (empty saying missing), ErrBusy.
func (s *SelfService) checkCurrent(ctx context.Context, u *storage.User, current, missing string) error {
	if current == "" || len(current) > maxPasswordLen {
		return FieldErrors{{Field: FieldCurrentPassword, Message: missing}}
	}
	if err := CheckPassword(ctx, s.cfg.Gate, s.store, s.cfg.Logger, u, current); err != nil {
		if errors.Is(err, ErrBusy) {
			return err
		}
		return FieldErrors{{Field: FieldCurrentPassword, Message: "That is not your current password."}}
	}
	return nil
}

// ChangePassword replaces u's password after checking the current one,
// with the sign-up rules for the new one, and ends every browser session
// of u (the caller starts a fresh one for the browser that asked).
// Errors: FieldErrors naming FieldCurrentPassword or FieldPassword,
// ErrBusy, storage errors.
func (s *SelfService) ChangePassword(ctx context.Context, u *storage.User, current, next string) error {
	if current == "" || len(current) > maxPasswordLen {
		return FieldErrors{{Field: FieldCurrentPassword, Message: "Enter your current password."}}
	}
	if msg := passwordProblem(next, u.Username); msg != "" {
		return FieldErrors{{Field: FieldPassword, Message: msg}}
	}
	// The old hash is replaced, so it is checked without an upgrade, in a
	// slot sized for its own parameters; the new one gets its own slot.
	if err := s.cfg.Gate.Verify(ctx, u.PasswordHash, current); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return FieldErrors{{Field: FieldCurrentPassword, Message: "That is not your current password."}}
	}
	release, err := s.cfg.Gate.Enter(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	defer release()
	hash, err := secret.HashPassword(next)
	if err != nil {
		return fmt.Errorf("accounts: hash password: %w", err)
	}
	return s.store.SetPassword(ctx, u.ID, hash, s.cfg.Now())
}
