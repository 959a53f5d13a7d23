package oauth

import "github.com/ory/fosite"

// scopeClaims returns the claims about a person that the granted scopes
// release (OpenID Connect Core §5.4): profile gives preferred_username and,
// when set, name; email gives email, when set, with email_verified (§5.1).
// It is the one statement of that rule: the ID token (WriteGrant) and the
// userinfo response (Userinfo) both take their claims from it. The caller
// adds sub.
func scopeClaims(granted fosite.Arguments, username, name, email string) map[string]any {
	claims := map[string]any{}
	if granted.Has("profile") {
		claims["preferred_username"] = username
		if name != "" {
			claims["name"] = name
		}
	}
	if granted.Has("email") && email != "" {
		claims["email"] = email
		// Latchkey does not verify addresses yet: storage.User has no
		// notion of verification, so no address is verified, and relying
		// parties that ask (go-oidc, openid-client) must not assume one is.
		claims["email_verified"] = false
	}
	return claims
}
