// Command kvmpin holds a kvm.Pin (one idle KVM VM with one vCPU) inside a
// virtual-rack server (L1) for as long as the server runs, so that the
// tests starting and ending their own VMs do not make the L1 kernel
// rewrite its code: kvm.Pin says why. The appliance holds its own Pin
// (appliance/boot); this command is for the rack's plain L1s. Real servers
// do not need it. (build/rack also boots every server with tsc=reliable,
// for the same reason: see tcgAppend there.)
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

// pin creates the pinned VM and vCPU and writes the ready file. The
// handles stay open until the process ends.
func pin(dev, ready string) error {
	if _, err := kvm.NewPin(dev); err != nil {
		return err
	}
	return os.WriteFile(ready, []byte("pinned\n"), 0o644)
}
