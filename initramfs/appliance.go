package initramfs

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultModules are the kernel modules the appliance image carries, before
// dependencies are added. Names that a kernel builds in, or does not have,
// are skipped (see ModuleSet.Missing). Heavy drivers whose dependency tree
// is large (mlx5_core pulls in mlxfw, psample, tls and more) are left out;
// pass extra names in ApplianceOptions.ExtraModules to add them.
var DefaultModules = []string{
	// Hardware virtualisation and guest plumbing.
	"kvm", "kvm_amd", "kvm_intel", "tun", "vhost_net", "vhost_vsock",
	// Host networking: bridges, veths, VLANs, bonds, netfilter.
	"bridge", "br_netfilter", "veth", "8021q", "bonding", "macvlan",
	"nf_tables", "nf_conntrack", "nf_nat", "nft_ct", "nft_nat", "nft_masq",
	"nft_redir", "nft_chain_nat", "nft_reject_inet", "nft_reject_bridge",
	"nft_fib_inet", "nft_limit", "nft_log", "nf_conntrack_bridge",
	// libcrc32c's soft dependency "crc32c" is an alias, not a module name;
	// without its provider nf_conntrack and nf_nat fail to load.
	"crc32c_generic",
	// nftables expressions netcfg uses that Debian builds as modules.
	"nft_objref", "nft_meta_bridge",
	// sock_diag for IPv4/6 TCP and UDP: netcfg.HostListener asks the
	// kernel which ports the host's own services listen on.
	"inet_diag", "tcp_diag", "udp_diag",
	// Virtual hardware (QEMU, clouds).
	"virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi", "virtio_console",
	"virtio_rng", "e1000",
	// Common server NICs.
	"e1000e", "igb", "ixgbe", "i40e", "ice", "bnxt_en", "tg3", "r8169",
	// Local disks and file systems.
	// btrfs for a data partition whose root volumes are reflink copies
	// of the images (appliance/boot mounts it; package volumes clones).
	"nvme", "ahci", "sd_mod", "ext4", "btrfs", "overlay", "vfat",
	// The ESP's FAT code page and character sets, and the loader's EFI
	// variables: the self-update's boot slots (appliance/slots).
	"nls_cp437", "nls_ascii", "nls_utf8", "efivarfs",
	// Hardware watchdog: QEMU's i6300esb (the rack's). Boards' own
	// (iTCO_wdt, sp5100_tco) go in through ironvisor.modules.
	"i6300esb",
}

// ApplianceOptions describe the appliance initramfs.
type ApplianceOptions struct {
	// Binary is the host path of the statically linked ironvisor binary. It
	// becomes /init (and /bin/ironvisor links to it). Required.
	Binary string
	// VMMBinary is the host path of the statically linked ironvisor-vmm,
	// the lean VMM binary the appliance runs for each instance; it becomes
	// /ironvisor-vmm, beside /init, where the supervisor looks (and
	// /bin/ironvisor-vmm links to it). Empty means ironvisor-vmm beside
	// Binary when that exists; without one, VMMs run /init itself.
	VMMBinary string
	// KernelRelease is the `uname -r` of the kernel the image boots with,
	// naming /lib/modules/RELEASE. Required when ModulesDir is set.
	KernelRelease string
	// ModulesDir is the host folder holding that kernel's modules
	// (uncompressed .ko files and modules.builtin). Empty means no modules.
	ModulesDir string
	// Modules lists the modules to include; nil means DefaultModules.
	Modules []string
	// ExtraModules are added to Modules.
	ExtraModules []string
	// Hostname is written to /etc/hostname; empty means "ironvisor".
	Hostname string
	// Kernel is the host path of the kernel the image boots with; it
	// becomes /boot/vmlinuz, which rack bootstrap serves to the machines
	// it network-boots. Empty means none (such a box boots no rack).
	Kernel string
	// IPXE are host paths of iPXE binaries (undionly.kpxe, ipxe.efi) that
	// rack bootstrap hands plain PXE firmware; each becomes
	// /lib/ironvisor/ipxe/NAME. nil means none.
	IPXE []string
	// Executables maps image paths to host programs that the image carries
	// with their shared libraries (see Executable), such as mkfs.btrfs for
	// the data partition (appliance/datadisk.MkfsBtrfs). nil means none.
	Executables map[string]string
}

// Appliance returns a Builder holding the appliance image and the resolved
// module set (nil when ModulesDir is empty).
//
// Layout:
//   - /init: the ironvisor binary; /bin/ironvisor links to it;
//   - /ironvisor-vmm: the lean VMM binary, when there is one;
//     /bin/ironvisor-vmm links to it;
//   - /dev/console, and empty /proc, /sys, /dev, /run, /tmp, /var, /etc;
//   - /etc/hostname;
//   - /boot/vmlinuz and /lib/ironvisor/ipxe/*, when given (rack bootstrap);
//   - each of Executables, with its libraries under /lib and /lib64;
//   - /lib/modules/RELEASE/{modules.dep,modules.builtin,kernel/...}.
func Appliance(o ApplianceOptions) (*Builder, *ModuleSet, error) {
	if err := checkStatic(o.Binary); err != nil {
		return nil, nil, err
	}
	b := New()
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/var", "/etc", "/bin"} {
		if err := b.Add(Dir(d, 0o755)); err != nil {
			return nil, nil, err
		}
	}
	host := o.Hostname
	if host == "" {
		host = "ironvisor"
	}
	err := b.Add(
		Dir("/tmp", 0o1777),
		Console(),
		HostFile("/init", 0o755, o.Binary),
		Symlink("/bin/ironvisor", "/init"),
		File("/etc/hostname", 0o644, []byte(host+"\n")),
	)
	if err != nil {
		return nil, nil, err
	}
	if err := addRackBoot(b, o); err != nil {
		return nil, nil, err
	}
	for p, src := range o.Executables {
		es, err := Executable(p, src)
		if err != nil {
			return nil, nil, fmt.Errorf("appliance image: %w", err)
		}
		if err := b.Add(es...); err != nil {
			return nil, nil, err
		}
	}
	vmm := o.VMMBinary
	if vmm == "" {
		if p := filepath.Join(filepath.Dir(o.Binary), "ironvisor-vmm"); isFile(p) {
			vmm = p
		}
	}
	if vmm != "" {
		if err := checkStatic(vmm); err != nil {
			return nil, nil, err
		}
		if err := b.Add(HostFile("/ironvisor-vmm", 0o755, vmm), Symlink("/bin/ironvisor-vmm", "/ironvisor-vmm")); err != nil {
			return nil, nil, err
		}
	}
	if o.ModulesDir == "" {
		return b, nil, nil
	}
	if o.KernelRelease == "" {
		return nil, nil, fmt.Errorf("appliance image: KernelRelease is required with ModulesDir")
	}
	names := o.Modules
	if names == nil {
		names = DefaultModules
	}
	set, err := ResolveModules(o.ModulesDir, append(append([]string(nil), names...), o.ExtraModules...))
	if err != nil {
		return nil, nil, fmt.Errorf("appliance modules: %w", err)
	}
	if err := b.Add(set.Entries(o.KernelRelease)...); err != nil {
		return nil, nil, err
	}
	return b, set, nil
}

// checkStatic fails unless p is an ELF executable without a program
// interpreter, i.e. one that runs with no shared libraries in the image.
func checkStatic(p string) error {
	if p == "" {
		return fmt.Errorf("appliance image: no ironvisor binary given")
	}
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("appliance binary %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("appliance binary %s is dynamically linked; build with CGO_ENABLED=0", p)
		}
	}
	return nil
}

// isFile reports whether p is a regular file.
func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
