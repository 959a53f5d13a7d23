package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"

	"github.com/latchkey/latchkey/storage"
)

// Backend is the part of storage.Store the fosite adapter uses.
type Backend interface {
	storage.Requests
	// SessionClients records which clients each sign-in session reached,
	// for back-channel logout.
	storage.SessionClients
	// DeviceAuthorizations holds the device flow's requests (RFC 8628).
	storage.DeviceAuthorizations
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	MarkJTI(ctx context.Context, jti string, expiresAt time.Time) error
	JTIKnown(ctx context.Context, jti string) (bool, error)
	// RevokeAPIKeysByParent revokes the API keys a grant created
	// (storage.APIKeys).
	RevokeAPIKeysByParent(ctx context.Context, p storage.KeyParent) ([]storage.APIKey, error)
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// fositeStore adapts storage onto every fosite v0.49.0 storage role that
// the composed handlers use. Errors are translated once, here:
// storage.ErrNotFound → fosite.ErrNotFound, storage.ErrInactive →
// fosite.ErrInvalidatedAuthorizeCode / fosite.ErrInactiveToken (always
// returned together with the request, as fosite's contracts demand).
type fositeStore struct {
	db     Backend
	hasher *secretHasher
	// now is the clock that decides whether a previous client secret is
	// still in its grace.
	now func() time.Time
	// codeSignature is the authorization-code strategy's signature
	// function: OpenID Connect sessions are keyed by it, never by the code.
	codeSignature func(ctx context.Context, code string) string
	// tokens caches active access tokens (nil = no cache).
	tokens *tokenCache
}

// Compile-time proof that the adapter satisfies the union of roles.
var (
	_ fosite.Storage                       = (*fositeStore)(nil)
	_ fosite.ClientManager                 = (*fositeStore)(nil)
	_ oauth2.CoreStorage                   = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage        = (*fositeStore)(nil)
	_ oauth2.ClientCredentialsGrantStorage = (*fositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage   = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage              = (*fositeStore)(nil)
	_ fosite.PARStorage                    = (*fositeStore)(nil)
	_ fstorage.Transactional               = (*fositeStore)(nil)
)

// storedRequest is the JSON form of a fosite request inside storage.Request.Data.
// The client is kept as a snapshot so reading a token costs one query.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	Client            clientSnapshot  `json:"client"`
	RequestedScope    []string        `json:"requested_scope"`
	GrantedScope      []string        `json:"granted_scope"`
	RequestedAudience []string        `json:"requested_audience"`
	GrantedAudience   []string        `json:"granted_audience"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
	// Authorize-request fields, kept for PAR sessions.
	ResponseTypes []string `json:"response_types,omitempty"`
	RedirectURI   string   `json:"redirect_uri,omitempty"`
	State         string   `json:"state,omitempty"`
	ResponseMode  string   `json:"response_mode,omitempty"`
}

// sensitiveForm lists request parameters that are never persisted.
var sensitiveForm = []string{"client_secret", "client_assertion", "code", "refresh_token", "password", "code_verifier", "token"}

func (s *fositeStore) encode(kind storage.Kind, signature string, r fosite.Requester, expiresAt time.Time) (*storage.Request, error) {
	sess, _ := r.GetSession().(*Session)
	if sess == nil {
		return nil, fmt.Errorf("oauth: unexpected session type %T", r.GetSession())
	}
	rawSess, err := json.Marshal(sess)
	if err != nil {
		return nil, fmt.Errorf("oauth: encode session: %w", err)
	}
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = append([]string(nil), v...)
	}
	for _, k := range sensitiveForm {
		form.Del(k)
	}
	sr := storedRequest{
		ID:                r.GetID(),
		RequestedAt:       r.GetRequestedAt().UTC(),
		Client:            snapshotOf(r.GetClient()),
		RequestedScope:    r.GetRequestedScopes(),
		GrantedScope:      r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(),
		GrantedAudience:   r.GetGrantedAudience(),
		Form:              form,
		Session:           rawSess,
	}
	if ar, ok := r.(fosite.AuthorizeRequester); ok {
		sr.ResponseTypes = ar.GetResponseTypes()
		if u := ar.GetRedirectURI(); u != nil {
			sr.RedirectURI = u.String()
		}
		sr.State = ar.GetState()
		sr.ResponseMode = string(ar.GetResponseMode())
	}
	data, err := json.Marshal(sr)
	if err != nil {
		return nil, fmt.Errorf("oauth: encode request: %w", err)
	}
	return &storage.Request{
		Kind:        kind,
		Signature:   signature,
		RequestID:   r.GetID(),
		ClientID:    r.GetClient().GetID(),
		Subject:     sess.GetSubject(),
		Active:      true,
		RequestedAt: r.GetRequestedAt().UTC(),
		ExpiresAt:   expiresAt.UTC(),
		Data:        data,
	}, nil
}

func decode(rec *storage.Request, into fosite.Session) (*fosite.Request, *storedRequest, error) {
	var sr storedRequest
	if err := json.Unmarshal(rec.Data, &sr); err != nil {
		return nil, nil, fmt.Errorf("oauth: decode request: %w", err)
	}
	var sess fosite.Session = into
	if sess == nil {
		sess = NewSession("")
	}
	if err := json.Unmarshal(sr.Session, sess); err != nil {
		return nil, nil, fmt.Errorf("oauth: decode session: %w", err)
	}
	return &fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            sr.Client.client(),
		RequestedScope:    sr.RequestedScope,
		GrantedScope:      sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   sr.GrantedAudience,
		Form:              sr.Form,
		Session:           sess,
	}, &sr, nil
}

// expiry picks the expiry stored for a record of kind.
func expiry(r fosite.Requester, t fosite.TokenType, fallback time.Duration) time.Time {
	if e := r.GetSession().GetExpiresAt(t); !e.IsZero() {
		return e
	}
	return time.Now().UTC().Add(fallback)
}

func (s *fositeStore) create(ctx context.Context, kind storage.Kind, sig string, r fosite.Requester, exp time.Time, accessSig string) error {
	rec, err := s.encode(kind, sig, r, exp)
	if err != nil {
		return err
	}
	rec.AccessSignature = accessSig
	return s.db.CreateRequest(ctx, rec)
}

// get loads a record; inactive records are returned with inactiveErr.
func (s *fositeStore) get(ctx context.Context, kind storage.Kind, sig string, sess fosite.Session, inactiveErr error) (fosite.Requester, error) {
	rec, err := s.db.GetRequest(ctx, kind, sig)
	if err != nil && !errors.Is(err, storage.ErrInactive) {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fosite.ErrNotFound.WithWrap(err)
		}
		return nil, err
	}
	req, _, derr := decode(rec, sess)
	if derr != nil {
		return nil, derr
	}
	if err != nil { // inactive
		return req, inactiveErr
	}
	return req, nil
}

// GetClient implements fosite.ClientManager.
func (s *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.db.GetClient(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fosite.ErrNotFound.WithWrap(err)
		}
		// A failure of the lookup itself (database down, timeout): fosite
		// answers any error here invalid_client, so it is marked as the
		// server's, which the guessing throttle does not count
		// (clientAuthFailed).
		return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	return newClient(c, s.hasher, s.now()), nil
}

// ClientAssertionJWTValid implements fosite.ClientManager (RFC 7523 §3
// replay check), for the jti of the client named in ctx (assertionJTIKey).
func (s *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	known, err := s.db.JTIKnown(ctx, assertionJTIKey(ctx, jti))
	if err != nil {
		return err
	}
	if known {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager, for the jti of
// the client named in ctx (assertionJTIKey).
func (s *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	if err := s.db.MarkJTI(ctx, assertionJTIKey(ctx, jti), exp); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fosite.ErrJTIKnown
		}
		return err
	}
	return nil
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, storage.KindCode, code, r, expiry(r, fosite.AuthorizeCode, 10*time.Minute), "")
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage: a used
// code comes back together with fosite.ErrInvalidatedAuthorizeCode so the
// handler can revoke what the first exchange issued (RFC 6749 §4.1.2).
func (s *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.KindCode, code, sess, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
// Of two concurrent exchanges exactly one succeeds; the loser gets
// ErrInvalidatedAuthorizeCode.
func (s *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := s.db.DeactivateRequest(ctx, storage.KindCode, code)
	switch {
	case errors.Is(err, storage.ErrInactive):
		return fosite.ErrInvalidatedAuthorizeCode
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound.WithWrap(err)
	}
	return err
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, storage.KindAccess, sig, r, expiry(r, fosite.AccessToken, time.Hour), "")
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
// Active tokens are served from the access-token cache (tokencache.go)
// outside transactions.
func (s *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	if s.tokens == nil || storage.InTransaction(ctx) {
		return s.get(ctx, storage.KindAccess, sig, sess, fosite.ErrInactiveToken)
	}
	cached, ok, ticket := s.tokens.get(sig, sess)
	if ok {
		return cached, nil
	}
	req, err := s.get(ctx, storage.KindAccess, sig, sess, fosite.ErrInactiveToken)
	if err != nil {
		return req, err
	}
	if r, ok := req.(*fosite.Request); ok {
		if snap, ok := copyRequest(r, &Session{}); ok {
			s.tokens.put(sig, snap, ticket)
		}
	}
	return req, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.db.DeleteRequest(ctx, storage.KindAccess, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage. When a
// refresh narrowed the access token's scope (Session.FamilyScope), the new
// refresh token keeps the scope originally granted (RFC 6749 §6); when a
// token request narrowed its audience (Session.FamilyAudience), the
// audience originally granted (RFC 8707 §2.2).
func (s *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, r fosite.Requester) error {
	if sess, ok := r.GetSession().(*Session); ok && (len(sess.FamilyScope) > 0 || len(sess.FamilyAudience) > 0) {
		req, ok := r.(*fosite.Request)
		if !ok {
			return fmt.Errorf("oauth: unexpected refresh request type %T", r)
		}
		cp := *req
		if len(sess.FamilyScope) > 0 {
			cp.GrantedScope = slices.Clone(sess.FamilyScope)
			cp.RequestedScope = slices.Clone(sess.FamilyScope)
		}
		if len(sess.FamilyAudience) > 0 {
			cp.GrantedAudience = slices.Clone(sess.FamilyAudience)
		}
		clone := sess.Clone().(*Session)
		clone.FamilyScope, clone.FamilyAudience = nil, nil
		cp.Session = clone
		r = &cp
	}
	return s.create(ctx, storage.KindRefresh, sig, r, expiry(r, fosite.RefreshToken, 30*24*time.Hour), accessSig)
}

// errGrantRevoked marks an inactive refresh token whose whole grant was
// revoked (RFC 7009 revocation, "Authorized apps", a detected reuse), as
// opposed to one rotated away while its grant lives on.
var errGrantRevoked = errors.New("oauth: the grant of this refresh token was revoked")

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage: a rotated
// or revoked refresh token comes back together with fosite.ErrInactiveToken,
// which makes fosite revoke the whole family (RFC 6819 §5.2.2.3). When no
// refresh token of the grant is active any more, the token was revoked
// rather than rotated, and the error wraps errGrantRevoked too, so the
// client is told which (writeAccessError).
func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	req, err := s.get(ctx, storage.KindRefresh, sig, sess, fosite.ErrInactiveToken)
	if !errors.Is(err, fosite.ErrInactiveToken) || req == nil {
		return req, err
	}
	live, lerr := s.db.GrantHasActive(ctx, storage.KindRefresh, req.GetID())
	if lerr != nil {
		return req, err // reuse handling still runs; only the wording is lost
	}
	if !live {
		return req, fmt.Errorf("%w (%w)", err, errGrantRevoked)
	}
	return req, err
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.db.DeleteRequest(ctx, storage.KindRefresh, sig)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: it deactivates
// the presented refresh token (atomically: a concurrent second rotation
// fails with fosite.ErrInactiveToken) and deletes the access token issued
// with it.
func (s *fositeStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	rec, err := s.db.GetRequest(ctx, storage.KindRefresh, sig)
	if err != nil {
		if errors.Is(err, storage.ErrInactive) {
			return fosite.ErrInactiveToken
		}
		if errors.Is(err, storage.ErrNotFound) {
			return fosite.ErrNotFound.WithWrap(err)
		}
		return err
	}
	if err := s.db.DeactivateRequest(ctx, storage.KindRefresh, sig); err != nil {
		if errors.Is(err, storage.ErrInactive) {
			return fosite.ErrInactiveToken
		}
		return err
	}
	if rec.AccessSignature != "" {
		return s.db.DeleteRequest(ctx, storage.KindAccess, rec.AccessSignature)
	}
	return nil
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage (RFC 7009 §2.1):
// every refresh token of the grant is deactivated (kept for reuse
// detection), and the API keys the grant's tokens created are revoked with
// it. fosite calls it whenever a grant ends: revocation of any of its
// tokens, refresh-token reuse, authorization-code replay.
func (s *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if _, err := s.db.DeactivateByRequestID(ctx, storage.KindRefresh, requestID); err != nil {
		return err
	}
	_, err := s.db.RevokeAPIKeysByParent(ctx, storage.KeyParent{GrantID: requestID})
	return err
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage (RFC 7009 §2.1).
func (s *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := s.db.DeleteByRequestID(ctx, storage.KindAccess, requestID)
	return err
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *fositeStore) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, storage.KindPKCE, sig, r, expiry(r, fosite.AuthorizeCode, 10*time.Minute), "")
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.KindPKCE, sig, sess, fosite.ErrNotFound)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *fositeStore) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.db.DeleteRequest(ctx, storage.KindPKCE, sig)
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
// fosite passes the authorization code itself; the record is keyed by the
// code's signature, like the code's own record, so the database never
// holds a code that could be redeemed.
func (s *fositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, storage.KindOIDC, s.codeSignature(ctx, code), r, expiry(r, fosite.AuthorizeCode, 10*time.Minute), "")
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *fositeStore) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	return s.get(ctx, storage.KindOIDC, s.codeSignature(ctx, code), r.GetSession(), openid.ErrNoSessionFound)
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *fositeStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.db.DeleteRequest(ctx, storage.KindOIDC, s.codeSignature(ctx, code))
}

// CreatePARSession implements fosite.PARStorage (RFC 9126).
func (s *fositeStore) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	return s.create(ctx, storage.KindPAR, requestURI, r, expiry(r, fosite.PushedAuthorizeRequestContext, time.Minute), "")
}

// GetPARSession implements fosite.PARStorage.
func (s *fositeStore) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	rec, err := s.db.GetRequest(ctx, storage.KindPAR, requestURI)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInactive) {
			return nil, fosite.ErrNotFound.WithWrap(err)
		}
		return nil, err
	}
	req, sr, err := decode(rec, NewSession(""))
	if err != nil {
		return nil, err
	}
	ar := &fosite.AuthorizeRequest{
		ResponseTypes:        sr.ResponseTypes,
		State:                sr.State,
		ResponseMode:         fosite.ResponseModeType(sr.ResponseMode),
		HandledResponseTypes: fosite.Arguments{},
		Request:              *req,
	}
	if sr.RedirectURI != "" {
		if u, err := url.Parse(sr.RedirectURI); err == nil {
			ar.RedirectURI = u
		}
	}
	return ar, nil
}

// DeletePARSession implements fosite.PARStorage.
func (s *fositeStore) DeletePARSession(ctx context.Context, requestURI string) error {
	return s.db.DeleteRequest(ctx, storage.KindPAR, requestURI)
}

// BeginTX implements fosite's storage.Transactional.
func (s *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	return s.db.BeginTx(ctx)
}

// Commit implements fosite's storage.Transactional.
func (s *fositeStore) Commit(ctx context.Context) error { return s.db.Commit(ctx) }

// Rollback implements fosite's storage.Transactional.
func (s *fositeStore) Rollback(ctx context.Context) error { return s.db.Rollback(ctx) }
