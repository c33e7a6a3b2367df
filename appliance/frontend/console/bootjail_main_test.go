package console

import (
	"os"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/bootjail"
)

// TestMain runs the jailed boot reader when the image store starts this
// test binary as one (bootjail re-executes the running binary).
func TestMain(m *testing.M) {
	if bootjail.IsChild() {
		os.Exit(bootjail.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}
