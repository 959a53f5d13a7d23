package storagetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// The records as they were when GORM AutoMigrate created the schema, before
// versioned migrations (migration 0001 is exactly their schema). Frozen
// copies, so the "old database" fixture stays what released versions
// created even after the models in storage change.
type (
	v1User struct {
		ID                string `gorm:"primaryKey;size:64"`
		Username          string `gorm:"uniqueIndex;size:64;not null"`
		Email             string `gorm:"size:254"`
		Name              string `gorm:"size:200"`
		PasswordHash      string `gorm:"not null"`
		Admin             bool   `gorm:"not null;default:false"`
		SessionsNotBefore *time.Time
		CreatedAt         time.Time `gorm:"not null"`
		UpdatedAt         time.Time `gorm:"not null"`
	}
	v1Client struct {
		ID                      string    `gorm:"primaryKey;size:64"`
		SecretDigest            []byte    `gorm:"size:64"`
		SecretVersion           int       `gorm:"not null;default:0"`
		Name                    string    `gorm:"size:200;not null"`
		OwnerID                 string    `gorm:"index;size:64"`
		RedirectURIs            []string  `gorm:"serializer:json"`
		GrantTypes              []string  `gorm:"serializer:json"`
		ResponseTypes           []string  `gorm:"serializer:json"`
		Scopes                  []string  `gorm:"serializer:json"`
		Audience                []string  `gorm:"serializer:json"`
		Public                  bool      `gorm:"not null;default:false"`
		Tier                    string    `gorm:"size:32"`
		TokenEndpointAuthMethod string    `gorm:"size:32"`
		LogoURI                 string    `gorm:"size:2000"`
		ClientURI               string    `gorm:"size:2000"`
		CreatedAt               time.Time `gorm:"not null"`
		UpdatedAt               time.Time `gorm:"not null"`
	}
	v1Request struct {
		Kind            string    `gorm:"primaryKey;size:16"`
		Signature       string    `gorm:"primaryKey;size:128"`
		RequestID       string    `gorm:"index;size:64;not null"`
		ClientID        string    `gorm:"index;size:64;not null"`
		Subject         string    `gorm:"index;size:64"`
		AccessSignature string    `gorm:"size:128"`
		Active          bool      `gorm:"not null"`
		RequestedAt     time.Time `gorm:"not null"`
		ExpiresAt       time.Time `gorm:"index;not null"`
		Data            []byte    `gorm:"not null"`
	}
	v1Consent struct {
		UserID    string    `gorm:"primaryKey;size:64"`
		ClientID  string    `gorm:"primaryKey;size:64;index"`
		Scopes    []string  `gorm:"serializer:json"`
		CreatedAt time.Time `gorm:"not null"`
		UpdatedAt time.Time `gorm:"not null"`
	}
	v1UsedJTI struct {
		JTI       string    `gorm:"primaryKey;size:128"`
		ExpiresAt time.Time `gorm:"index;not null"`
	}
	v1APIKey struct {
		ID            string   `gorm:"primaryKey;size:64"`
		UserID        string   `gorm:"size:64;not null;uniqueIndex:idx_api_keys_user_handle,priority:1"`
		Handle        string   `gorm:"size:64;not null;uniqueIndex:idx_api_keys_user_handle,priority:2"`
		Alias         string   `gorm:"size:200"`
		Display       string   `gorm:"size:64;not null"`
		Environment   string   `gorm:"size:8;not null"`
		Tier          string   `gorm:"size:32;not null"`
		Scopes        []string `gorm:"serializer:json"`
		Digest        []byte   `gorm:"size:32;not null;uniqueIndex"`
		PepperVersion int      `gorm:"not null"`
		Sealed        []byte
		RotatedFrom   string     `gorm:"size:64"`
		CreatedAt     time.Time  `gorm:"not null"`
		UpdatedAt     time.Time  `gorm:"not null"`
		ExpiresAt     *time.Time `gorm:"index"`
		RevokedAt     *time.Time
		LastUsedAt    *time.Time
		UsageCount    int64 `gorm:"not null;default:0"`
	}
	v1KeyEvent struct {
		ID     uint64    `gorm:"primaryKey;autoIncrement"`
		KeyID  string    `gorm:"size:64;not null;index"`
		UserID string    `gorm:"size:64;not null;index"`
		Type   string    `gorm:"size:32;not null"`
		IP     string    `gorm:"size:64"`
		Detail string    `gorm:"size:500"`
		At     time.Time `gorm:"not null;index"`
	}
)

func (v1User) TableName() string     { return "users" }
func (v1Client) TableName() string   { return "clients" }
func (v1Request) TableName() string  { return "requests" }
func (v1Consent) TableName() string  { return "consents" }
func (v1UsedJTI) TableName() string  { return "used_jtis" }
func (v1APIKey) TableName() string   { return "api_keys" }
func (v1KeyEvent) TableName() string { return "key_events" }

// testUpgradeInPlace builds a database the way Latchkey did before
// versioned migrations (GORM AutoMigrate, no schema_migrations) with rows
// in it, then migrates it: the rows survive and read back through the
// store, every version is recorded, a second run is a no-op, and the
// schema ends up the same as a database created by the migrations.
func testUpgradeInPlace(t *testing.T, ctx context.Context, fresh Fresh) {
	db := fresh(t)()
	old := db.Writer().WithContext(ctx)
	must(t, old.AutoMigrate(&v1User{}, &v1Client{}, &v1Request{}, &v1Consent{}, &v1UsedJTI{}, &v1APIKey{}, &v1KeyEvent{}),
		"AutoMigrate of the pre-migration models")
	now := time.Now().UTC().Truncate(time.Second)
	digest := bytes.Repeat([]byte{7}, 32)
	for what, row := range map[string]any{
		"user": &v1User{ID: "u1", Username: "alice", PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now},
		"client": &v1Client{ID: "c1", Name: "App", OwnerID: "u1", RedirectURIs: []string{"https://app.example.test/cb"},
			SecretDigest: []byte{1, 2, 3}, CreatedAt: now, UpdatedAt: now},
		"api key": &v1APIKey{ID: "k1", UserID: "u1", Handle: "ci", Display: "lk_live_abcd", Environment: "live", Tier: "free",
			Scopes: []string{"keys:read"}, Digest: digest, PepperVersion: 1, CreatedAt: now, UpdatedAt: now},
		"request": &v1Request{Kind: string(storage.KindAccess), Signature: "sig1", RequestID: "g1", ClientID: "c1", Subject: "u1",
			Active: true, RequestedAt: now, ExpiresAt: now.Add(time.Hour), Data: []byte(`{"x":1}`)},
		"key event": &v1KeyEvent{KeyID: "k1", UserID: "u1", Type: "created", At: now},
	} {
		must(t, old.Create(row).Error, "insert "+what)
	}

	pending, err := db.MigrationStatus(ctx)
	must(t, err, "status before")
	if v := storage.CurrentVersion(pending); v != 0 {
		t.Fatalf("an AutoMigrate-era database reports version %d, want 0", v)
	}
	applied, err := db.ApplyMigrations(ctx)
	must(t, err, "ApplyMigrations on the old database")
	if got, want := versions(applied), versions(pending); !slices.Equal(got, want) {
		t.Fatalf("applied %v, want every version %v", got, want)
	}

	u, err := db.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	c, err := db.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	k, err := db.GetAPIKeyByDigest(ctx, digest)
	must(t, err, "GetAPIKeyByDigest")
	r, err := db.GetRequest(ctx, storage.KindAccess, "sig1")
	must(t, err, "GetRequest")
	if u.Username != "alice" || c.Name != "App" || !bytes.Equal(c.SecretDigest, []byte{1, 2, 3}) || k.Handle != "ci" ||
		string(r.Data) != `{"x":1}` || r.Subject != "u1" {
		t.Errorf("rows changed by the upgrade: %+v %+v %+v %+v", u, c, k, r)
	}
	wantStrings(t, "client redirect URIs", c.RedirectURIs, []string{"https://app.example.test/cb"})
	// The key_events sequence carries on after the existing row.
	must(t, db.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: "updated"}), "AddKeyEvent after upgrade")
	events, err := db.ListKeyEvents(ctx, "k1", 10)
	must(t, err, "ListKeyEvents")
	if len(events) != 2 || events[0].ID == events[1].ID {
		t.Errorf("key events after upgrade: %+v", events)
	}

	status, err := db.MigrationStatus(ctx)
	must(t, err, "status after")
	for _, m := range status {
		if !m.Applied() {
			t.Errorf("%s not recorded after the upgrade", m)
		}
	}
	again, err := db.ApplyMigrations(ctx)
	must(t, err, "second ApplyMigrations")
	if len(again) != 0 {
		t.Errorf("second run applied %v, want nothing", again)
	}

	created := fresh(t)()
	must(t, created.Migrate(ctx), "Migrate a new database")
	if diff := diffSchemas("upgraded", describeSchema(t, ctx, db.Writer()), "new", describeSchema(t, ctx, created.Writer())); diff != "" {
		t.Errorf("an upgraded database and a new one have different schemas:\n%s", diff)
	}
}
