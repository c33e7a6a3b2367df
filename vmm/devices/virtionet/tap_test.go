package virtionet

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

const tapName = "ivtap0"

// netnsTap is a tap and an AF_PACKET socket on it, both created in a fresh
// network namespace that lives as long as they do.
type netnsTap struct {
	tap, pkt *os.File
	ifindex  int
}

// newNetnsTap creates the namespace on a locked OS thread that is never
// unlocked, so the thread (and only it) leaves the host namespace and dies
// when the goroutine ends; the fds keep the namespace alive.
func newNetnsTap() (*netnsTap, error) {
	ch := make(chan any, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		nt, err := setupTap()
		if err != nil {
			ch <- err
			return
		}
		ch <- nt
	}()
	switch v := (<-ch).(type) {
	case error:
		return nil, v
	default:
		return v.(*netnsTap), nil
	}
}

func setupTap() (nt *netnsTap, err error) {
	tap, err := jail.OpenTap(tapName)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tap.Close()
		}
	}()
	// No IPv6 autoconfiguration chatter on the link: only test frames.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+tapName+"/disable_ipv6", []byte("1"), 0)
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(s)
	up, _ := unix.NewIfreq(tapName)
	up.SetUint16(unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, up); err != nil {
		return nil, fmt.Errorf("link up: %w", err)
	}
	idx, _ := unix.NewIfreq(tapName)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, idx); err != nil {
		return nil, fmt.Errorf("ifindex: %w", err)
	}
	ifindex := int(idx.Uint32())
	proto := int(htons(unix.ETH_P_ALL))
	p, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(p, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	return &netnsTap{tap: tap, pkt: os.NewFile(uintptr(p), "packet"), ifindex: ifindex}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestRealTap runs the device on a real tap in a fresh network namespace: a
// frame the "guest" transmits shows up on the host side of the tap, and a
// frame the host sends out of the tap lands in the guest's receive buffer.
func TestRealTap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to create a tap in a fresh network namespace")
	}
	nt, err := newNetnsTap()
	if err != nil {
		t.Fatalf("tap setup: %v", err)
	}
	defer nt.tap.Close()
	defer nt.pkt.Close()
	dev, err := New(nt.tap, Options{MAC: [6]byte{2, 0, 0, 0, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	g := virtiotest.NewGuest(4 << 20)
	rx, tx := g.NewRing(16), g.NewRing(16)
	acked := dev.Features() // everything offered, offloads included
	rq, _ := rx.Queue(acked)
	tq, _ := tx.Queue(acked)
	n := virtiotest.NewNotifier()
	rbuf := g.Out(HeaderLen+2000, 0)
	rx.Publish(rx.AddChain(rbuf))
	if err := dev.Activate(g.Mem, []*virtio.Queue{rq, tq}, n.Notify, acked); err != nil {
		t.Fatalf("activate (TUNSETOFFLOAD): %v", err)
	}
	defer dev.Reset()

	// Guest -> host.
	out := frame(64, 'G')
	tx.Publish(tx.AddChain(g.In(append(make([]byte, HeaderLen), out...))))
	dev.Notify(TxQueue)
	if got := readPacket(t, nt.pkt, 'G'); !bytes.Equal(got, out) {
		t.Fatalf("host saw %x, want %x", got, out)
	}
	waitQueue(t, n, TxQueue, dev)

	// Host -> guest.
	in := frame(80, 'H')
	if err := unix.Sendto(int(rawFd(t, nt.pkt)), in, 0, &unix.SockaddrLinklayer{Ifindex: nt.ifindex, Halen: 6, Addr: [8]byte{2, 0, 0, 0, 0, 1}}); err != nil {
		t.Fatalf("send on tap: %v", err)
	}
	waitQueue(t, n, RxQueue, dev)
	if _, ln := rx.Used(0); ln != HeaderLen+80 || !bytes.Equal(g.Bytes(rbuf.Addr+HeaderLen, 80), in) {
		t.Fatalf("guest got %d bytes: %x", ln, g.Bytes(rbuf.Addr, 40))
	}
	if c := dev.Counters(); c.TxPackets != 1 || c.RxPackets != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// rawFd returns f's descriptor without switching it to blocking mode.
func rawFd(t *testing.T, f *os.File) uintptr {
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	_ = raw.Control(func(v uintptr) { fd = v })
	return fd
}

// readPacket waits for a frame whose last byte is tag on the packet socket.
func readPacket(t *testing.T, f *os.File, tag byte) []byte {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(waitTime)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 70000)
	for {
		n, err := f.Read(b)
		if err != nil {
			t.Fatalf("no frame tagged %q on the tap: %v", tag, err)
		}
		if n > 0 && b[n-1] == tag {
			return b[:n]
		}
	}
}

// waitQueue waits for a used-buffer notification on queue q.
func waitQueue(t *testing.T, n *virtiotest.Notifier, q int, dev *Device) {
	t.Helper()
	deadline := time.After(waitTime)
	for {
		select {
		case got := <-n.C():
			if got == q {
				return
			}
		case <-deadline:
			t.Fatalf("no notification on queue %d; counters %+v", q, dev.Counters())
		}
	}
}
