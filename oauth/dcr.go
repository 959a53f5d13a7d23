package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Registration modes (RegistrationConfig.Mode).
const (
	// RegistrationOff: no dynamic registration (the routes are not mounted).
	RegistrationOff = "off"
	// RegistrationInitialAccessToken: POST /oauth/register needs an
	// initial access token (RFC 7591 §3) as a Bearer token.
	RegistrationInitialAccessToken = "initial_access_token"
	// RegistrationOpen: anyone may register a client.
	RegistrationOpen = "open"
)

// RegistrationConfig configures dynamic client registration.
type RegistrationConfig struct {
	// Mode is RegistrationInitialAccessToken or RegistrationOpen.
	Mode string
	// InitialAccessTokens are the SHA-256 digests of the initial access
	// tokens accepted in RegistrationInitialAccessToken mode.
	InitialAccessTokens [][sha256.Size]byte
	// Scopes a registered client may be registered for; a registration
	// naming no scope gets all of them (RFC 7591 §2 scope).
	Scopes []string
	// GrantTypes a registered client may use: a subset of
	// authorization_code, refresh_token, client_credentials.
	GrantTypes []string
	// Limit, when set, is asked once per registration request before
	// anything else: a positive wait refuses it with 429 and Retry-After
	// (per client IP, server.Build); an error with 503.
	Limit func(r *http.Request) (wait time.Duration, err error)
	// Now stamps client_id_issued_at; nil = time.Now.
	Now func() time.Time
}

// RegistrationStore is the storage a Registrar needs.
type RegistrationStore interface {
	CreateClient(ctx context.Context, c *storage.Client) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) error
	DeleteClient(ctx context.Context, id string) error
}

// Registrar serves dynamic client registration (RFC 7591) and client
// management (RFC 7592). A registered client has no owner: it is the
// operator's, like a client created with `latchkey client create`, and
// is managed with the registration access token issued with it, of which
// only an HMAC digest is stored (storage.Client.RegistrationTokenDigest).
type Registrar struct {
	p   *Provider
	cfg RegistrationConfig
	db  RegistrationStore
}

// NewRegistrar returns the registration endpoints; cfg.Mode must not be off.
func (p *Provider) NewRegistrar(cfg RegistrationConfig, db RegistrationStore) (*Registrar, error) {
	switch cfg.Mode {
	case RegistrationOpen:
	case RegistrationInitialAccessToken:
		if len(cfg.InitialAccessTokens) == 0 {
			return nil, errors.New("oauth: registration with initial access tokens needs at least one")
		}
	default:
		return nil, fmt.Errorf("oauth: registration mode %q", cfg.Mode)
	}
	for _, g := range cfg.GrantTypes {
		if !slices.Contains(SupportedGrants, g) {
			return nil, fmt.Errorf("oauth: registration grant type %q", g)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registrar{p: p, cfg: cfg, db: db}, nil
}

// clientMetadata is the client metadata of RFC 7591 §2 that Latchkey
// understands; other members are ignored, as §2 requires.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	ClientURI               string   `json:"client_uri"`
	LogoURI                 string   `json:"logo_uri"`
	Scope                   string   `json:"scope"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	// JWKS or JWKSURI carry the public keys of a private_key_jwt client
	// (RFC 7591 §2), with the algorithm of its assertions.
	JWKS                        json.RawMessage `json:"jwks"`
	JWKSURI                     string          `json:"jwks_uri"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg"`
	// DPoPBoundAccessTokens (RFC 9449 §5.2): every token request of the
	// client must carry a DPoP proof.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`

	// RFC 7592 §2.2 update requests only.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// registrationResponse is the client information response (RFC 7591
// §3.2.1, RFC 7592 §3).
type registrationResponse struct {
	ClientID                    string          `json:"client_id"`
	ClientSecret                string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt            int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt       *int64          `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken     string          `json:"registration_access_token"`
	RegistrationClientURI       string          `json:"registration_client_uri"`
	ClientName                  string          `json:"client_name"`
	RedirectURIs                []string        `json:"redirect_uris"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	Scope                       string          `json:"scope"`
	ClientURI                   string          `json:"client_uri,omitempty"`
	LogoURI                     string          `json:"logo_uri,omitempty"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	DPoPBoundAccessTokens       bool            `json:"dpop_bound_access_tokens,omitempty"`
}

// regError is an error response of the registration endpoints (RFC 7591
// §3.2.2; RFC 6750 §3.1 for the management endpoints' 401).
type regError struct {
	status int
	code   string
	desc   string
}

func (e *regError) Error() string { return e.code + ": " + e.desc }

func badMetadata(format string, a ...any) *regError {
	return &regError{http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf(format, a...)}
}

var errRegistrationToken = &regError{http.StatusUnauthorized, "invalid_token", "The registration access token is missing, unknown or does not belong to this client."}

// Register serves POST /oauth/register (RFC 7591 §3.1): 201 with the
// client information response, the client secret (confidential clients
// only) and the registration access token each shown only here.
func (g *Registrar) Register(w http.ResponseWriter, r *http.Request) {
	if g.limited(w, r) {
		return
	}
	if g.cfg.Mode == RegistrationInitialAccessToken && !g.initialTokenOK(r) {
		g.writeError(w, &regError{http.StatusUnauthorized, "invalid_token", "Registration needs an initial access token, sent as Authorization: Bearer <token>."})
		return
	}
	md, err := g.readMetadata(w, r)
	if err != nil {
		g.writeError(w, err)
		return
	}
	if md.ClientID != "" || md.ClientSecret != "" {
		g.writeError(w, badMetadata("client_id and client_secret are issued by the server, not sent at registration."))
		return
	}
	spec, err := g.spec(md)
	if err != nil {
		g.writeError(w, err)
		return
	}
	rec, secretPlain, err := g.p.NewClientRecord(spec)
	if err != nil {
		g.writeError(w, metadataError(err))
		return
	}
	token, err := newRegistrationToken()
	if err != nil {
		g.fail(w, r, err)
		return
	}
	rec.RegistrationTokenDigest, rec.RegistrationTokenVersion = g.p.cfg.Hasher.Digest([]byte(token))
	rec.CreatedAt = g.cfg.Now().UTC().Truncate(time.Second)
	if err := g.db.CreateClient(r.Context(), rec); err != nil {
		g.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, g.response(rec, secretPlain, token))
}

// Manage serves GET, PUT and DELETE /oauth/register/{client_id} (RFC 7592
// §2), authenticated by the client's registration access token.
func (g *Registrar) Manage(w http.ResponseWriter, r *http.Request, clientID string) {
	token, ok := registrationBearer(r)
	if !ok || clientID == "" || len(clientID) > 64 {
		g.writeError(w, errRegistrationToken)
		return
	}
	switch r.Method {
	case http.MethodGet:
		c, err := g.authenticate(r.Context(), clientID, token)
		if err != nil {
			g.writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, g.response(c, "", token))
	case http.MethodPut:
		g.update(w, r, clientID, token)
	case http.MethodDelete:
		if _, err := g.authenticate(r.Context(), clientID, token); err != nil {
			g.writeError(w, err)
			return
		}
		if err := g.db.DeleteClient(r.Context(), clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			g.fail(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "Use GET, PUT or DELETE."})
	}
}

// update replaces the client's metadata (RFC 7592 §2.2: fields left out
// are unset) and rotates the registration access token: the response
// carries the new one and the old one stops working. The token is checked
// inside the same transaction, so of two updates made with one token
// only the first succeeds. The client secret is kept (and never
// returned); a client cannot change between public and confidential.
func (g *Registrar) update(w http.ResponseWriter, r *http.Request, clientID, token string) {
	md, err := g.readMetadata(w, r)
	if err != nil {
		g.writeError(w, err)
		return
	}
	// Authenticate before judging the body, so nothing is revealed to a
	// caller without the token.
	if _, err := g.authenticate(r.Context(), clientID, token); err != nil {
		g.writeError(w, err)
		return
	}
	if md.ClientID != clientID {
		g.writeError(w, badMetadata("The body's client_id must be the client's own (RFC 7592 §2.2)."))
		return
	}
	spec, err := g.spec(md)
	if err == nil {
		spec, err = g.p.checkSpec(spec)
		if err != nil {
			err = metadataError(err)
		}
	}
	if err != nil {
		g.writeError(w, err)
		return
	}
	next, err := newRegistrationToken()
	if err != nil {
		g.fail(w, r, err)
		return
	}
	var out *storage.Client
	err = g.db.UpdateClient(r.Context(), clientID, func(c *storage.Client) error {
		if err := g.checkToken(c, token); err != nil {
			return err
		}
		if spec.Public != c.Public {
			return badMetadata("token_endpoint_auth_method cannot change between none and a client secret method; register a new client instead.")
		}
		if md.ClientSecret != "" && g.p.cfg.Hasher.Verify([]byte(md.ClientSecret), c.SecretDigest, c.SecretVersion) != nil {
			return badMetadata("client_secret does not match the client's secret (RFC 7592 §2.2).")
		}
		applySpec(c, spec)
		c.RegistrationTokenDigest, c.RegistrationTokenVersion = g.p.cfg.Hasher.Digest([]byte(next))
		out = c
		return nil
	})
	var re *regError
	switch {
	case errors.As(err, &re):
		g.writeError(w, re)
	case errors.Is(err, storage.ErrNotFound):
		g.writeError(w, errRegistrationToken)
	case err != nil:
		g.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, g.response(out, "", next))
	}
}

// authenticate returns the registered client clientID when token is its
// registration access token. An unknown client, a client not created by
// registration and a wrong token are the same 401 (RFC 7592 §2).
func (g *Registrar) authenticate(ctx context.Context, clientID, token string) (*storage.Client, error) {
	c, err := g.db.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Spend the time a digest costs, so timing does not tell.
		_, _ = g.p.cfg.Hasher.Digest([]byte(token))
		return nil, errRegistrationToken
	case err != nil:
		return nil, err
	}
	if err := g.checkToken(c, token); err != nil {
		return nil, err
	}
	return c, nil
}

// checkToken compares token with the client's registration access token
// digest in constant time (secret.Hasher.Verify).
func (g *Registrar) checkToken(c *storage.Client, token string) error {
	if !c.Registered() || g.p.cfg.Hasher.Verify([]byte(token), c.RegistrationTokenDigest, c.RegistrationTokenVersion) != nil {
		return errRegistrationToken
	}
	return nil
}

// initialTokenOK reports whether the request carries one of the initial
// access tokens, comparing its SHA-256 digest with every configured one
// in constant time.
func (g *Registrar) initialTokenOK(r *http.Request) bool {
	token, ok := registrationBearer(r)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, d := range g.cfg.InitialAccessTokens {
		match |= subtle.ConstantTimeCompare(sum[:], d[:])
	}
	return match == 1
}

// registrationBearer returns the Bearer token of r (bearerToken), bounded.
func registrationBearer(r *http.Request) (string, bool) {
	token := bearerToken(r)
	return token, token != "" && len(token) <= 512
}

// readMetadata reads a registration request body: application/json, at
// most Config.MaxBodyBytes, one JSON object without repeated members.
func (g *Registrar) readMetadata(w http.ResponseWriter, r *http.Request) (*clientMetadata, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, badMetadata("Content-Type must be application/json (RFC 7591 §3.1).")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.p.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &regError{http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("The request body is larger than %d bytes.", g.p.cfg.MaxBodyBytes)}
		}
		return nil, badMetadata("The request body could not be read.")
	}
	if err := checkBodyText("application/json", body, nil); err != nil {
		return nil, badMetadata("The request body must be valid UTF-8 text without NUL characters.")
	}
	if k, dup := repeatedJSONKey(body); dup {
		return nil, badMetadata("The member %q appears more than once.", clip(k))
	}
	var md clientMetadata
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&md); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, badMetadata("The member %q has the wrong type.", clip(te.Field))
		}
		return nil, badMetadata("The request body is not a JSON object.")
	}
	if dec.More() {
		return nil, badMetadata("The request body must hold exactly one JSON object.")
	}
	return &md, nil
}

// spec turns registration metadata into a ClientSpec under the
// registration policy: the defaults of RFC 7591 §2 (grant type
// authorization_code, response type code, client_secret_basic), only the
// configured grant types and scopes, PKCE required.
func (g *Registrar) spec(md *clientMetadata) (ClientSpec, error) {
	spec := ClientSpec{
		Name:                   strings.TrimSpace(md.ClientName),
		RedirectURIs:           md.RedirectURIs,
		GrantTypes:             md.GrantTypes,
		LogoURI:                md.LogoURI,
		ClientURI:              md.ClientURI,
		PostLogoutRedirectURIs: md.PostLogoutRedirectURIs,
		RequirePKCE:            true,
		AuthMethod:             md.TokenEndpointAuthMethod,
		DPoPBoundAccessTokens:  md.DPoPBoundAccessTokens,
	}
	if spec.Name == "" {
		spec.Name = "Unnamed app"
	}
	if len(spec.GrantTypes) == 0 {
		spec.GrantTypes = []string{"authorization_code"}
	}
	for _, gt := range spec.GrantTypes {
		if !slices.Contains(g.cfg.GrantTypes, gt) {
			return spec, badMetadata("The grant type %q may not be registered here; allowed: %s.", clip(gt), strings.Join(g.cfg.GrantTypes, ", "))
		}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			return spec, badMetadata("The response type %q is not supported; only code.", clip(rt))
		}
	}
	switch spec.AuthMethod {
	case "":
		spec.AuthMethod = AuthMethodBasic
	case AuthMethodNone:
		spec.Public = true
	case AuthMethodBasic, AuthMethodPost:
	case AuthMethodPrivateKeyJWT:
		// checkSpec validates the keys (ValidateJWKS, ValidateJWKSURI).
		if len(md.JWKS) > 0 && string(md.JWKS) != "null" {
			spec.JWKS = string(md.JWKS)
		}
		spec.JWKSURI, spec.AuthSigningAlg = md.JWKSURI, md.TokenEndpointAuthSigningAlg
	default:
		return spec, badMetadata("The token_endpoint_auth_method %q is not supported; use client_secret_basic, client_secret_post, private_key_jwt or none.", clip(spec.AuthMethod))
	}
	if spec.AuthMethod != AuthMethodPrivateKeyJWT && (len(md.JWKS) > 0 || md.JWKSURI != "" || md.TokenEndpointAuthSigningAlg != "") {
		return spec, badMetadata("jwks, jwks_uri and token_endpoint_auth_signing_alg are only for token_endpoint_auth_method private_key_jwt.")
	}
	if md.Scope == "" {
		spec.Scopes = slices.Clone(g.cfg.Scopes)
	}
	for _, s := range strings.Fields(md.Scope) {
		if !slices.Contains(g.cfg.Scopes, s) {
			return spec, badMetadata("The scope %q may not be registered here; allowed: %s.", clip(s), strings.Join(g.cfg.Scopes, " "))
		}
		if !slices.Contains(spec.Scopes, s) {
			spec.Scopes = append(spec.Scopes, s)
		}
	}
	return spec, nil
}

// metadataError maps a ClientSpec refusal onto RFC 7591 §3.2.2.
func metadataError(err error) error {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, ErrInvalidClientMetadata.Error()+": "); ok {
		msg = after
	}
	if errors.Is(err, ErrInvalidRedirectURI) {
		return &regError{http.StatusBadRequest, "invalid_redirect_uri", msg}
	}
	if errors.Is(err, ErrInvalidClientMetadata) {
		return badMetadata("%s", msg)
	}
	return err
}

func (g *Registrar) response(c *storage.Client, secretPlain, token string) registrationResponse {
	resp := registrationResponse{
		ClientID:                    c.ID,
		ClientSecret:                secretPlain,
		ClientIDIssuedAt:            c.CreatedAt.Unix(),
		RegistrationAccessToken:     token,
		RegistrationClientURI:       g.p.cfg.Issuer + "/oauth/register/" + c.ID,
		ClientName:                  c.Name,
		RedirectURIs:                nonNil(c.RedirectURIs),
		GrantTypes:                  nonNil(c.GrantTypes),
		ResponseTypes:               []string{"code"},
		TokenEndpointAuthMethod:     c.TokenEndpointAuthMethod,
		Scope:                       strings.Join(c.Scopes, " "),
		ClientURI:                   c.ClientURI,
		LogoURI:                     c.LogoURI,
		PostLogoutRedirectURIs:      c.PostLogoutRedirectURIs,
		JWKSURI:                     c.JWKSURI,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
		DPoPBoundAccessTokens:       c.DPoPBoundAccessTokens,
	}
	if c.JWKS != "" {
		resp.JWKS = json.RawMessage(c.JWKS)
	}
	if secretPlain != "" {
		never := int64(0) // RFC 7591 §3.2.1: 0 = the secret does not expire
		resp.ClientSecretExpiresAt = &never
	}
	if resp.TokenEndpointAuthMethod == "" {
		resp.TokenEndpointAuthMethod = AuthMethodBasic
	}
	return resp
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// limited applies RegistrationConfig.Limit; it reports whether it answered.
func (g *Registrar) limited(w http.ResponseWriter, r *http.Request) bool {
	if g.cfg.Limit == nil {
		return false
	}
	wait, err := g.cfg.Limit(r)
	return writeLimited(w, wait, err, "Too many registrations from this address. Try again in %d seconds.")
}

func (g *Registrar) writeError(w http.ResponseWriter, err error) {
	var re *regError
	if !errors.As(err, &re) {
		re = &regError{http.StatusBadRequest, "invalid_client_metadata", "The client metadata is not valid."}
	}
	if re.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	writeJSON(w, re.status, map[string]string{"error": re.code, "error_description": re.desc})
}

// fail answers a storage or entropy failure: 503, logged without secrets.
func (g *Registrar) fail(w http.ResponseWriter, r *http.Request, err error) {
	g.p.log.ErrorContext(r.Context(), "client registration failed", "error", err)
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{
		"error":             "temporarily_unavailable",
		"error_description": "The registration could not be stored; try again shortly.",
	})
}

// newRegistrationToken returns a registration access token: 256 bits
// from crypto/rand.
func newRegistrationToken() (string, error) { return secret.Random(256) }

// NewInitialAccessToken mints an initial access token for
// RegistrationInitialAccessToken mode: 256 bits from crypto/rand, and the
// digest to configure ("sha256:" and the hex SHA-256 of the token; the
// token is high-entropy, so a plain hash suffices, and the operator's
// configuration never holds the token).
func NewInitialAccessToken() (token, digest string, err error) {
	if token, err = secret.Random(256); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(token))
	return token, "sha256:" + hex.EncodeToString(sum[:]), nil
}
