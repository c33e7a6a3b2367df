package rack

import "testing"

// TestCPUStates parses QEMU 7.2's "info registers -a" layout.
func TestCPUStates(t *testing.T) {
	out := "\nCPU#0\nRAX=0000000000000000 RBX=ffffffff82a0c940\nRIP=ffffffff81e2b0ab RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n" +
		"CR0=80050033 CR2=00007f CR3=0000000102cc6000 CR4=00350ef0\n\nCPU#1\nRIP=ffffffff8106f5a4 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\nCR3=0000000001e0a000\n"
	got := cpuStates(out)
	want := []cpuState{
		{id: "0", rip: "ffffffff81e2b0ab", efl: "00000246", hlt: "1", cr3: "0000000102cc6000"},
		{id: "1", rip: "ffffffff8106f5a4", efl: "00000002", hlt: "0", cr3: "0000000001e0a000"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("CPU %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
