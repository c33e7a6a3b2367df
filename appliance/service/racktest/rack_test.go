package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// TestServiceInRack runs TestServiceOnKVM on real KVM inside a rack server,
// with kvm_amd loaded and the ironvisor binary built from this tree at
// /bin/ironvisor.
func TestServiceInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/service",
		Run:     "TestServiceOnKVM", Modules: []string{"kvm_amd"},
		Timeout: 6 * time.Minute, Ironvisor: true,
	}, "TestServiceOnKVM")
}
