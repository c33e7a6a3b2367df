package blk

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

const diskSize = 64 * SectorSize

// rig is a disk on a temp file, activated on a hand-built queue.
type rig struct {
	t    testing.TB
	dev  *Device
	file *os.File
	g    *virtiotest.Guest
	r    *virtiotest.Ring
	n    *virtiotest.Notifier
}

func newRig(t testing.TB, opts Options) *rig {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	img := make([]byte, diskSize)
	for i := range img {
		img[i] = byte(i / SectorSize) // each sector holds its number
	}
	if _, err := f.WriteAt(img, 0); err != nil {
		t.Fatal(err)
	}
	return activate(t, f, opts)
}

func activate(t testing.TB, f *os.File, opts Options) *rig {
	t.Helper()
	dev, err := New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	g := virtiotest.NewGuest(1 << 20)
	r := g.NewRing(16)
	q, err := r.Queue(virtio.FeatureVersion1 | virtio.FeatureIndirectDesc)
	if err != nil {
		t.Fatal(err)
	}
	n := virtiotest.NewNotifier()
	if err := dev.Activate(g.Mem, []*virtio.Queue{q}, n.Notify, dev.Features()); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, dev: dev, file: f, g: g, r: r, n: n}
}

func header(typ uint32, sector uint64) []byte {
	h := make([]byte, headerLen)
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], 0x55) // ioprio: ignored
	binary.LittleEndian.PutUint64(h[8:], sector)
	return h
}

// submit publishes header, data and a poisoned status byte as one chain,
// kicks the device, and returns the status address and the head.
func (x *rig) submit(typ uint32, sector uint64, data ...virtiotest.Buf) (status uint64, head uint16) {
	st := x.g.Out(1, 0xff)
	bufs := append([]virtiotest.Buf{x.g.In(header(typ, sector))}, data...)
	head = x.r.AddChain(append(bufs, st)...)
	x.r.Publish(head)
	x.dev.Notify(0)
	return st.Addr, head
}

// expect checks the status byte and the newest used element.
func (x *rig) expect(status uint64, head uint16, wantStatus byte, wantLen uint32) {
	x.t.Helper()
	if got := x.g.RAM[status]; got != wantStatus {
		x.t.Fatalf("status = %#x, want %#x", got, wantStatus)
	}
	idx := x.r.UsedIdx()
	id, ln := x.r.Used(idx - 1)
	if id != uint32(head) || ln != wantLen {
		x.t.Fatalf("used[%d] = (%d, %d), want (%d, %d)", idx-1, id, ln, head, wantLen)
	}
}

func TestReadSectors(t *testing.T) {
	x := newRig(t, Options{})
	a, b := x.g.Out(SectorSize, 0xEE), x.g.Out(SectorSize, 0xEE)
	st, head := x.submit(TypeIn, 3, a, b)
	x.expect(st, head, StatusOK, 2*SectorSize+1)
	if !bytes.Equal(x.g.Bytes(a.Addr, SectorSize), bytes.Repeat([]byte{3}, SectorSize)) ||
		!bytes.Equal(x.g.Bytes(b.Addr, SectorSize), bytes.Repeat([]byte{4}, SectorSize)) {
		t.Fatal("wrong data read")
	}
	if x.r.UsedIdx() != 1 || x.n.Count(0) != 1 {
		t.Fatalf("used idx %d, notifications %d", x.r.UsedIdx(), x.n.Count(0))
	}
	if s := x.dev.Counters(); s.Reads != 1 || s.ReadBytes != 2*SectorSize {
		t.Fatalf("stats %+v", s)
	}
}

func TestWriteSectors(t *testing.T) {
	x := newRig(t, Options{})
	data := bytes.Repeat([]byte("ironvisor"), 2*SectorSize/9+1)[:2*SectorSize]
	st, head := x.submit(TypeOut, 10, x.g.In(data[:700]), x.g.In(data[700:]))
	x.expect(st, head, StatusOK, 1)
	got := make([]byte, 2*SectorSize)
	if _, err := x.file.ReadAt(got, 10*SectorSize); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file holds %q..., err %v", got[:16], err)
	}
}

func TestReadOnlyDisk(t *testing.T) {
	x := newRig(t, Options{ReadOnly: true})
	if x.dev.Features()&FeatureRO == 0 {
		t.Fatal("VIRTIO_BLK_F_RO not offered")
	}
	st, head := x.submit(TypeOut, 0, x.g.In(make([]byte, SectorSize)))
	x.expect(st, head, StatusIOErr, 1)
	got := make([]byte, 1)
	_, _ = x.file.ReadAt(got, 5*SectorSize)
	if got[0] != 5 {
		t.Fatal("read-only disk was written")
	}
	st, head = x.submit(TypeIn, 5, x.g.Out(SectorSize, 0))
	x.expect(st, head, StatusOK, SectorSize+1)
}

func TestPastEndIsIOErr(t *testing.T) {
	for name, sector := range map[string]uint64{
		"straddles end":   diskSize/SectorSize - 1,
		"starts at end":   diskSize / SectorSize,
		"far past":        1 << 40,
		"sector overflow": 1<<64 - 1,
		"sector*512 wrap": 1<<55 + 1,
	} {
		t.Run(name, func(t *testing.T) {
			x := newRig(t, Options{})
			buf := x.g.Out(2*SectorSize, 0xEE)
			st, head := x.submit(TypeIn, sector, buf)
			x.expect(st, head, StatusIOErr, 1)
			if x.g.RAM[buf.Addr] != 0xEE {
				t.Fatal("data written on a failed request")
			}
			st, head = x.submit(TypeOut, sector, x.g.In(make([]byte, 2*SectorSize)))
			x.expect(st, head, StatusIOErr, 1)
		})
	}
}

func TestUnalignedLengthIsIOErr(t *testing.T) {
	x := newRig(t, Options{})
	st, head := x.submit(TypeIn, 0, x.g.Out(100, 0))
	x.expect(st, head, StatusIOErr, 1)
}

func TestFlush(t *testing.T) {
	x := newRig(t, Options{})
	st, head := x.submit(TypeFlush, 0)
	x.expect(st, head, StatusOK, 1)
	if x.dev.Counters().Flushes != 1 {
		t.Fatal("flush not counted")
	}
}

// TestFlushCallsFdatasync proves FLUSH reaches fdatasync(2): on a pipe, which
// cannot be synced, the kernel answers EINVAL and the guest must see IOERR.
func TestFlushCallsFdatasync(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	x := activate(t, pw, Options{})
	st, head := x.submit(TypeFlush, 0)
	x.expect(st, head, StatusIOErr, 1)
}

func TestGetID(t *testing.T) {
	x := newRig(t, Options{ID: "disk-0123456789abcdefXYZ"})
	buf := x.g.Out(IDLen, 0xEE)
	st, head := x.submit(TypeGetID, 0, buf)
	x.expect(st, head, StatusOK, IDLen+1)
	if got := string(x.g.Bytes(buf.Addr, IDLen)); got != "disk-0123456789abcde" {
		t.Fatalf("id = %q", got)
	}
	short := x.g.Out(4, 0xEE)
	st, head = x.submit(TypeGetID, 0, short)
	x.expect(st, head, StatusOK, 5)
}

func TestUnsupportedType(t *testing.T) {
	x := newRig(t, Options{})
	for _, typ := range []uint32{TypeDiscard, TypeWriteZeroes, TypeGetLifetime, 0xdeadbeef} {
		st, head := x.submit(typ, 0, x.g.Out(16, 0))
		x.expect(st, head, StatusUnsupp, 1)
	}
}

func TestHeaderSplitAcrossDescriptors(t *testing.T) {
	x := newRig(t, Options{})
	h := header(TypeIn, 7)
	data := x.g.Out(SectorSize, 0)
	st := x.g.Out(1, 0xff)
	head := x.r.AddChain(x.g.In(h[:5]), x.g.In(h[5:]), data, st)
	x.r.Publish(head)
	x.dev.Notify(0)
	x.expect(st.Addr, head, StatusOK, SectorSize+1)
	if x.g.RAM[data.Addr] != 7 {
		t.Fatal("wrong sector read")
	}
}

func TestStatusSharesDescriptorWithData(t *testing.T) {
	x := newRig(t, Options{})
	buf := x.g.Out(SectorSize+1, 0xff)
	head := x.r.AddChain(x.g.In(header(TypeIn, 2)), buf)
	x.r.Publish(head)
	x.dev.Notify(0)
	x.expect(buf.Addr+SectorSize, head, StatusOK, SectorSize+1)
	if x.g.RAM[buf.Addr] != 2 {
		t.Fatal("wrong data")
	}
}

// TestZeroLengthWritableIsNotStatus: a zero-length writable descriptor
// before the real status byte grants the device no byte; the status goes
// to the last byte of the last descriptor, and the byte the empty
// descriptor points at is left alone.
func TestZeroLengthWritableIsNotStatus(t *testing.T) {
	x := newRig(t, Options{})
	bait := x.g.Out(1, 0xaa) // a byte the guest never granted
	data, st := x.g.Out(SectorSize, 0), x.g.Out(1, 0xff)
	empty := virtiotest.Buf{Addr: bait.Addr, Len: 0, Write: true}
	head := x.r.AddChain(x.g.In(header(TypeIn, 5)), data, empty, st)
	x.r.Publish(head)
	x.dev.Notify(0)
	x.expect(st.Addr, head, StatusOK, SectorSize+1)
	if x.g.RAM[bait.Addr] != 0xaa {
		t.Fatalf("device wrote %#x into a zero-length descriptor", x.g.RAM[bait.Addr])
	}
}

// TestTrailingZeroLengthHasNoStatus: a chain whose last descriptor is a
// zero-length writable one has no status byte (virtio 1.2 §5.2.6); it is
// returned unanswered and no byte of guest memory is written.
func TestTrailingZeroLengthHasNoStatus(t *testing.T) {
	x := newRig(t, Options{})
	st, bait := x.g.Out(1, 0xff), x.g.Out(1, 0xaa)
	head := x.r.AddChain(x.g.In(header(TypeIn, 0)), st, virtiotest.Buf{Addr: bait.Addr, Write: true})
	x.r.Publish(head)
	x.dev.Notify(0)
	if id, ln := x.r.Used(0); x.r.UsedIdx() != 1 || id != uint32(head) || ln != 0 {
		t.Fatalf("used idx %d elem (%d,%d)", x.r.UsedIdx(), id, ln)
	}
	if x.g.RAM[st.Addr] != 0xff || x.g.RAM[bait.Addr] != 0xaa {
		t.Fatalf("device wrote guest memory: %#x %#x", x.g.RAM[st.Addr], x.g.RAM[bait.Addr])
	}
}

func TestShortHeaderIsIOErr(t *testing.T) {
	x := newRig(t, Options{})
	st := x.g.Out(1, 0xff)
	head := x.r.AddChain(x.g.In([]byte{0, 0, 0}), st)
	x.r.Publish(head)
	x.dev.Notify(0)
	x.expect(st.Addr, head, StatusIOErr, 1)
}

func TestNoStatusByte(t *testing.T) {
	x := newRig(t, Options{})
	head := x.r.AddChain(x.g.In(header(TypeIn, 0)))
	x.r.Publish(head)
	x.dev.Notify(0)
	if id, ln := x.r.Used(0); x.r.UsedIdx() != 1 || id != uint32(head) || ln != 0 {
		t.Fatalf("used idx %d elem (%d,%d)", x.r.UsedIdx(), id, ln)
	}
	if x.dev.Counters().Errors != 1 {
		t.Fatal("error not counted")
	}
}

func TestIndirectRequest(t *testing.T) {
	x := newRig(t, Options{})
	data, st := x.g.Out(SectorSize, 0), x.g.Out(1, 0xff)
	head := x.r.AddIndirect(x.g.In(header(TypeIn, 9)), data, st)
	x.r.Publish(head)
	x.dev.Notify(0)
	x.expect(st.Addr, head, StatusOK, SectorSize+1)
}

func TestBatchOneNotification(t *testing.T) {
	x := newRig(t, Options{})
	var heads []uint16
	for i := range 4 {
		heads = append(heads, x.r.AddChain(x.g.In(header(TypeIn, uint64(i))), x.g.Out(SectorSize, 0), x.g.Out(1, 0xff)))
	}
	x.r.Publish(heads...)
	x.dev.Notify(0)
	if x.r.UsedIdx() != 4 || x.n.Count(0) != 1 {
		t.Fatalf("used %d notifications %d", x.r.UsedIdx(), x.n.Count(0))
	}
}

func TestConfigSpace(t *testing.T) {
	x := newRig(t, Options{})
	cfg := make([]byte, 32)
	x.dev.ReadConfig(0, cfg)
	if c := binary.LittleEndian.Uint64(cfg[0:]); c != diskSize/SectorSize {
		t.Errorf("capacity = %d", c)
	}
	if s := binary.LittleEndian.Uint32(cfg[8:]); s != SegmentMax {
		t.Errorf("size_max = %d", s)
	}
	if s := binary.LittleEndian.Uint32(cfg[12:]); s != QueueSize-2 {
		t.Errorf("seg_max = %d", s)
	}
	if s := binary.LittleEndian.Uint32(cfg[20:]); s != SectorSize {
		t.Errorf("blk_size = %d", s)
	}
	if !bytes.Equal(cfg[24:], make([]byte, 8)) {
		t.Errorf("bytes past blk_size = %x", cfg[24:])
	}
	one := []byte{0xAA}
	x.dev.ReadConfig(1000, one)
	if one[0] != 0 {
		t.Error("read past config not zero")
	}
	f := x.dev.Features()
	for _, bit := range []uint64{virtio.FeatureVersion1, FeatureFlush, FeatureSizeMax, FeatureSegMax, FeatureBlkSize} {
		if f&bit == 0 {
			t.Errorf("feature %#x not offered", bit)
		}
	}
}

func TestResetStopsService(t *testing.T) {
	x := newRig(t, Options{})
	x.dev.Reset()
	x.r.Publish(x.r.AddChain(x.g.In(header(TypeFlush, 0)), x.g.Out(1, 0xff)))
	x.dev.Notify(0)
	if x.r.UsedIdx() != 0 {
		t.Fatal("served after reset")
	}
	if err := x.dev.Activate(x.g.Mem, []*virtio.Queue{nil}, x.n.Notify, 0); err == nil {
		t.Fatal("activated without a queue")
	}
}

// TestLargestRequestFitsChainCap checks the limits the device advertises
// against the queue's chain-length guard.
func TestLargestRequestFitsChainCap(t *testing.T) {
	if uint64(QueueSize-2)*SegmentMax+headerLen+1 > virtio.MaxChainBytes {
		t.Fatalf("seg_max*size_max exceeds virtio.MaxChainBytes")
	}
}
