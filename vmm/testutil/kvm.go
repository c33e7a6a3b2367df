package testutil

import "github.com/ironvisor/ironvisor/vmm/kvm"

// KVMDevice is the device every test on the real KVM uses.
const KVMDevice = "/dev/kvm"

// TB is the part of testing.TB that NeedKVM uses, so that tests,
// benchmarks and fuzz targets can all call it.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
}

// NeedKVM skips t, loudly and with the reason, unless KVMDevice is usable
// (kvm.Usable: it opens and speaks the stable API, not merely exists). It
// is the one gate of every test that runs guests on the real KVM; the
// hosts that run make test have none, and the virtual rack's racktest
// packages run those tests inside an L1 server that does. vmm/kvm's own
// tests, which cannot import this package, ask kvm.Usable directly.
func NeedKVM(t TB) {
	t.Helper()
	if err := kvm.Usable(KVMDevice); err != nil {
		t.Skipf("SKIP: %v; the virtual rack (the racktest packages) runs this test", err)
	}
}
