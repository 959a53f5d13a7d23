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
