// Command kvmpin holds one idle KVM VM with one vCPU open inside a
// virtual-rack server (L1) for as long as the server runs, so that the
// tests starting and ending their own VMs do not make the L1 kernel
// rewrite its code.
//
// Why: the first VM on a host and the last one to go flip static keys in
// the kernel (preempt_notifier_key in the scheduler, KVM's
// apic_sw_disabled, which counts vCPUs whose local APIC is
// software-disabled) and turn virtualization on and off on every CPU. Each
// static key flip patches live kernel text with INT3 (text_poke_bp). Under
// QEMU's TCG, which runs the rack's L1, a CPU can keep executing a stale
// translation that still holds the INT3 after the patch is done: the
// kernel finds no INT3 in memory and returns to retry, forever (QEMU
// monitor: both CPUs cycling through exc_int3, kprobe_int3_handler and
// __schedule). A VM that exists from boot to power-off keeps those counts
// above zero, so VM churn patches nothing. Real servers do not need this.
// (build/rack also boots every server with tsc=reliable, for the same
// reason: see tcgAppend there.)
//
// kvmpin writes its ready file (default /tmp/kvmpin.ready) once the vCPU
// exists, then blocks until it gets a signal.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ironvisor/ironvisor/vmm/kvm"
)

func main() {
	dev := flag.String("dev", "/dev/kvm", "KVM device")
	ready := flag.String("ready", "/tmp/kvmpin.ready", "file written once the vCPU exists")
	flag.Parse()
	if err := pin(*dev, *ready); err != nil {
		fmt.Fprintf(os.Stderr, "kvmpin: %v\n", err)
		os.Exit(1)
	}
	// Hold the vCPU until the server powers off or someone signals. (A
	// bare select{} would not do: with no other goroutine, the runtime
	// calls it a deadlock and exits, dropping the pin.)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	<-stop
}

// pin creates a VM with the in-kernel irqchip and one vCPU that never runs,
// and writes the ready file. The handles stay open until the process ends.
func pin(dev, ready string) error {
	sys, err := kvm.Open(dev)
	if err != nil {
		return err
	}
	vm, err := sys.CreateVM()
	if err != nil {
		return err
	}
	if err := vm.CreateIRQChip(); err != nil {
		return err
	}
	if _, err := vm.CreateVCPU(0); err != nil {
		return err
	}
	return os.WriteFile(ready, []byte("pinned\n"), 0o644)
}
