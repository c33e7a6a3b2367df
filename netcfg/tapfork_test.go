package netcfg

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNewTapFreeWhileForking: a tap that AttachNIC creates can be opened
// at once by the VMM while other goroutines fork and exec, as the
// supervisor does when it starts other VMMs. A child forked while the fd
// that created the tap was open kept the tap's queue attached until it
// exec'd, and the VMM's TUNSETIFF failed with EBUSY (seen in the rack with
// 8 concurrent launches into one network).
func TestNewTapFreeWhileForking(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps")
	}
	true_, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("SKIP: no true to fork and exec: %v", err)
	}
	const rounds = 300
	st := benchState(1, 8000)
	c := st.NICs[0]
	st.NICs = nil
	l := newLab(t)
	l.reconcile(t, st)
	tap := c.tapName(&st.Networks[0])
	ctx := context.Background()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				exec.Command(true_).Run()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	busy := 0
	for i := range rounds {
		if _, err := l.host.AttachNIC(ctx, c); err != nil {
			t.Fatalf("round %d: attach: %v", i, err)
		}
		err := InNetNS(l.ns, func() error {
			fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifr, err := unix.NewIfreq(tap)
			if err != nil {
				return err
			}
			ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
			return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		})
		switch {
		case errors.Is(err, unix.EBUSY):
			busy++
		case err != nil:
			t.Fatalf("round %d: open tap: %v", i, err)
		}
		if _, err := l.host.DetachNIC(ctx, c.Instance, c.Network); err != nil {
			t.Fatalf("round %d: detach: %v", i, err)
		}
	}
	if busy > 0 {
		t.Fatalf("%d of %d new taps were busy: a forked child held the queue", busy, rounds)
	}
}
