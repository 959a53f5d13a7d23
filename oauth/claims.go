package oauth

import "github.com/ory/fosite"

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
