package virtionet

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// waitTime bounds every wait for the device's goroutines.
const waitTime = 10 * time.Second

// rig is a NIC whose "tap" is one end of a SOCK_SEQPACKET socket pair (a
// packet-preserving fd, like a tap, but needing no privileges); the test
// plays the host network on the other end. The tap ioctls themselves are
// exercised in tap_test.go on a real tap.
type rig struct {
	t        *testing.T
	dev      *Device
	host     *os.File
	g        *virtiotest.Guest
	rx, tx   *virtiotest.Ring
	n        *virtiotest.Notifier
	offloads []uint32
}

// tapPair returns the two ends of a non-blocking SOCK_SEQPACKET socket
// pair, closed when the test ends (after the cleanups registered later).
func tapPair(t *testing.T) (tap, host *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	tap, host = os.NewFile(uintptr(fds[0]), "tap"), os.NewFile(uintptr(fds[1]), "host")
	t.Cleanup(func() { tap.Close(); host.Close() })
	return tap, host
}

func newRig(t *testing.T, acked uint64) *rig {
	t.Helper()
	tap, host := tapPair(t)
	dev, err := newDevice(tap, Options{MAC: [6]byte{2, 0, 0, 0, 0, 1}, MTU: 1500})
	if err != nil {
		t.Fatal(err)
	}
	x := &rig{t: t, dev: dev, host: host, g: virtiotest.NewGuest(4 << 20), n: virtiotest.NewNotifier()}
	dev.setOffload = func(f uint32) error { x.offloads = append(x.offloads, f); return nil }
	x.rx, x.tx = x.g.NewRing(512), x.g.NewRing(512)
	x.activate(acked)
	t.Cleanup(dev.Reset)
	return x
}

func (x *rig) activate(acked uint64) {
	x.t.Helper()
	acked |= virtio.FeatureVersion1
	rq, err := x.rx.Queue(acked)
	if err != nil {
		x.t.Fatal(err)
	}
	tq, err := x.tx.Queue(acked)
	if err != nil {
		x.t.Fatal(err)
	}
	if err := x.dev.Activate(x.g.Mem, []*virtio.Queue{rq, tq}, x.n.Notify, acked); err != nil {
		x.t.Fatal(err)
	}
}

// frame returns an Ethernet frame of n bytes with a recognisable payload.
func frame(n int, tag byte) []byte {
	f := make([]byte, n)
	copy(f, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5})
	for i := 14; i < n; i++ {
		f[i] = tag
	}
	return f
}

// queue publishes hdr+frame on the transmit queue, split across two
// descriptors, without kicking. Tests publish before they kick: the "guest"
// here is Go code, and writing the ring while the device goroutine reads it
// is a data race to the race detector (a real guest's vCPU is invisible to
// it).
func (x *rig) queue(h Header, f []byte) {
	hb := make([]byte, HeaderLen)
	h.Put(hb)
	pkt := append(hb, f...)
	x.tx.Publish(x.tx.AddChain(x.g.In(pkt[:5]), x.g.In(pkt[5:])))
}

// send queues one frame and kicks.
func (x *rig) send(h Header, f []byte) {
	x.queue(h, f)
	x.dev.Notify(TxQueue)
}

// hostRead waits for the next packet on the host end.
func (x *rig) hostRead() []byte {
	x.t.Helper()
	if err := x.host.SetReadDeadline(time.Now().Add(waitTime)); err != nil {
		x.t.Fatal(err)
	}
	b := make([]byte, 70000)
	n, err := x.host.Read(b)
	if err != nil {
		x.t.Fatalf("host read: %v", err)
	}
	return b[:n]
}

// hostWrite injects a packet (tap header + frame) towards the guest.
func (x *rig) hostWrite(h Header, f []byte) {
	x.t.Helper()
	hb := make([]byte, HeaderLen)
	h.Put(hb)
	if _, err := x.host.Write(append(hb, f...)); err != nil {
		x.t.Fatal(err)
	}
}

// waitNotify waits for a used-buffer notification on queue q.
func (x *rig) waitNotify(q int) {
	x.t.Helper()
	waitQueue(x.t, x.n, q, x.dev)
}

func TestTransmit(t *testing.T) {
	x := newRig(t, FeatureCsum)
	f := frame(60, 'a')
	x.send(Header{Flags: HdrFNeedsCsum, CsumStart: 34, CsumOffset: 6, NumBuffers: 9}, f)
	got := x.hostRead()
	want := make([]byte, HeaderLen)
	Header{Flags: HdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}.Put(want)
	if !bytes.Equal(got, append(want, f...)) {
		t.Fatalf("tap got %x", got)
	}
	x.waitNotify(TxQueue)
	if id, ln := x.tx.Used(0); x.tx.UsedIdx() != 1 || id != 0 || ln != 0 {
		t.Fatalf("used idx %d elem (%d,%d)", x.tx.UsedIdx(), id, ln)
	}
	if c := x.dev.Counters(); c.TxPackets != 1 || c.TxBytes != 60 || c.TxDropped != 0 {
		t.Fatalf("counters %+v", c)
	}
}

func TestTransmitBadHeaderDropped(t *testing.T) {
	x := newRig(t, 0)
	x.queue(Header{Flags: HdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}, frame(60, 'x')) // CSUM not negotiated
	x.queue(Header{}, frame(8, 'y'))                                                    // runt
	x.send(Header{}, frame(60, 'z'))
	if got := x.hostRead(); got[len(got)-1] != 'z' {
		t.Fatalf("first frame on the tap: %x", got)
	}
	x.waitNotify(TxQueue) // one batch, one notification
	if x.tx.UsedIdx() != 3 {
		t.Fatalf("used idx %d", x.tx.UsedIdx())
	}
	if c := x.dev.Counters(); c.TxPackets != 1 || c.TxDropped != 2 {
		t.Fatalf("counters %+v", c)
	}
}

// hostDrain returns every packet queued on the host end, without waiting.
func (x *rig) hostDrain() [][]byte {
	x.t.Helper()
	raw, err := x.host.SyscallConn()
	if err != nil {
		x.t.Fatal(err)
	}
	var pkts [][]byte
	_ = raw.Control(func(fd uintptr) {
		for {
			b := make([]byte, 2048)
			n, _, err := unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT)
			if err != nil {
				return
			}
			pkts = append(pkts, b[:n])
		}
	})
	return pkts
}

// TestTransmitFloodIsBatched publishes more frames than one wake-up may
// send: the device sends them in two batches without a second kick. The
// socket pair may refuse some under the flood (EAGAIN); those must be
// counted as drops, and the rest arrive in order.
func TestTransmitFloodIsBatched(t *testing.T) {
	x := newRig(t, 0)
	const n = txBudget + 44
	for i := range n {
		hb := make([]byte, HeaderLen)
		x.tx.Publish(x.tx.AddChain(x.g.In(append(hb, frame(60, byte(i))...))))
	}
	x.dev.Notify(TxQueue)
	x.waitNotify(TxQueue)
	x.waitNotify(TxQueue)
	if x.tx.UsedIdx() != n {
		t.Fatalf("used idx %d", x.tx.UsedIdx())
	}
	pkts := x.hostDrain()
	c := x.dev.Counters()
	if uint64(len(pkts))+c.TxDropped != n || c.TxPackets != uint64(len(pkts)) {
		t.Fatalf("%d frames arrived, counters %+v", len(pkts), c)
	}
	for i := 1; i < len(pkts); i++ {
		if a, b := pkts[i-1][len(pkts[i-1])-1], pkts[i][len(pkts[i])-1]; a >= b && !(a > 200 && b < 100) {
			t.Fatalf("frames out of order: tag %d then %d", a, b)
		}
	}
	t.Logf("%d frames sent, %d dropped by a full socket buffer", len(pkts), c.TxDropped)
}

func TestReceive(t *testing.T) {
	x := newRig(t, FeatureGuestCsum)
	buf := x.g.Out(HeaderLen+1514, 0xee)
	x.rx.Publish(x.rx.AddChain(buf))
	x.dev.Notify(RxQueue)
	f := frame(100, 'r')
	x.hostWrite(Header{Flags: HdrFDataValid}, f)
	x.waitNotify(RxQueue)
	id, ln := x.rx.Used(0)
	if x.rx.UsedIdx() != 1 || id != 0 || ln != HeaderLen+100 {
		t.Fatalf("used idx %d elem (%d,%d)", x.rx.UsedIdx(), id, ln)
	}
	h, _ := ParseHeader(x.g.Bytes(buf.Addr, HeaderLen))
	if h.NumBuffers != 1 || h.Flags != HdrFDataValid {
		t.Fatalf("header %+v", h)
	}
	if !bytes.Equal(x.g.Bytes(buf.Addr+HeaderLen, 100), f) {
		t.Fatal("frame data wrong")
	}
	if c := x.dev.Counters(); c.RxPackets != 1 || c.RxBytes != 100 {
		t.Fatalf("counters %+v", c)
	}
}

func TestReceiveMergeable(t *testing.T) {
	x := newRig(t, FeatureMrgRxbuf)
	var bufs []virtiotest.Buf
	for range 3 {
		b := x.g.Out(100, 0xee)
		bufs = append(bufs, b)
		x.rx.Publish(x.rx.AddChain(b))
	}
	f := frame(238, 'm') // 250 bytes with the header: 100+100+50
	x.hostWrite(Header{}, f)
	x.waitNotify(RxQueue)
	if x.rx.UsedIdx() != 3 {
		t.Fatalf("used idx %d", x.rx.UsedIdx())
	}
	for i, want := range []uint32{100, 100, 50} {
		if id, ln := x.rx.Used(uint16(i)); id != uint32(i) || ln != want {
			t.Fatalf("used[%d] = (%d,%d)", i, id, ln)
		}
	}
	if nb := binary.LittleEndian.Uint16(x.g.Bytes(bufs[0].Addr+10, 2)); nb != 3 {
		t.Fatalf("num_buffers = %d", nb)
	}
	got := append(append(x.g.Bytes(bufs[0].Addr+HeaderLen, 88), x.g.Bytes(bufs[1].Addr, 100)...), x.g.Bytes(bufs[2].Addr, 50)...)
	if !bytes.Equal(got, f) {
		t.Fatal("frame data wrong")
	}
}

func TestReceiveWithoutBuffersDrops(t *testing.T) {
	x := newRig(t, 0)
	x.hostWrite(Header{}, frame(60, 1)) // nowhere to go: dropped after rxWait
	// Wait (with a deadline) for the drop to be counted. The counter is
	// atomic, so once it moves the receive goroutine is done with the
	// ring and back reading the tap.
	deadline := time.After(waitTime)
	for x.dev.Counters().RxDropped == 0 {
		select {
		case <-deadline:
			t.Fatal("frame without buffers not dropped")
		case <-time.After(rxWait / 5):
		}
	}
	buf := x.g.Out(HeaderLen+60, 0)
	x.rx.Publish(x.rx.AddChain(buf))
	x.dev.Notify(RxQueue)
	x.hostWrite(Header{}, frame(60, 3))
	x.waitNotify(RxQueue)
	if tag := x.g.RAM[buf.Addr+HeaderLen+20]; tag != 3 {
		t.Fatalf("delivered frame has tag %d", tag)
	}
	if c := x.dev.Counters(); c.RxDropped != 1 || c.RxPackets != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func TestReceiveTooBigWithoutMergeable(t *testing.T) {
	x := newRig(t, 0)
	buf := x.g.Out(HeaderLen+100, 0)
	x.rx.Publish(x.rx.AddChain(buf))
	x.hostWrite(Header{}, frame(200, 'B')) // too big: dropped at once
	x.hostWrite(Header{}, frame(100, 's')) // fits the same buffer
	x.waitNotify(RxQueue)
	if x.g.RAM[buf.Addr+HeaderLen+50] != 's' || x.dev.Counters().RxDropped != 1 {
		t.Fatalf("counters %+v", x.dev.Counters())
	}
}

func TestReceiveRefusesUnnegotiatedOffload(t *testing.T) {
	x := newRig(t, FeatureGuestCsum)
	buf := x.g.Out(HeaderLen+200, 0)
	x.rx.Publish(x.rx.AddChain(buf))
	x.hostWrite(Header{Flags: 1, GSOType: GSOTCPv4, GSOSize: 100}, frame(150, 'g'))
	x.hostWrite(Header{}, frame(60, 'k'))
	x.waitNotify(RxQueue)
	if x.g.RAM[buf.Addr+HeaderLen+30] != 'k' || x.dev.Counters().RxDropped != 1 {
		t.Fatalf("counters %+v", x.dev.Counters())
	}
}

func TestOffloadsAndReset(t *testing.T) {
	x := newRig(t, FeatureGuestCsum|FeatureGuestTSO4|FeatureGuestTSO6)
	if len(x.offloads) != 1 || x.offloads[0] != tunFCsum|tunFTSO4|tunFTSO6 {
		t.Fatalf("offloads %#x", x.offloads)
	}
	done := make(chan struct{})
	go func() { x.dev.Reset(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTime):
		t.Fatal("Reset hung")
	}
	if len(x.offloads) != 2 || x.offloads[1] != 0 {
		t.Fatalf("offloads after reset %#x", x.offloads)
	}
	// Reactivate on fresh rings and move a frame.
	x.rx, x.tx = x.g.NewRing(8), x.g.NewRing(8)
	x.activate(0)
	x.send(Header{}, frame(60, 'q'))
	if got := x.hostRead(); got[len(got)-1] != 'q' {
		t.Fatalf("after reset the tap got %x", got)
	}
}

func TestConfigAndContract(t *testing.T) {
	x := newRig(t, 0)
	c := make([]byte, 12)
	x.dev.ReadConfig(0, c)
	if !bytes.Equal(c[:6], []byte{2, 0, 0, 0, 0, 1}) || c[6] != 1 || c[8] != 1 || binary.LittleEndian.Uint16(c[10:]) != 1500 {
		t.Fatalf("config %x", c)
	}
	f := x.dev.Features()
	for _, bit := range []uint64{virtio.FeatureVersion1, FeatureMAC, FeatureStatus, FeatureMrgRxbuf, FeatureMTU, FeatureGuestCsum, FeatureCsum} {
		if f&bit == 0 {
			t.Errorf("feature %#x not offered", bit)
		}
	}
	if err := x.dev.Activate(x.g.Mem, []*virtio.Queue{nil, nil}, x.n.Notify, 0); err == nil {
		t.Error("activated twice / without queues")
	}
	d, err := newDevice(x.host, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m := d.MAC(); m[0]&1 != 0 || m[0]&2 == 0 {
		t.Errorf("random MAC %x not unicast/local", m)
	}
}
