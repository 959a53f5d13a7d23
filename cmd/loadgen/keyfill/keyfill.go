// Package keyfill bulk-loads API keys with real digests into a store, for
// benchmarks that compare verification cost at different numbers of stored
// keys (1,000 against 1,000,000). Each key is made the way keys.Service
// makes one (format, display, HMAC-SHA256 digest under the pepper and its
// version); only the per-row work of Create is skipped: rows go in as
// multi-row INSERTs, many to a transaction. It is benchmark support only:
// it lives beside cmd/loadgen, its main user, and is not an internal package
// of it because the keys package's stored-key benchmark imports it too.
package keyfill

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Spec says what to load.
type Spec struct {
	// N is how many keys to insert.
	N int
	// UserID owns every key; handles are "fill-" + HandleSuffix + a
	// 9-digit number, so several fills for one user need different suffixes.
	UserID       string
	HandleSuffix string
	// Tier is every key's rate-limit tier (default "free").
	Tier string
	// Scopes are every key's scopes.
	Scopes []string
	// OrgIDs, when set, bind the keys to these organizations round robin
	// (personal organization keys of UserID, who must be a member).
	OrgIDs []string
	Format keys.Format
	Hasher *secret.Hasher
	// Sample is how many plain keys to return, chosen uniformly at random
	// among the N, so callers can present keys from the whole stored set
	// without holding all of them.
	Sample int
	// RowsPerInsert and RowsPerTx bound one INSERT statement and one
	// transaction (defaults 500 and 10,000; SQLite allows 32,766 bound
	// variables per statement, PostgreSQL 65,535).
	RowsPerInsert, RowsPerTx int
	// Now stamps created_at (default time.Now).
	Now func() time.Time
}

// ErrSpec reports an unusable Spec.
var ErrSpec = errors.New("keyfill: invalid spec")

// Fill inserts spec.N keys into db and returns up to spec.Sample of their
// plain values.
//
// The keys are generated first and inserted in digest order, with time-
// ordered (version 7) ids and zero-padded handles, so every index on the
// table grows at its end: a million keys load in seconds rather than the
// minutes random-order inserts take (each transaction would rewrite most
// pages of the digest index). The indexes come out densely packed instead
// of the ~70 % fill organic growth leaves; lookups walk the same kind of
// B-tree either way. Every key is stored as used once (last_used_at set),
// as most keys of a long-running deployment are, so the first usage flush
// after the fill does not grow every row it touches.
func Fill(ctx context.Context, db *storage.DB, spec Spec) ([]string, error) {
	if spec.N < 0 || spec.UserID == "" || spec.Hasher == nil || spec.Format.Prefix() == "" {
		return nil, fmt.Errorf("%w: need N >= 0, a user id, a hasher and a format", ErrSpec)
	}
	if spec.Tier == "" {
		spec.Tier = "free"
	}
	if spec.RowsPerInsert <= 0 {
		spec.RowsPerInsert = 500
	}
	if spec.RowsPerTx <= 0 {
		spec.RowsPerTx = 10_000
	}
	if spec.Now == nil {
		spec.Now = time.Now
	}
	type entry struct {
		digest  [32]byte
		display string
		version int
	}
	// Which keys to return, chosen up front so generation can run on
	// every core.
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	picked := map[int]int{} // key index -> position in sample + 1
	if spec.Sample >= spec.N {
		for i := range spec.N {
			picked[i] = i + 1
		}
	}
	for len(picked) < min(spec.Sample, spec.N) {
		if i := rng.IntN(spec.N); picked[i] == 0 {
			picked[i] = len(picked) + 1
		}
	}
	sample := make([]string, len(picked))
	entries := make([]entry, spec.N)
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < spec.N && errs[w] == nil; i += workers {
				plain, err := spec.Format.New(keys.EnvLive)
				if err != nil {
					errs[w] = err
					return
				}
				p, err := spec.Format.Parse(plain)
				if err != nil {
					errs[w] = err
					return
				}
				d, v := spec.Hasher.Digest([]byte(plain))
				if len(d) != len(entries[i].digest) {
					errs[w] = fmt.Errorf("%w: digest of %d bytes", ErrSpec, len(d))
					return
				}
				copy(entries[i].digest[:], d)
				entries[i].display, entries[i].version = spec.Format.Display(p), v
				if pos := picked[i]; pos > 0 { // read-only after the loop above
					sample[pos-1] = plain
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.digest[:], b.digest[:]) })

	now := spec.Now().UTC()
	rows := make([]storage.APIKey, 0, min(spec.RowsPerTx, spec.N))
	for done := 0; done < spec.N; {
		rows = rows[:0]
		for ; len(rows) < spec.RowsPerTx && done < spec.N; done++ {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, err
			}
			e := &entries[done]
			org := ""
			if len(spec.OrgIDs) > 0 {
				org = spec.OrgIDs[done%len(spec.OrgIDs)]
			}
			rows = append(rows, storage.APIKey{OrgID: org,
				ID: id.String(), UserID: spec.UserID, Handle: fmt.Sprintf("fill-%s%09d", spec.HandleSuffix, done),
				Display: e.display, Environment: keys.EnvLive, Tier: spec.Tier, Scopes: spec.Scopes,
				Digest: e.digest[:], PepperVersion: e.version, CreatedAt: now, UpdatedAt: now,
				LastUsedAt: &now, UsageCount: 1,
			})
		}
		if err := insert(ctx, db, rows, spec.RowsPerInsert); err != nil {
			return nil, fmt.Errorf("keyfill: insert: %w", err)
		}
	}
	return sample, nil
}

// insert writes rows in one transaction, per rows per INSERT. GORM builds
// each statement from the storage model (so the columns follow the model)
// without running it; the statement is prepared once and reused, since
// every full batch has the same SQL text and parsing a 500-row INSERT
// costs as much as running it.
func insert(ctx context.Context, db *storage.DB, rows []storage.APIKey, per int) error {
	return db.Writer().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		prepared := map[string]*sql.Stmt{}
		defer func() {
			for _, st := range prepared {
				_ = st.Close()
			}
		}()
		for off := 0; off < len(rows); off += per {
			batch := rows[off:min(off+per, len(rows))]
			built := tx.Session(&gorm.Session{DryRun: true}).Create(&batch).Statement
			if built.Error != nil {
				return built.Error
			}
			q := built.SQL.String()
			st := prepared[q]
			if st == nil {
				var err error
				if st, err = tx.Statement.ConnPool.PrepareContext(ctx, q); err != nil {
					return err
				}
				prepared[q] = st
			}
			if _, err := st.ExecContext(ctx, built.Vars...); err != nil {
				return err
			}
		}
		return nil
	})
}
