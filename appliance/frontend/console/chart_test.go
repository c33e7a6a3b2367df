package console

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/metering"
)

// TestChartScalesToTheLongestBar: bars are summed over tenants, sorted
// longest first, scaled to chartBarW, and a little use still shows.
func TestChartScalesToTheLongestBar(t *testing.T) {
	rep := metering.Report{Tenants: []metering.TenantUsage{
		{ByType: map[string]metering.Totals{"small": {RunningMillis: 3_600_000}, "nano": {RunningMillis: 10}}},
		{ByType: map[string]metering.Totals{"small": {RunningMillis: 3_600_000}, "large": {RunningMillis: 1_800_000}}},
	}}
	c := hoursByType(rep)
	if len(c.Bars) != 3 || c.Bars[0].Label != "small" || c.Bars[1].Label != "large" || c.Bars[2].Label != "nano" {
		t.Fatalf("bars %+v", c.Bars)
	}
	if c.Bars[0].W != chartBarW || c.Bars[1].W != chartBarW/4 || c.Bars[2].W != 1 {
		t.Fatalf("widths %d %d %d", c.Bars[0].W, c.Bars[1].W, c.Bars[2].W)
	}
	if c.Bars[0].Value != "2.0 h" || c.Bars[1].Value != "30 min" || c.Bars[2].Value != "0 s" {
		t.Fatalf("values %q %q %q", c.Bars[0].Value, c.Bars[1].Value, c.Bars[2].Value)
	}
	if c.Height != 3*chartRowH || c.Bars[2].Y <= c.Bars[1].Y {
		t.Fatalf("layout %+v", c)
	}
	if e := hoursByType(metering.Report{}); len(e.Bars) != 0 || e.Height != chartRowH {
		t.Fatalf("empty chart %+v", e)
	}
}

// TestColumnsStackTypesPerDay: each day's column stacks its types in the
// legend's order (most used first), the tallest day fills the plot, and
// an empty day has no segment.
func TestColumnsStackTypesPerDay(t *testing.T) {
	d0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := hoursOverTime([]dayUsage{
		{Day: d0, ByType: map[string]int64{"small": 3_600_000, "large": 3_600_000}},
		{Day: d0.AddDate(0, 0, 1), ByType: map[string]int64{}},
		{Day: d0.AddDate(0, 0, 2), ByType: map[string]int64{"small": 3_600_000}},
	})
	if len(c.Legend) != 2 || c.Legend[0].Type != "small" || c.Legend[1].Type != "large" || c.Legend[0].Fill == c.Legend[1].Fill {
		t.Fatalf("legend %+v", c.Legend)
	}
	if len(c.Columns) != 3 || c.Columns[0].Label != "12-01" || c.Columns[1].Label != "" || len(c.Columns[1].Segments) != 0 {
		t.Fatalf("columns %+v", c.Columns)
	}
	first := c.Columns[0].Segments
	if len(first) != 2 || first[0].H+first[1].H != chartPlotH || first[1].Y != 0 || first[0].Y+first[0].H != chartPlotH {
		t.Fatalf("tallest day %+v", first)
	}
	if s := c.Columns[2].Segments; len(s) != 1 || s[0].H != chartPlotH/2 || s[0].Fill != c.Legend[0].Fill {
		t.Fatalf("third day %+v", s)
	}
	if c.Peak != "2.0 h" || c.Columns[2].X <= c.Columns[1].X {
		t.Fatalf("peak %q, layout %+v", c.Peak, c.Columns)
	}
}
