package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// TestSupervisorInRack runs TestSupervisorOnKVM on real KVM inside a rack server,
// with kvm_amd loaded and the ironvisor binary built from this tree at
// /bin/ironvisor.
func TestSupervisorInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/supervisor",
		Run:     "TestSupervisorOnKVM", Modules: []string{"kvm_amd"},
		Timeout: 6 * time.Minute, Ironvisor: true,
	}, "TestSupervisorOnKVM")
}
