package storage

import (
	"context"
	"time"
)

// Purged counts the rows a purge removed, by table: the request kinds are
// reported as "authorization_codes", "access_tokens", "refresh_tokens",
// "pkce_requests", "oidc_sessions" and "par_requests" (all rows of the
// requests table), JTIs as "used_jtis", audit rows as "key_events", mail links as
// "email_tokens", browser session records as "web_sessions", device
// authorization requests (RFC 8628) as "device_authorizations", client
// secrets past their rotation grace (cleared, not deleted: the client
// stays) as "client_previous_secrets".
type Purged map[string]int64

// Total is the number of rows removed in all.
func (p Purged) Total() int64 {
	var n int64
	for _, v := range p {
		n += v
	}
	return n
}

// Add adds q's counts to p.
func (p Purged) Add(q Purged) {
	for k, v := range q {
		p[k] += v
	}
}

// PurgeTable names the rows of a request kind in Purged.
func PurgeTable(k Kind) string {
	switch k {
	case KindCode:
		return "authorization_codes"
	case KindAccess:
		return "access_tokens"
	case KindRefresh:
		return "refresh_tokens"
	case KindPKCE:
		return "pkce_requests"
	case KindOIDC:
		return "oidc_sessions"
	case KindPAR:
		return "par_requests"
	}
	return "requests_" + string(k)
}

// PurgeExpired implements Store. It deletes in batches of at most limit rows
// per table so no statement holds locks for long, and clears previous
// client secrets whose grace ended (RotateSecret).
func (d *DB) PurgeExpired(ctx context.Context, cutoff time.Time, limit int) (Purged, error) {
	if limit <= 0 {
		limit = 500
	}
	cutoff = cutoff.UTC()
	out := Purged{}
	var keys []Request
	if err := d.r(ctx).Select("kind", "signature").Where("expires_at < ?", cutoff).Limit(limit).Find(&keys).Error; err != nil {
		return out, translate(err)
	}
	byKind := map[Kind][]string{}
	for _, k := range keys {
		byKind[k.Kind] = append(byKind[k.Kind], k.Signature)
	}
	for kind, sigs := range byKind {
		res := d.w(ctx).Where("kind = ? AND signature IN ? AND expires_at < ?", kind, sigs, cutoff).Delete(&Request{})
		if res.Error != nil {
			return out, translate(res.Error)
		}
		out[PurgeTable(kind)] += res.RowsAffected
	}
	// Single-use records with an expires_at column, keyed by their column:
	// client-assertion and DPoP jtis, email tokens, browser sessions,
	// device authorizations (whatever their state).
	for _, t := range []struct {
		model    any
		key, out string
	}{
		{&UsedJTI{}, "jti", "used_jtis"},
		{&EmailToken{}, "digest", "email_tokens"},
		{&WebSession{}, "sid", "web_sessions"},
		{&DeviceAuthorization{}, "device_digest", "device_authorizations"},
	} {
		if err := d.purgeExpiredRows(ctx, t.model, t.key, t.out, cutoff, limit, out); err != nil {
			return out, err
		}
	}
	n, err := d.clearExpiredPreviousSecrets(ctx, cutoff, limit)
	if n > 0 {
		out["client_previous_secrets"] += n
	}
	return out, err
}

// purgeExpiredRows deletes up to limit rows of model whose expires_at is
// before cutoff — read by key on a reader, deleted by key on the writer,
// rechecking the expiry — and counts them in out[name].
func (d *DB) purgeExpiredRows(ctx context.Context, model any, key, name string, cutoff time.Time, limit int, out Purged) error {
	var keys []string
	if err := d.r(ctx).Model(model).Where("expires_at < ?", cutoff).Limit(limit).Pluck(key, &keys).Error; err != nil {
		return translate(err)
	}
	if len(keys) == 0 {
		return nil
	}
	res := d.w(ctx).Where(key+" IN ? AND expires_at < ?", keys, cutoff).Delete(model)
	if res.Error != nil {
		return translate(res.Error)
	}
	out[name] += res.RowsAffected
	return nil
}
