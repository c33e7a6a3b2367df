package timeline

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step on every reading.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	now := start
	return func() time.Time { now = now.Add(step); return now }
}

func TestFailingStepIsRecordedAndStartContinues(t *testing.T) {
	var out bytes.Buffer
	start := time.Unix(1000, 0)
	tl := New(&out, start, 1234.5)
	tl.now = fakeClock(start, 10*time.Millisecond)

	ran := []string{}
	for _, s := range []struct {
		name string
		err  error
	}{{"mount", nil}, {"modules", errors.New("kvm_amd: no such device")}, {"hostname", nil}} {
		tl.Run(s.name, func() error { ran = append(ran, s.name); return s.err })
	}
	tl.Run("panics", func() error { panic("boom") })
	tl.Ready("http://10.0.2.15:8080/")
	tl.Ready("http://ignored/")

	if got := strings.Join(ran, ","); got != "mount,modules,hostname" {
		t.Errorf("steps ran %q, want all three", got)
	}
	r := tl.Report()
	if len(r.Steps) != 4 || r.Steps[1].Name != "modules" || r.Steps[1].Error != "kvm_amd: no such device" || r.Steps[0].Error != "" {
		t.Fatalf("steps = %+v", r.Steps)
	}
	if r.Steps[0].MS != 20 || r.Steps[0].DurationMS != 10 {
		t.Errorf("first step at %v ms taking %v ms, want 20 and 10", r.Steps[0].MS, r.Steps[0].DurationMS)
	}
	if r.Steps[3].Error != "panic: boom" {
		t.Errorf("panicking step error = %q", r.Steps[3].Error)
	}
	tl.Fail("config", errors.Join(errors.New("a"), errors.New("b")))
	r = tl.Report()
	if len(r.Failures) != 3 || r.Failures[2].Error != "a; b" {
		t.Errorf("joined failure = %+v", r.Failures)
	}
	if len(r.Failures) != 3 || r.Failures[0].Step != "modules" || r.Failures[1].Step != "panics" {
		t.Errorf("failures = %+v", r.Failures)
	}
	if r.APIReadyMS == nil || *r.APIReadyMS != 90 || r.KernelUptimeMS != 1234.5 {
		t.Errorf("api ready = %v, kernel uptime = %v", r.APIReadyMS, r.KernelUptimeMS)
	}
	console := out.String()
	for _, want := range []string{
		"ironvisor: step mount\n",
		"IRONVISOR FAILED step=modules: kvm_amd: no such device\n",
		"IRONVISOR FAILED step=panics: panic: boom\n",
		"IRONVISOR FAILED step=config: a; b\n",
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	if n := strings.Count(console, "IRONVISOR READY"); n != 1 || !strings.Contains(console, "IRONVISOR READY api=http://10.0.2.15:8080/\n") {
		t.Errorf("console has %d READY lines, want exactly one:\n%s", n, console)
	}
}

func TestEmptyReportEncodesEmptyLists(t *testing.T) {
	r := New(&bytes.Buffer{}, time.Now(), 0).Report()
	if r.Steps == nil || r.Failures == nil || r.APIReadyMS != nil {
		t.Errorf("empty report = %+v", r)
	}
}
