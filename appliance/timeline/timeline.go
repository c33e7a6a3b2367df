// Package timeline records the appliance's start-up: each step with the
// time it finished (milliseconds on the monotonic clock since the process
// started) and its error, the failures, and when the API became ready. It
// prints the console lines the rack tests wait for:
//
//	IRONVISOR FAILED step=NAME: error
//	IRONVISOR READY api=http://ADDR:PORT/
package timeline

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Step is one finished start-up step.
type Step struct {
	Name       string  `json:"name"`
	MS         float64 `json:"ms"`          // when it finished, ms since start
	DurationMS float64 `json:"duration_ms"` // how long it took
	Error      string  `json:"error"`       // empty when it worked
}

// Failure is one thing that went wrong, by step.
type Failure struct {
	Step  string `json:"step"`
	Error string `json:"error"`
}

// Report is a snapshot of the timeline, as served by GET /v1/host.
type Report struct {
	// KernelUptimeMS is the kernel's uptime when the process started (from
	// /proc/uptime), so that steps can be placed on the kernel's clock.
	KernelUptimeMS float64 `json:"kernel_uptime_ms"`
	Steps          []Step  `json:"steps"`
	// APIReadyMS is when the API was listening, ms since start; nil until then.
	APIReadyMS *float64  `json:"api_ready_ms"`
	Failures   []Failure `json:"-"`
}

// Timeline records start-up steps. It is safe for concurrent use.
type Timeline struct {
	start time.Time // carries Go's monotonic clock reading
	now   func() time.Time

	mu       sync.Mutex
	kernMS   float64   // guarded by mu
	out      io.Writer // guarded by mu: the console
	steps    []Step    // guarded by mu
	failures []Failure // guarded by mu
	ready    *float64  // guarded by mu
	readyURL string    // guarded by mu
}

// New returns a timeline that measures from start and writes console lines
// to out. kernelUptimeMS is the kernel's uptime at start, or 0 if unknown.
func New(out io.Writer, start time.Time, kernelUptimeMS float64) *Timeline {
	return &Timeline{start: start, kernMS: kernelUptimeMS, now: time.Now, out: out}
}

// sinceStart returns ms since start on the monotonic clock.
func (t *Timeline) sinceStart() float64 {
	return float64(t.now().Sub(t.start).Microseconds()) / 1000
}

// Run runs one step, records it, and on failure prints
// "IRONVISOR FAILED step=NAME: error" and records the failure. It returns
// fn's error so the caller may adapt, but a failure never stops start-up.
// A panic in fn is recovered and recorded as the step's error. The step's
// start is printed as "ironvisor: step NAME", so that a console that stops
// there says where the boot hangs (make run's stall detector reads it).
func (t *Timeline) Run(name string, fn func() error) (err error) {
	t.Logf("step %s", name)
	begin := t.sinceStart()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		end := t.sinceStart()
		s := Step{Name: name, MS: end, DurationMS: end - begin}
		if err != nil {
			s.Error = oneLine(err.Error())
		}
		t.mu.Lock()
		t.steps = append(t.steps, s)
		t.mu.Unlock()
		if err != nil {
			t.Fail(name, err)
		}
	}()
	return fn()
}

// Fail records a failure of step without a timed step (for example a bad
// configuration value) and prints it on the console as one line: the lines
// of a joined error are separated by "; ".
func (t *Timeline) Fail(step string, err error) {
	msg := oneLine(err.Error())
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, Failure{Step: step, Error: msg})
	fmt.Fprintf(t.out, "IRONVISOR FAILED step=%s: %s\n", step, msg)
}

// oneLine joins the lines of a message with "; ".
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

// SetKernelUptime records the kernel's uptime at start, for a caller that
// can read it only after start (PID 1 mounts /proc first).
func (t *Timeline) SetKernelUptime(ms float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.kernMS = ms
}

// SinceStart returns the milliseconds elapsed since start.
func (t *Timeline) SinceStart() float64 { return t.sinceStart() }

// Logf prints one line on the console.
func (t *Timeline) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "ironvisor: "+format+"\n", args...)
}

// Ready records that the API listens at url and prints, once,
// "IRONVISOR READY api=URL". Later calls are ignored.
func (t *Timeline) Ready(url string) {
	ms := t.sinceStart()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ready != nil {
		return
	}
	t.ready, t.readyURL = &ms, url
	fmt.Fprintf(t.out, "IRONVISOR READY api=%s\n", url)
}

// Report returns a copy of everything recorded so far. Steps and Failures
// are never nil, so they encode as [] rather than null.
func (t *Timeline) Report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Report{
		KernelUptimeMS: t.kernMS,
		Steps:          append([]Step{}, t.steps...),
		Failures:       append([]Failure{}, t.failures...),
	}
	if t.ready != nil {
		v := *t.ready
		r.APIReadyMS = &v
	}
	return r
}
