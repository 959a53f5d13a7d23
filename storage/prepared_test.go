package storage

import (
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestCreateRequestColumns keeps CreateRequest's prepared INSERT in step
// with the Request model: the same columns, in field order (the order of
// CreateRequest's arguments).
func TestCreateRequestColumns(t *testing.T) {
	s, err := schema.Parse(&Request{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range s.Fields {
		if f.DBName != "" {
			cols = append(cols, f.DBName)
		}
	}
	if got, want := requestColumns, strings.Join(cols, ", "); got != want {
		t.Errorf("requestColumns = %q, the model has %q", got, want)
	}
}

func TestStatementTarget(t *testing.T) {
	for _, c := range []struct{ query, verb, table string }{
		{"INSERT INTO requests (kind) VALUES (?)", "INSERT", "requests"},
		{`insert into "requests" (kind) values ($1)`, "INSERT", "requests"},
		{"UPDATE `requests` SET active = false", "UPDATE", "requests"},
		{"DELETE FROM requests WHERE kind = ?", "DELETE", "requests"},
		{"SAVEPOINT latchkey_req", "SAVEPOINT", ""},
		{"  ", "", ""},
		{"DELETE", "DELETE", ""},
	} {
		if verb, table := statementTarget(c.query); verb != c.verb || table != c.table {
			t.Errorf("statementTarget(%q) = %q, %q; want %q, %q", c.query, verb, table, c.verb, c.table)
		}
	}
}
