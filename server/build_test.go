package server

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/storage/sqlite"
)

// TestPrepareSchemaLogs checks what start-up logs: pending migrations as a
// warning when auto_migrate is off, the applied ones and the version when
// it is on, and nothing once the database is up to date.
func TestPrepareSchemaLogs(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"), 1)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tests := []struct {
		name        string
		migrate     bool
		wantApplied bool
		wantLog     []string
	}{
		{"OffWarnsPending", false, false, []string{`"level":"WARN"`, `"pending":["0001_baseline"`, `"version":0`}},
		{"OnLogsApplied", true, true, []string{`"level":"INFO"`, `"msg":"database migrated"`, `"applied":["0001_baseline"`}},
		{"UpToDateIsQuiet", true, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			applied, version, err := prepareSchema(t.Context(), db, tc.migrate, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("prepareSchema: %v", err)
			}
			if got := len(applied) > 0; got != tc.wantApplied {
				t.Errorf("applied %v, want some: %v", applied, tc.wantApplied)
			}
			if tc.migrate && version < 1 {
				t.Errorf("version %d after migrating", version)
			}
			for _, want := range tc.wantLog {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log %q lacks %s", logs.String(), want)
				}
			}
			if tc.wantLog == nil && logs.Len() > 0 {
				t.Errorf("logged %q, want nothing", logs.String())
			}
		})
	}
}
