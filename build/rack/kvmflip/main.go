// Command kvmflip creates and closes KVM VMs in a loop inside a
// virtual-rack server (L1), printing a heartbeat line per VM, to test
// whether the first-VM/last-VM transitions of the L1 kernel (static key
// flips patched into live text, see kvm.Pin) freeze an L1 emulated by
// QEMU's TCG. With -pin it holds a kvm.Pin first, so that no iteration is
// the first or the last VM and nothing flips; comparing the two is the
// experiment of issue 18 (build/bench/kvmflip.sh, BenchmarkKVMFlip).
//
// Each iteration is, with -what=probe, exactly the appliance's host probe
// (kvm.Probe: open /dev/kvm, create a VM, close both), or with -what=vcpu
// a VM with the in-kernel irqchip and one vCPU, closed again. With -churn
// two threads bounce a byte through a pair of pipes meanwhile, so that both
// CPUs run the scheduler's code (where the preempt notifier key is patched)
// while it is patched. Lines:
//
//	KVMFLIP-START pin=BOOL what=WHAT churn=BOOL n=N
//	KVMFLIP i=I ms=MS        after the I-th VM is closed, MS since start
//	KVMFLIP-DONE n=N ms=MS
//	KVMFLIP-ERROR text       (exit status 1)
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/kvm"
)

func main() {
	dev := flag.String("dev", "/dev/kvm", "KVM device")
	n := flag.Int("n", 1000, "VMs to create and close (0: until killed)")
	pin := flag.Bool("pin", false, "hold a kvm.Pin for the whole loop")
	what := flag.String("what", "probe", "each iteration: probe (kvm.Probe, as the appliance's host probe) or vcpu (a VM with irqchip and one vCPU)")
	churn := flag.Bool("churn", false, "keep both CPUs switching tasks meanwhile (pipe ping-pong between two threads)")
	flag.Parse()
	if err := run(*dev, *n, *pin, *what, *churn); err != nil {
		fmt.Printf("KVMFLIP-ERROR %v\n", err)
		os.Exit(1)
	}
}

// run holds the pin when asked and loops over n VMs.
func run(dev string, n int, pin bool, what string, churn bool) error {
	once, err := iteration(dev, what)
	if err != nil {
		return err
	}
	if pin {
		p, err := kvm.NewPin(dev)
		if err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		defer p.Close()
	}
	if churn {
		if err := pingPong(); err != nil {
			return err
		}
	}
	fmt.Printf("KVMFLIP-START pin=%v what=%s churn=%v n=%d\n", pin, what, churn, n)
	start := time.Now()
	for i := 1; n == 0 || i <= n; i++ {
		if err := once(); err != nil {
			return fmt.Errorf("iteration %d: %w", i, err)
		}
		fmt.Printf("KVMFLIP i=%d ms=%d\n", i, time.Since(start).Milliseconds())
	}
	fmt.Printf("KVMFLIP-DONE n=%d ms=%d\n", n, time.Since(start).Milliseconds())
	return nil
}

// iteration returns one create-and-close of what.
func iteration(dev, what string) (func() error, error) {
	switch what {
	case "probe":
		return func() error {
			if st := kvm.Probe(dev); !st.Works {
				return fmt.Errorf("probe: %s", st.Error)
			}
			return nil
		}, nil
	case "vcpu":
		return func() error { return vmWithVCPU(dev) }, nil
	}
	return nil, fmt.Errorf("unknown -what %q (probe or vcpu)", what)
}

// vmWithVCPU creates a VM with the in-kernel irqchip and one vCPU (what a
// kvm.Pin and every guest hold) and closes it again.
func vmWithVCPU(dev string) error {
	p, err := kvm.NewPin(dev)
	if err != nil {
		return err
	}
	return p.Close()
}

// pingPong starts two OS threads that pass one byte back and forth through
// two blocking pipes forever: each read sleeps in the kernel, so every hop
// is a task switch on some CPU.
func pingPong() error {
	var a, b [2]int
	if err := unix.Pipe(a[:]); err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	if err := unix.Pipe(b[:]); err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	bounce := func(in, out int, first bool) {
		runtime.LockOSThread()
		buf := []byte{0}
		if first {
			unix.Write(out, buf)
		}
		for {
			if _, err := unix.Read(in, buf); err != nil {
				return
			}
			if _, err := unix.Write(out, buf); err != nil {
				return
			}
		}
	}
	go bounce(a[0], b[1], true)
	go bounce(b[0], a[1], false)
	return nil
}
