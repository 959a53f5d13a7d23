package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// clientLookups counts the provider's client lookups.
type clientLookups struct {
	*storage.DB
	n atomic.Int32
}

func (c *clientLookups) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c.n.Add(1)
	return c.DB.GetClient(ctx, id)
}

// clientCredentialsToken issues a client_credentials access token to c.
func clientCredentialsToken(t testing.TB, p *Provider, c testClient) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	w := httptest.NewRecorder()
	p.Token(w, req)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.AccessToken == "" {
		t.Fatalf("client_credentials: %d %s", w.Code, w.Body.String())
	}
	return out.AccessToken
}

// TestValidateAccessTokenReportsResourceServer (black-box review of
// issue 10, medium: /v1/keys/verify only for resource servers):
// TokenInfo.ResourceServer is set for a client_credentials token of a
// client flagged resource_server, as the client is now, and for no other
// token; the client is looked up only for client_credentials tokens; a
// token of a deleted client is invalid.
func TestValidateAccessTokenReportsResourceServer(t *testing.T) {
	var lookups *clientLookups
	p, db := newTestProviderOn(t, func(db *storage.DB) Backend { lookups = &clientLookups{DB: db}; return lookups })
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	plain := registerClient(t, p, db, ClientSpec{Name: "Service", GrantTypes: []string{"client_credentials"}})
	app := registerClient(t, p, db, ClientSpec{Name: "RS app", GrantTypes: []string{"authorization_code", "refresh_token"}, ResourceServer: true})
	rsTok, plainTok := clientCredentialsToken(t, p, rs), clientCredentialsToken(t, p, plain)
	personTok := str(tokens(t, p, app, "alice", "openid users:read"), "access_token")
	keyTok, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "k1", UserID: "alice", Scopes: []string{"keys:verify"}})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, token string
		want        bool
		lookups     int32
	}{
		{"resource server's client_credentials token", rsTok, true, 1},
		{"another client's client_credentials token", plainTok, false, 1},
		{"a person's token of a resource-server client", personTok, false, 0},
		{"a token exchanged from an API key", keyTok, false, 0},
	} {
		before := lookups.n.Load()
		info, err := p.ValidateAccessToken(t.Context(), tc.token)
		if err != nil || info.ResourceServer != tc.want {
			t.Errorf("%s: %+v %v, want ResourceServer=%v", tc.name, info, err, tc.want)
			continue
		}
		if n := lookups.n.Load() - before; n != tc.lookups {
			t.Errorf("%s: %d client lookups, want %d", tc.name, n, tc.lookups)
		}
	}

	if err := db.DeleteClient(t.Context(), rs.ID); err != nil {
		t.Fatal(err)
	}
	if info, err := p.ValidateAccessToken(t.Context(), rsTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of a deleted resource server: %+v %v, want ErrInvalidToken", info, err)
	}
}
