package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Fresh creates an empty database for one test and returns a function that
// opens a new, unmigrated store on that same database, with its own
// connections, each call. The backend closes every store it opened and
// removes the database when t ends.
type Fresh func(t *testing.T) (open func() *storage.DB)

// RunMigrations runs the migration suite against a backend: the runner's
// rules with in-test migration files, then the embedded migrations (parity
// with GORM AutoMigrate, upgrading a database created before versioned
// migrations, several instances migrating at once).
func RunMigrations(t *testing.T, fresh Fresh) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, fresh Fresh)
	}{
		{"Runner", testRunner},
		{"Runner/AppliedAtAndChecksum", testRunnerRecords},
		{"Embedded/FreshDatabase", testEmbeddedFresh},
		{"Embedded/ParityWithAutoMigrate", testSchemaParity},
		{"Embedded/UpgradeInPlace", testUpgradeInPlace},
		{"Embedded/UpgradeClientHardening", testUpgradeClientHardening},
		{"Embedded/Concurrent", testMigrateConcurrent},
		{"Embedded/NextMigrationApplies", testNextMigration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
			t.Cleanup(cancel)
			tc.fn(t, ctx, fresh)
		})
	}
}

// Fake migrations, valid on every backend.
const (
	sqlA      = "CREATE TABLE mig_a (x integer NOT NULL);\nINSERT INTO mig_a (x) VALUES (1);\n"
	sqlAEdit  = "CREATE TABLE mig_a (x integer NOT NULL, y integer);\nINSERT INTO mig_a (x) VALUES (1);\n"
	sqlB      = "-- needs mig_a: proves version order\nCREATE TABLE mig_b (x integer NOT NULL);\nINSERT INTO mig_b (x) SELECT x + 1 FROM mig_a;\n"
	sqlC      = "CREATE TABLE mig_c (x integer);\n"
	sqlCFails = "CREATE TABLE mig_c (x integer);\nINSERT INTO mig_nosuch (x) VALUES (1);\n"
)

// migStep is one Apply of a runner test and what it must do.
type migStep struct {
	files fstest.MapFS
	// setup runs on the database before Apply.
	setup func(t *testing.T, ctx context.Context, db *storage.DB)
	// applied lists the versions this Apply must apply, error or not.
	applied []int
	// err, when set, is a substring of the error Apply must return;
	// errIs, when set, an error it must wrap.
	err   string
	errIs error
	// version is the database version afterwards.
	version int
	// tables must exist afterwards; absent must not.
	tables, absent []string
}

func files(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

func testRunner(t *testing.T, ctx context.Context, fresh Fresh) {
	tests := []struct {
		name  string
		steps []migStep
	}{
		{"AppliesInVersionOrder", []migStep{
			{files: files("0002_b.sql", sqlB, "0001_a.sql", sqlA), applied: []int{1, 2}, version: 2, tables: []string{"mig_a", "mig_b"}},
		}},
		{"SecondRunIsNoOp", []migStep{
			{files: files("0001_a.sql", sqlA, "0002_b.sql", sqlB), applied: []int{1, 2}, version: 2},
			{files: files("0001_a.sql", sqlA, "0002_b.sql", sqlB), applied: nil, version: 2},
		}},
		{"Version1UpgradesToLaterMigration", []migStep{
			{files: files("0001_a.sql", sqlA), applied: []int{1}, version: 1, absent: []string{"mig_b"}},
			{files: files("0001_a.sql", sqlA, "0002_b.sql", sqlB), applied: []int{2}, version: 2, tables: []string{"mig_b"}},
		}},
		{"OtherFilesIgnored", []migStep{
			{files: files("0001_a.sql", sqlA, "README.md", "not SQL", "notes.txt", "x"), applied: []int{1}, version: 1},
		}},
		{"GapRefusedBeforeAnythingRuns", []migStep{
			{files: files("0001_a.sql", sqlA, "0003_c.sql", sqlC), err: "migration 0002 is missing",
				absent: []string{"mig_a", "mig_c", "schema_migrations"}},
		}},
		{"FirstVersionMustBe1", []migStep{
			{files: files("0002_b.sql", sqlB), err: "migration 0001 is missing", absent: []string{"schema_migrations"}},
		}},
		{"DuplicateVersionRefused", []migStep{
			{files: files("0001_a.sql", sqlA, "0001_c.sql", sqlC), err: "share version 0001", absent: []string{"mig_a", "mig_c"}},
		}},
		{"BadFileNameRefused", []migStep{
			{files: files("1_a.sql", sqlA), err: "NNNN_name.sql", absent: []string{"mig_a"}},
		}},
		{"UpperCaseNameRefused", []migStep{
			{files: files("0001_Add.sql", sqlA), err: "NNNN_name.sql", absent: []string{"mig_a"}},
		}},
		{"EmptyFileRefused", []migStep{
			{files: files("0001_a.sql", " \n"), err: "is empty"},
		}},
		{"NoFilesRefused", []migStep{
			{files: files("README.md", "x"), err: "no migration files"},
		}},
		{"EditedAppliedMigrationRefused", []migStep{
			{files: files("0001_a.sql", sqlA), applied: []int{1}, version: 1},
			{files: files("0001_a.sql", sqlAEdit, "0002_b.sql", sqlB), errIs: storage.ErrMigrationChanged,
				err: "0001_a was applied with checksum", version: 1, absent: []string{"mig_b"}},
		}},
		{"FailingMigrationRollsBack", []migStep{
			{files: files("0001_a.sql", sqlA, "0002_c.sql", sqlCFails), applied: []int{1}, err: "migration 0002_c",
				version: 1, tables: []string{"mig_a"}, absent: []string{"mig_c"}},
			{files: files("0001_a.sql", sqlA, "0002_c.sql", sqlC), applied: []int{2}, version: 2, tables: []string{"mig_c"}},
		}},
		{"DatabaseAheadOfFilesIsLeftAlone", []migStep{
			{files: files("0001_a.sql", sqlA, "0002_b.sql", sqlB), applied: []int{1, 2}, version: 2},
			{files: files("0001_a.sql", sqlA), applied: nil, version: 2},
		}},
		{"PendingOlderThanAppliedRefused", []migStep{
			{files: files("0001_a.sql", sqlA), applied: []int{1}, version: 1},
			{files: files("0001_a.sql", sqlA, "0002_b.sql", sqlB, "0003_c.sql", sqlC),
				setup: func(t *testing.T, ctx context.Context, db *storage.DB) {
					// As if a branch's 0003 was applied before 0002 was merged.
					must(t, db.Writer().WithContext(ctx).Exec(
						"INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
						3, "c", checksumOf(t, sqlC), time.Now().UTC()).Error, "record 0003")
				},
				err: "0002_b is pending but the later version 0003 is already applied", version: 3, absent: []string{"mig_b"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := fresh(t)()
			for i, st := range tc.steps {
				if st.setup != nil {
					st.setup(t, ctx, db)
				}
				m := storage.NewMigrator(db.Writer(), st.files, time.Now)
				applied, err := m.Apply(ctx)
				switch {
				case st.err == "" && st.errIs == nil && err != nil:
					t.Fatalf("step %d: Apply: %v", i, err)
				case st.err != "" && (err == nil || !strings.Contains(err.Error(), st.err)):
					t.Fatalf("step %d: Apply error = %v, want one containing %q", i, err, st.err)
				case st.errIs != nil && !errors.Is(err, st.errIs):
					t.Fatalf("step %d: Apply error = %v, want errors.Is %v", i, err, st.errIs)
				}
				if got := versions(applied); !slices.Equal(got, st.applied) {
					t.Errorf("step %d: applied %v, want %v", i, got, st.applied)
				}
				if st.version > 0 {
					status, err := m.Status(ctx)
					must(t, err, "Status")
					if got := storage.CurrentVersion(status); got != st.version {
						t.Errorf("step %d: version %d, want %d (status %v)", i, got, st.version, status)
					}
				}
				for _, name := range st.tables {
					if !db.Writer().WithContext(ctx).Migrator().HasTable(name) {
						t.Errorf("step %d: table %s missing", i, name)
					}
				}
				for _, name := range st.absent {
					if db.Writer().WithContext(ctx).Migrator().HasTable(name) {
						t.Errorf("step %d: table %s exists, want none", i, name)
					}
				}
			}
		})
	}
}

// testRunnerRecords checks what schema_migrations records: the injected
// clock's time, the file's checksum and name, and that Status reports a
// pending migration as not applied.
func testRunnerRecords(t *testing.T, ctx context.Context, fresh Fresh) {
	db := fresh(t)()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fs := files("0001_a.sql", sqlA)
	_, err := storage.NewMigrator(db.Writer(), fs, func() time.Time { return at }).Apply(ctx)
	must(t, err, "Apply")
	fs["0002_b.sql"] = &fstest.MapFile{Data: []byte(sqlB)}
	status, err := storage.NewMigrator(db.Writer(), fs, time.Now).Status(ctx)
	must(t, err, "Status")
	if len(status) != 2 {
		t.Fatalf("status = %v, want 2 entries", status)
	}
	a, b := status[0], status[1]
	if a.String() != "0001_a" || !a.Applied() || !a.AppliedAt.Equal(at) || a.Checksum != checksumOf(t, sqlA) {
		t.Errorf("0001: %+v, want applied at %v with checksum %s", a, at, checksumOf(t, sqlA))
	}
	if b.String() != "0002_b" || b.Applied() || b.Checksum != checksumOf(t, sqlB) {
		t.Errorf("0002: %+v, want pending", b)
	}
	if v := storage.CurrentVersion(status); v != 1 {
		t.Errorf("version %d, want 1", v)
	}
}

// testEmbeddedFresh migrates an empty database with the embedded files: all
// versions apply, the store works, and a second run applies nothing.
func testEmbeddedFresh(t *testing.T, ctx context.Context, fresh Fresh) {
	db := fresh(t)()
	before, err := db.MigrationStatus(ctx)
	must(t, err, "status before")
	if len(before) == 0 || storage.CurrentVersion(before) != 0 {
		t.Fatalf("status of an empty database = %v, want every migration pending", before)
	}
	applied, err := db.ApplyMigrations(ctx)
	must(t, err, "ApplyMigrations")
	if got, want := versions(applied), versions(before); !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
	after, err := db.MigrationStatus(ctx)
	must(t, err, "status after")
	for _, m := range after {
		if !m.Applied() {
			t.Errorf("%s not applied", m)
		}
	}
	if v := storage.CurrentVersion(after); v != len(before) {
		t.Errorf("version %d, want %d", v, len(before))
	}
	again, err := db.ApplyMigrations(ctx)
	must(t, err, "second ApplyMigrations")
	if len(again) != 0 {
		t.Errorf("second run applied %v, want nothing", again)
	}
	must(t, db.CreateUser(ctx, newUser("u1")), "CreateUser after migrating")
}

// testMigrateConcurrent starts several stores on one empty database at once,
// as instances starting together do: every Migrate succeeds and every
// version is applied by exactly one of them.
func testMigrateConcurrent(t *testing.T, ctx context.Context, fresh Fresh) {
	const n = 6
	open := fresh(t)
	dbs := make([]*storage.DB, n)
	for i := range dbs {
		dbs[i] = open()
	}
	results := make([][]storage.Migration, n)
	errs := runConcurrently(n, func(i int) error {
		var err error
		results[i], err = dbs[i].ApplyMigrations(ctx)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	status, err := dbs[0].MigrationStatus(ctx)
	must(t, err, "status")
	count := map[int]int{}
	for _, r := range results {
		for _, m := range r {
			count[m.Version]++
		}
	}
	for _, m := range status {
		if !m.Applied() || count[m.Version] != 1 {
			t.Errorf("%s: applied=%v by %d instances, want applied by exactly 1", m, m.Applied(), count[m.Version])
		}
	}
	var rows int64
	must(t, dbs[0].Writer().WithContext(ctx).Table("schema_migrations").Count(&rows).Error, "count")
	if int(rows) != len(status) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(status))
	}
}

// testNextMigration adds a migration after the embedded ones, the way the
// next release will: a migrated database applies just that one and keeps
// its rows.
func testNextMigration(t *testing.T, ctx context.Context, fresh Fresh) {
	db := fresh(t)()
	must(t, db.Migrate(ctx), "Migrate")
	must(t, db.CreateUser(ctx, newUser("u1")), "CreateUser")
	embedded, err := storage.MigrationFiles(db.Writer().Dialector.Name())
	must(t, err, "MigrationFiles")
	next := fstest.MapFS{}
	entries, err := fs.ReadDir(embedded, ".")
	must(t, err, "ReadDir")
	for _, e := range entries {
		data, err := fs.ReadFile(embedded, e.Name())
		must(t, err, "ReadFile")
		next[e.Name()] = &fstest.MapFile{Data: data}
	}
	version := len(entries) + 1
	next[fmt.Sprintf("%04d_users_email.sql", version)] = &fstest.MapFile{Data: []byte("CREATE INDEX idx_test_users_email ON users (email);\n")}

	applied, err := storage.NewMigrator(db.Writer(), next, time.Now).Apply(ctx)
	must(t, err, "Apply with the next migration")
	if got := versions(applied); !slices.Equal(got, []int{version}) {
		t.Fatalf("applied %v, want [%d]", got, version)
	}
	if !slices.Contains(describeSchema(t, ctx, db.Writer()), "index idx_test_users_email on users (email)") {
		t.Error("the next migration's index is missing")
	}
	if _, err := db.GetUser(ctx, "u1"); err != nil {
		t.Errorf("GetUser after the next migration: %v", err)
	}
	status, err := db.MigrationStatus(ctx)
	must(t, err, "MigrationStatus")
	if v := storage.CurrentVersion(status); v != version {
		t.Errorf("version %d, want %d (the database is ahead of the embedded files)", v, version)
	}
}

func versions(ms []storage.Migration) []int {
	var out []int
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}

// checksumOf is the hex SHA-256 of a file's content, as schema_migrations
// records it.
func checksumOf(t *testing.T, content string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}
