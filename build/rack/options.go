package rack

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// Options describe one virtual server. Every zero value has a meaning,
// given on the field.
type Options struct {
	// Name names the server in logs and file names; "" means "server".
	Name string
	// QEMU is the emulator binary; "" means "qemu-system-x86_64" on $PATH.
	QEMU string
	// Kernel is the bzImage to boot directly (-kernel). "" means no direct
	// boot: the firmware boots from the devices in Extra or from the
	// network (set Boot to "n").
	Kernel string
	// Initrds are concatenated, in order, into one initrd (later archives
	// override earlier ones). nil means no initrd. Ignored without Kernel.
	Initrds []string
	// Append is the kernel command line; "" means "console=ttyS0". When
	// set, it is used as given (include console=ttyS0 yourself).
	Append string
	// MemoryMiB is the RAM size; 0 means 2048.
	MemoryMiB int
	// CPUs is the number of vCPUs; 0 means 2.
	CPUs int
	// Accel is "tcg" or "kvm"; "" means kvm only where the host's /dev/kvm
	// is hardware KVM (VMX or SVM, not PVM), else tcg.
	Accel string
	// CPU is the -cpu model; "" means "EPYC,+svm" under tcg (so nested SVM
	// works in the guest) and "host" under kvm.
	CPU string
	// ForwardPorts are guest TCP ports on the uplink that are forwarded to
	// free ports on 127.0.0.1; nil means []int{8080} (the appliance API).
	ForwardPorts []int
	// SamePorts are more guest TCP ports, each forwarded from the same
	// port number on 127.0.0.1 (for a person to reach an appliance's
	// port forwards at a port known in advance); nil adds none.
	SamePorts []int
	// UserNet adds options to the uplink's "-netdev user" (for example
	// "tftp=DIR,bootfile=boot.ipxe"); "" adds none.
	UserNet string
	// NIC is the uplink NIC model; "" means "virtio-net-pci".
	NIC string
	// Segment, when not nil, adds a second NIC on a shared rack segment
	// that servers started with the same Segment can talk over. Its MAC
	// is SegmentMAC(Name).
	Segment *Segment
	// NoUplink leaves out the uplink (and so ForwardPorts): the server's
	// only NIC is the one on Segment, as a diskless machine that boots
	// from its rack's bootstrap server.
	NoUplink bool
	// Boot is QEMU's -boot order ("n" for network); "" leaves QEMU's
	// default.
	Boot string
	// Extra are further QEMU arguments, appended as given (for example
	// "-drive", "if=pflash,format=raw,readonly=on,file=OVMF_CODE.fd").
	Extra []string
	// LogDir receives the console log and the concatenated initrd; "" means
	// a new temporary folder, removed by Stop unless KeepLogs is set.
	LogDir string
	// KeepLogs keeps a temporary LogDir after Stop.
	KeepLogs bool
	// Console, when not nil, also receives the console output (e.g.
	// os.Stdout for `ivbuild run --console`).
	Console io.Writer
}

// Segment is a shared Ethernet segment between servers: QEMU's socket
// netdev in multicast mode, bound to loopback so it needs no routes.
type Segment struct {
	// Group is the multicast "ADDR:PORT"; see NewSegment.
	Group string
}

// NewSegment returns a segment on a multicast port derived from name, so
// concurrent tests with different names do not share a wire.
func NewSegment(name string) *Segment {
	h := fnv.New32a()
	h.Write([]byte(name))
	h.Write([]byte(strconv.Itoa(os.Getpid())))
	return &Segment{Group: fmt.Sprintf("230.0.0.1:%d", 20000+h.Sum32()%20000)}
}

// withDefaults returns o with every zero value replaced by its meaning.
func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "server"
	}
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.Append == "" {
		o.Append = "console=ttyS0"
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 2048
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.Accel == "" {
		o.Accel = "tcg"
		if HostHasHardwareKVM() {
			o.Accel = "kvm"
		}
	}
	if o.CPU == "" {
		o.CPU = "EPYC,+svm"
		if o.Accel == "kvm" {
			o.CPU = "host"
		}
	}
	if o.ForwardPorts == nil {
		o.ForwardPorts = []int{8080}
	}
	if o.NIC == "" {
		o.NIC = "virtio-net-pci"
	}
	return o
}

// HostHasHardwareKVM reports whether /dev/kvm is usable (kvm.Usable) and
// backed by kvm_intel or kvm_amd. PVM (kvm_pvm) cannot boot a stock kernel,
// so it does not count (kvm.DetectKind reports PVM first).
func HostHasHardwareKVM() bool {
	if kvm.Usable("/dev/kvm") != nil {
		return false
	}
	k := kvm.DetectKind("/sys")
	return k == kvm.KindVMX || k == kvm.KindSVM
}

// mac returns a stable locally administered MAC address for a server's
// NIC number nic.
func mac(name string, nic int) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	s := h.Sum32()
	return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", byte(s>>16), byte(s>>8), byte(s), byte(nic))
}

// args returns QEMU's arguments for o (after withDefaults), with the
// console on stdio, the merged initrd at initrd (if any), the forwarded
// ports hostPorts[i] for o.ForwardPorts[i], and the human monitor on the
// unix socket monitor ("" for none).
func (o Options) args(initrd string, hostPorts []int, monitor string) []string {
	mon := "none"
	if monitor != "" {
		mon = "unix:" + monitor + ",server=on,wait=off"
	}
	a := []string{
		"-name", o.Name,
		"-machine", "q35", "-accel", o.Accel, "-cpu", o.CPU,
		"-m", strconv.Itoa(o.MemoryMiB), "-smp", strconv.Itoa(o.CPUs),
		"-nographic", "-nodefaults", "-no-user-config",
		"-serial", "stdio", "-monitor", mon,
	}
	if o.Kernel != "" {
		a = append(a, "-kernel", o.Kernel, "-append", o.Append+" "+tcgAppend)
		if initrd != "" {
			a = append(a, "-initrd", initrd)
		}
	}
	if !o.NoUplink {
		a = o.uplinkArgs(a, hostPorts)
	}
	if o.Segment != nil {
		a = append(a, "-netdev", fmt.Sprintf("socket,id=rack,mcast=%s,localaddr=127.0.0.1", o.Segment.Group),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=rack,mac=%s", SegmentMAC(o.Name)))
	}
	if o.Boot != "" {
		a = append(a, "-boot", o.Boot)
	}
	return append(a, o.Extra...)
}

// SegmentMAC is the MAC address of the named server's NIC on its Segment.
func SegmentMAC(name string) string { return mac(name, 1) }

// uplinkArgs appends the uplink's netdev and NIC to a.
func (o Options) uplinkArgs(a []string, hostPorts []int) []string {
	user := []string{"user", "id=uplink"}
	for i, p := range o.ForwardPorts {
		user = append(user, fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d", hostPorts[i], p))
	}
	if o.UserNet != "" {
		user = append(user, o.UserNet)
	}
	return append(a, "-netdev", strings.Join(user, ","),
		"-device", fmt.Sprintf("%s,netdev=uplink,mac=%s", o.NIC, mac(o.Name, 0)))
}

// tcgAppend is added to every rack server's kernel command line.
// tsc=reliable turns off the clocksource watchdog: on a loaded 2-core host
// it declared the TCG server's TSC unstable at some random moment, and the
// kernel's switch to an unstable sched_clock patches live code (static
// keys, INT3 on each site) that QEMU's TCG can keep executing from a stale
// translation: both CPUs then loop on exc_int3 in __schedule for good (QEMU
// monitor: kprobe_int3_handler finds the INT3 gone and retries). TCG's TSC
// is derived from one host clock, so it is reliable.
const tcgAppend = "tsc=reliable"
