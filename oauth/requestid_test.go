package oauth

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/storage"
)

// TestGrantRequestIDs pins what revocation by grant relies on: a new
// grant gets a time-ordered (v7) request ID, and every record of an
// authorization — code, PKCE and OpenID Connect sessions, the tokens of
// the exchange and of each refresh rotation — carries the ID the
// authorization got.
func TestGrantRequestIDs(t *testing.T) {
	p, db := newTestProvider(t)
	ctx := t.Context()
	ids := func() map[storage.Kind]map[string]bool {
		var rows []storage.Request
		if err := db.Writer().WithContext(ctx).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		out := map[storage.Kind]map[string]bool{}
		for _, r := range rows {
			if out[r.Kind] == nil {
				out[r.Kind] = map[string]bool{}
			}
			out[r.Kind][r.RequestID] = true
		}
		return out
	}
	wantV7 := func(what, id string) {
		t.Helper()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Errorf("%s request ID %q is not a UUIDv7 (%v)", what, id, err)
		}
	}

	cc := registerClient(t, p, db, ClientSpec{Name: "machine", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	if status, body, _ := post(t, p.Token, "/oauth/token", cc, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	for id := range ids()[storage.KindAccess] {
		wantV7("client_credentials access token", id)
	}

	app := registerClient(t, p, db, ClientSpec{})
	code, verifier := grantCode(t, p, app, "alice", "openid offline_access")
	before := ids()
	if len(before[storage.KindCode]) != 1 {
		t.Fatalf("code records: %v", before[storage.KindCode])
	}
	var grant string
	for id := range before[storage.KindCode] {
		grant = id
	}
	wantV7("authorization", grant)
	for _, k := range []storage.Kind{storage.KindPKCE, storage.KindOIDC} {
		if !before[k][grant] || len(before[k]) != 1 {
			t.Errorf("%s records carry %v, want the authorization's %s", k, before[k], grant)
		}
	}
	status, body := exchange(t, p, app, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	if status, body = refreshWith(t, p, app, str(body, "refresh_token"), ""); status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, body)
	}
	after := ids()
	if n := len(after[storage.KindRefresh]); n != 1 || !after[storage.KindRefresh][grant] {
		t.Errorf("refresh tokens carry %v, want only the authorization's %s", after[storage.KindRefresh], grant)
	}
	if n := len(after[storage.KindAccess]); n != 2 || !after[storage.KindAccess][grant] {
		t.Errorf("access tokens carry %v, want the client_credentials grant's and the authorization's %s", after[storage.KindAccess], grant)
	}
}
