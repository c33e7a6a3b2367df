package gotest

import (
	"strings"
	"testing"
)

// TestRelayL1Results: of an L1's console, only the named benchmark's
// result lines are relayed, without the L1's configuration lines and
// carriage returns, and read back as values.
func TestRelayL1Results(t *testing.T) {
	console := "L1-READY /dev/kvm\r\n" +
		"goos: linux\r\ncpu: AMD EPYC Processor\r\n" +
		"BenchmarkStart/path=a 1 12.5 ms-first-byte 1 jailed/this 3.25 ms-stage-init\r\n" +
		"[   12.000000] random: crng init done\r\n" +
		"BenchmarkOther/path=a 1 99 ms-first-byte\r\n" +
		"BenchmarkStart/path=b 1 25 ms-first-byte 0.5 jailed/this\r\n" +
		"BenchmarkInL1Start-2   \t       2\t 1000 ns/op\r\n" +
		"L1-EXIT 0\r\n"
	var out strings.Builder
	rs := RelayL1Results(t, &out, console, "Start")
	want := "BenchmarkStart/path=a 1 12.5 ms-first-byte 1 jailed/this 3.25 ms-stage-init\n" +
		"BenchmarkStart/path=b 1 25 ms-first-byte 0.5 jailed/this\n"
	if out.String() != want {
		t.Errorf("relayed:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := L1Sample(rs, "Start/path=b", "jailed/this"); len(got) != 1 || got[0] != 0.5 {
		t.Errorf("L1Sample(path=b, jailed/this) = %v, want [0.5]", got)
	}
	if got := L1Sample(rs, "Start/path=a", "ms-stage-init"); len(got) != 1 || got[0] != 3.25 {
		t.Errorf("L1Sample(path=a, ms-stage-init) = %v, want [3.25]", got)
	}
	if r := FindResult(rs, "Start/path=b"); r == nil || string(r.Name) != "Start/path=b" {
		t.Errorf("FindResult(path=b) = %v", r)
	}
	if r := FindResult(rs, "Start/path=c"); r != nil {
		t.Errorf("FindResult(path=c) = %v, want nil", r)
	}
}
