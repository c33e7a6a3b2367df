package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

func TestJailInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/vmm/jail", Timeout: 5 * time.Minute,
	}, "TestMemoryMaxEnforced", "TestJailConfinesChild", "TestForbiddenSyscallKills",
		"TestCgroupLimitsInLeaf", "TestJailOnInitramfsHidesDataFS")
}
