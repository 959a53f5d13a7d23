package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/storage"
)

// KeyService is what the /keys pages need from the key service.
type KeyService interface {
	Scopes() []string
	Create(ctx context.Context, userID string, a keys.Authority, req keys.CreateRequest) (*storage.APIKey, string, error)
	List(ctx context.Context, userID string) ([]storage.APIKey, error)
	Get(ctx context.Context, userID, handle string) (*storage.APIKey, error)
	Rotate(ctx context.Context, userID, handle string, a keys.Authority, grace time.Duration, ip string) (*storage.APIKey, string, error)
	Revoke(ctx context.Context, userID, handle string, a keys.Authority, ip string) (*storage.APIKey, error)
	// Delete removes a revoked or expired key and the keys it replaced
	// (keys.ErrActive for a key that still works); the audit log stays.
	Delete(ctx context.Context, userID, handle string, a keys.Authority, ip string) error
	// Predecessors are the keys k replaced by rotation, newest first.
	Predecessors(ctx context.Context, k *storage.APIKey) ([]storage.APIKey, error)
	Events(ctx context.Context, keyID string) ([]storage.KeyEvent, error)
}

// keyExpiryChoices are the expiry options of the create form.
var keyExpiryChoices = []struct{ Value, Label string }{
	{"never", "Never"}, {"7d", "7 days"}, {"30d", "30 days"}, {"90d", "90 days"}, {"365d", "1 year"},
}

// keyGraceChoices are the rotation grace options: how long the old key keeps working.
var keyGraceChoices = []struct{ Value, Label string }{
	{"0", "Now (old key stops at once)"}, {"3600", "1 hour"}, {"86400", "24 hours"}, {"604800", "7 days"},
}

type keyRow struct {
	Handle, Alias, Prefix, Environment, Status string
	Scopes                                     []string
	Created                                    time.Time
	LastUsed, Expires                          *time.Time // nil: never
	Uses                                       int64
	// ExpiresSoon: the key works but expires within keys.ExpiryWarning.
	ExpiresSoon bool
	// Rotating is when the key this one replaced stops working, while
	// it still works (nil otherwise).
	Rotating *time.Time
}

type keyScopeOption struct {
	Name, Description string
	Checked           bool
	// Presets names the presets that include this scope ("read-only
	// read-write"); keyform.js ticks the boxes of the preset picked.
	Presets string
}

type keyChoice struct {
	Value, Label string
	Selected     bool
}

type keyForm struct {
	Handle, Alias, Preset, Environment string
	Expiry                             []keyChoice
	Scopes                             []keyScopeOption
	Errors                             map[string]string
}

type keysPage struct {
	Keys []keyRow
	Form keyForm
}

// keyEventRow is one audit event: Type in words (keyEventText).
type keyEventRow struct {
	When             time.Time
	Type, IP, Detail string
}

type keyPage struct {
	Key    keyRow
	Events []keyEventRow
	Grace  []keyChoice
	Active bool
	// Deletable: the key no longer works (revoked or expired).
	Deletable bool
	// Usage is the key's requests over time (nil: not recorded).
	Usage *usageChart
	// Limit is the key's rate-limit headroom (nil: no limits, or the
	// key does not work).
	Limit *keyHeadroom
}

// keyHeadroom is a key's rate-limit state now: the figures of the
// X-RateLimit-* headers its next request would carry before it.
type keyHeadroom struct {
	Tier             string
	Limit, Remaining int
	Unlimited        bool
	Reset            time.Time
	ResetUnix        int64
	Burst, BurstLeft int
	BurstReset       time.Time
}

type keySecretPage struct {
	Key     keyRow
	Secret  string
	Rotated bool
	// Back is where "Done" leads ("" = /keys).
	Back string
}

func (h *Handler) row(k *storage.APIKey) keyRow {
	now := h.cfg.Now()
	r := keyRow{
		Handle: k.Handle, Alias: k.Alias, Prefix: k.Display, Environment: k.Environment,
		Status: keys.Status(k, now), Scopes: k.Scopes, Uses: k.UsageCount,
		Created: k.CreatedAt, LastUsed: k.LastUsedAt, Expires: k.ExpiresAt,
	}
	r.ExpiresSoon = keys.ExpiresSoon(k, now)
	return r
}

// newKeyForm is the empty create form. Its preset is the least-privileged
// one, and no scope box is ticked: the server never pre-ticks boxes, so a
// person without JavaScript who picks another preset gets that preset
// (keyScopes), not boxes left over from the first one.
func (h *Handler) newKeyForm() keyForm {
	f := keyForm{Preset: "read-only", Environment: keys.EnvLive, Errors: map[string]string{}}
	for _, e := range keyExpiryChoices {
		f.Expiry = append(f.Expiry, keyChoice{Value: e.Value, Label: e.Label, Selected: e.Value == "90d"})
	}
	for _, s := range h.cfg.Keys.Scopes() {
		d, _ := h.cfg.ScopeDescription(s)
		presets := "read-write"
		if strings.HasSuffix(s, ":read") {
			presets = "read-only read-write"
		}
		f.Scopes = append(f.Scopes, keyScopeOption{Name: s, Description: d, Presets: presets})
	}
	return f
}

// keyScopes decides the scopes a key created from the form carries, from
// the preset radio and the ticked boxes, so that the result never holds
// more than the person could see ticked or chose by name:
//
//   - any box ticked: exactly the ticked scopes, whatever the radio says
//     (keyform.js switches the radio to "custom" when a box is ticked, and
//     ticks a preset's boxes when it is picked, so with JavaScript the two
//     always agree; without it the boxes win);
//   - no box ticked: the preset ("read-only" or "read-write"); "custom"
//     with nothing ticked is refused.
//
// It returns the preset the form shows again ("custom" when boxes
// decided) and the error for the scopes field, if any.
func keyScopes(preset string, picked []string) (scopes []string, shown string, msg string) {
	if len(picked) > 0 {
		return picked, "custom", ""
	}
	switch preset {
	case "read-only", "read-write":
		return []string{preset}, preset, ""
	case "custom":
		return nil, preset, "Tick at least one scope, or choose read-only or read-write."
	}
	return nil, preset, "Choose read-only, read-write or the scopes ticked below."
}

func (h *Handler) renderKeys(c *gin.Context, u *storage.User, status int, form keyForm) {
	ks, err := h.cfg.Keys.List(c.Request.Context(), u.ID)
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "list keys", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Your keys cannot be listed right now.")
		return
	}
	page := keysPage{Form: form}
	byID := make(map[string]*storage.APIKey, len(ks))
	for i := range ks {
		byID[ks[i].ID] = &ks[i]
	}
	for i := range ks {
		k := &ks[i]
		if k.ReplacedBy != "" && byID[k.ReplacedBy] != nil {
			continue // one key, one row: shown on the row of the key that replaced it
		}
		row := h.row(k)
		var preds []storage.APIKey
		for p := byID[k.RotatedFrom]; p != nil && len(preds) < len(ks); p = byID[p.RotatedFrom] {
			preds = append(preds, *p)
		}
		if until, ok := keys.Rotating(preds, h.cfg.Now()); ok {
			row.Rotating = &until
		}
		page.Keys = append(page.Keys, row)
	}
	h.render(c.Writer, c.Request, status, "keys", "API keys", u, page)
}

// KeysPage serves GET /keys: the user's keys and the create form.
func (h *Handler) KeysPage(c *gin.Context) {
	h.renderKeys(c, signedInUser(c), http.StatusOK, h.newKeyForm())
}

// CreateKeyForm serves POST /keys: create a key and show it once.
func (h *Handler) CreateKeyForm(c *gin.Context) {
	u := signedInUser(c)
	form := h.newKeyForm()
	form.Handle = strings.TrimSpace(c.PostForm("handle"))
	form.Alias = strings.TrimSpace(c.PostForm("alias"))
	form.Preset = c.PostForm("preset")
	form.Environment = c.PostForm("environment")
	picked := c.PostFormArray("scopes")
	for i := range form.Scopes {
		form.Scopes[i].Checked = slices.Contains(picked, form.Scopes[i].Name)
	}
	expiry := c.PostForm("expires")
	for i := range form.Expiry {
		form.Expiry[i].Selected = form.Expiry[i].Value == expiry
	}
	req := keys.CreateRequest{Handle: form.Handle, Alias: form.Alias, Environment: form.Environment, IP: clientip.FromRequest(c.Request)}
	var msg string
	req.Scopes, form.Preset, msg = keyScopes(form.Preset, picked)
	if msg != "" {
		form.Errors["scopes"] = msg
	}
	if d, ok := parseKeyExpiry(expiry); ok {
		req.ExpiresIn = d
	} else {
		form.Errors["expires"] = "Choose when the key expires."
	}
	if form.Handle == "" {
		form.Errors["handle"] = "Give the key a name (letters, digits, '.', '_' or '-')."
	}
	if len(form.Errors) > 0 {
		h.renderKeys(c, u, http.StatusBadRequest, form)
		return
	}
	k, plain, err := h.cfg.Keys.Create(c.Request.Context(), u.ID, keys.OwnerAuthority(h.cfg.Keys.Scopes()), req)
	if err != nil {
		var fe *keys.FieldError
		switch {
		case errors.Is(err, keys.ErrConflict):
			form.Errors["handle"] = "You already have a key with this name."
		case errors.Is(err, keys.ErrScopeExceeded):
			form.Errors["scopes"] = err.Error()
		case errors.As(err, &fe):
			switch fe.Field {
			case "handle":
				form.Errors["handle"] = "Use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit."
			case "environment":
				form.Errors["environment"] = "Choose live or test."
			default: // scopes, and the fields this form has no place for
				form.Errors["scopes"] = fe.Message
			}
		default:
			h.log.ErrorContext(c.Request.Context(), "create key", "error", err)
			h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "The key could not be created.")
			return
		}
		h.renderKeys(c, u, http.StatusBadRequest, form)
		return
	}
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, c.Request, http.StatusCreated, "key_secret", "New API key", u, keySecretPage{Key: h.row(k), Secret: plain})
}

func parseKeyExpiry(v string) (time.Duration, bool) {
	switch v {
	case "never":
		return 0, true
	case "7d":
		return 7 * 24 * time.Hour, true
	case "30d":
		return 30 * 24 * time.Hour, true
	case "90d":
		return 90 * 24 * time.Hour, true
	case "365d":
		return 365 * 24 * time.Hour, true
	}
	return 0, false
}

// KeyPage serves GET /keys/{handle}: details, audit log, rotate and revoke.
func (h *Handler) KeyPage(c *gin.Context) {
	u := signedInUser(c)
	k, err := h.cfg.Keys.Get(c.Request.Context(), u.ID, c.Param("handle"))
	if err != nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "You have no key with this name.")
		return
	}
	ctx := c.Request.Context()
	status := keys.Status(k, h.cfg.Now())
	page := keyPage{Key: h.row(k), Active: status == keys.StatusActive, Deletable: status != keys.StatusActive}
	// The activity of the whole line: this key and those it replaced.
	preds, _ := h.cfg.Keys.Predecessors(ctx, k)
	if until, ok := keys.Rotating(preds, h.cfg.Now()); ok {
		page.Key.Rotating = &until
	}
	var evs []storage.KeyEvent
	for _, id := range append([]string{k.ID}, keyIDs(preds)...) {
		e, _ := h.cfg.Keys.Events(ctx, id)
		evs = append(evs, e...)
	}
	slices.SortStableFunc(evs, func(a, b storage.KeyEvent) int { return b.At.Compare(a.At) })
	for _, e := range evs {
		page.Events = append(page.Events, keyEventRow{When: e.At, Type: keyEventText(e.Type), IP: e.IP, Detail: e.Detail})
	}
	for _, g := range keyGraceChoices {
		page.Grace = append(page.Grace, keyChoice{Value: g.Value, Label: g.Label, Selected: g.Value == "0"})
	}
	page.Usage = h.requestChart(ctx, c.Request, storage.UsageKey, k.ID, "Requests with this key")
	if f := h.cfg.KeyLimit; f != nil && page.Active {
		if d, ok, err := f(ctx, k); err != nil {
			h.log.WarnContext(ctx, "key headroom", "error", err)
		} else if ok {
			page.Limit = &keyHeadroom{Tier: d.Tier.Name, Limit: d.Limit(), Remaining: d.Remaining, Unlimited: d.Tier.PerHour <= 0,
				Reset: d.Reset, ResetUnix: d.ResetUnix(), Burst: d.Tier.Burst, BurstLeft: d.BurstRemaining, BurstReset: d.BurstReset}
		}
	}
	h.render(c.Writer, c.Request, http.StatusOK, "key", "Key "+k.Handle, u, page)
}

func keyIDs(ks []storage.APIKey) []string {
	ids := make([]string, len(ks))
	for i := range ks {
		ids[i] = ks[i].ID
	}
	return ids
}

// RotateKeyForm serves POST /keys/{handle}/rotate.
func (h *Handler) RotateKeyForm(c *gin.Context) {
	u := signedInUser(c)
	var grace time.Duration
	switch c.PostForm("grace") {
	case "0":
	case "3600":
		grace = time.Hour
	case "86400":
		grace = 24 * time.Hour
	case "604800":
		grace = 7 * 24 * time.Hour
	default:
		h.renderError(c.Writer, c.Request, http.StatusBadRequest, "invalid_request", "Choose how long the old key keeps working.")
		return
	}
	k, plain, err := h.cfg.Keys.Rotate(c.Request.Context(), u.ID, c.Param("handle"), keys.OwnerAuthority(h.cfg.Keys.Scopes()), grace, clientip.FromRequest(c.Request))
	if err != nil {
		status, msg := http.StatusConflict, "This key can no longer be rotated (it is revoked or expired)."
		if errors.Is(err, keys.ErrNotFound) {
			status, msg = http.StatusNotFound, "You have no key with this name."
		} else if !errors.Is(err, keys.ErrRevoked) && !errors.Is(err, keys.ErrExpired) && !errors.Is(err, keys.ErrRotated) {
			h.log.ErrorContext(c.Request.Context(), "rotate key", "error", err)
			status, msg = http.StatusInternalServerError, "The key could not be rotated."
		}
		h.renderError(c.Writer, c.Request, status, "invalid_request", msg)
		return
	}
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, c.Request, http.StatusCreated, "key_secret", "Rotated API key", u, keySecretPage{Key: h.row(k), Secret: plain, Rotated: true})
}

// RevokeKeyForm serves POST /keys/{handle}/revoke; the form must confirm.
func (h *Handler) RevokeKeyForm(c *gin.Context) {
	u := signedInUser(c)
	handle := c.Param("handle")
	if c.PostForm("confirm") != "yes" {
		h.flashRedirect(c, "/keys/"+url.PathEscape(handle), "Tick the confirmation box to revoke the key.")
		return
	}
	if _, err := h.cfg.Keys.Revoke(c.Request.Context(), u.ID, handle, keys.OwnerAuthority(h.cfg.Keys.Scopes()), clientip.FromRequest(c.Request)); err != nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "You have no key with this name.")
		return
	}
	h.flashRedirect(c, "/keys", "The key "+handle+" was revoked. Requests using it are refused from now on.")
}

// DeleteKeyForm serves POST /keys/{handle}/delete: a revoked or expired
// key (and the keys it replaced) leaves the list and frees its name; the
// form must confirm. The audit log stays.
func (h *Handler) DeleteKeyForm(c *gin.Context) {
	u := signedInUser(c)
	handle := c.Param("handle")
	if c.PostForm("confirm") != "yes" {
		h.flashRedirect(c, "/keys/"+url.PathEscape(handle), "Tick the confirmation box to delete the key.")
		return
	}
	err := h.cfg.Keys.Delete(c.Request.Context(), u.ID, handle, keys.OwnerAuthority(h.cfg.Keys.Scopes()), clientip.FromRequest(c.Request))
	switch {
	case err == nil:
		h.flashRedirect(c, "/keys", "The key "+handle+" was deleted. Its name is free for a new key.")
	case errors.Is(err, keys.ErrActive):
		h.flashRedirect(c, "/keys/"+url.PathEscape(handle), "Revoke the key before deleting it.")
	case errors.Is(err, keys.ErrNotFound):
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "You have no key with this name.")
	default:
		h.log.ErrorContext(c.Request.Context(), "delete key", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "The key could not be deleted.")
	}
}
