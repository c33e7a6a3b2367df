package orchestrator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// metrics are the orchestrator's Prometheus metrics.
type metrics struct {
	launched prometheus.Counter
	// forgetFailures counts Runner.Forget errors at terminate (leftover
	// VMM logs; they do not block the terminate).
	forgetFailures prometheus.Counter
	// netFailures counts host network errors: NICs that could not be
	// attached, detached or released.
	netFailures prometheus.Counter
	// bootStages times each boot of a pending instance by stage: "queue"
	// (until the boot holds the instance), "prepare" (volume, NIC: the
	// run spec), "vmm" (Runner.Start: jail, VMM start, control socket
	// answering) and "commit" (the running state stored).
	bootStages *prometheus.HistogramVec
	// restarts counts StartAgain's instances by outcome: "started",
	// "failed" (not started, with the reason) and "left" (a user acted
	// on it first).
	restarts *prometheus.CounterVec
	states   *stateCollector
}

// newMetrics makes the metrics; life is read for the per-state gauge.
func newMetrics(life *lifecycle.Manager) *metrics {
	return &metrics{
		launched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ironvisor_instances_launched_total",
			Help: "Instances created by launches.",
		}),
		forgetFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ironvisor_vmm_forget_failures_total",
			Help: "Terminated instances whose VMM files the runner could not remove.",
		}),
		netFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ironvisor_nic_failures_total",
			Help: "Instance network interfaces the host network could not attach, detach or release.",
		}),
		bootStages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ironvisor_boot_stage_seconds",
			Help:    "Time of each stage of booting a pending instance: queue, prepare, vmm, commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to 33 s
		}, []string{"stage"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ironvisor_instances_restarted_total",
			Help: "Instances whose VMM did not survive an appliance restart, by the outcome of starting them again: started, failed, left.",
		}, []string{"outcome"}),
		states: &stateCollector{life: life},
	}
}

// register registers every metric in reg.
func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.launched, m.forgetFailures, m.netFailures, m.bootStages, m.restarts, m.states} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// bootStage records how long one stage of a boot took.
func (m *metrics) bootStage(stage string, d time.Duration) {
	m.bootStages.WithLabelValues(stage).Observe(d.Seconds())
}

// instancesDesc describes the per-state instance gauge.
var instancesDesc = prometheus.NewDesc("ironvisor_instances", "Instances by state.", []string{"state"}, nil)

// stateCollector reports how many instances are in each state, read from
// the store at scrape time.
type stateCollector struct{ life *lifecycle.Manager }

// Describe sends the gauge's description.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- instancesDesc }

// Collect counts the instances by state.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := c.life.List("")
	if err != nil {
		ch <- prometheus.NewInvalidMetric(instancesDesc, err)
		return
	}
	n := map[lifecycle.State]int{}
	for _, in := range all {
		n[in.State]++
	}
	for _, s := range lifecycle.States {
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(n[s]), string(s))
	}
}
