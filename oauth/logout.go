package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchkey/latchkey/storage"
)

// ErrInvalidLogout means an RP-Initiated Logout request was refused
// (OpenID Connect RP-Initiated Logout 1.0 §2, §3): a forged or foreign
// id_token_hint, a client_id the hint was not issued to, an unknown
// client, or a post_logout_redirect_uri the client did not register. The
// message after the colon is a sentence for the person; the request must
// end on an error page, never in a redirect.
var ErrInvalidLogout = errors.New("invalid logout request")

// LogoutRequest is a validated RP-Initiated Logout request (OpenID Connect
// RP-Initiated Logout 1.0 §2).
type LogoutRequest struct {
	// ClientID is the relying party the request names (client_id, or the
	// audience of a verified id_token_hint); "" when neither names one.
	ClientID string
	// ClientName is the registered name of ClientID, for the confirmation page.
	ClientName string
	// HintVerified is true when id_token_hint is an ID token this server
	// signed (expired or not, §2); Subject and SID are then its sub and sid.
	HintVerified bool
	Subject      string
	SID          string
	// hintAudience is the aud of a verified hint: the clients it was
	// issued to (SessionLive).
	hintAudience []string
	// RedirectURI is the registered post_logout_redirect_uri to return to
	// after sign-out, "" for none.
	RedirectURI string
	// State is echoed to RedirectURI when the client sent one.
	State    string
	hasState bool
	form     url.Values
}

// ReturnURL is where to send the person after sign-out: RedirectURI with
// state added to its query (§3) when the client sent state, or "" when
// there is nowhere to go back to.
func (l *LogoutRequest) ReturnURL() string {
	if l.RedirectURI == "" {
		return ""
	}
	if !l.hasState {
		return l.RedirectURI
	}
	sep := "?"
	if strings.Contains(l.RedirectURI, "?") {
		sep = "&"
	}
	return l.RedirectURI + sep + "state=" + url.QueryEscape(l.State)
}

// Form returns the request's parameters for re-sending it from the
// confirmation page (only the ones §2 defines that this server reads).
func (l *LogoutRequest) Form() url.Values {
	out := url.Values{}
	for _, k := range logoutParams {
		if v, ok := l.form[k]; ok && len(v) > 0 {
			out.Set(k, v[0])
		}
	}
	return out
}

// logoutParams are the parameters of §2 this endpoint reads; ui_locales
// and logout_hint are accepted and ignored.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}

// maxHintBytes bounds id_token_hint; our ID tokens are a few kilobytes.
const maxHintBytes = 16 << 10

// ParseLogout validates the parameters of an RP-Initiated Logout request
// (§2, §3). An id_token_hint this server cannot judge (not a JWS, or
// signed under another key id, say a rotated-out one) is ignored: the
// person is asked to confirm. One that claims our key but does not verify
// under it, or verifies but names another issuer, is refused. An expired
// hint is accepted (§2). client_id, when given, must be an audience of a
// verified hint. post_logout_redirect_uri must exactly match one the
// client registered (§3); without a client to check it against it is
// refused. Errors wrap ErrInvalidLogout, or are storage failures.
func (p *Provider) ParseLogout(ctx context.Context, form url.Values) (*LogoutRequest, error) {
	bad := func(msg string) (*LogoutRequest, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidLogout, msg)
	}
	l := &LogoutRequest{form: form}
	for _, k := range logoutParams {
		if len(form[k]) > 1 {
			return bad("The " + k + " parameter must not be repeated.")
		}
	}
	l.State, l.hasState = form.Get("state"), form.Get("state") != ""
	if len(l.State) > maxStateBytes {
		return bad(fmt.Sprintf("The state parameter must not be longer than %d bytes.", maxStateBytes))
	}
	l.ClientID = form.Get("client_id")
	var aud []string
	if hint := form.Get("id_token_hint"); hint != "" {
		c, err := p.verifyHint(hint)
		switch {
		case errors.Is(err, errHintUnknown):
			// Not ours to judge: ignored, the person confirms.
		case err != nil:
			return nil, err
		default:
			l.HintVerified, l.Subject, l.SID, aud = true, c.Subject, c.SID, c.Audience
			l.hintAudience = c.Audience
		}
	}
	fromHint := false
	if l.HintVerified {
		switch {
		case l.ClientID != "" && !slices.Contains(aud, l.ClientID):
			return bad("The client_id does not match the id_token_hint: it was issued to another application.")
		case l.ClientID == "" && len(aud) == 1:
			l.ClientID, fromHint = aud[0], true
		}
	}
	var cl *storage.Client
	if l.ClientID != "" {
		var err error
		cl, err = p.store.db.GetClient(ctx, l.ClientID)
		switch {
		case errors.Is(err, storage.ErrNotFound) && fromHint:
			// The app was deleted since; the person may still sign out,
			// but there is nowhere registered to return to.
			cl, l.ClientID = nil, ""
		case errors.Is(err, storage.ErrNotFound):
			return bad("The application is not registered.")
		case err != nil:
			return nil, err
		default:
			l.ClientName = cl.Name
		}
	}
	if u := form.Get("post_logout_redirect_uri"); u != "" {
		if cl == nil {
			return bad("A post_logout_redirect_uri needs an id_token_hint or client_id naming the application that registered it.")
		}
		if !slices.Contains(cl.PostLogoutRedirectURIs, u) {
			return bad("The post_logout_redirect_uri is not registered for this application.")
		}
		l.RedirectURI = u
	}
	return l, nil
}

// errHintUnknown means an id_token_hint this server cannot judge (not a
// compact JWS, or signed under a key id it does not hold).
var errHintUnknown = errors.New("id_token_hint not verifiable")

// hintClaims are the ID-token claims logout reads.
type hintClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience jwtAudience     `json:"aud"`
	SID      string          `json:"sid"`
	Events   json.RawMessage `json:"events"`
}

// jwtAudience is the aud claim: one string or an array (RFC 7519 §4.1.3).
type jwtAudience []string

// UnmarshalJSON accepts both forms of aud.
func (a *jwtAudience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// verifyHint checks that hint is an ID token signed with this server's
// key and naming this issuer. Its expiry is not checked (§2: an expired
// ID token is a valid hint).
func (p *Provider) verifyHint(hint string) (*hintClaims, error) {
	forged := fmt.Errorf("%w: The id_token_hint was not issued by this server.", ErrInvalidLogout)
	if len(hint) > maxHintBytes {
		return nil, errHintUnknown
	}
	jws, err := jose.ParseSigned(hint)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errHintUnknown
	}
	h := jws.Signatures[0].Header
	ctx := context.Background()
	key, ok := p.ring.byKID(ctx, h.KeyID)
	if h.KeyID == "" {
		key, err = p.ring.signing(ctx)
		ok = err == nil
	}
	if !ok {
		return nil, errHintUnknown
	}
	if h.Algorithm != key.alg {
		return nil, forged
	}
	payload, err := jws.Verify(key.priv.Public())
	if err != nil {
		return nil, forged
	}
	var c hintClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, forged
	}
	if c.Issuer != p.cfg.Issuer || c.Subject == "" || len(c.Audience) == 0 || len(c.Events) > 0 {
		// Signed by our key yet not one of our ID tokens (another issuer
		// name, or a logout token).
		return nil, forged
	}
	return &c, nil
}
