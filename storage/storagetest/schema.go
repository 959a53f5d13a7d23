package storagetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/latchkey/latchkey/storage"
)

// testSchemaParity migrates one database with the SQL files and another
// with GORM AutoMigrate of storage.Models(), and requires the same tables,
// columns (type, nullability, default), primary keys and indexes (name,
// uniqueness, columns). It fails when a model changes without a migration.
func testSchemaParity(t *testing.T, ctx context.Context, fresh Fresh) {
	migrated := fresh(t)()
	must(t, migrated.Migrate(ctx), "Migrate")
	auto := fresh(t)()
	must(t, auto.Writer().WithContext(ctx).AutoMigrate(storage.Models()...), "AutoMigrate")

	dialect := migrated.Writer().Dialector.Name()
	if diff := diffSchemas("AutoMigrate", describeSchema(t, ctx, auto.Writer()),
		"migrations", describeSchema(t, ctx, migrated.Writer())); diff != "" {
		t.Fatalf("the SQL migrations and GORM AutoMigrate(storage.Models()...) disagree on %s:\n%s\n"+
			"A model changed without a migration: add storage/migrations/%s/NNNN_*.sql (and the same change for the other dialect), "+
			"or fix the model's gorm tags.", dialect, diff, dialect)
	}
}

// describeSchema lists the schema of db's current schema as sorted facts,
// one line each ("column users.email varchar(254) NULL default ”"),
// leaving out schema_migrations, SQLite's own tables and SQLite's
// invalidation_log (the invalidation bus of storage/sqlite, not a model:
// PostgreSQL carries the same messages by NOTIFY and has no such table).
func describeSchema(t *testing.T, ctx context.Context, db *gorm.DB) []string {
	t.Helper()
	db = db.WithContext(ctx)
	var facts []string
	switch name := db.Dialector.Name(); name {
	case "sqlite":
		facts = describeSQLite(t, db)
	case "postgres":
		facts = describePostgres(t, db)
	default:
		t.Fatalf("describeSchema: unknown dialect %q", name)
	}
	slices.Sort(facts)
	return facts
}

func describeSQLite(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var tables []struct{ Name, SQL string }
	must(t, db.Raw(`SELECT name, sql FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ('schema_migrations', 'invalidation_log')`).Scan(&tables).Error, "tables")
	var facts []string
	for _, tb := range tables {
		facts = append(facts, "table "+tb.Name)
		if strings.Contains(strings.ToUpper(tb.SQL), "AUTOINCREMENT") {
			facts = append(facts, "autoincrement "+tb.Name)
		}
		var cols []struct {
			Name, Type string
			NotNull    bool
			Dflt       *string
			PK         int
		}
		must(t, db.Raw(`SELECT name, type, "notnull" AS not_null, dflt_value AS dflt, pk FROM pragma_table_info(?)`, tb.Name).
			Scan(&cols).Error, "columns of "+tb.Name)
		pk := make([]string, len(cols))
		for _, c := range cols {
			facts = append(facts, columnFact(tb.Name, c.Name, strings.ToLower(c.Type), c.NotNull, c.Dflt))
			if c.PK > 0 {
				pk[c.PK-1] = c.Name
			}
		}
		facts = append(facts, fmt.Sprintf("primary key %s (%s)", tb.Name, strings.Join(slices.DeleteFunc(pk, func(s string) bool { return s == "" }), ", ")))
		var idx []struct {
			Name   string
			Unique bool
			Origin string
		}
		must(t, db.Raw(`SELECT name, "unique", origin FROM pragma_index_list(?)`, tb.Name).Scan(&idx).Error, "indexes of "+tb.Name)
		for _, ix := range idx {
			if ix.Origin == "pk" {
				continue // the primary key fact covers it
			}
			var cols []string
			must(t, db.Raw(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.Name).Scan(&cols).Error, "columns of "+ix.Name)
			facts = append(facts, indexFact(tb.Name, ix.Name, ix.Unique, cols))
		}
	}
	return facts
}

func describePostgres(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var tables []string
	must(t, db.Raw(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`).
		Scan(&tables).Error, "tables")
	var facts []string
	for _, tb := range tables {
		facts = append(facts, "table "+tb)
		var cols []struct {
			Name, Type string
			Length     *int
			Nullable   string
			Dflt       *string
		}
		must(t, db.Raw(`SELECT column_name AS name, data_type AS type, character_maximum_length AS length,
			is_nullable AS nullable, column_default AS dflt
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`, tb).
			Scan(&cols).Error, "columns of "+tb)
		for _, c := range cols {
			typ := c.Type
			if c.Length != nil {
				typ = fmt.Sprintf("%s(%d)", typ, *c.Length)
			}
			facts = append(facts, columnFact(tb, c.Name, typ, c.Nullable == "NO", c.Dflt))
		}
		var idx []struct {
			Name    string
			Unique  bool
			Primary bool
			Cols    string
		}
		must(t, db.Raw(`SELECT i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
			array_to_string(array(
				SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
				JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.ord), ', ') AS cols
			FROM pg_index x
			JOIN pg_class i ON i.oid = x.indexrelid
			JOIN pg_class r ON r.oid = x.indrelid
			JOIN pg_namespace n ON n.oid = r.relnamespace
			WHERE n.nspname = current_schema() AND r.relname = ?`, tb).Scan(&idx).Error, "indexes of "+tb)
		for _, ix := range idx {
			if ix.Primary {
				facts = append(facts, fmt.Sprintf("primary key %s (%s) named %s", tb, ix.Cols, ix.Name))
				continue
			}
			facts = append(facts, indexFact(tb, ix.Name, ix.Unique, strings.Split(ix.Cols, ", ")))
		}
	}
	return facts
}

func columnFact(table, name, typ string, notNull bool, dflt *string) string {
	null := "NULL"
	if notNull {
		null = "NOT NULL"
	}
	d := "no default"
	if dflt != nil {
		d = "default " + *dflt
	}
	return fmt.Sprintf("column %s.%s %s %s %s", table, name, typ, null, d)
}

func indexFact(table, name string, unique bool, cols []string) string {
	kind := "index"
	if unique {
		kind = "unique index"
	}
	return fmt.Sprintf("%s %s on %s (%s)", kind, name, table, strings.Join(cols, ", "))
}

// diffSchemas returns "" when a and b hold the same facts, otherwise one
// line per fact only one side has, labelled with that side's name.
func diffSchemas(aName string, a []string, bName string, b []string) string {
	var out strings.Builder
	for _, f := range a {
		if !slices.Contains(b, f) {
			fmt.Fprintf(&out, "  only in %s: %s\n", aName, f)
		}
	}
	for _, f := range b {
		if !slices.Contains(a, f) {
			fmt.Fprintf(&out, "  only in %s: %s\n", bName, f)
		}
	}
	return out.String()
}
