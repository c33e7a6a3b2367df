package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// netModules are what the host network needs on Debian's kernel, which
// cannot autoload them here (no /sbin/modprobe): tun and the bridge with
// br_netfilter, and the nftables expressions netcfg's rules use.
// crc32c_generic first: libcrc32c names it only through an alias.
var netModules = []string{"crc32c_generic", "kvm_amd", "tun", "bridge", "br_netfilter",
	"nf_tables", "nf_conntrack", "nf_nat", "nft_ct", "nft_nat", "nft_masq", "nft_redir", "nft_chain_nat",
	"nft_reject_inet", "nft_reject_bridge", "nft_fib_inet", "nft_limit", "nft_log", "nft_objref", "nft_meta_bridge"}

// TestInstanceNetworkInRack runs TestInstanceNetworkOnKVM and
// TestInstanceNetworkRestartOnKVM on real KVM inside a rack server: a tiny
// guest launched through the API into a network with a security group gets
// its lease, its tap on the bridge and its rules; stop, start and terminate
// take them away and back; a restart of serve keeps the taps of surviving
// VMMs and removes the orphans.
func TestInstanceNetworkInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/service",
		Run:     "TestInstanceNetwork", Modules: netModules,
		Timeout: 10 * time.Minute, Ironvisor: true,
	}, "TestInstanceNetworkOnKVM", "TestInstanceNetworkRestartOnKVM")
}
