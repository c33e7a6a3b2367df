// Package virtionet is a virtio-net device (virtio 1.2 §5.1) on a Linux tap
// opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR. Frames cross the tap with the
// 12-byte virtio-net header of VIRTIO_F_VERSION_1 in front, so checksum and
// segmentation offloads pass between the guest and the host kernel as is.
// It is not called net, so that it does not shadow the standard library's
// package of that name in the files that use both.
package virtionet

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Queue indices (virtio 1.2 §5.1.2) and size.
const (
	RxQueue   = 0
	TxQueue   = 1
	QueueSize = 256
)

// statusLinkUp is VIRTIO_NET_S_LINK_UP (virtio 1.2 §5.1.4).
const statusLinkUp = 1

// Options configures a NIC.
type Options struct {
	// MAC is the guest's address. The zero value picks a random locally
	// administered unicast address.
	MAC [6]byte
	// MTU, if non-zero, is offered through VIRTIO_NET_F_MTU.
	MTU uint16
	// Logger receives errors; nil means slog.Default.
	Logger *slog.Logger
}

// Device is a virtio-net device on a tap. The receive path is a goroutine
// reading the tap; the transmit path is a goroutine woken by kicks. Neither
// runs on a vCPU thread: Notify only signals them.
type Device struct {
	tap        *os.File
	raw        syscall.RawConn
	mac        [6]byte
	mtu        uint16
	log        *slog.Logger
	setOffload func(flags uint32) error
	stats      stats
	rxKick     chan struct{}
	txKick     chan struct{}

	// mu guards the activation state below; the rx and tx goroutines
	// own their queue while running.
	mu     sync.Mutex
	mem    *memory.Memory
	rxq    *virtio.Queue
	txq    *virtio.Queue
	notify func(int) error
	acked  uint64
	stop   chan struct{}
	wg     sync.WaitGroup
	stash  []*virtio.Chain // receive chains popped but not used yet
	rxUsed []virtio.Used   // the receive goroutine's scratch for one frame
}

// New returns a NIC on tap, a tap opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR
// whose file is pollable (opened with os.OpenFile, or os.NewFile on a
// non-blocking fd). It sets the tap's vnet header size to 12
// (TUNSETVNETHDRSZ). The device does not close tap.
func New(tap *os.File, opts Options) (*Device, error) {
	d, err := newDevice(tap, opts)
	if err != nil {
		return nil, err
	}
	if err := d.control(func(fd int) error { return setVnetHdrSize(fd, HeaderLen) }); err != nil {
		return nil, fmt.Errorf("tap: set vnet header size: %w", err)
	}
	d.setOffload = func(flags uint32) error {
		return d.control(func(fd int) error { return setOffload(fd, flags) })
	}
	return d, nil
}

// newDevice builds the device on any pollable packet file, without tap
// ioctls (unit tests use a SOCK_SEQPACKET socket pair).
func newDevice(f *os.File, opts Options) (*Device, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("tap: %w", err)
	}
	// Reset unblocks the receive goroutine with a read deadline, which
	// only pollable files support.
	if err := f.SetReadDeadline(noDeadline); err != nil {
		return nil, fmt.Errorf("tap file is not pollable (open it non-blocking): %w", err)
	}
	d := &Device{
		tap: f, raw: raw, mac: opts.MAC, mtu: opts.MTU, log: opts.Logger,
		setOffload: func(uint32) error { return nil },
		rxKick:     make(chan struct{}, 1),
		txKick:     make(chan struct{}, 1),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("virtio", "net")
	if d.mac == ([6]byte{}) {
		_, _ = rand.Read(d.mac[:])
		d.mac[0] = d.mac[0]&^1 | 2 // unicast, locally administered
	}
	return d, nil
}

func (d *Device) control(fn func(fd int) error) error {
	var err error
	if cerr := d.raw.Control(func(fd uintptr) { err = fn(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// MAC returns the guest's MAC address.
func (d *Device) MAC() [6]byte { return d.mac }

// Type returns virtio.DeviceNet.
func (d *Device) Type() virtio.DeviceID { return virtio.DeviceNet }

// Features returns the offered features: checksum and TSO offloads both
// ways, UFO towards the guest, mergeable receive buffers, MAC, link status
// and, when configured, the MTU.
func (d *Device) Features() uint64 {
	f := uint64(virtio.FeatureVersion1 | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx |
		FeatureCsum | FeatureGuestCsum | FeatureGuestTSO4 | FeatureGuestTSO6 | FeatureGuestUFO |
		FeatureHostTSO4 | FeatureHostTSO6 | FeatureMrgRxbuf | FeatureMAC | FeatureStatus)
	if d.mtu != 0 {
		f |= FeatureMTU
	}
	return f
}

// QueueSizes returns the receive and transmit queues.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize} }

// ReadConfig reads struct virtio_net_config (virtio 1.2 §5.1.4): mac,
// status (link up), max_virtqueue_pairs (1), mtu.
func (d *Device) ReadConfig(offset uint64, data []byte) {
	var c [12]byte
	copy(c[0:], d.mac[:])
	binary.LittleEndian.PutUint16(c[6:], statusLinkUp)
	binary.LittleEndian.PutUint16(c[8:], 1)
	binary.LittleEndian.PutUint16(c[10:], d.mtu)
	clear(data)
	if offset < uint64(len(c)) {
		copy(data, c[offset:])
	}
}

// WriteConfig ignores writes: the MAC is writable only through the control
// queue (VIRTIO_NET_F_CTRL_MAC_ADDR), which is not offered.
func (d *Device) WriteConfig(offset uint64, data []byte) {}

// tunOffloads maps the negotiated guest receive offloads onto the tap's
// TUNSETOFFLOAD flags: what the host kernel may hand us without
// checksumming or segmenting first.
func tunOffloads(acked uint64) uint32 {
	if acked&FeatureGuestCsum == 0 {
		return 0
	}
	f := uint32(tunFCsum)
	if acked&FeatureGuestTSO4 != 0 {
		f |= tunFTSO4
	}
	if acked&FeatureGuestTSO6 != 0 {
		f |= tunFTSO6
	}
	if acked&FeatureGuestECN != 0 {
		f |= tunFTSOECN
	}
	if acked&FeatureGuestUFO != 0 {
		f |= tunFUFO
	}
	return f
}

// Activate sets the tap's offloads for the negotiated features and starts
// the receive and transmit goroutines.
func (d *Device) Activate(mem *memory.Memory, queues []*virtio.Queue, notify func(int) error, acked uint64) error {
	if len(queues) != 2 || queues[RxQueue] == nil || queues[TxQueue] == nil {
		return errors.New("virtio-net: receive and transmit queues must both be enabled")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop != nil {
		return errors.New("virtio-net: already active")
	}
	if err := d.setTapOffload(tunOffloads(acked)); err != nil {
		return err
	}
	d.mem, d.rxq, d.txq, d.notify, d.acked = mem, queues[RxQueue], queues[TxQueue], notify, acked
	d.stop = make(chan struct{})
	d.wg.Add(2)
	go d.rxLoop(d.stop)
	go d.txLoop(d.stop)
	return nil
}

// setTapOffload applies flags, retrying without UFO: kernels that dropped
// UFO refuse the flag, and the guest only loses an offload it may use.
func (d *Device) setTapOffload(flags uint32) error {
	err := d.setOffload(flags)
	if err != nil && flags&tunFUFO != 0 {
		err = d.setOffload(flags &^ tunFUFO)
	}
	if err != nil {
		return fmt.Errorf("tap: set offloads %#x: %w", flags, err)
	}
	return nil
}

// Reset stops both goroutines and forgets the queues.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop == nil {
		return
	}
	close(d.stop)
	_ = d.tap.SetReadDeadline(pastDeadline)
	d.wg.Wait()
	_ = d.tap.SetReadDeadline(noDeadline)
	if err := d.setOffload(0); err != nil {
		d.log.Warn("tap: clear offloads", "err", err)
	}
	d.stop, d.mem, d.rxq, d.txq, d.notify, d.acked, d.stash = nil, nil, nil, nil, nil, 0, nil
}

// Notify wakes the goroutine that serves queue q: new receive buffers or
// new frames to send. It never blocks.
func (d *Device) Notify(q int) {
	var ch chan struct{}
	switch q {
	case RxQueue:
		ch = d.rxKick
	case TxQueue:
		ch = d.txKick
	default:
		return
	}
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}
