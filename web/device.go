package web

import (
	"crypto/hkdf"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
)

// deviceLifetime is how long a browser stays a known device for a
// username after its last successful sign-in there.
const deviceLifetime = 180 * 24 * time.Hour

// deviceCookies implements the device cookies of OWASP's "Slow Down
// Online Guessing Attacks with Device Cookies": a browser that signed in
// as a username gets a cookie naming that username and a random nonce,
// authenticated and encrypted with keys derived from the cookie hash key.
// Sign-ins presenting a valid device cookie for the username they try are
// throttled per device cookie only; every other attempt ("untrusted
// clients") is throttled per username and per client IP. So a guesser
// who locks a username, or a busy address behind one load balancer, does
// not keep the account's owner out on their own browser, while a guesser
// without a device cookie meets the lockout.
type deviceCookies struct {
	name   string
	secure bool
	codec  *securecookie.SecureCookie
}

// deviceClaim is what a device cookie says.
type deviceClaim struct {
	User  string `json:"u"` // the username, exactly (usernames are case-sensitive)
	Nonce string `json:"n"` // names the cookie in the throttle
}

func newDeviceCookies(hashKey []byte, secure bool) (*deviceCookies, error) {
	mac, err := hkdf.Key(sha256.New, hashKey, nil, "latchkey device cookie mac v1", 32)
	if err != nil {
		return nil, err
	}
	enc, err := hkdf.Key(sha256.New, hashKey, nil, "latchkey device cookie enc v1", 32)
	if err != nil {
		return nil, err
	}
	codec := securecookie.New(mac, enc).MaxAge(int(deviceLifetime.Seconds()))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &deviceCookies{name: cookieName("latchkey_device", secure), secure: secure, codec: codec}, nil
}

// known returns the throttle key of r's device cookie when it is valid
// (authentic, unexpired) and issued for username; ok is false otherwise.
func (d *deviceCookies) known(r *http.Request, username string) (key string, ok bool) {
	ck, err := r.Cookie(d.name)
	if err != nil || username == "" {
		return "", false
	}
	var c deviceClaim
	// Exact match: the store's usernames are case-sensitive ("Bob" made by
	// the CLI beside a self-service "bob"), so a case-folded match would
	// let the owner of one guess the other's password as a known device.
	if d.codec.Decode(d.name, ck.Value, &c) != nil || c.Nonce == "" || c.User != username {
		return "", false
	}
	return "dev:" + c.Nonce, true
}

// issue gives the browser a new device cookie for username (a fresh
// nonce each sign-in, as OWASP's scheme renews it). It is HttpOnly and
// SameSite=Strict: only our own login form ever needs it.
func (d *deviceCookies) issue(w http.ResponseWriter, username string) error {
	v, err := d.codec.Encode(d.name, deviceClaim{User: username, Nonce: randomToken()})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: d.name, Value: v, Path: "/", MaxAge: int(deviceLifetime.Seconds()),
		HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteStrictMode,
	})
	return nil
}
