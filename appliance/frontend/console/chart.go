package console

import (
	"fmt"
	"sort"
	"time"

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

// The usage page's second chart: running hours per day over the last
// chartDays days, one column per day stacked by instance type.

// Column chart geometry, in SVG user units.
const (
	chartDays  = 14
	chartColW  = 32
	chartGap   = 8
	chartPlotH = 160
	chartAxisH = 20
)

// palette colours the types of the column chart, in order of use.
var palette = []string{"#1f5fbf", "#e08a1e", "#2e9a5b", "#9b4fb8", "#c23b3b", "#4b8fa8", "#7a6a3a", "#888888"}

// dayUsage is one day's running milliseconds per type.
type dayUsage struct {
	Day    time.Time
	ByType map[string]int64
}

// segment is one type's part of a day's column.
type segment struct {
	Y, H  int
	Fill  string
	Title string
}

// column is one day's stacked column.
type column struct {
	X, LabelX int
	Label     string
	Segments  []segment
}

// swatch is one type of the legend.
type swatch struct {
	Type, Fill string
}

// timeChart is the laid-out column chart.
type timeChart struct {
	Width, Height, PlotH int
	ColW                 int
	Columns              []column
	Legend               []swatch
	// Peak names the tallest column's value.
	Peak string
}

// dayUsageOf sums a report's running time per type.
func dayUsageOf(day time.Time, rep metering.Report) dayUsage {
	d := dayUsage{Day: day, ByType: map[string]int64{}}
	for _, t := range rep.Tenants {
		for typ, tot := range t.ByType {
			d.ByType[typ] += tot.RunningMillis
		}
	}
	return d
}

// hoursOverTime lays the days out as stacked columns, the tallest day
// scaled to chartPlotH, types coloured in order of their total use.
func hoursOverTime(days []dayUsage) timeChart {
	totals := map[string]int64{}
	var peak int64
	for _, d := range days {
		var sum int64
		for typ, ms := range d.ByType {
			totals[typ] += ms
			sum += ms
		}
		peak = max(peak, sum)
	}
	types := make([]string, 0, len(totals))
	for t := range totals {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if totals[types[i]] != totals[types[j]] {
			return totals[types[i]] > totals[types[j]]
		}
		return types[i] < types[j]
	})
	c := timeChart{Width: len(days)*(chartColW+chartGap) + chartGap, Height: chartPlotH + chartAxisH, PlotH: chartPlotH, ColW: chartColW, Peak: usedFor(peak)}
	for i, t := range types {
		c.Legend = append(c.Legend, swatch{Type: t, Fill: palette[i%len(palette)]})
	}
	for i, d := range days {
		col := column{X: chartGap + i*(chartColW+chartGap)}
		if (len(days)-1-i)%2 == 0 { // every other day, today's included, so labels do not touch
			col.Label = d.Day.Format("01-02")
		}
		col.LabelX = col.X + chartColW/2
		y := chartPlotH
		for _, sw := range c.Legend {
			ms := d.ByType[sw.Type]
			if ms == 0 || peak == 0 {
				continue
			}
			h := max(int(ms*chartPlotH/peak), 1)
			y -= h
			col.Segments = append(col.Segments, segment{Y: y, H: h, Fill: sw.Fill, Title: d.Day.Format("01-02") + " " + sw.Type + ": " + usedFor(ms)})
		}
		c.Columns = append(c.Columns, col)
	}
	return c
}
