package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// failingOIDCBackend refuses to store OpenID Connect sessions.
type failingOIDCBackend struct{ *storage.DB }

func (b failingOIDCBackend) CreateRequest(ctx context.Context, r *storage.Request) error {
	if r.Kind == storage.KindOIDC {
		return errors.New("disk full")
	}
	return b.DB.CreateRequest(ctx, r)
}

// TestAuthorizeWritesCodeAndSessionsTogether: the code, its PKCE session
// and its OpenID Connect session are written in one transaction, so when
// the last cannot be stored the first two are not left behind.
func TestAuthorizeWritesCodeAndSessionsTogether(t *testing.T) {
	p, db := newTestProviderOn(t, func(db *storage.DB) Backend { return failingOIDCBackend{db} })
	c := registerClient(t, p, db, ClientSpec{})
	_, challenge := pkcePair()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {"openid"},
		"state": {"state-123456789"}, "nonce": {"nonce-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
	a, err := p.ParseAuthorize(r)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p.WriteGrant(w, r, a, Grant{Subject: "alice", Username: "alice", AuthTime: time.Now(), Scopes: a.Scopes()})
	loc, _ := url.Parse(w.Header().Get("Location"))
	if loc == nil || loc.Query().Get("code") != "" || loc.Query().Get("error") != "server_error" {
		t.Fatalf("%d Location %q, want an error redirect without a code", w.Code, w.Header().Get("Location"))
	}
	for _, kind := range []storage.Kind{storage.KindCode, storage.KindPKCE, storage.KindOIDC} {
		if n, err := countRows(t, db, "requests", "kind = ?", kind); err != nil || n != 0 {
			t.Errorf("%s rows left: %d %v", kind, n, err)
		}
	}
}

// BenchmarkSignedInCodeFlow is the authorization-code flow of a person
// already signed in and consented (loadgen's authcode_session without
// HTTP): WriteGrant (code, PKCE and OpenID Connect sessions, the session's
// client record) then the exchange at the token endpoint (ID token signed).
func BenchmarkSignedInCodeFlow(b *testing.B) {
	p, db := newTestProviderWith(b, nil, nil)
	c := registerClient(b, p, db, ClientSpec{})
	verifier, challenge := pkcePair()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {"openid users:read"},
		"state": {"state-123456789"}, "nonce": {"nonce-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
		a, err := p.ParseAuthorize(r)
		if err != nil {
			b.Fatal(err)
		}
		w := httptest.NewRecorder()
		p.WriteGrant(w, r, a, Grant{Subject: "alice", Username: "alice", AuthTime: time.Now(), Scopes: a.Scopes(), SessionID: "sid-1"})
		loc, _ := url.Parse(w.Header().Get("Location"))
		if status, body := exchange(b, p, c, loc.Query().Get("code"), verifier); status != http.StatusOK || body["id_token"] == nil {
			b.Fatalf("exchange: %d %v", status, body)
		}
	}
}
