package kvm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Kind is the flavour of hardware virtualisation behind /dev/kvm.
type Kind string

// The kinds of KVM a host can offer.
const (
	KindNone Kind = "none" // no KVM module is loaded
	KindVMX  Kind = "VMX"  // Intel VT-x (kvm_intel)
	KindSVM  Kind = "SVM"  // AMD-V (kvm_amd)
	// KindPVM is Pagetable-based Virtual Machine (kvm_pvm). It runs 16- and
	// 32-bit guest code by emulation, and 64-bit guests only if their kernel
	// was built as a PVM guest.
	KindPVM Kind = "PVM"
)

// ErrNoKVM reports a host without a usable /dev/kvm.
var ErrNoKVM = errors.New("no usable /dev/kvm")

// Status describes what the host's KVM can do.
type Status struct {
	Device string `json:"device"`          // the device path probed
	Kind   Kind   `json:"kind"`            // which module backs it
	Works  bool   `json:"works"`           // a VM could be created
	Error  string `json:"error,omitempty"` // why it does not work
}

// DetectKind reports which KVM module is loaded, reading sysRoot/module
// (sysRoot is normally /sys). PVM wins over the others because a PVM host
// may also load kvm_intel or kvm_amd.
func DetectKind(sysRoot string) Kind {
	for _, c := range []struct {
		mod  string
		kind Kind
	}{{"kvm_pvm", KindPVM}, {"kvm_amd", KindSVM}, {"kvm_intel", KindVMX}} {
		if _, err := os.Stat(filepath.Join(sysRoot, "module", c.mod)); err == nil {
			return c.kind
		}
	}
	return KindNone
}

// Usable is the one "can this host run VMs on KVM" check: it opens device
// and checks the API version, and returns nil, or an error wrapping ErrNoKVM
// that says why not. A device that merely exists does not count: a node the
// process may not open, or a module with another API, is not usable. The
// appliance asks it before it starts VMMs, and every test on the real
// device skips through testutil.NeedKVM, which asks it.
func Usable(device string) error {
	sys, err := Open(device)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoKVM, err)
	}
	sys.Close()
	return nil
}

// Probe opens device, checks the API version and creates (and closes) a VM,
// so that Works means KVM can really run guests here.
func Probe(device string) Status {
	st := Status{Device: device, Kind: DetectKind("/sys")}
	sys, err := Open(device)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	defer sys.Close()
	fd, err := sys.createVMFD()
	if err != nil {
		st.Error = err.Error()
		return st
	}
	unix.Close(fd)
	st.Works = true
	return st
}
