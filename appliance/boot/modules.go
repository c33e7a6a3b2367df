package boot

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

// The appliance has no modprobe for the kernel to load modules on demand,
// so PID 1 loads every module the initramfs carries (initramfs.
// DefaultModules; a test keeps the lists in step), in two waves.

// EarlyModules are loaded before the uplink and the API: KVM, the NICs the
// uplink may need, and crc32c_generic, which libcrc32c (a dependency of
// nf_tables and of the late wave) asks for through its soft dependency.
var EarlyModules = []string{
	"kvm", "kvm_amd", "kvm_intel",
	"virtio_pci", "virtio_net", "e1000",
	"e1000e", "igb", "ixgbe", "i40e", "ice", "bnxt_en", "tg3", "r8169",
	"crc32c_generic",
}

// LateModules are loaded in the background from the end of the early wave,
// while the uplink waits for DHCP; the control plane waits for them, as it
// sets up the host network when it opens: guest plumbing, host networking
// and netfilter, disks and file systems, and the hardware watchdog
// (opened once the API is up).
var LateModules = []string{
	"tun", "vhost_net", "vhost_vsock",
	"bridge", "br_netfilter", "veth", "8021q", "bonding", "macvlan",
	"nf_tables", "nf_conntrack", "nf_nat", "nft_ct", "nft_nat", "nft_masq",
	"nft_redir", "nft_chain_nat", "nft_reject_inet", "nft_reject_bridge",
	"nft_fib_inet", "nft_limit", "nft_log", "nf_conntrack_bridge",
	"nft_objref", "nft_meta_bridge", "inet_diag", "tcp_diag", "udp_diag",
	"virtio_blk", "virtio_scsi", "virtio_console", "virtio_rng",
	"nvme", "ahci", "sd_mod", "ext4", "btrfs", "overlay", "vfat",
	"nls_cp437", "nls_ascii", "nls_utf8", "efivarfs",
	"i6300esb",
}

// ModuleReport says what happened to each requested module.
type ModuleReport struct {
	Loaded      []string // loaded, built in, or already loaded
	Missing     []string // not in modules.dep or modules.builtin
	Unsupported []string // the module refused the hardware (ENODEV, EOPNOTSUPP)
	Failed      []string // any other error, also in the returned error
}

// LoadModules loads names and their dependencies (modules.dep under
// opts.RootDir/lib/modules/$(uname -r)) with u-root's kmodule, several at
// a time (decompressing .ko.xz dominates boot time under emulation). A
// module that is missing or does not support this hardware (kvm_intel on
// AMD) is logged and skipped; any other failure is returned, after trying
// the rest. The report lists names in the order given.
func LoadModules(names []string, opts kmodule.ProbeOpts, logf func(string, ...any)) (ModuleReport, error) {
	var rep ModuleReport
	p, err := kmodule.NewProber(opts)
	if err != nil {
		return rep, fmt.Errorf("read module dependencies: %w", err)
	}
	errs := make([]error, len(names))
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = p.Probe(name, "")
			<-sem
		}()
	}
	wg.Wait()
	var failed []error
	for i, name := range names {
		err := errs[i]
		switch {
		case err == nil:
			rep.Loaded = append(rep.Loaded, name)
		case strings.Contains(err.Error(), "could not find module path"):
			rep.Missing = append(rep.Missing, name)
			logf("module %s: not in this kernel, skipped", name)
		case errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EOPNOTSUPP):
			rep.Unsupported = append(rep.Unsupported, name)
			logf("module %s: no supported hardware (%v), skipped", name, err)
		default:
			rep.Failed = append(rep.Failed, name)
			failed = append(failed, fmt.Errorf("load module %s: %w", name, err))
		}
	}
	logf("modules: %d loaded, %d missing, %d unsupported, %d failed",
		len(rep.Loaded), len(rep.Missing), len(rep.Unsupported), len(rep.Failed))
	return rep, errors.Join(failed...)
}
