package storagetest

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// testUpgradeClientHardening migrates a database to the version before
// client_hardening, stores rows as the older release did, and applies the
// rest: existing public clients require PKCE and confidential ones do not
// (they keep working), no client becomes a resource server, and OpenID
// Connect sessions keyed by the raw authorization code are re-keyed by the
// code's signature, so no usable code stays in the database.
func testUpgradeClientHardening(t *testing.T, ctx context.Context, fresh Fresh) {
	db := fresh(t)()
	embedded, err := storage.MigrationFiles(db.Writer().Dialector.Name())
	must(t, err, "MigrationFiles")
	entries, err := fs.ReadDir(embedded, ".")
	must(t, err, "ReadDir")
	before := fstest.MapFS{}
	found := false
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "_client_hardening.sql") {
			found = true
			break
		}
		data, err := fs.ReadFile(embedded, e.Name())
		must(t, err, "ReadFile")
		before[e.Name()] = &fstest.MapFile{Data: data}
	}
	if !found {
		t.Fatal("no *_client_hardening.sql migration")
	}
	_, err = storage.NewMigrator(db.Writer(), before, time.Now).Apply(ctx)
	must(t, err, "Apply the migrations before client_hardening")

	w := db.Writer().WithContext(ctx)
	now := time.Now().UTC().Truncate(time.Second)
	for _, c := range []struct {
		id     string
		public bool
	}{{"conf", false}, {"pub", true}} {
		must(t, w.Exec(`INSERT INTO clients (id, name, public, secret_version, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)`,
			c.id, "Client "+c.id, c.public, now, now).Error, "insert client "+c.id)
	}
	const code = "ory_ac_KEYPART-x_y.SIGPART-a_b"
	for _, r := range []struct {
		kind storage.Kind
		sig  string
	}{{storage.KindOIDC, code}, {storage.KindCode, "SIGPART-a_b"}, {storage.KindPKCE, "SIGPART-a_b"}, {storage.KindAccess, "at.sig"}} {
		must(t, w.Exec(`INSERT INTO requests (kind, signature, request_id, client_id, subject, access_signature, active, requested_at, expires_at, data)
			VALUES (?, ?, 'g1', 'conf', 'u1', '', ?, ?, ?, ?)`, string(r.kind), r.sig, true, now, now.Add(time.Hour), []byte(`{}`)).Error,
			fmt.Sprintf("insert %s %s", r.kind, r.sig))
	}

	must(t, db.Migrate(ctx), "Migrate the rest")
	for _, c := range []struct {
		id   string
		pkce bool
	}{{"conf", false}, {"pub", true}} {
		got, err := db.GetClient(ctx, c.id)
		must(t, err, "GetClient "+c.id)
		if got.RequirePKCE != c.pkce || got.ResourceServer {
			t.Errorf("client %s after the upgrade: require_pkce=%v resource_server=%v, want %v and false",
				c.id, got.RequirePKCE, got.ResourceServer, c.pkce)
		}
	}
	wantState(t, ctx, db, storage.KindOIDC, "SIGPART-a_b", "active")
	wantState(t, ctx, db, storage.KindOIDC, code, "missing")
	wantState(t, ctx, db, storage.KindCode, "SIGPART-a_b", "active")
	wantState(t, ctx, db, storage.KindPKCE, "SIGPART-a_b", "active")
	wantState(t, ctx, db, storage.KindAccess, "at.sig", "active")
}
