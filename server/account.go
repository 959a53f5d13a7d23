package server

import (
	"context"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/web"
)

// AccountPages is the account self-service the server mounts: the
// /account forms, password reset and email verification through mailed
// links, and the development mailbox.
type AccountPages interface {
	UpdateProfile(c *gin.Context)
	ChangePassword(c *gin.Context)
	SendVerification(c *gin.Context)
	EndOtherSession(c *gin.Context)
	DeleteAccount(c *gin.Context)
	AccountDeleted(c *gin.Context)
	ForgotForm(c *gin.Context)
	Forgot(c *gin.Context)
	ResetForm(c *gin.Context)
	Reset(c *gin.Context)
	VerifyForm(c *gin.Context)
	VerifyEmail(c *gin.Context)
	DevMail(c *gin.Context)
}

// mountAccountPages adds the self-service routes: pages is the CSRF-checked
// group, user the part of it for a signed-in person. Mailed links open
// pages anyone may reach: the token in them is the credential. It takes
// the whole Pages, so the handlers are named as pages (server.Pages.…),
// which the OpenAPI coverage test leaves out of the JSON API.
func mountAccountPages(pages, user *gin.RouterGroup, p Pages) {
	user.POST("/account/profile", p.UpdateProfile)
	user.POST("/account/password", p.ChangePassword)
	user.POST("/account/verify-email", p.SendVerification)
	user.POST("/account/sessions/end", p.EndOtherSession)
	user.POST("/account/delete", p.DeleteAccount)
	pages.GET(web.DeletedPath, p.AccountDeleted)
	pages.GET("/forgot-password", p.ForgotForm)
	pages.POST("/forgot-password", p.Forgot)
	pages.GET(accounts.ResetPath, p.ResetForm)
	pages.POST(accounts.ResetPath, p.Reset)
	pages.GET(accounts.VerifyPath, p.VerifyForm)
	pages.POST(accounts.VerifyPath, p.VerifyEmail)
	pages.GET("/dev/mail", p.DevMail)
}

// accountService builds the mail sender named by smtp.* — or, with no
// smtp.url, the development outbox, which it also returns for /dev/mail
// when the issuer is local (config.LocalIssuer) — and the self-service
// over it.
func (a *App) accountService(gate *secret.PasswordGate) (*accounts.SelfService, web.DevMailbox, error) {
	var sender mail.Sender
	var outbox web.DevMailbox
	if a.cfg.SMTP.URL != "" {
		s, err := mail.NewSMTP(a.cfg.SMTP.URL, a.cfg.SMTP.From)
		if err != nil {
			return nil, nil, err
		}
		sender = s
	} else {
		// The outbox holds every reset link, so /dev/mail (anyone may
		// open it) shows it only on a development issuer: a server
		// upgraded without smtp.url must not hand out its accounts.
		o := mail.NewOutbox(a.log, nil) // Run warns about it when serving
		sender = o
		if a.cfg.LocalIssuer() {
			outbox = o
		}
	}
	s, err := accounts.NewSelfService(a.db, accounts.SelfConfig{
		Sender: sender, BaseURL: a.cfg.Server.Issuer,
		ResetTTL: a.cfg.SMTP.ResetLinkLifetime.Duration(), VerifyTTL: a.cfg.SMTP.VerifyLinkLifetime.Duration(),
		Gate: gate, Logger: a.log, Invitations: a.orgs.Peek,
	})
	a.self = s
	return s, outbox, err
}

// waitMail waits, until ctx ends, for the reset mails still being sent in
// the background, so a graceful shutdown does not drop them.
func (a *App) waitMail(ctx context.Context) {
	if a.self == nil {
		return
	}
	done := make(chan struct{})
	go func() { a.self.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		a.log.Warn("shutdown: reset mails still being sent were abandoned")
	}
}

// ResetTwoFactor is the operator's recovery for a person locked out by
// their second factor (authenticator, passkeys and recovery codes all
// lost): it removes every second factor of the user named username
// (storage.TwoFactor.ResetTwoFactor), then ends every browser session
// they have, on every instance, so whoever holds one signs in afresh —
// with the password alone until the person enrols again. It logs one
// audit line naming the user and the counts, never a secret.
// storage.ErrNotFound when there is no such user.
func (a *App) ResetTwoFactor(ctx context.Context, username string) (*storage.User, storage.TwoFactorReset, error) {
	u, err := a.db.GetUserByUsername(ctx, username)
	if err != nil {
		return nil, storage.TwoFactorReset{}, fmt.Errorf("user %q: %w", username, err)
	}
	res, err := a.db.ResetTwoFactor(ctx, u.ID)
	if err != nil {
		return nil, storage.TwoFactorReset{}, err
	}
	if err := a.db.EndSessions(ctx, u.ID, time.Now()); err != nil {
		return nil, storage.TwoFactorReset{}, fmt.Errorf("second factors removed, but the sessions were not ended: %w", err)
	}
	a.log.InfoContext(ctx, "two-factor reset by an operator", "event", "two_factor_reset", "user_id", u.ID,
		"totp_removed", res.TOTP, "recovery_codes_removed", res.RecoveryCodes, "passkeys_removed", res.Passkeys, "sessions_ended", true)
	return u, res, nil
}
