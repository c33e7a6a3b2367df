package kvm

import (
	"errors"
	"fmt"
)

// GuestMode is the CPU mode a guest kernel is entered in.
type GuestMode int

// Guest entry modes.
const (
	// GuestLegacy enters in real or 32-bit protected mode (PVH, tiny guests).
	GuestLegacy GuestMode = iota
	// GuestLong64 enters a stock 64-bit kernel in long mode.
	GuestLong64
	// GuestLong64PVM is a 64-bit kernel built as a PVM guest.
	GuestLong64PVM
)

// ErrPVMNeedsPVMGuest reports a stock 64-bit kernel on a PVM host, which
// would hang rather than boot.
var ErrPVMNeedsPVMGuest = errors.New("this host's KVM is PVM (kvm_pvm): it runs 16/32-bit guest code and 64-bit kernels built as PVM guests only; a stock 64-bit kernel would hang")

// CheckGuest decides whether a guest entered in mode can run on a host whose
// KVM is kind. It refuses a stock 64-bit kernel on PVM; everything else
// (PVM-guest kernels run on hardware KVM too) is allowed.
func CheckGuest(kind Kind, mode GuestMode) error {
	if kind == KindPVM && mode == GuestLong64 {
		return fmt.Errorf("refusing to start a 64-bit kernel: %w", ErrPVMNeedsPVMGuest)
	}
	return nil
}
