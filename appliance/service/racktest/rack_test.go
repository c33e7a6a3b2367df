package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// TestServiceInRack runs the service's real-KVM tests in one rack server
// (2 CPUs, 2 GiB, so that the medium type fits three quarters of its
// memory), with kvm_amd and the network modules loaded and the ironvisor
// binary built from this tree at /bin/ironvisor: the lifecycle of a tiny
// guest through the API (TestServiceOnKVM), instance networking and its
// restart (TestInstanceNetwork*), and a resize visible to the guest
// (TestResizeOnKVM), and the same lifecycle through the EC2 endpoint with
// the AWS SDK (TestEC2OnKVM). One server for all of them saves a boot
// each.
func TestServiceInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/service",
		Run:     "TestServiceOnKVM|TestInstanceNetwork|TestResizeOnKVM|TestEC2OnKVM", Modules: netModules,
		Timeout: 16 * time.Minute, Ironvisor: true, MemoryMiB: 2048, CPUs: 2,
	}, "TestServiceOnKVM", "TestInstanceNetworkOnKVM", "TestInstanceNetworkRestartOnKVM", "TestResizeOnKVM", "TestEC2OnKVM")
}
