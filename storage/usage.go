package storage

import (
	"cmp"
	"context"
	"slices"
	"time"

	"gorm.io/gorm/clause"
)

// Usage subjects: whose requests a UsageCount counts.
const (
	// UsageKey counts the API requests made with an API key or with an
	// API token exchanged from it (SubjectID is the key id).
	UsageKey = "key"
	// UsageClient counts the API requests made with an OAuth client's
	// access tokens, the person's and its own (SubjectID is the client id).
	UsageClient = "client"
	// UsageInstance counts instance-wide events: sign-ins, failed
	// sign-ins, lock-outs (SubjectID is "").
	UsageInstance = "instance"
)

// Usage outcomes: what a UsageCount counts.
const (
	// OutcomeAllowed: an API request that passed its rate limit and its
	// scope check (whatever the handler answered then).
	OutcomeAllowed = "allowed"
	// OutcomeRateLimited: refused with 429 by the credential's rate limit.
	OutcomeRateLimited = "rate_limited"
	// OutcomeScopeDenied: refused with 403 because the credential lacks
	// the scope (or the kind: a client credential on a person's route)
	// the route needs.
	OutcomeScopeDenied = "scope_denied"
	// OutcomeRevoked: a revoked key presented (subject key).
	OutcomeRevoked = "revoked"
	// OutcomeSignIn, OutcomeSignInFailed and OutcomeLockout are the
	// instance's sign-ins (a session started), failed sign-ins (a wrong
	// password or second factor) and sign-ins refused while the
	// username, address or device was locked out (subject instance).
	OutcomeSignIn       = "signin"
	OutcomeSignInFailed = "signin_failed"
	OutcomeLockout      = "lockout"
)

// Usage buckets: the width of a UsageCount's time slot.
const (
	BucketHour = "hour"
	BucketDay  = "day"
)

// UsageCount is one slot of the usage aggregate: how many events with
// Outcome the subject had in the hour or day starting at BucketStart (UTC).
// It is written only by RecordUsage (the batched usage flush) and removed
// by PurgeUsage past its bucket's retention.
type UsageCount struct {
	Subject     string    `gorm:"primaryKey;size:8"`
	SubjectID   string    `gorm:"primaryKey;size:64"`
	Bucket      string    `gorm:"primaryKey;size:8;index:idx_usage_counts_bucket_start,priority:1"`
	BucketStart time.Time `gorm:"primaryKey;index:idx_usage_counts_bucket_start,priority:2"`
	Outcome     string    `gorm:"primaryKey;size:32"`
	Count       int64     `gorm:"not null;default:0"`
}

// UsageDelta is a count to add to the aggregate: n events of outcome for
// the subject at At (any moment of the hour; RecordUsage truncates it).
type UsageDelta struct {
	Subject, SubjectID, Outcome string
	At                          time.Time
	N                           int64
}

// UsageTotal is a subject's sum over a time range, for "busiest" lists.
type UsageTotal struct {
	SubjectID string
	Total     int64
}

// UsageStore holds the usage aggregate.
type UsageStore interface {
	// RecordUsage applies one flush in one transaction: the keys' use
	// counts and last-use times (as RecordKeyUsage) and each delta added
	// to its hour and to its day slot (UTC), created at zero when missing.
	// Concurrent flushes of several instances add up.
	RecordUsage(ctx context.Context, keys []KeyUsage, deltas []UsageDelta) error
	// UsageSeries returns the subject's slots of bucket whose start is in
	// [from, to), by start then outcome.
	UsageSeries(ctx context.Context, subject, subjectID, bucket string, from, to time.Time) ([]UsageCount, error)
	// UsageOutcomes sums the day slots in [from, to) of every subject of
	// kind subject by outcome (UsageCount.SubjectID and BucketStart left
	// zero), for instance-wide totals.
	UsageOutcomes(ctx context.Context, subject string, from, to time.Time) ([]UsageCount, error)
	// BusiestSubjects returns the subjects of kind subject with the most
	// events of the given outcomes (all outcomes when none) in the day
	// slots in [from, to), most first, at most limit.
	BusiestSubjects(ctx context.Context, subject string, from, to time.Time, limit int, outcomes ...string) ([]UsageTotal, error)
	// PurgeUsage deletes at most limit slots of bucket that start before
	// before and returns how many it removed.
	PurgeUsage(ctx context.Context, bucket string, before time.Time, limit int) (int64, error)
}

// BucketStart returns the start of the bucket holding t, in UTC.
func BucketStart(bucket string, t time.Time) time.Time {
	t = t.UTC()
	if bucket == BucketDay {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Hour)
}

// RecordUsage implements UsageStore: one UPDATE per key and one upsert
// per slot, all in one transaction.
func (d *DB) RecordUsage(ctx context.Context, keys []KeyUsage, deltas []UsageDelta) error {
	if len(keys) == 0 && len(deltas) == 0 {
		return nil
	}
	// Merge the deltas into slots first, so one slot is one upsert.
	slots := map[UsageCount]int64{}
	for _, u := range deltas {
		if u.N == 0 {
			continue
		}
		for _, b := range []string{BucketHour, BucketDay} {
			slots[UsageCount{Subject: u.Subject, SubjectID: u.SubjectID, Bucket: b, BucketStart: BucketStart(b, u.At), Outcome: u.Outcome}] += u.N
		}
	}
	rows := make([]UsageCount, 0, len(slots))
	for s, n := range slots {
		s.Count = n
		rows = append(rows, s)
	}
	// One order for every flush: two instances (or two flushes) upserting
	// the same slots in map order lock them in opposite orders, and
	// PostgreSQL aborts one with "deadlock detected".
	slices.SortFunc(rows, func(a, b UsageCount) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.SubjectID, b.SubjectID),
			cmp.Compare(a.Bucket, b.Bucket), a.BucketStart.Compare(b.BucketStart), cmp.Compare(a.Outcome, b.Outcome))
	})
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.recordKeyUsage(ctx, keys); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		// INSERT … ON CONFLICT (slot) DO UPDATE SET count = count + excluded.count,
		// the same statement on SQLite and PostgreSQL.
		return translate(d.w(ctx).Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "subject"}, {Name: "subject_id"}, {Name: "bucket"}, {Name: "bucket_start"}, {Name: "outcome"}},
			DoUpdates: clause.Set{{Column: clause.Column{Name: "count"},
				Value: clause.Expr{SQL: "usage_counts.count + excluded.count"}}},
		}).CreateInBatches(rows, 200).Error)
	})
}

// UsageSeries implements UsageStore.
func (d *DB) UsageSeries(ctx context.Context, subject, subjectID, bucket string, from, to time.Time) ([]UsageCount, error) {
	var out []UsageCount
	err := d.r(ctx).Where("subject = ? AND subject_id = ? AND bucket = ? AND bucket_start >= ? AND bucket_start < ?",
		subject, subjectID, bucket, from.UTC(), to.UTC()).
		Order("bucket_start, outcome").Find(&out).Error
	return out, translate(err)
}

// UsageOutcomes implements UsageStore.
func (d *DB) UsageOutcomes(ctx context.Context, subject string, from, to time.Time) ([]UsageCount, error) {
	var out []UsageCount
	err := d.r(ctx).Model(&UsageCount{}).Select("outcome, SUM(count) AS count").
		Where("subject = ? AND bucket = ? AND bucket_start >= ? AND bucket_start < ?", subject, BucketDay, from.UTC(), to.UTC()).
		Group("outcome").Order("outcome").Scan(&out).Error
	for i := range out {
		out[i].Subject, out[i].Bucket = subject, BucketDay
	}
	return out, translate(err)
}

// BusiestSubjects implements UsageStore.
func (d *DB) BusiestSubjects(ctx context.Context, subject string, from, to time.Time, limit int, outcomes ...string) ([]UsageTotal, error) {
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	q := d.r(ctx).Model(&UsageCount{}).Select("subject_id, SUM(count) AS total").
		Where("subject = ? AND bucket = ? AND bucket_start >= ? AND bucket_start < ?", subject, BucketDay, from.UTC(), to.UTC())
	if len(outcomes) > 0 {
		q = q.Where("outcome IN ?", outcomes)
	}
	var out []UsageTotal
	err := q.Group("subject_id").Order("total DESC, subject_id").Limit(limit).Scan(&out).Error
	return out, translate(err)
}

// PurgeUsage implements UsageStore: one select of slot keys on the
// (bucket, bucket_start) index and one delete, so no statement is long.
func (d *DB) PurgeUsage(ctx context.Context, bucket string, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = 500
	}
	before = before.UTC()
	var old []UsageCount
	if err := d.r(ctx).Select("subject", "subject_id", "bucket", "bucket_start", "outcome").
		Where("bucket = ? AND bucket_start < ?", bucket, before).Order("bucket_start").Limit(limit).Find(&old).Error; err != nil {
		return 0, translate(err)
	}
	if len(old) == 0 {
		return 0, nil
	}
	var n int64
	err := d.InTx(ctx, func(ctx context.Context) error {
		for _, s := range old {
			res := d.w(ctx).Where("subject = ? AND subject_id = ? AND bucket = ? AND bucket_start = ? AND outcome = ?",
				s.Subject, s.SubjectID, s.Bucket, s.BucketStart, s.Outcome).Delete(&UsageCount{})
			if res.Error != nil {
				return translate(res.Error)
			}
			n += res.RowsAffected
		}
		return nil
	})
	return n, err
}
