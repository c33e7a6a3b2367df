package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// TestResizeInRack runs TestResizeOnKVM on real KVM inside a rack server
// with 2 CPUs and 2 GiB, so that the medium type (2 vCPUs, 1 GiB) fits the
// service's capacity (three quarters of the server's memory).
func TestResizeInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/service",
		Run:     "TestResizeOnKVM", Modules: []string{"kvm_amd"},
		Timeout: 8 * time.Minute, Ironvisor: true, MemoryMiB: 2048, CPUs: 2,
	}, "TestResizeOnKVM")
}
