package oauth

import (
	"slices"

	"github.com/ory/fosite"
)

// scopeClaims returns the claims about a person that the granted scopes
// release (OpenID Connect Core §5.4): profile gives preferred_username and,
// when set, name; email gives email, when set, with email_verified (§5.1):
// true once the person followed a link mailed to that address
// (storage.User.EmailVerifiedAt), false before and after any change of it.
// It is the one statement of that rule: the ID token (WriteGrant) and the
// userinfo response (Userinfo) both take their claims from it. The caller
// adds sub.
func scopeClaims(granted fosite.Arguments, username, name, email string, emailVerified bool) map[string]any {
	claims := map[string]any{}
	if granted.Has("profile") {
		claims["preferred_username"] = username
		if name != "" {
			claims["name"] = name
		}
	}
	if granted.Has("email") && email != "" {
		claims["email"] = email
		claims["email_verified"] = emailVerified
	}
	return claims
}

// Authentication context classes (OpenID Connect Core §2, the acr claim)
// of Latchkey's sign-ins: ACRSingleFactor for one factor (a password),
// ACRMultiFactor for two or more (a password with a TOTP code, recovery
// code or passkey; a passkey with user verification alone). Discovery
// lists them in acr_values_supported.
const (
	ACRSingleFactor = "1"
	ACRMultiFactor  = "2"
)

// authContext returns the acr and amr claims of a sign-in that used the
// authentication methods in methods (RFC 8176 §2 values such as "pwd",
// "otp", "hwk", "swk", "mfa"). It is the one statement of the rule: the
// ID token of every grant (WriteGrant) takes both from it, and a refresh
// re-issues them unchanged. No methods (an unknown sign-in) gives neither.
func authContext(methods []string) (acr string, amr []string) {
	if len(methods) == 0 {
		return "", nil
	}
	amr = append([]string(nil), methods...)
	factors := 0
	for _, m := range methods {
		switch m {
		case "mfa":
			factors += 2
		case "pwd", "otp", "hwk", "swk", "pin", "sms", "fpt", "face", "pop":
			factors++
		}
	}
	if factors >= 2 {
		return ACRMultiFactor, amr
	}
	return ACRSingleFactor, amr
}

// NeedsMultiFactor reports whether a sign-in that used methods falls short
// of an authorization request's acr_values (OpenID Connect Core
// §3.1.2.1): true when ACRMultiFactor is among them and authContext gives
// the sign-in less. acr_values is a voluntary request (§5.5.1.1): the
// caller asks for the second factor only when the person has one, and
// otherwise the ID token says acr "1". The claims parameter's essential
// acr (§5.5.1.1) is not supported (claims_parameter_supported is absent
// from discovery, so false).
func NeedsMultiFactor(acrValues, methods []string) bool {
	if !slices.Contains(acrValues, ACRMultiFactor) {
		return false
	}
	acr, _ := authContext(methods)
	return acr != ACRMultiFactor
}
