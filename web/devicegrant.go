package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// DeviceAuthorizer is the part of the OAuth provider the /device page
// drives (RFC 8628 §3.3): find a pending request by the user code the
// person typed, and record their decision.
type DeviceAuthorizer interface {
	LookupUserCode(ctx context.Context, typed string) (*oauth.DeviceRequest, error)
	DecideDevice(ctx context.Context, userCode string, allow bool, g oauth.Grant) error
}

// devicePage is the /device page: the code form ("enter"), the outcome
// ("allowed", "denied") or a code that can no longer be used ("gone").
type devicePage struct {
	Stage      string
	UserCode   string
	Error      string
	FieldError string
	Heading    string
	ClientName string
}

// Session keys of a device decision in progress.
const (
	deviceChallengeKey = "device_challenge"
	deviceCodeKey      = "device_code"
	deviceUserKey      = "device_user"
)

// deviceThrottleKeys are the keys wrong user codes count against: the
// person and the client's network, so neither one account nor one network
// can guess through the 20^8 codes (RFC 8628 §5.1).
func deviceThrottleKeys(r *http.Request, userID string) []string {
	return []string{"device-user:" + userID, "device-ip:" + clientip.Bucket(r)}
}

// deviceSignIn sends a person who is not signed in to the login page,
// coming back to next; it reports whether it answered (so, too, when this
// server has no device flow: 404).
func (h *Handler) deviceSignIn(c *gin.Context, next string) (*storage.User, time.Time, bool) {
	if h.cfg.Devices == nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "There is no page at this address.")
		return nil, time.Time{}, true
	}
	u, authTime := h.currentUser(c.Request)
	if u == nil {
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		return nil, time.Time{}, true
	}
	return u, authTime, false
}

// deviceNext is /device with the user code the person followed
// (verification_uri_complete), to come back to after signing in.
func deviceNext(code string) string {
	if code == "" {
		return "/device"
	}
	return "/device?" + url.Values{"user_code": {code}}.Encode()
}

// DeviceForm serves GET /device: the form where a signed-in person types
// the user code their device shows, prefilled from
// verification_uri_complete's user_code but never submitted for them
// (RFC 8628 §3.3.1: the person must still confirm).
func (h *Handler) DeviceForm(c *gin.Context) {
	code := c.Query("user_code")
	if len(code) > 32 {
		code = ""
	}
	u, _, answered := h.deviceSignIn(c, deviceNext(code))
	if answered {
		return
	}
	h.renderDevice(c, http.StatusOK, u, devicePage{Stage: "enter", UserCode: code})
}

func (h *Handler) renderDevice(c *gin.Context, status int, u *storage.User, p devicePage) {
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, c.Request, status, "device", "Connect a device", u, p)
}

// DeviceSubmit serves POST /device: look the code up (wrong codes are
// throttled per person and per network), then show the consent page for
// the app that asked, or say why the code cannot be used.
func (h *Handler) DeviceSubmit(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	typed := c.PostForm("user_code")
	u, _, answered := h.deviceSignIn(c, "/device")
	if answered {
		return
	}
	page := devicePage{Stage: "enter", UserCode: typed}
	if len(typed) > 32 {
		page.UserCode = ""
	}
	keys := deviceThrottleKeys(r, u.ID)
	if wait := h.deviceFailures.Blocked(keys...); wait > 0 {
		h.rateLimited("device")
		c.Header("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		page.Error = "Too many wrong codes. Try again in " + waitText(wait) + "."
		h.renderDevice(c, http.StatusTooManyRequests, u, page)
		return
	}
	req, err := h.cfg.Devices.LookupUserCode(ctx, typed)
	if err != nil {
		h.deviceCodeFailed(c, u, page, keys, err)
		return
	}
	cl, err := h.store.GetClient(ctx, req.ClientID)
	if err != nil {
		h.renderDevice(c, http.StatusBadRequest, u, devicePage{Stage: "gone", Heading: "App not found",
			Error: "The app that asked for this code is no longer registered."})
		return
	}
	s, _ := h.sessions.Get(r, h.sessionName)
	challenge := randomToken()
	s.Values[deviceChallengeKey] = challenge
	s.Values[deviceCodeKey] = req.UserCode
	s.Values[deviceUserKey] = u.ID
	if err := s.Save(r, c.Writer); err != nil {
		h.log.ErrorContext(ctx, "save session", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
		return
	}
	shown := oauth.FormatUserCode(req.UserCode)
	page2, err := h.consentView(ctx, cl, u, req.Scopes, "")
	if err != nil {
		h.log.ErrorContext(ctx, "list organizations for consent", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
		return
	}
	page2.Challenge, page2.Action, page2.UserCode, page2.Resume = challenge, "/device/consent", shown, deviceNext(shown)
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, r, http.StatusOK, "consent", "Authorize "+cl.Name, u, page2)
}

// deviceCodeFailed answers a code LookupUserCode or DecideDevice refused.
func (h *Handler) deviceCodeFailed(c *gin.Context, u *storage.User, page devicePage, keys []string, err error) {
	switch {
	case errors.Is(err, oauth.ErrUserCodeUnknown):
		if keys != nil {
			h.deviceFailures.Fail(keys...)
		}
		h.log.InfoContext(c.Request.Context(), "wrong device user code", "event", "device_code_wrong", "user_id", u.ID,
			"client_ip", clientip.FromRequest(c.Request))
		page.FieldError = "That code is not valid. Check the code on your device and type it again."
		h.renderDevice(c, http.StatusBadRequest, u, page)
	case errors.Is(err, oauth.ErrUserCodeExpired):
		h.renderDevice(c, http.StatusBadRequest, u, devicePage{Stage: "gone", Heading: "This code has expired",
			Error: "The code is too old to use. Start again on your device to get a new code."})
	case errors.Is(err, oauth.ErrUserCodeUsed):
		h.renderDevice(c, http.StatusBadRequest, u, devicePage{Stage: "gone", Heading: "This code was already used",
			Error: "Someone already allowed or denied this code. Start again on your device if it is still waiting."})
	default:
		h.log.ErrorContext(c.Request.Context(), "device user code", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
	}
}

// DeviceConsent serves POST /device/consent: the person's decision on the
// request the consent page was shown for. Allowing records the grant
// (and the remembered consent that lists the app under Authorized apps);
// the device's next poll gets its tokens, or access_denied.
func (h *Handler) DeviceConsent(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	u, authTime, answered := h.deviceSignIn(c, "/device")
	if answered {
		return
	}
	s, _ := h.sessions.Get(r, h.sessionName)
	want, _ := s.Values[deviceChallengeKey].(string)
	code, _ := s.Values[deviceCodeKey].(string)
	forUser, _ := s.Values[deviceUserKey].(string)
	if want == "" || code == "" || forUser != u.ID ||
		subtle.ConstantTimeCompare([]byte(want), []byte(c.PostForm("challenge"))) != 1 {
		h.renderDevice(c, http.StatusBadRequest, u, devicePage{Stage: "gone", Heading: "This request has expired",
			Error: "This page was already answered or is out of date. Type the code from your device again."})
		return
	}
	decision, orgID, ok := h.consentDecision(c, u)
	if !ok {
		return
	}
	delete(s.Values, deviceChallengeKey)
	delete(s.Values, deviceCodeKey)
	delete(s.Values, deviceUserKey)
	if err := s.Save(r, c.Writer); err != nil {
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", errConsentExpired.Error())
		return
	}
	req, err := h.cfg.Devices.LookupUserCode(ctx, code)
	if err != nil {
		h.deviceCodeFailed(c, u, devicePage{Stage: "enter"}, nil, err)
		return
	}
	name := req.ClientID
	if cl, err := h.store.GetClient(ctx, req.ClientID); err == nil {
		name = cl.Name
	}
	allow := decision == "allow"
	g := oauth.Grant{
		OrgID:   orgID,
		Subject: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerifiedAt != nil, Name: u.Name,
		AuthTime: authTime, Scopes: req.Scopes, Methods: h.sessionMethods(r),
	}
	if err := h.cfg.Devices.DecideDevice(ctx, code, allow, g); err != nil {
		h.deviceCodeFailed(c, u, devicePage{Stage: "enter"}, nil, err)
		return
	}
	h.log.InfoContext(ctx, "device authorization decided", "event", "device_"+decision, "user_id", u.ID, "client_id", req.ClientID)
	if !allow {
		h.renderDevice(c, http.StatusOK, u, devicePage{Stage: "denied", ClientName: name})
		return
	}
	h.rememberConsent(ctx, u.ID, req.ClientID, req.Scopes, orgID)
	h.renderDevice(c, http.StatusOK, u, devicePage{Stage: "allowed", ClientName: name})
}
