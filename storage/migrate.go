package storage

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migrationFiles holds the versioned schema of every dialect, one directory
// each: migrations/<dialect>/NNNN_name.sql.
//
//go:embed migrations
var migrationFiles embed.FS

// ErrMigrationChanged means a migration recorded as applied no longer has
// the checksum it was applied with: someone edited an applied migration
// instead of writing a new one.
var ErrMigrationChanged = errors.New("storage: applied migration was edited")

// Migration is one versioned schema change, a file NNNN_name.sql.
type Migration struct {
	// Version is the NNNN of the file name; versions run 1, 2, 3, … without gaps.
	Version int
	// Name is the rest of the file name, without ".sql".
	Name string
	// Checksum is the hex SHA-256 of the file, recorded when it is applied.
	Checksum string
	// AppliedAt is when the migration was applied; zero while it is pending.
	AppliedAt time.Time

	sql string
}

// String returns the file name without ".sql", e.g. "0001_baseline".
func (m Migration) String() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// Applied reports whether the migration is recorded in the database.
func (m Migration) Applied() bool { return !m.AppliedAt.IsZero() }

// CurrentVersion returns the highest applied version in a status list, 0
// for an empty database.
func CurrentVersion(status []Migration) int {
	v := 0
	for _, m := range status {
		if m.Applied() && m.Version > v {
			v = m.Version
		}
	}
	return v
}

// Migrator applies versioned SQL migrations from a file system to one
// database and records them in the table schema_migrations (version, name,
// checksum, applied_at).
//
// Every migration runs in its own transaction together with its
// schema_migrations row, so a failing migration leaves no trace and stays
// pending. On PostgreSQL each of those transactions first takes a
// transaction-level advisory lock keyed by the current schema, so
// instances starting at once apply each migration exactly once; on SQLite
// the database's single writer serialises them (the writer must begin
// transactions IMMEDIATE, as storage/sqlite does).
type Migrator struct {
	db   *gorm.DB
	fsys fs.FS
	now  func() time.Time
}

// NewMigrator returns a migrator applying the NNNN_name.sql files at the
// root of fsys (other files are ignored) to db. now stamps applied_at.
func NewMigrator(db *gorm.DB, fsys fs.FS, now func() time.Time) *Migrator {
	if now == nil {
		now = time.Now
	}
	return &Migrator{db: db, fsys: fsys, now: now}
}

// MigrationFiles returns the embedded migrations of a GORM dialect
// ("sqlite" or "postgres").
func MigrationFiles(dialect string) (fs.FS, error) {
	dirs, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("storage: embedded migrations: %w", err)
	}
	for _, d := range dirs {
		if d.IsDir() && d.Name() == dialect {
			return fs.Sub(migrationFiles, "migrations/"+dialect)
		}
	}
	return nil, fmt.Errorf("storage: no migrations for database dialect %q", dialect)
}

// migrator returns the migrator of the embedded files for the writer's dialect.
func (d *DB) migrator() (*Migrator, error) {
	files, err := MigrationFiles(d.writer.Dialector.Name())
	if err != nil {
		return nil, err
	}
	return NewMigrator(d.writer, files, d.now), nil
}

// Migrate applies every pending migration (see Migrator); it does nothing
// when the database is up to date.
func (d *DB) Migrate(ctx context.Context) error {
	_, err := d.ApplyMigrations(ctx)
	return err
}

// ApplyMigrations applies every pending migration and returns those this
// call applied, in order (none when another instance got there first).
func (d *DB) ApplyMigrations(ctx context.Context) ([]Migration, error) {
	m, err := d.migrator()
	if err != nil {
		return nil, err
	}
	return m.Apply(ctx)
}

// MigrationStatus lists every known migration, applied or pending, in
// version order; see Migrator.Status.
func (d *DB) MigrationStatus(ctx context.Context) ([]Migration, error) {
	m, err := d.migrator()
	if err != nil {
		return nil, err
	}
	return m.Status(ctx)
}

// Apply applies every pending migration, one transaction each, and returns
// those it applied in order. Before anything runs it refuses a broken file
// set (bad names, duplicate or missing versions), an applied migration
// whose file changed (ErrMigrationChanged) and a pending migration older
// than an applied one. Versions recorded in the database but unknown to
// the files (a newer release migrated it) are left alone.
func (m *Migrator) Apply(ctx context.Context) ([]Migration, error) {
	files, err := m.load()
	if err != nil {
		return nil, err
	}
	var applied []Migration
	for {
		var next *Migration
		err := m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := m.lock(tx); err != nil {
				return err
			}
			if err := tx.Exec(m.createTable()).Error; err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			recorded, err := m.recorded(tx)
			if err != nil {
				return err
			}
			if next, err = nextPending(files, recorded); err != nil || next == nil {
				return err
			}
			// database/sql directly: the file may hold several statements
			// and must not go through GORM's placeholder expansion.
			if _, err := tx.Statement.ConnPool.ExecContext(ctx, next.sql); err != nil {
				return fmt.Errorf("migration %s: %w", next, err)
			}
			next.AppliedAt = m.now().UTC()
			return tx.Exec("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
				next.Version, next.Name, next.Checksum, next.AppliedAt).Error
		})
		if err != nil {
			return applied, fmt.Errorf("storage: migrate: %w", err)
		}
		if next == nil {
			return applied, nil
		}
		applied = append(applied, *next)
	}
}

// Status lists every migration in the files, with AppliedAt set for those
// recorded in the database, plus any recorded version the files do not
// know (applied by a newer release), in version order. It changes nothing.
func (m *Migrator) Status(ctx context.Context) ([]Migration, error) {
	files, err := m.load()
	if err != nil {
		return nil, err
	}
	db := m.db.WithContext(ctx)
	if !db.Migrator().HasTable("schema_migrations") {
		return files, nil
	}
	recorded, err := m.recorded(db)
	if err != nil {
		return nil, fmt.Errorf("storage: migration status: %w", err)
	}
	out := files
	for i := range out {
		if r, ok := recorded[out[i].Version]; ok {
			out[i].AppliedAt = r.AppliedAt
		}
	}
	for v, r := range recorded {
		if v > len(files) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// migrationName is NNNN_name.sql: at least four digits, then a lower-case name.
var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9][a-z0-9_]*)\.sql$`)

// load reads and checks the migration files: versions must run 1, 2, 3, …
func (m *Migrator) load() ([]Migration, error) {
	entries, err := fs.ReadDir(m.fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("storage: read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		parts := migrationName.FindStringSubmatch(e.Name())
		if parts == nil {
			return nil, fmt.Errorf("storage: migration file %q: name must be NNNN_name.sql (digits, then lower-case letters, digits and _)", e.Name())
		}
		version, err := strconv.Atoi(parts[1])
		if err != nil || version < 1 {
			return nil, fmt.Errorf("storage: migration file %q: version must be a positive number", e.Name())
		}
		body, err := fs.ReadFile(m.fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("storage: read migration %q: %w", e.Name(), err)
		}
		if strings.TrimSpace(string(body)) == "" {
			return nil, fmt.Errorf("storage: migration file %q is empty", e.Name())
		}
		sum := sha256.Sum256(body)
		out = append(out, Migration{Version: version, Name: parts[2], Checksum: hex.EncodeToString(sum[:]), sql: string(body)})
	}
	if len(out) == 0 {
		return nil, errors.New("storage: no migration files found")
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, mg := range out {
		switch {
		case i > 0 && mg.Version == out[i-1].Version:
			return nil, fmt.Errorf("storage: migrations %s and %s share version %04d", out[i-1], mg, mg.Version)
		case mg.Version != i+1:
			return nil, fmt.Errorf("storage: migration %04d is missing (found %s next)", i+1, mg)
		}
	}
	return out, nil
}

// nextPending checks the recorded migrations against the files and returns
// the first pending one, or nil when the database is up to date.
func nextPending(files []Migration, recorded map[int]Migration) (*Migration, error) {
	latest := 0
	for v, r := range recorded {
		latest = max(latest, v)
		if v > len(files) {
			continue // applied by a newer release
		}
		if f := files[v-1]; f.Checksum != r.Checksum {
			return nil, fmt.Errorf("%w: %s was applied with checksum %s but the file now has %s; "+
				"put the change in a new migration and restore the applied one", ErrMigrationChanged, f, r.Checksum, f.Checksum)
		}
	}
	for i := range files {
		if _, ok := recorded[files[i].Version]; ok {
			continue
		}
		if files[i].Version < latest {
			return nil, fmt.Errorf("migration %s is pending but the later version %04d is already applied; migrations apply in order",
				files[i], latest)
		}
		next := files[i]
		return &next, nil
	}
	return nil, nil
}

// recorded reads schema_migrations.
func (m *Migrator) recorded(db *gorm.DB) (map[int]Migration, error) {
	var rows []struct {
		Version   int
		Name      string
		Checksum  string
		AppliedAt time.Time
	}
	if err := db.Raw("SELECT version, name, checksum, applied_at FROM schema_migrations").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	out := make(map[int]Migration, len(rows))
	for _, r := range rows {
		if r.Version < 1 {
			return nil, fmt.Errorf("schema_migrations holds invalid version %d", r.Version)
		}
		out[r.Version] = Migration{Version: r.Version, Name: r.Name, Checksum: r.Checksum, AppliedAt: r.AppliedAt}
	}
	return out, nil
}

// migrateLockClass is the first key of the PostgreSQL advisory lock taken
// while migrating ("LK"); the second is a hash of the schema, so instances
// sharing a schema serialise and other schemas do not wait.
const migrateLockClass = 0x4c4b

// lock serialises migrating transactions across instances. PostgreSQL
// releases the advisory lock at commit or rollback.
func (m *Migrator) lock(tx *gorm.DB) error {
	if m.db.Dialector.Name() != "postgres" {
		return nil // SQLite: the IMMEDIATE transaction holds the write lock
	}
	err := tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(coalesce(current_schema(), '')))", migrateLockClass).Error
	if err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	return nil
}

// createTable returns the DDL of schema_migrations for the dialect.
func (m *Migrator) createTable() string {
	if m.db.Dialector.Name() == "postgres" {
		return "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL)"
	}
	return "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at datetime NOT NULL)"
}
