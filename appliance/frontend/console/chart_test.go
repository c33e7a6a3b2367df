package console

import (
	"testing"

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
