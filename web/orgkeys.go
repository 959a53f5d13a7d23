package web

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// OrgKeyService is what /orgs/{id}/keys needs from the key service beside
// KeyService.Create (*keys.Service): the organization's keys and revoking
// one of them. Who may do either is decided here with package orgs'
// checks, before the call.
type OrgKeyService interface {
	ListOrg(ctx context.Context, orgID string) ([]storage.APIKey, error)
	RevokeInOrg(ctx context.Context, orgID, id, ip string) (*storage.APIKey, error)
}

// orgKeyRow is one key on /orgs/{id}/keys.
type orgKeyRow struct {
	keyRow
	ID   string
	Kind string
	// Owner is the person of a personal key, or the tenant of a
	// workspace key.
	Owner string
	// Tenants names the tenants a personal key is narrowed to.
	Tenants   []string
	Revocable bool
}

// orgKeyForm is the create form.
type orgKeyForm struct {
	Handle, Kind, TenantID, Preset, Expires string
	Tenants                                 []string // narrowing, checked boxes
	Errors                                  map[string]string
}

type orgKeysPage struct {
	Org  orgHead
	Keys []orgKeyRow
	// Reach are the tenants the person reaches (narrowing choices);
	// Workspace those they may make workspace keys for.
	Reach, Workspace []orgs.TenantRef
	Form             orgKeyForm
	Expiry           []keyChoice
}

// orgKeyRights is what the person may do with the organization's keys.
type orgKeyRights struct {
	role   orgs.Role
	uid    string
	access map[string]orgs.Access
	names  map[string]string
}

func (r orgKeyRights) canSee(k *storage.APIKey) bool {
	if orgs.Check(r.role, orgs.ListAllKeys) == nil {
		return true
	}
	if k.TenantID != "" {
		_, ok := r.access[k.TenantID]
		return ok
	}
	return k.UserID == r.uid
}

func (r orgKeyRights) canRevoke(k *storage.APIKey) bool {
	switch {
	case k.TenantID != "":
		return orgs.CheckWorkspaceKey(r.role, r.access[k.TenantID], k.TenantID) == nil
	case k.UserID == r.uid:
		return true
	}
	return orgs.Check(r.role, orgs.RevokeOthersKey) == nil
}

// orgKeyRights loads the person's role, tenant access and the names of
// members and tenants, or answers the request and returns false.
func (h *Handler) orgKeyRights(c *gin.Context, u *storage.User, v *orgs.View) (orgKeyRights, []orgs.TenantRef, bool) {
	ctx := c.Request.Context()
	r := orgKeyRights{role: v.Role, uid: u.ID, access: map[string]orgs.Access{}, names: map[string]string{}}
	ts, err := h.cfg.Orgs.Tenants(ctx, actor(c, u), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return r, nil, false
	}
	for _, t := range ts {
		r.access[t.ID], r.names[t.ID] = t.Role, t.Name
	}
	ms, err := h.cfg.Orgs.Members(ctx, actor(c, u), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return r, nil, false
	}
	for _, m := range ms {
		r.names[m.UserID] = m.Username
	}
	return r, ts, true
}

func (h *Handler) renderOrgKeys(c *gin.Context, u *storage.User, v *orgs.View, status int, form orgKeyForm) {
	rights, ts, ok := h.orgKeyRights(c, u, v)
	if !ok {
		return
	}
	ks, err := h.cfg.OrgKeys.ListOrg(c.Request.Context(), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	page := orgKeysPage{Org: newOrgHead(v, "keys"), Reach: ts, Form: form}
	for _, t := range ts {
		if orgs.CheckWorkspaceKey(v.Role, t.Role, t.ID) == nil {
			page.Workspace = append(page.Workspace, t)
		}
	}
	for i := range ks {
		k := &ks[i]
		if !rights.canSee(k) {
			continue
		}
		row := orgKeyRow{keyRow: h.row(k), ID: k.ID, Kind: orgs.KindPersonal, Owner: rights.names[k.UserID], Revocable: rights.canRevoke(k) && keys.Status(k, h.cfg.Now()) == keys.StatusActive}
		if k.TenantID != "" {
			row.Kind, row.Owner = orgs.KindWorkspace, rights.names[k.TenantID]
		}
		if row.Owner == "" {
			row.Owner = "a former member"
		}
		for _, t := range k.Tenants {
			row.Tenants = append(row.Tenants, cmp.Or(rights.names[t], t))
		}
		page.Keys = append(page.Keys, row)
	}
	for _, e := range keyExpiryChoices {
		page.Expiry = append(page.Expiry, keyChoice{Value: e.Value, Label: e.Label, Selected: e.Value == form.Expires})
	}
	h.render(c.Writer, c.Request, status, "org_keys", "Keys of "+v.Name, u, page)
}

func newOrgKeyForm() orgKeyForm {
	return orgKeyForm{Kind: orgs.KindPersonal, Preset: "read-only", Expires: "90d", Errors: map[string]string{}}
}

// OrgKeysPage serves GET /orgs/{id}/keys: the organization's keys the
// person may see (every key for the roles orgs.ListAllKeys allows, else
// their own and their tenants' workspace keys) and the create form.
func (h *Handler) OrgKeysPage(c *gin.Context) {
	u := signedInUser(c)
	if v := h.loadOrg(c, u); v != nil {
		h.renderOrgKeys(c, u, v, http.StatusOK, newOrgKeyForm())
	}
}

// CreateOrgKeyForm serves POST /orgs/{id}/keys: a personal key bound to
// the organization (optionally narrowed to tenants) or a workspace key of
// a tenant the person may manage; shown once.
func (h *Handler) CreateOrgKeyForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	f := orgKeyForm{
		Handle: strings.TrimSpace(c.PostForm("handle")), Kind: c.PostForm("kind"), TenantID: c.PostForm("tenant_id"),
		Preset: c.PostForm("preset"), Expires: c.PostForm("expires"), Tenants: c.PostFormArray("tenants"), Errors: map[string]string{},
	}
	rights, _, ok := h.orgKeyRights(c, u, v)
	if !ok {
		return
	}
	req := keys.CreateRequest{Handle: f.Handle, OrgID: v.ID, CreatedBy: u.ID, IP: clientip.FromRequest(c.Request)}
	switch f.Kind {
	case orgs.KindPersonal:
		if err := orgs.Check(v.Role, orgs.CreatePersonalKey); err != nil {
			h.orgFailed(c, err, "")
			return
		}
		for _, t := range f.Tenants {
			if _, ok := rights.access[t]; !ok {
				f.Errors["tenants"] = "Choose among the tenants you reach."
			}
		}
		req.Tenants = f.Tenants
	case orgs.KindWorkspace:
		if _, ok := rights.access[f.TenantID]; !ok {
			f.Errors["tenant_id"] = "Choose a tenant you reach."
		} else if err := orgs.CheckWorkspaceKey(v.Role, rights.access[f.TenantID], f.TenantID); err != nil {
			f.Errors["tenant_id"] = "You need read-write access to this tenant to make its workspace keys."
		}
		req.TenantID = f.TenantID
	default:
		f.Errors["kind"] = "Choose a personal key or a workspace key."
	}
	switch f.Preset {
	case "read-only", "read-write":
		req.Scopes = []string{f.Preset}
	default:
		f.Errors["preset"] = "Choose read-only or read-write."
	}
	if d, ok := parseKeyExpiry(f.Expires); ok {
		req.ExpiresIn = d
	} else {
		f.Errors["expires"] = "Choose when the key expires."
	}
	if f.Handle == "" {
		f.Errors["handle"] = "Give the key a name (letters, digits, '.', '_' or '-')."
	}
	if len(f.Errors) > 0 {
		h.renderOrgKeys(c, u, v, http.StatusBadRequest, f)
		return
	}
	k, plain, err := h.cfg.Keys.Create(c.Request.Context(), u.ID, keys.OwnerAuthority(h.cfg.Keys.Scopes()), req)
	if err != nil {
		var fe *keys.FieldError
		switch {
		case errors.Is(err, keys.ErrConflict):
			f.Errors["handle"] = "There is already a key with this name here."
		case errors.As(err, &fe) && slices.Contains([]string{"handle", "tenant_id", "tenants"}, fe.Field):
			f.Errors[fe.Field] = sentence(fe.Message)
		case errors.As(err, &fe):
			f.Errors["preset"] = sentence(fe.Message)
		default:
			h.log.ErrorContext(c.Request.Context(), "create organization key", "error", err)
			h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "The key could not be created.")
			return
		}
		h.renderOrgKeys(c, u, v, http.StatusBadRequest, f)
		return
	}
	h.cfg.Orgs.Record(c.Request.Context(), v.ID, actor(c, u), "key.created", k.ID, f.Kind+" "+k.Handle)
	c.Header("Cache-Control", "no-store")
	h.render(c.Writer, c.Request, http.StatusCreated, "key_secret", "New API key", u, keySecretPage{Key: h.row(k), Secret: plain, Back: orgPath(v.ID, "keys")})
}

// RevokeOrgKeyForm serves POST /orgs/{id}/keys/{key_id}/revoke, after a
// confirmation page: the person's own key, a workspace key of a tenant
// they manage, or (admins) anyone's.
func (h *Handler) RevokeOrgKeyForm(c *gin.Context) {
	u := signedInUser(c)
	v := h.loadOrg(c, u)
	if v == nil {
		return
	}
	rights, _, ok := h.orgKeyRights(c, u, v)
	if !ok {
		return
	}
	ks, err := h.cfg.OrgKeys.ListOrg(c.Request.Context(), v.ID)
	if err != nil {
		h.orgFailed(c, err, "")
		return
	}
	i := slices.IndexFunc(ks, func(k storage.APIKey) bool { return k.ID == c.Param("key") })
	if i < 0 || !rights.canSee(&ks[i]) {
		h.orgFailed(c, orgs.ErrNotFound, "")
		return
	}
	k := &ks[i]
	if !rights.canRevoke(k) {
		need := &orgs.RoleError{Need: string(orgs.Admin)}
		if k.TenantID != "" {
			need = &orgs.RoleError{Need: string(orgs.ReadWrite), Tenant: k.TenantID}
		}
		h.orgFailed(c, need, "")
		return
	}
	if !h.confirmed(c, u, confirmPage{
		Org: newOrgHead(v, "keys"), Heading: "Revoke the key " + k.Handle + "?",
		Text:   "Requests with it, and tokens exchanged from it, are refused from the next request on. This cannot be undone.",
		Action: orgPath(v.ID, "keys", k.ID, "revoke"), Button: "Revoke the key", Cancel: orgPath(v.ID, "keys"),
	}) {
		return
	}
	if _, err := h.cfg.OrgKeys.RevokeInOrg(c.Request.Context(), v.ID, k.ID, clientip.FromRequest(c.Request)); err != nil {
		if errors.Is(err, keys.ErrNotFound) {
			h.orgFailed(c, orgs.ErrNotFound, "")
			return
		}
		h.orgFailed(c, err, "")
		return
	}
	h.cfg.Orgs.Record(c.Request.Context(), v.ID, actor(c, u), "key.revoked", k.ID, k.Handle)
	h.flashRedirect(c, orgPath(v.ID, "keys"), "The key "+k.Handle+" was revoked. Requests using it are refused from now on.")
}
