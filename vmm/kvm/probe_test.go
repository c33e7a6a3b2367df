package kvm

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsableRefusesWhatIsNotKVM checks that Usable answers ErrNoKVM, with
// the device named, for a missing device and for a file that exists but is
// not KVM: existing is not the same as usable.
func TestUsableRefusesWhatIsNotKVM(t *testing.T) {
	for _, dev := range []string{filepath.Join(t.TempDir(), "kvm"), "/dev/null"} {
		err := Usable(dev)
		if !errors.Is(err, ErrNoKVM) || !strings.Contains(err.Error(), dev) {
			t.Errorf("Usable(%s) = %v, want ErrNoKVM naming the device", dev, err)
		}
	}
}
