package logging

import (
	"crypto/sha256"
	"encoding/hex"
)

// TypedUsername is what a security event (a failed or throttled sign-in,
// on the login form or by HTTP Basic) says about a username someone
// typed: the name itself when it is the username of the account it
// matched (existing, "" when none), else "unknown:" and a fingerprint
// (the first 12 hex digits of its SHA-256), so attempts on one unknown
// name still correlate. People type their password into the username
// field; the log must never carry it.
func TypedUsername(typed, existing string) string {
	if existing != "" && existing == typed {
		return typed
	}
	sum := sha256.Sum256([]byte(typed))
	return "unknown:" + hex.EncodeToString(sum[:6])
}
