package virtionet

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// syncRig is a NIC activated by hand, without its goroutines, so that a
// fuzz target can run the transmit batch or the receive of one frame in
// its own goroutine, deterministically. The "tap" is one end of a
// SOCK_SEQPACKET socket pair, as in rig.
type syncRig struct {
	dev    *Device
	host   *os.File
	g      *virtiotest.Guest
	rx, tx *virtiotest.Ring
	n      *virtiotest.Notifier
}

// newSyncRig returns a NIC whose queues are set up with the offered
// features that feat selects.
func newSyncRig(t *testing.T, feat uint32) *syncRig {
	t.Helper()
	tap, host := tapPair(t)
	dev, err := newDevice(tap, Options{MAC: [6]byte{2, 0, 0, 0, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	x := &syncRig{dev: dev, host: host, g: virtiotest.NewGuest(1 << 20), n: virtiotest.NewNotifier()}
	x.rx, x.tx = x.g.NewRing(8), x.g.NewRing(8)
	acked := uint64(feat)&dev.Features() | virtio.FeatureVersion1
	rq, err := x.rx.Queue(acked)
	if err != nil {
		t.Fatal(err)
	}
	tq, err := x.tx.Queue(acked)
	if err != nil {
		t.Fatal(err)
	}
	dev.mem, dev.rxq, dev.txq, dev.notify, dev.acked = x.g.Mem, rq, tq, x.n.Notify, acked
	return x
}

// hostPackets returns what the device wrote to the tap, without waiting.
func (x *syncRig) hostPackets() [][]byte {
	var pkts [][]byte
	b := make([]byte, HeaderLen+MaxFrame+1)
	for {
		n, _, err := unix.Recvfrom(int(x.host.Fd()), b, unix.MSG_DONTWAIT)
		if err != nil {
			return pkts
		}
		pkts = append(pkts, bytes.Clone(b[:n]))
	}
}

// FuzzTransmit sends one transmit chain the fuzzer shapes: its readable
// bytes (the virtio-net header and the frame) split at cut, an optional
// device-writable buffer a driver must not put there, and the negotiated
// features. Nothing may panic; the chain comes back with used length 0 and
// is counted as sent or dropped; a frame that reaches the tap carries the
// guest's bytes behind a header the negotiated features allow.
func FuzzTransmit(f *testing.F) {
	hdr := func(h Header) []byte { b := make([]byte, HeaderLen); h.Put(b); return b }
	f.Add(append(hdr(Header{}), frame(60, 'a')...), uint8(5), uint16(0), uint32(0))
	f.Add(append(hdr(Header{Flags: HdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}), frame(60, 'b')...), uint8(12), uint16(0), uint32(FeatureCsum))
	f.Add(append(hdr(Header{GSOType: GSOTCPv4, HdrLen: 54, GSOSize: 1448, Flags: HdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}), frame(3000, 'c')...), uint8(40), uint16(0), uint32(FeatureCsum|FeatureHostTSO4))
	f.Add(append(hdr(Header{}), frame(8, 'd')...), uint8(0), uint16(16), uint32(0))
	f.Fuzz(func(t *testing.T, pkt []byte, cut uint8, writable uint16, feat uint32) {
		x := newSyncRig(t, feat)
		pkt = pkt[:min(len(pkt), HeaderLen+MaxFrame+64)]
		c := min(int(cut), len(pkt))
		var bufs []virtiotest.Buf
		for _, part := range [][]byte{pkt[:c], pkt[c:]} {
			if len(part) > 0 {
				bufs = append(bufs, x.g.In(part))
			}
		}
		if writable > 0 {
			bufs = append(bufs, x.g.Out(int(writable%4096)+1, 0xee))
		}
		if len(bufs) == 0 {
			return
		}
		x.tx.Publish(x.tx.AddChain(bufs...))
		x.dev.txBatch()
		if x.tx.UsedIdx() != 1 {
			t.Fatalf("used idx %d", x.tx.UsedIdx())
		}
		if _, ln := x.tx.Used(0); ln != 0 {
			t.Fatalf("transmit chain used length %d", ln)
		}
		cn := x.dev.Counters()
		sent := x.hostPackets()
		if cn.TxPackets+cn.TxDropped != 1 || uint64(len(sent)) != cn.TxPackets {
			t.Fatalf("counters %+v, %d frames on the tap", cn, len(sent))
		}
		for _, got := range sent {
			if !bytes.Equal(got[HeaderLen:], pkt[HeaderLen:]) {
				t.Fatal("frame on the tap differs from the guest's")
			}
			h, err := ParseHeader(got)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := CheckTX(h, len(got)-HeaderLen, x.dev.acked); err != nil {
				t.Fatalf("header on the tap %+v not allowed: %v", h, err)
			}
		}
	})
}

// FuzzReceive delivers one frame from the tap (header and frame, as the
// fuzzer writes them) into up to four receive chains whose writable sizes,
// and whether each also carries a device-readable descriptor, the fuzzer
// chooses, under the features it selects. Nothing may panic; nothing is
// written past a chain's writable bytes; a delivered frame reaches the
// guest whole, with num_buffers saying over how many chains.
func FuzzReceive(f *testing.F) {
	hdr := func(h Header) []byte { b := make([]byte, HeaderLen); h.Put(b); return b }
	f.Add(append(hdr(Header{}), frame(100, 'r')...), []byte{0x80, 0x02}, uint32(0))
	f.Add(append(hdr(Header{Flags: HdrFDataValid}), frame(1500, 's')...), []byte{0x10, 0x10, 0x10, 0x10}, uint32(FeatureMrgRxbuf|FeatureGuestCsum))
	f.Add(append(hdr(Header{GSOType: GSOTCPv4, GSOSize: 1448}), frame(200, 't')...), []byte{0xff}, uint32(FeatureGuestTSO4))
	f.Add(frame(10, 'u'), []byte{0x01}, uint32(0))
	f.Fuzz(func(t *testing.T, pkt []byte, chains []byte, feat uint32) {
		x := newSyncRig(t, feat)
		pkt = pkt[:min(len(pkt), HeaderLen+MaxFrame)]
		// Each byte of chains is one chain: bits 0-6 its writable size
		// in units of 64 bytes (0 means 12 bytes: the header alone),
		// bit 7 a readable descriptor in front.
		out := map[uint32]virtiotest.Buf{} // each chain's writable buffer, by head
		for _, c := range chains[:min(len(chains), 4)] {
			size := int(c&0x7f) * 64
			if size == 0 {
				size = HeaderLen
			}
			var chain []virtiotest.Buf
			if c&0x80 != 0 {
				chain = append(chain, x.g.In([]byte("driver-readable")))
			}
			w := x.g.Out(size, 0xee)
			head := x.rx.AddChain(append(chain, w)...)
			out[uint32(head)] = w
			x.rx.Publish(head)
		}
		in := bytes.Clone(pkt)
		stop := make(chan struct{})
		close(stop) // too few buffers: give up at once rather than wait rxWait
		err := x.dev.receive(in, stop)
		used := x.rx.UsedIdx()
		var got []byte
		for i := range used {
			id, ln := x.rx.Used(i)
			w, ok := out[id]
			if !ok || ln > w.Len {
				t.Fatalf("used element (%d,%d) is no posted chain or overflows it", id, ln)
			}
			got = append(got, x.g.Bytes(w.Addr, int(ln))...)
		}
		if err != nil {
			if used != 0 {
				t.Fatalf("failed receive (%v) returned %d chains", err, used)
			}
			return
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("guest got %d bytes, frame was %d", len(got), len(in))
		}
		h, _ := ParseHeader(got)
		if int(h.NumBuffers) != int(used) || x.dev.Counters().RxPackets != 1 {
			t.Fatalf("num_buffers %d over %d chains, counters %+v", h.NumBuffers, used, x.dev.Counters())
		}
	})
}
