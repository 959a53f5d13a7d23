package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

// UsageStore reads the usage aggregate for the charts on /keys/{handle}
// and /apps/{id} and for the operator's overview (/admin).
type UsageStore interface {
	usage.OverviewStore
}

// usageChart is a usage.Series laid out for the "usage-chart" template:
// an SVG of stacked bars (one per bucket, in viewBox units, stretched to
// the page's width), the sentence that states it, and the data table
// behind it — all from the same Series.
type usageChart struct {
	// ID prefixes the element ids (one chart per id on a page).
	ID, Title, Summary string
	Bucket             string
	// Views are the links between the hourly and the daily view.
	Views  []chartView
	Width  int // viewBox width: 10 units a bar
	Bars   []chartBar
	Grid   []float64 // y of the gridlines (viewBox units, 0 = top)
	Scale  string    // "0 to 120 requests an hour"
	From   string
	To     string
	Legend []chartLegend
	// Columns and Rows are the data table: the buckets with any count.
	Columns []string
	Rows    []chartRow
	Empty   bool
}

type chartView struct {
	Label, Href string
	Current     bool
}

type chartBar struct {
	X        int
	Segments []chartSegment
	Title    string
}

type chartSegment struct {
	Y, H  float64
	Class string
}

type chartLegend struct {
	Class, Label, Total string
}

type chartRow struct {
	When   string
	Counts []string
	Total  string
}

const chartHeight = 100 // viewBox height; bars leave 2 units at the top

// newUsageChart lays s out; noun names what is counted ("request").
func newUsageChart(id, title, noun string, s usage.Series, views []chartView) usageChart {
	ch := usageChart{ID: id, Title: title, Summary: s.Summary(noun), Bucket: s.Bucket, Views: views,
		Width: 10 * len(s.Points), Empty: s.Total() == 0,
		From: usage.FormatBucket(s.Bucket, s.From), To: usage.FormatBucket(s.Bucket, s.To.Add(-s.Step()))}
	var peak int64
	for _, p := range s.Points {
		peak = max(peak, p.Total())
	}
	top := niceCeil(peak)
	per := "a day"
	if s.Bucket == storage.BucketHour {
		per = "an hour"
	}
	ch.Scale = fmt.Sprintf("0 to %s %s %s", usage.Thousands(top), pluralWord(noun, top), per)
	for _, f := range []float64{0.25, 0.5, 0.75} {
		ch.Grid = append(ch.Grid, chartHeight-f*(chartHeight-2))
	}
	for i, o := range s.Outcomes {
		ch.Legend = append(ch.Legend, chartLegend{Class: "seg-" + o, Label: capitalise(usage.Label(o)), Total: usage.Thousands(s.Totals[i])})
		ch.Columns = append(ch.Columns, capitalise(usage.Label(o)))
	}
	for i, p := range s.Points {
		bar := chartBar{X: 10*i + 1}
		y := float64(chartHeight)
		var parts []string
		for j, n := range p.Counts {
			parts = append(parts, usage.Thousands(n)+" "+usage.Label(s.Outcomes[j]))
			if n == 0 {
				continue
			}
			h := float64(n) / float64(top) * (chartHeight - 2)
			y -= h
			bar.Segments = append(bar.Segments, chartSegment{Y: round2(y), H: round2(h), Class: "seg-" + s.Outcomes[j]})
		}
		when := usage.FormatBucket(s.Bucket, p.Start)
		bar.Title = when + ": " + strings.Join(parts, ", ")
		ch.Bars = append(ch.Bars, bar)
		if p.Total() > 0 {
			row := chartRow{When: when, Total: usage.Thousands(p.Total())}
			for _, n := range p.Counts {
				row.Counts = append(row.Counts, usage.Thousands(n))
			}
			ch.Rows = append(ch.Rows, row)
		}
	}
	return ch
}

// niceCeil is the smallest of 1, 2, 5 × 10^k at or above n (at least 1),
// the top of the chart's scale.
func niceCeil(n int64) int64 {
	if n <= 1 {
		return 1
	}
	mag := int64(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, m := range []int64{1, 2, 5, 10} {
		if m*mag >= n {
			return m * mag
		}
	}
	return 10 * mag
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func pluralWord(noun string, n int64) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// usageBucket reads the page's ?usage= view: "day" or the hourly default.
func usageBucket(r *http.Request) string {
	if r.URL.Query().Get("usage") == storage.BucketDay {
		return storage.BucketDay
	}
	return storage.BucketHour
}

// usageViews links the hourly and daily views of the page at path.
func usageViews(path, current string) []chartView {
	return []chartView{
		{Label: "Last 7 days, by hour", Href: path + "?usage=hour#usage", Current: current == storage.BucketHour},
		{Label: "Last 90 days, by day", Href: path + "?usage=day#usage", Current: current == storage.BucketDay},
	}
}

// requestChart loads a key's or client's requests for the page at path
// (nil when usage is not recorded or cannot be read: the page shows the
// rest).
func (h *Handler) requestChart(ctx context.Context, r *http.Request, subject, id, title string) *usageChart {
	if h.cfg.Usage == nil {
		return nil
	}
	bucket := usageBucket(r)
	span := usage.HourSpan
	if bucket == storage.BucketDay {
		span = usage.DaySpan
	}
	s, err := usage.Load(ctx, h.cfg.Usage, subject, id, usage.Last(bucket, span, h.cfg.Now()), usage.RequestOutcomes)
	if err != nil {
		h.log.WarnContext(ctx, "usage chart", "error", err)
		return nil
	}
	ch := newUsageChart("usage", title, "request", s, usageViews((&url.URL{Path: r.URL.Path}).EscapedPath(), bucket))
	return &ch
}
