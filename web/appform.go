package web

import (
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
)

// Limits on what the app form accepts.
const (
	maxRedirectURIs   = 20
	maxRedirectURILen = 2000
	maxAppNameLen     = 200
)

// defaultAppScopes and defaultAppGrants are ticked on a new app's form.
var (
	defaultAppScopes = []string{"openid", "profile", "email", "offline_access"}
	defaultAppGrants = []string{"authorization_code", "refresh_token"}
)

// grantLabels explain each grant type on the form.
var grantLabels = map[string]string{
	"authorization_code":         "Sign people in and act for them (authorization code with PKCE)",
	"refresh_token":              "Keep access without asking again (refresh tokens)",
	"client_credentials":         "Call APIs as the app itself, with no person (client credentials)",
	oauth.GrantTypeDeviceCode:    "Sign people in on a TV, console or command line: they type a short code at /device (device authorization, RFC 8628)",
	oauth.GrantTypeTokenExchange: "Trade an API key or access token for a narrower token: fewer scopes, one audience (token exchange, RFC 8693)",
}

// appForm is what the register and edit forms post.
type appForm struct {
	Name         string
	RedirectURIs []string
	Public       bool
	Scopes       []string
	Grants       []string
	// RequirePKCE refuses authorization requests without PKCE (on for new
	// apps; a public app always requires it).
	RequirePKCE bool
	// PostLogoutURIs, BackchannelURI and BackchannelSID are the app's
	// OpenID Connect logout registration (RP-Initiated Logout 1.0 §3.1,
	// Back-Channel Logout 1.0 §2.2).
	PostLogoutURIs []string
	BackchannelURI string
	BackchannelSID bool
}

// appErrors holds one message per field; empty means fine.
type appErrors struct {
	Name, RedirectURIs, Type, Scopes, Grants, Form string
	PostLogoutURIs, BackchannelURI                 string
}

func (e appErrors) any() bool {
	return e.Name != "" || e.RedirectURIs != "" || e.Type != "" || e.Scopes != "" || e.Grants != "" || e.Form != "" ||
		e.PostLogoutURIs != "" || e.BackchannelURI != ""
}

// withSummary adds a line at the top of a long form whose fields have
// errors, so they are not missed below the fold.
func withSummary(e appErrors) appErrors {
	if e.any() && e.Form == "" {
		e.Form = "The app was not saved. Check the fields marked below."
	}
	return e
}

// parseAppForm reads the form. Redirect URIs come one per line; blank lines
// and repeats are dropped.
func parseAppForm(c *gin.Context) appForm {
	f := appForm{
		Name:   strings.TrimSpace(c.PostForm("name")),
		Public: c.PostForm("client_type") == "public",
		Scopes: c.PostFormArray("scopes"),
		Grants: c.PostFormArray("grant_types"),
		// An unticked checkbox sends nothing.
		RequirePKCE:    c.PostForm("require_pkce") != "",
		RedirectURIs:   uriLines(c.PostForm("redirect_uris")),
		PostLogoutURIs: uriLines(c.PostForm("post_logout_redirect_uris")),
		BackchannelURI: strings.TrimSpace(c.PostForm("backchannel_logout_uri")),
		BackchannelSID: c.PostForm("backchannel_logout_session_required") != "",
	}
	return f
}

// uriLines splits a textarea of URIs, one per line, dropping blank lines
// and repeats.
func uriLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if u := strings.TrimSpace(line); u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// check validates the form against the registered scopes. Redirect URI
// syntax is left to the registrar (oauth.NewClientRecord).
func (f appForm) check(known []string) appErrors {
	var e appErrors
	switch {
	case f.Name == "":
		e.Name = "Give the app a name people will recognise."
	case len(f.Name) > maxAppNameLen:
		e.Name = "Use at most 200 characters."
	}
	switch {
	case len(f.Grants) == 0:
		e.Grants = "Choose at least one grant type."
	case slices.ContainsFunc(f.Grants, func(g string) bool { return !slices.Contains(oauth.SupportedGrants, g) }):
		e.Grants = "Choose grant types from the list."
	case f.Public && slices.Contains(f.Grants, "client_credentials"):
		e.Grants = "A public app has no secret, so it cannot use client credentials. Make it confidential or untick client credentials."
	case f.Public && slices.Contains(f.Grants, oauth.GrantTypeTokenExchange):
		e.Grants = "A public app has no secret, so it cannot use token exchange. Make it confidential or untick token exchange."
	case slices.Contains(f.Grants, "refresh_token") && !slices.Contains(f.Grants, "authorization_code") && !slices.Contains(f.Grants, oauth.GrantTypeDeviceCode):
		e.Grants = "Refresh tokens come from the authorization code or device grant: tick one of them too."
	}
	switch {
	case len(f.RedirectURIs) > maxRedirectURIs:
		e.RedirectURIs = "Use at most 20 redirect URIs."
	case slices.ContainsFunc(f.RedirectURIs, func(u string) bool { return len(u) > maxRedirectURILen }):
		e.RedirectURIs = "Each redirect URI must be at most 2000 characters."
	case len(f.RedirectURIs) == 0 && slices.Contains(f.Grants, "authorization_code"):
		e.RedirectURIs = "Add at least one redirect URI: where people return after signing in."
	}
	switch {
	case len(f.PostLogoutURIs) > maxRedirectURIs:
		e.PostLogoutURIs = "Use at most 20 post-logout redirect URIs."
	case slices.ContainsFunc(f.PostLogoutURIs, func(u string) bool { return len(u) > maxRedirectURILen }):
		e.PostLogoutURIs = "Each post-logout redirect URI must be at most 2000 characters."
	}
	switch {
	case len(f.BackchannelURI) > maxRedirectURILen:
		e.BackchannelURI = "Use at most 2000 characters."
	case f.BackchannelSID && f.BackchannelURI == "":
		e.BackchannelURI = "Enter the back-channel logout URI that should receive the session id, or untick the box."
	}
	switch {
	case len(f.Scopes) == 0:
		e.Scopes = "Choose at least one scope."
	case slices.ContainsFunc(f.Scopes, func(s string) bool { return !slices.Contains(known, s) }):
		e.Scopes = "Choose scopes from the list."
	}
	return e
}

// spec is the registration the form asks for.
func (f appForm) spec(ownerID string) oauth.ClientSpec {
	return oauth.ClientSpec{
		Name: f.Name, OwnerID: ownerID, RedirectURIs: f.RedirectURIs,
		GrantTypes: f.Grants, Scopes: f.Scopes, Public: f.Public, RequirePKCE: f.RequirePKCE,
		PostLogoutRedirectURIs: f.PostLogoutURIs, BackchannelLogoutURI: f.BackchannelURI,
		BackchannelLogoutSessionRequired: f.BackchannelSID,
	}
}

// registrarProblem files a registrar refusal under the field it concerns.
func registrarProblem(e *appErrors, err error) {
	msg := strings.TrimPrefix(err.Error(), oauth.ErrInvalidClientMetadata.Error()+": ")
	if len(msg) > 0 {
		msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	switch {
	case strings.Contains(msg, "ost-logout redirect URI"):
		e.PostLogoutURIs = msg
	case strings.Contains(msg, "ack-channel logout URI") || strings.Contains(msg, "backchannel"):
		e.BackchannelURI = msg
	case strings.Contains(msg, "edirect URI"):
		e.RedirectURIs = msg
	case strings.Contains(msg, "name"):
		e.Name = msg
	case strings.Contains(msg, "scope"):
		e.Scopes = msg
	case strings.Contains(msg, "grant") || strings.Contains(msg, "public"):
		e.Grants = msg
	default:
		e.Form = msg
	}
}

// option is one checkbox.
type option struct {
	Value, Label, Hint string
	Checked            bool
}

// appFormView is the form as the "app-form" partial shows it.
type appFormView struct {
	// Action is where the form posts; Edit marks the form that changes a
	// registered app (no type or grant types; a public app's PKCE fixed).
	Action       string
	Edit         bool
	Name         string
	RedirectURIs string
	Public       bool
	RequirePKCE  bool
	// PostLogoutURIs is one URI per line, as the textarea shows them.
	PostLogoutURIs string
	BackchannelURI string
	BackchannelSID bool
	Scopes         []option
	Grants         []option
}

// checkList is a fieldset of checkboxes as the "checkboxes" partial draws
// it: the boxes are named Name, with ids <IDPrefix>-<i>; Error, when set,
// is shown under them with id ErrorID.
type checkList struct {
	Legend, Name, IDPrefix, ErrorID, Error string
	Options                                []option
}

// ScopeList is the form's scope checkboxes with err under them (the
// "app-form" partial calls it).
func (v appFormView) ScopeList(err string) checkList {
	return checkList{Legend: "Allowed scopes", Name: "scopes", IDPrefix: "scope", ErrorID: "scopes-error", Error: err, Options: v.Scopes}
}

// GrantList is the form's grant-type checkboxes with err under them.
func (v appFormView) GrantList(err string) checkList {
	return checkList{Legend: "Grant types", Name: "grant_types", IDPrefix: "grant", ErrorID: "grants-error", Error: err, Options: v.Grants}
}

func (h *Handler) appFormView(f appForm) appFormView {
	v := appFormView{Name: f.Name, RedirectURIs: strings.Join(f.RedirectURIs, "\n"), Public: f.Public, RequirePKCE: f.RequirePKCE || f.Public,
		PostLogoutURIs: strings.Join(f.PostLogoutURIs, "\n"), BackchannelURI: f.BackchannelURI, BackchannelSID: f.BackchannelSID}
	for _, s := range h.cfg.Scopes {
		v.Scopes = append(v.Scopes, option{Value: s, Label: s, Hint: h.scopeWords(s), Checked: slices.Contains(f.Scopes, s)})
	}
	for _, g := range oauth.SupportedGrants {
		v.Grants = append(v.Grants, option{Value: g, Label: g, Hint: grantLabels[g], Checked: slices.Contains(f.Grants, g)})
	}
	return v
}

func (h *Handler) scopeWords(s string) string {
	if h.cfg.ScopeDescription == nil {
		return ""
	}
	d, _ := h.cfg.ScopeDescription(s)
	return d
}
