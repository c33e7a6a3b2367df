package controlplane

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// metrics are the control plane's Prometheus metrics, in a registry of
// their own (no global state).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
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
	handler    http.Handler
}

// newMetrics registers the metrics of cp.
func newMetrics(cp *ControlPlane) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ironvisor_api_requests_total",
			Help: "API requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
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
	}
	m.reg.MustRegister(m.requests, m.launched, m.forgetFailures, m.netFailures, m.bootStages, &stateCollector{cp: cp},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// bootStage records how long one stage of a boot took.
func (m *metrics) bootStage(stage string, d time.Duration) {
	m.bootStages.WithLabelValues(stage).Observe(d.Seconds())
}

// request counts one answered request.
func (m *metrics) request(rt route, code int) {
	m.requests.WithLabelValues(rt.method, rt.pattern, strconv.Itoa(code)).Inc()
}

// instancesDesc describes the per-state instance gauge.
var instancesDesc = prometheus.NewDesc("ironvisor_instances", "Instances by state.", []string{"state"}, nil)

// stateCollector reports how many instances are in each state, read from
// the store at scrape time.
type stateCollector struct{ cp *ControlPlane }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- instancesDesc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := c.cp.life.List("")
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

func (cp *ControlPlane) getMetrics(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	cp.metrics.handler.ServeHTTP(w, r)
}
