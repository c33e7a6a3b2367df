package service

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counterSource is what deviceMetrics reads: the supervisor.
type counterSource interface {
	Running() []string
	Counters(ctx context.Context, id string) (map[string]uint64, error)
}

// deviceMetrics exports the device counters of every running VMM in
// /metrics (admin only), read through each VMM's control socket at scrape
// time: ironvisor_vmm_device_total{instance, device, counter}, where a VMM's
// key "disk0_reads" is device "disk0", counter "reads". A VMM that does not
// answer within the scrape's deadline is left out of that scrape, so one
// stuck guest cannot stall the others' metrics.
type deviceMetrics struct {
	src  counterSource
	desc *prometheus.Desc
	wait time.Duration // per scrape, for all VMMs together
}

func newDeviceMetrics(src counterSource) *deviceMetrics {
	return &deviceMetrics{src: src, wait: 2 * time.Second, desc: prometheus.NewDesc("ironvisor_vmm_device_total",
		"Device counters of each running VMM (virtio-blk, virtio-net, rng, serial), read through its control socket.",
		[]string{"instance", "device", "counter"}, nil)}
}

// Describe implements prometheus.Collector.
func (d *deviceMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

// Collect implements prometheus.Collector.
func (d *deviceMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), d.wait)
	defer cancel()
	for _, id := range d.src.Running() {
		m, err := d.src.Counters(ctx, id)
		if err != nil {
			continue
		}
		for k, v := range m {
			dev, name, ok := strings.Cut(k, "_")
			if !ok {
				dev, name = "vm", k
			}
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(v), id, dev, name)
		}
	}
}
