package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeCounters stands for the supervisor: two VMMs answer, one does not.
type fakeCounters map[string]map[string]uint64

func (f fakeCounters) Running() []string { return []string{"i-a", "i-b", "i-stuck"} }

func (f fakeCounters) Counters(_ context.Context, id string) (map[string]uint64, error) {
	if m, ok := f[id]; ok {
		return m, nil
	}
	return nil, errors.New("no answer")
}

// TestDeviceMetrics: each running VMM's counters are exported with their
// instance, device and counter; a VMM that does not answer is left out.
func TestDeviceMetrics(t *testing.T) {
	src := fakeCounters{
		"i-a": {"disk0_reads": 3, "net0_rx_bytes": 1500},
		"i-b": {"rng_served": 7},
	}
	want := `
# HELP ironvisor_vmm_device_total Device counters of each running VMM (virtio-blk, virtio-net, rng, serial), read through its control socket.
# TYPE ironvisor_vmm_device_total counter
ironvisor_vmm_device_total{counter="reads",device="disk0",instance="i-a"} 3
ironvisor_vmm_device_total{counter="rx_bytes",device="net0",instance="i-a"} 1500
ironvisor_vmm_device_total{counter="served",device="rng",instance="i-b"} 7
`
	if err := testutil.CollectAndCompare(newDeviceMetrics(src), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
