package web

import (
	"github.com/latchkey/latchkey/storage"
)

// passkeyRow is one registered passkey as the page lists it.
type passkeyRow struct {
	ID, Name string
	Created  pageTime
	LastUsed pageTime
}

func passkeyRows(ps []storage.Passkey) []passkeyRow {
	out := make([]passkeyRow, 0, len(ps))
	for _, p := range ps {
		row := passkeyRow{ID: p.ID, Name: p.Name, Created: newPageTime(p.CreatedAt)}
		if p.LastUsedAt != nil {
			row.LastUsed = newPageTime(*p.LastUsedAt)
		}
		out = append(out, row)
	}
	return out
}
