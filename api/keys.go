package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// keyView is the JSON form of a key; Key is set only where the secret may
// be shown (on create and rotate, or to the owner of a recoverable key).
type keyView struct {
	ID          string     `json:"id"`
	Handle      string     `json:"handle"`
	Alias       string     `json:"alias"`
	Prefix      string     `json:"prefix"`
	Key         string     `json:"key,omitempty"`
	Scopes      []string   `json:"scopes"`
	Environment string     `json:"environment"`
	Tier        string     `json:"tier"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	UsageCount  int64      `json:"usage_count"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	RotatedFrom string     `json:"rotated_from,omitempty"`
	ReplacedBy  string     `json:"replaced_by,omitempty"`
	// OrgID and Tenants are set for organization keys.
	OrgID   string   `json:"org_id,omitempty"`
	Tenants []string `json:"tenants,omitempty"`
	// Parent is the credential that created the key (absent for keys the
	// owner made signed in): revoking it revokes this key.
	Parent *keyParent `json:"parent,omitempty"`
}

// keyParent is a key's lineage: the key behind the creating credential,
// or the OAuth grant and client of the access token that created it.
type keyParent struct {
	KeyID    string `json:"key_id,omitempty"`
	GrantID  string `json:"grant_id,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

func (h *Handler) view(k *storage.APIKey, plain string) keyView {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	v := keyView{
		ID: k.ID, Handle: k.Handle, Alias: k.Alias, Prefix: k.Display, Key: plain, Scopes: scopes,
		Environment: k.Environment, Tier: k.Tier, Status: keys.Status(k, h.cfg.Now()), CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, UsageCount: k.UsageCount, RevokedAt: k.RevokedAt, RotatedFrom: k.RotatedFrom,
		ReplacedBy: k.ReplacedBy, OrgID: k.OrgID, Tenants: k.Tenants,
	}
	if k.ParentKeyID != "" || k.ParentGrantID != "" || k.ParentClientID != "" {
		v.Parent = &keyParent{KeyID: k.ParentKeyID, GrantID: k.ParentGrantID, ClientID: k.ParentClientID}
	}
	return v
}

// decodeJSON reads a JSON object body strictly: the right content type, at
// most MaxBodyBytes, no unknown fields, exactly one value.
func (h *Handler) decodeJSON(c *gin.Context, v any, allowEmpty bool) bool {
	r := c.Request
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(c, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("The request body is larger than %d bytes.", h.cfg.MaxBodyBytes))
			return false
		}
		writeError(c, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 && allowEmpty {
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(c, http.StatusUnsupportedMediaType, "invalid_request", "Send the body as application/json.")
		return false
	}
	if !jsonTextOK(c, body) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(c, http.StatusBadRequest, "invalid_request", "The body is not valid JSON for this endpoint: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(c, http.StatusBadRequest, "invalid_request", "The body must hold exactly one JSON object.")
		return false
	}
	return true
}

func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return fmt.Sprintf("field %q has the wrong type.", ute.Field)
	case errors.As(err, &se):
		return "syntax error."
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

type createKeyBody struct {
	Handle      string   `json:"handle"`
	Alias       string   `json:"alias"`
	Scopes      []string `json:"scopes"`
	ExpiresIn   *int64   `json:"expires_in"`
	Environment string   `json:"environment"`
	Tier        string   `json:"tier"`
	// OrgID binds a personal key to an organization the caller is a
	// member of; Tenants narrows it to some of its tenants.
	OrgID   string   `json:"org_id"`
	Tenants []string `json:"tenants"`
}

// keyError maps key-service errors onto §3.5 responses; the cause of a
// refusal by state (conflict) and of every failure is logged.
func (h *Handler) keyError(c *gin.Context, err error) {
	ctx := c.Request.Context()
	switch {
	case errors.Is(err, keys.ErrConflict):
		h.cfg.Logger.InfoContext(ctx, "key operation refused", "path", c.FullPath(), "error", err)
		writeError(c, http.StatusConflict, "conflict", "You already have a key with this handle.")
	case errors.Is(err, keys.ErrRotated):
		h.cfg.Logger.InfoContext(ctx, "key operation refused", "path", c.FullPath(), "error", err)
		writeError(c, http.StatusConflict, "conflict", "This key was replaced by a rotation; change or rotate the key that replaced it.")
	case errors.Is(err, keys.ErrTierExceeded):
		writeError(c, http.StatusForbidden, "forbidden", "A key cannot have a higher tier than the credential creating it (tiers rank as rate_limits.tiers lists them).")
	case errors.Is(err, keys.ErrOwnerGone):
		writeError(c, http.StatusUnauthorized, "unauthorized", "The account behind this credential no longer exists.")
	case errors.Is(err, keys.ErrCredentialEnded):
		writeError(c, http.StatusUnauthorized, "invalid_api_key", "The API key behind this credential was revoked or has expired.")
	case errors.Is(err, keys.ErrScopeExceeded):
		writeError(c, http.StatusForbidden, "forbidden", "A key cannot have more rights than the credential creating it: "+err.Error())
	case errors.Is(err, keys.ErrForbidden):
		writeError(c, http.StatusForbidden, "forbidden", "No key with this handle that this credential may change: a credential cannot change a key with more rights or a longer life than its own.")
	case errors.Is(err, keys.ErrOutOfReach):
		writeError(c, http.StatusForbidden, "forbidden", "This credential acts in one organization (or only in your personal workspace) and its tenants: it cannot make keys that reach elsewhere.")
	case errors.Is(err, keys.ErrExpiryExtended):
		writeError(c, http.StatusForbidden, "forbidden", "A credential can only shorten a key's expiry; sign in to lengthen it.")
	case errors.Is(err, keys.ErrInvalid):
		writeError(c, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, keys.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", "No key with this handle.")
	case errors.Is(err, keys.ErrRevoked):
		writeError(c, http.StatusConflict, "conflict", "This key has been revoked.")
	case errors.Is(err, keys.ErrExpired):
		writeError(c, http.StatusConflict, "conflict", "This key has expired.")
	default:
		_ = c.Error(err)
		h.cfg.Logger.ErrorContext(ctx, "key operation failed", "path", c.FullPath(), "error", err)
		writeError(c, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
	}
}

// mintAuthority is p's authority for minting a key (create, rotate). An
// OAuth access token has no key behind it, so its tier bound
// (keys.Authority.Tier) is its client's tier, looked up here through
// RateLimits.ClientTier (the storage read cache), or the default tier
// when rate limits are not configured; it answers 503 itself when the
// client cannot be looked up. API keys and tokens are bounded by their
// key's tier, which the key service reads.
func (h *Handler) mintAuthority(c *gin.Context, p *Principal) (keys.Authority, bool) {
	a := p.authority()
	if p.Kind != KindOAuthToken || p.ClientID == "" || h.cfg.RateLimits == nil || h.cfg.RateLimits.ClientTier == nil {
		return a, true
	}
	tier, err := h.cfg.RateLimits.ClientTier(c.Request.Context(), p.ClientID)
	if err != nil {
		h.cfg.Logger.ErrorContext(c.Request.Context(), "client tier lookup failed", "path", c.FullPath(), "error", err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "The credential's tier cannot be checked right now.")
		return a, false
	}
	a.Tier = tier
	return a, true
}

// CreateKey serves POST /user/keys. With "org_id" the key is a personal
// key bound to that organization (the caller must be a member whose role
// may create keys there, orgs.CreatePersonalKey), optionally narrowed to
// "tenants".
func (h *Handler) CreateKey(c *gin.Context) {
	var b createKeyBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	if b.OrgID != "" {
		role, _, ok := h.orgMember(c, b.OrgID)
		if !ok {
			return
		}
		if err := orgs.Check(role, orgs.CreatePersonalKey); err != nil {
			h.orgError(c, err)
			return
		}
	}
	h.createKey(c, b, "", false)
}

// ListKeys serves GET /user/keys.
func (h *Handler) ListKeys(c *gin.Context) {
	p := principal(c)
	ks, err := h.cfg.Keys.List(c.Request.Context(), p.UserID)
	if err != nil {
		h.keyError(c, err)
		return
	}
	reach := p.authority().Reach
	out := make([]keyView, 0, len(ks))
	for i := range ks {
		if reach.Covers(&ks[i]) {
			out = append(out, h.view(&ks[i], ""))
		}
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

// GetKey serves GET /user/keys/{handle}. The key itself is included only
// for recoverable keys and only to the owner signed in by session or password.
func (h *Handler) GetKey(c *gin.Context) {
	p := principal(c)
	k, err := h.reachableKey(c.Request.Context(), p, c.Param("handle"))
	if err != nil {
		h.keyError(c, err)
		return
	}
	v := h.view(k, "")
	if p.Kind == KindSession || p.Kind == KindPassword {
		if plain, err := h.cfg.Keys.Reveal(k); err == nil {
			v.Key = plain
			c.Header("Cache-Control", "no-store")
		}
	}
	c.JSON(http.StatusOK, v)
}

// reachableKey returns the caller's key by handle when it is within the
// credential's reach (keys.Reach: an organization key or token sees the
// keys of its organization only, a key outside organizations those
// outside); keys.ErrNotFound otherwise.
func (h *Handler) reachableKey(ctx context.Context, p *Principal, handle string) (*storage.APIKey, error) {
	k, err := h.cfg.Keys.Get(ctx, p.UserID, handle)
	if err == nil && !p.authority().Reach.Covers(k) {
		return nil, fmt.Errorf("%w: out of the credential's reach", keys.ErrNotFound)
	}
	return k, err
}

type patchKeyBody struct {
	Alias     *string   `json:"alias"`
	Scopes    *[]string `json:"scopes"`
	ExpiresIn *int64    `json:"expires_in"`
}

// UpdateKey serves PATCH /user/keys/{handle}: alias, narrower scopes,
// expiry (keys.Service.Update has the rules). The changed key is returned
// only to a caller that may read keys (keys:read); others get 204.
func (h *Handler) UpdateKey(c *gin.Context) {
	p := principal(c)
	var b patchKeyBody
	if !h.decodeJSON(c, &b, false) {
		return
	}
	patch := keys.Patch{Alias: b.Alias, IP: clientip.FromRequest(c.Request)}
	if b.Scopes != nil {
		patch.Scopes = *b.Scopes
		if patch.Scopes == nil {
			patch.Scopes = []string{}
		}
	}
	if b.ExpiresIn != nil {
		if *b.ExpiresIn <= 0 || *b.ExpiresIn > 10*365*24*3600 {
			writeError(c, http.StatusBadRequest, "invalid_request", "expires_in must be between 1 and 315360000 seconds.")
			return
		}
		d := time.Duration(*b.ExpiresIn) * time.Second
		patch.ExpiresIn = &d
	}
	k, err := h.cfg.Keys.Update(c.Request.Context(), p.UserID, c.Param("handle"), p.authority(), patch)
	if err != nil {
		h.keyError(c, err)
		return
	}
	if !p.Has("keys:read") {
		c.Status(http.StatusNoContent)
		return
	}
	c.JSON(http.StatusOK, h.view(k, ""))
}

// DeleteKey serves DELETE /user/keys/{handle}: the key, every token
// exchanged from it and every key it created are rejected from the next
// request on.
func (h *Handler) DeleteKey(c *gin.Context) {
	p := principal(c)
	ip := clientip.FromRequest(c.Request)
	k, err := h.cfg.Keys.Revoke(c.Request.Context(), p.UserID, c.Param("handle"), p.authority(), ip)
	if err != nil {
		h.keyError(c, err)
		return
	}
	h.recordOrgKey(c, k, "key.revoked", "")
	c.Status(http.StatusNoContent)
}

type rotateBody struct {
	GraceSeconds *int64 `json:"grace_seconds"`
}

// RotateKey serves POST /user/keys/{handle}/rotate. The answer describes
// only the new key, which is within the caller's rights.
func (h *Handler) RotateKey(c *gin.Context) {
	p := principal(c)
	var b rotateBody
	if !h.decodeJSON(c, &b, true) {
		return
	}
	var grace time.Duration
	if b.GraceSeconds != nil {
		if *b.GraceSeconds < 0 || *b.GraceSeconds > 30*24*3600 {
			writeError(c, http.StatusBadRequest, "invalid_request", "grace_seconds must be between 0 and 2592000.")
			return
		}
		grace = time.Duration(*b.GraceSeconds) * time.Second
	}
	a, ok := h.mintAuthority(c, p)
	if !ok {
		return
	}
	k, plain, err := h.cfg.Keys.Rotate(c.Request.Context(), p.UserID, c.Param("handle"), a, grace, clientip.FromRequest(c.Request))
	if err != nil {
		h.keyError(c, err)
		return
	}
	h.recordOrgKey(c, k, "key.rotated", "replaces "+k.RotatedFrom)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, h.view(k, plain))
}
