package console

import (
	"fmt"
	"sort"

	"github.com/ironvisor/ironvisor/appliance/metering"
)

// The usage chart is drawn on the server as inline SVG: horizontal bars
// of running hours, one per instance type, with no script.

// Chart geometry, in SVG user units.
const (
	chartLabelW = 110 // the type names' column
	chartBarW   = 380 // the longest bar
	chartValueW = 90  // the hours after each bar
	chartRowH   = 26
	chartBarH   = 18
)

// bar is one bar of the chart, laid out.
type bar struct {
	Label  string
	Hours  float64
	Value  string
	Y, W   int
	TextY  int
	ValueX int
}

// chart is the laid-out chart.
type chart struct {
	Bars          []bar
	Width, Height int
	LabelW        int
	BarH          int
}

// usedFor renders running milliseconds for a bar: minutes under an
// hour, so that a short run does not read "0.00 h".
func usedFor(ms int64) string {
	switch {
	case ms < 60_000:
		return fmt.Sprintf("%d s", ms/1000)
	case ms < 3_600_000:
		return fmt.Sprintf("%d min", ms/60_000)
	}
	return fmt.Sprintf("%.1f h", float64(ms)/3.6e6)
}

// hoursByType sums the report's running time per instance type over its
// tenants and lays the bars out, longest scaled to chartBarW.
func hoursByType(rep metering.Report) chart {
	ms := map[string]int64{}
	for _, t := range rep.Tenants {
		for typ, tot := range t.ByType {
			ms[typ] += tot.RunningMillis
		}
	}
	names := make([]string, 0, len(ms))
	var peak int64
	for n, v := range ms {
		names = append(names, n)
		peak = max(peak, v)
	}
	sort.Slice(names, func(i, j int) bool {
		if ms[names[i]] != ms[names[j]] {
			return ms[names[i]] > ms[names[j]]
		}
		return names[i] < names[j]
	})
	c := chart{Width: chartLabelW + chartBarW + chartValueW, Height: max(len(names), 1) * chartRowH, LabelW: chartLabelW, BarH: chartBarH}
	for i, n := range names {
		h := float64(ms[n]) / 3.6e6
		w := 0
		if peak > 0 {
			w = int(ms[n] * chartBarW / peak)
		}
		if ms[n] > 0 {
			w = max(w, 1) // a sliver, so that a little use is seen
		}
		y := i * chartRowH
		c.Bars = append(c.Bars, bar{Label: n, Hours: h, Value: usedFor(ms[n]), Y: y + (chartRowH-chartBarH)/2,
			W: w, TextY: y + chartRowH/2 + 5, ValueX: chartLabelW + w + 6})
	}
	return c
}
