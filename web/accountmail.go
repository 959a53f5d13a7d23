package web

import (
	"errors"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/storage"
)

// Reset-request throttles (Handler.resetIP, Handler.resetAddr): requests
// per client network and per typed name or address in resetWindow. Each
// request counts, whether or not an account matched, so the throttle says
// nothing about accounts either.
const (
	resetPerIP   = 20
	resetPerAddr = 5
	resetWindow  = 15 * time.Minute
)

// DevMailbox is the development outbox (*mail.Outbox) shown at /dev/mail
// when no SMTP server is configured.
type DevMailbox interface {
	Messages() []mail.Message
}

type forgotPage struct {
	Who        string
	Sent       bool
	Expires    string
	Error      string
	FieldError string
}

// ForgotForm serves GET /forgot-password.
func (h *Handler) ForgotForm(c *gin.Context) {
	u, _ := h.currentUser(c.Request)
	h.render(c.Writer, c.Request, http.StatusOK, "forgot", "Reset your password", u, forgotPage{})
}

// Forgot serves POST /forgot-password: a reset link goes to the account
// named (username or email), and the answer is the same page whether or
// not one exists (the mail is sent in the background, so the timing is
// the same too). Requests are throttled per client network and per name.
func (h *Handler) Forgot(c *gin.Context) {
	r := c.Request
	who := strings.TrimSpace(c.PostForm("who"))
	page := forgotPage{Who: who}
	if who == "" || len(who) > 254 {
		page.FieldError = "Enter your username or email address."
		h.render(c.Writer, r, http.StatusBadRequest, "forgot", "Reset your password", nil, page)
		return
	}
	ipKey, addrKey := "reset-ip:"+clientip.Bucket(r), "reset-addr:"+strings.ToLower(who)
	wait := max(h.resetIP.Blocked(ipKey), h.resetAddr.Blocked(addrKey))
	if wait > 0 {
		h.rateLimited("password_reset")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page.Error = "Too many reset requests. Wait " + strconv.Itoa(int(math.Ceil(wait.Minutes()))) + " minutes and try again."
		h.render(c.Writer, r, http.StatusTooManyRequests, "forgot", "Reset your password", nil, page)
		return
	}
	h.resetIP.Fail(ipKey)
	h.resetAddr.Fail(addrKey)
	h.cfg.Account.RequestReset(r.Context(), who)
	h.log.InfoContext(r.Context(), "password reset requested", "event", "password_reset_request", "client_ip", clientip.FromRequest(r))
	ttl := h.cfg.ResetTTL
	if ttl <= 0 {
		ttl = accounts.DefaultResetTTL
	}
	page.Sent, page.Expires = true, accounts.LifetimeWords(ttl)
	h.render(c.Writer, r, http.StatusOK, "forgot", "Reset your password", nil, page)
}

type resetPage struct {
	Token    string
	Username string
	Invalid  bool
	Error    string
}

// linkPage returns the token of a mailed link: from the URL the mail holds
// (GET) or the form the page posts. The site-wide Referrer-Policy
// (same-origin) keeps that URL from other sites; no-referrer would make
// browsers send "Origin: null" with the form, which the CSRF check refuses.
func linkPage(c *gin.Context) string {
	if c.Request.Method == http.MethodGet {
		return c.Query("token")
	}
	return c.PostForm("token")
}

// ResetForm serves GET /reset-password?token=…: the new-password form of
// a valid link (it is not used yet), or why the link is refused.
func (h *Handler) ResetForm(c *gin.Context) {
	token := linkPage(c)
	u, err := h.cfg.Account.CheckLink(c.Request.Context(), storage.PurposeReset, token)
	if err != nil {
		h.linkRefused(c, "reset", "Reset your password", err, resetPage{Invalid: true})
		return
	}
	h.render(c.Writer, c.Request, http.StatusOK, "reset", "Choose a new password", nil, resetPage{Token: token, Username: u.Username})
}

// Reset serves POST /reset-password: the link is used, the password set,
// every session of the account ended; then the person signs in with it.
func (h *Handler) Reset(c *gin.Context) {
	r := c.Request
	token := linkPage(c)
	u, err := h.cfg.Account.ResetPassword(r.Context(), token, c.PostForm("password"))
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe):
		page := resetPage{Token: token, Error: fe.Message(accounts.FieldPassword)}
		if owner, err := h.cfg.Account.CheckLink(r.Context(), storage.PurposeReset, token); err == nil {
			page.Username = owner.Username
		}
		h.render(c.Writer, r, http.StatusBadRequest, "reset", "Choose a new password", nil, page)
		return
	case errors.Is(err, accounts.ErrBusy):
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Password changes are busy; try again.")
		return
	case err != nil:
		h.linkRefused(c, "reset", "Choose a new password", err, resetPage{Invalid: true})
		return
	}
	h.log.InfoContext(r.Context(), "password reset", "event", "password_reset", "user_id", u.ID, "client_ip", clientip.FromRequest(r))
	h.sessionsEnded(r, u.ID)
	// Whoever was signed in on this browser, the account's sessions are
	// over: a fresh, empty session carries only the message.
	s, _ := h.sessions.New(r, h.sessionName)
	s.Values = map[interface{}]interface{}{"flash": "Your password is changed and every session of " + u.Username + " is signed out. Sign in with the new password."}
	if err := s.Save(r, c.Writer); err != nil {
		h.log.WarnContext(r.Context(), "save flash", "error", err)
	}
	c.Redirect(http.StatusSeeOther, "/login")
}

// linkRefused answers a link that opens nothing (400, the page saying so)
// or a storage failure (500).
func (h *Handler) linkRefused(c *gin.Context, page, title string, err error, data any) {
	if errors.Is(err, accounts.ErrLinkInvalid) {
		h.render(c.Writer, c.Request, http.StatusBadRequest, page, title, nil, data)
		return
	}
	h.log.ErrorContext(c.Request.Context(), "mail link", "page", page, "error", err)
	h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "This link cannot be checked right now; try again.")
}

type verifyPage struct {
	Token    string
	Username string
	Email    string
	Invalid  bool
}

// VerifyForm serves GET /verify-email?token=…: a button confirming the
// address. Opening the link does not use it, so a mail scanner that
// fetches links does not spend it; pressing the button does.
func (h *Handler) VerifyForm(c *gin.Context) {
	token := linkPage(c)
	cur, _ := h.currentUser(c.Request)
	u, err := h.cfg.Account.CheckLink(c.Request.Context(), storage.PurposeVerify, token)
	if err != nil {
		if errors.Is(err, accounts.ErrLinkInvalid) {
			h.render(c.Writer, c.Request, http.StatusBadRequest, "verify", "Confirm your email address", cur, verifyPage{Invalid: true})
			return
		}
		h.linkRefused(c, "verify", "Confirm your email address", err, verifyPage{Invalid: true})
		return
	}
	h.render(c.Writer, c.Request, http.StatusOK, "verify", "Confirm your email address", cur, verifyPage{Token: token, Username: u.Username, Email: u.Email})
}

// VerifyEmail serves POST /verify-email: the link is used and the address
// verified (email_verified in ID tokens and userinfo from now on).
func (h *Handler) VerifyEmail(c *gin.Context) {
	r := c.Request
	cur, _ := h.currentUser(r)
	u, err := h.cfg.Account.ConfirmEmail(r.Context(), linkPage(c))
	if err != nil {
		if errors.Is(err, accounts.ErrLinkInvalid) {
			h.render(c.Writer, r, http.StatusBadRequest, "verify", "Confirm your email address", cur, verifyPage{Invalid: true})
			return
		}
		h.linkRefused(c, "verify", "Confirm your email address", err, verifyPage{Invalid: true})
		return
	}
	h.log.InfoContext(r.Context(), "email verified", "event", "email_verified", "user_id", u.ID)
	msg := "Thank you: " + u.Email + " is confirmed."
	if cur != nil && cur.ID == u.ID {
		h.flashRedirect(c, "/account", msg)
		return
	}
	h.flashRedirect(c, "/login", msg+" You can sign in as "+u.Username+".")
}

type devMailPage struct {
	Messages []devMail
}

type devMail struct {
	To, Subject, Text string
	At                pageTime
	Links             []string
}

var devLinkRe = regexp.MustCompile(`https?://[^\s"<>]+`)

// DevMail serves GET /dev/mail: the development outbox, only while no SMTP
// server is configured (404 otherwise).
func (h *Handler) DevMail(c *gin.Context) {
	if h.cfg.DevMail == nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "There is no page at this address.")
		return
	}
	u, _ := h.currentUser(c.Request)
	var page devMailPage
	for _, m := range h.cfg.DevMail.Messages() {
		page.Messages = append(page.Messages, devMail{To: m.To, Subject: m.Subject, Text: m.Text, At: newPageTime(m.At), Links: devLinkRe.FindAllString(m.Text, -1)})
	}
	h.render(c.Writer, c.Request, http.StatusOK, "devmail", "Development mailbox", u, page)
}
