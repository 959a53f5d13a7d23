package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// TestCheckpointerMovesTheLog: committed pages reach the database file
// without the writer checkpointing (its automatic checkpoint is set far
// above what this test writes): the checkpointer does it from its own
// connection within a few of its ticks. Without it the file would not grow
// until the log reached ~40 MB.
func TestCheckpointerMovesTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ck.db")
	db := open(t, path)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	time.Sleep(300 * time.Millisecond) // the migrations' pages are checkpointed
	before := size()
	for i := range 500 {
		r := &storage.Request{Kind: storage.KindAccess, Signature: fmt.Sprintf("sig-%d", i), RequestID: fmt.Sprintf("req-%d", i),
			ClientID: "c", Active: true, ExpiresAt: time.Now().Add(time.Hour), Data: []byte(strings.Repeat("d", 700))}
		if err := db.CreateRequest(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for size() < before+200_000 { // 500 rows of ~0.8 KB and their index entries
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes, %d before the writes: the log was not checkpointed", size(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Close stops the checkpointer (t.Cleanup); the file stays consistent.
}
