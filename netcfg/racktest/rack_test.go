package racktest

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// netModules are the host-kernel modules the netcfg tests use, in load
// order. crc32c_generic comes first: libcrc32c (needed by nf_conntrack and
// nf_nat) names its provider only through the "crc32c" alias.
var netModules = []string{
	"crc32c_generic",
	"veth", "tun", "bridge", "br_netfilter", "8021q", "bonding",
	"nf_tables", "nf_conntrack", "nf_nat", "nf_conntrack_bridge",
	"nft_ct", "nft_nat", "nft_masq", "nft_redir", "nft_chain_nat",
	"nft_reject_inet", "nft_reject_bridge", "nft_fib_inet", "nft_limit", "nft_log",
	// Debian 6.1 builds these as modules; the kernel cannot autoload them
	// (no /sbin/modprobe), so a ruleset using them fails with ENOENT.
	"nft_objref", "nft_meta_bridge",
	// sock_diag for netcfg.HostListener (TestHostListener).
	"inet_diag", "tcp_diag", "udp_diag",
}

func TestNetcfgInRack(t *testing.T) {
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/netcfg",
		Modules: netModules, Timeout: 8 * time.Minute,
	}, "TestVLANAndBond")
}

// TestApplianceCarriesNetModules checks that the appliance image carries
// every module the netcfg tests need: the appliance loads the modules its
// image carries and nothing else (the kernel cannot autoload them without
// /sbin/modprobe), so a module missing there breaks netcfg on real iron
// although it passes in the rack.
func TestApplianceCarriesNetModules(t *testing.T) {
	have := make(map[string]bool, len(initramfs.DefaultModules))
	for _, m := range initramfs.DefaultModules {
		have[m] = true
	}
	for _, m := range netModules {
		if !have[m] {
			t.Errorf("initramfs.DefaultModules lacks %s, which netcfg needs on Debian's kernel", m)
		}
	}
}
