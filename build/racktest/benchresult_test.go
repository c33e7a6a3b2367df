package racktest

import (
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// reportStalls reports, of the results of alternate (relayed from the
// L1), the boots of each VMM that stalled before /init or died after it,
// and how many of rounds both VMMs completed; no such round fails b.
func reportStalls(b *testing.B, rs []*benchfmt.Result, base string, rounds int) {
	paired := 0
	stalls := map[string]float64{}
	for _, r := range rs {
		_, parts := r.Name.Parts()
		if len(parts) == 1 && string(parts[0]) == "/ratio=ironvisor-qemu" {
			paired++
			continue
		}
		vmm := strings.TrimPrefix(string(r.Name), base+"/vmm=")
		for _, unit := range []string{"stalled-boots", "lost-boots"} {
			if v, ok := r.Value(unit); ok {
				stalls[unit+"-"+vmm] += v
			}
		}
	}
	for _, unit := range []string{"stalled-boots-ironvisor", "stalled-boots-qemu", "lost-boots-ironvisor", "lost-boots-qemu"} {
		b.ReportMetric(stalls[unit], unit)
	}
	b.ReportMetric(float64(paired), "rounds-both-completed")
	b.ReportMetric(float64(rounds), "rounds")
	if paired == 0 {
		b.Fatal("no round where both VMMs completed")
	}
}
