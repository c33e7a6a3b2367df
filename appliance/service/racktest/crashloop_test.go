package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// TestCrashLoopInRack runs TestStartAgainAfterKillOnKVM (a kill -9 of the
// appliance that takes a VMM along: its instance runs again) and
// TestCrashLoopOnKVM (IRONVISOR_CRASH_KILLS,
// default 30, kill -9s of the appliance during concurrent launches, stops,
// starts and terminates, and the creation and deletion of networks,
// security groups, NIC instances, port forwards, public IPs and image
// uploads) on
// real KVM inside a rack server (2 CPUs: the service's budget is two nano
// instances at once, so the clients also meet InsufficientCapacity; more L1
// CPUs than the host's two cores stall the nested-TCG L1 in soft lockups).
// The network modules let the appliance set up its host network as on real
// iron.
func TestCrashLoopInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/service",
		Run:     "TestCrashLoopOnKVM|TestStartAgainAfterKillOnKVM", Modules: netModules,
		Timeout: 8 * time.Minute, Ironvisor: true,
	}, "TestCrashLoopOnKVM", "TestStartAgainAfterKillOnKVM")
}
