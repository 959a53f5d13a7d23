package storage_test

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// The migration runner and the embedded files are exercised against real
// databases by storagetest.RunMigrations (run by storage/sqlite and
// storage/postgres); these tests need no database.

// TestEmbeddedMigrationsMatchAcrossDialects requires every migration to
// exist for both dialects under the same version and name, so a change is
// never written for one backend only.
func TestEmbeddedMigrationsMatchAcrossDialects(t *testing.T) {
	names := map[string][]string{}
	for _, dialect := range []string{"sqlite", "postgres"} {
		fsys, err := storage.MigrationFiles(dialect)
		if err != nil {
			t.Fatalf("MigrationFiles(%q): %v", dialect, err)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatalf("read %s migrations: %v", dialect, err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				names[dialect] = append(names[dialect], e.Name())
			}
		}
		if len(names[dialect]) == 0 || names[dialect][0] != "0001_baseline.sql" {
			t.Errorf("%s migrations = %q, want 0001_baseline.sql first", dialect, names[dialect])
		}
	}
	if !slices.Equal(names["sqlite"], names["postgres"]) {
		t.Errorf("migrations differ between dialects:\n  sqlite:   %q\n  postgres: %q", names["sqlite"], names["postgres"])
	}
}

func TestMigrationFilesUnknownDialect(t *testing.T) {
	for _, dialect := range []string{"mysql", "", "../migrations", "sqlite/.."} {
		if _, err := storage.MigrationFiles(dialect); err == nil {
			t.Errorf("MigrationFiles(%q): no error, want one", dialect)
		}
	}
}

func TestCurrentVersion(t *testing.T) {
	applied := storage.Migration{Version: 1, Name: "baseline", AppliedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		name   string
		status []storage.Migration
		want   int
	}{
		{"Empty", nil, 0},
		{"NothingApplied", []storage.Migration{{Version: 1}, {Version: 2}}, 0},
		{"HighestApplied", []storage.Migration{applied, {Version: 2}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := storage.CurrentVersion(tc.status); got != tc.want {
				t.Errorf("CurrentVersion = %d, want %d", got, tc.want)
			}
		})
	}
	if s := applied.String(); s != "0001_baseline" {
		t.Errorf("String() = %q, want 0001_baseline", s)
	}
}
