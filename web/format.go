package web

import (
	"fmt"
	"html/template"
	"strconv"
	"time"
)

// absoluteLayout is the one way pages write a moment in full: in the
// title of every <time> element and wherever a page needs the date itself.
const absoluteLayout = "2 Jan 2006, 15:04 UTC"

// pageFuncs are the template functions every page may call; now is the
// clock relative times are measured from.
//
//	when T [empty]      a moment as <time datetime="RFC 3339" title="absolute">relative</time>;
//	                    T is a time.Time, *time.Time or pageTime; a zero or nil
//	                    T gives empty (escaped; "" when left out)
//	plural N one many   "1 key", "2 keys"
func pageFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"when": func(v any, empty ...string) (template.HTML, error) {
			var t time.Time
			switch v := v.(type) {
			case time.Time:
				t = v
			case *time.Time:
				if v != nil {
					t = *v
				}
			case pageTime:
				t = v.At
			case nil:
			default:
				return "", fmt.Errorf("when: %T is not a time", v)
			}
			if t.IsZero() {
				if len(empty) > 0 {
					return template.HTML(template.HTMLEscapeString(empty[0])), nil
				}
				return "", nil
			}
			t = t.UTC()
			return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `" title="` + t.Format(absoluteLayout) + `">` +
				template.HTMLEscapeString(relativeTime(t, now())) + `</time>`), nil
		},
		"plural": plural,
	}
}

// plural writes n with the noun that fits it: "1 key", "0 keys", "2 keys".
func plural(n any, one, many string) string {
	var k int64
	switch n := n.(type) {
	case int:
		k = int64(n)
	case int64:
		k = n
	case int32:
		k = int64(n)
	}
	if k == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(k, 10) + " " + many
}

// relativeTime says how far t is from now in words: "just now",
// "3 hours ago", "in 5 days", "2 months ago", "in 1 year".
func relativeTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	if d < time.Minute {
		if future {
			return "in under a minute"
		}
		return "just now"
	}
	const day = 24 * time.Hour
	var span string
	switch {
	case d < time.Hour:
		span = plural(int64(d/time.Minute), "minute", "minutes")
	case d < day:
		span = plural(int64(d/time.Hour), "hour", "hours")
	case d < 45*day: // days, months and years to the nearest: a 90-day expiry reads "in 3 months" a moment later
		span = plural(int64((d+day/2)/day), "day", "days")
	case d < 548*day: // 18 months
		span = plural(int64((d+15*day)/(30*day)), "month", "months")
	default:
		span = plural(int64((d+182*day)/(365*day)), "year", "years")
	}
	if future {
		return "in " + span
	}
	return span + " ago"
}

// keyEventWords are the key audit events (storage.KeyEvent.Type) in words.
var keyEventWords = map[string]string{
	"created":   "Created",
	"rotated":   "Created by rotation",
	"revoked":   "Revoked",
	"deleted":   "Deleted",
	"updated":   "Changed",
	"exchanged": "Exchanged for a one-hour token",
	"new_ip":    "Used from a new IP address",
}

// keyEventText is the words for an audit event type; an unknown type is
// shown as it is stored.
func keyEventText(typ string) string {
	if w, ok := keyEventWords[typ]; ok {
		return w
	}
	return typ
}
