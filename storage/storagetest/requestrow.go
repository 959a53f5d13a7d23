package storagetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/latchkey/latchkey/storage"
)

// testRequestRowAsGORM checks that CreateRequest (a prepared INSERT, not
// GORM's Create) stores exactly what GORM's Create stored before it: the
// same column values and, on SQLite, the same storage classes — times as
// UTC text (compared as text by expiry checks and purges), booleans as
// integers, empty strings (not NULL) for an absent subject or access
// signature, the data as a blob.
func testRequestRowAsGORM(t *testing.T, ctx context.Context, s storage.Store) {
	w, ok := s.(interface{ Writer() *gorm.DB })
	if !ok {
		t.Skipf("%T has no writer handle", s)
	}
	db := w.Writer().WithContext(ctx)
	zone := time.FixedZone("UTC-7", -7*3600)
	for _, c := range []struct {
		name            string
		subject, access string
		active          bool
		data            []byte
	}{
		{"full", "alice", "at-sig", true, []byte("{\"a\":1,\"bin\":\"\x00\xff\"}")},
		{"empty strings, inactive", "", "", false, []byte{}},
	} {
		base := storage.Request{
			Kind: storage.KindRefresh, RequestID: "0190b6a4-7e1f-7c3a-9b1e-0123456789ab", ClientID: "c1",
			Subject: c.subject, AccessSignature: c.access, Active: c.active,
			// Not UTC and with nanoseconds: CreateRequest stores them in UTC.
			RequestedAt: time.Date(2026, 3, 1, 1, 2, 3, 123456789, zone),
			ExpiresAt:   time.Date(2026, 3, 1, 2, 2, 3, 5000, zone),
			Data:        c.data,
		}
		old, prepared := base, base
		old.Signature, prepared.Signature = "gorm-"+c.name, "prepared-"+c.name
		// What CreateRequest did before it used a prepared statement.
		old.RequestedAt, old.ExpiresAt = old.RequestedAt.UTC(), old.ExpiresAt.UTC()
		must(t, db.Create(&old).Error, "GORM Create")
		must(t, s.CreateRequest(ctx, &prepared), "CreateRequest")
		gotOld, gotNew := rawRequestRow(t, db, old.Signature), rawRequestRow(t, db, prepared.Signature)
		for i, col := range strings.Split(requestRowColumns, ", ") {
			if col == "signature" {
				continue
			}
			if gotOld[i] != gotNew[i] {
				t.Errorf("%s: column %s = %s, GORM's Create stored %s", c.name, col, gotNew[i], gotOld[i])
			}
		}
	}
}

const requestRowColumns = "kind, signature, request_id, client_id, subject, access_signature, active, requested_at, expires_at, data"

// rawRequestRow returns each column of the request row sig as the
// database holds it: storage class and value on SQLite, text on PostgreSQL.
func rawRequestRow(t *testing.T, db *gorm.DB, sig string) []string {
	t.Helper()
	var exprs []string
	for _, col := range strings.Split(requestRowColumns, ", ") {
		if db.Dialector.Name() == "sqlite" {
			exprs = append(exprs, fmt.Sprintf("typeof(%s) || ':' || quote(%s)", col, col))
		} else {
			exprs = append(exprs, fmt.Sprintf("COALESCE(CAST(%s AS TEXT), 'NULL')", col))
		}
	}
	row := db.Raw("SELECT "+strings.Join(exprs, ", ")+" FROM requests WHERE signature = ?", sig).Row()
	vals := make([]string, len(exprs))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	must(t, row.Scan(ptrs...), "read raw row "+sig)
	return vals
}
