package virtionet

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// rxWait is how long a received frame waits for the driver to post receive
// buffers before it is dropped.
const rxWait = 50 * time.Millisecond

// rxLoop reads frames from the tap and hands them to the driver until stop
// closes (Reset also sets a read deadline to unblock the read).
func (d *Device) rxLoop(stop <-chan struct{}) {
	defer d.wg.Done()
	buf := make([]byte, HeaderLen+MaxFrame)
	for {
		n, err := d.tap.Read(buf)
		select {
		case <-stop:
			return
		default:
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				d.log.Warn("tap read", "err", err)
			}
			// A tap with no carrier or similar: back off, stay stoppable.
			select {
			case <-stop:
				return
			case <-time.After(rxWait):
			}
			continue
		}
		if err := d.receive(buf[:n], stop); err != nil {
			d.stats.rxDropped.Add(1)
			d.log.Debug("receive dropped", "err", err)
		}
	}
}

// receive delivers one frame, with its tap header, into the driver's
// receive buffers (virtio 1.2 §5.1.6.3). With VIRTIO_NET_F_MRG_RXBUF it may
// span several chains and num_buffers says how many; without it, the frame
// must fit one chain.
func (d *Device) receive(pkt []byte, stop <-chan struct{}) error {
	if len(pkt) < HeaderLen+minFrame {
		return fmt.Errorf("short frame from tap: %d bytes", len(pkt))
	}
	h, _ := ParseHeader(pkt)
	h, err := CheckRX(h, d.acked)
	if err != nil {
		return err
	}
	chains, err := d.rxChains(uint64(len(pkt)), stop)
	if err != nil {
		return err
	}
	h.NumBuffers = uint16(len(chains))
	h.Put(pkt)
	rest := pkt
	used := d.rxUsed[:0]
	for _, c := range chains {
		w := virtio.NewWriter(d.mem, c)
		k := min(uint64(len(rest)), c.WriteLen())
		_, _ = w.Write(rest[:k])
		rest = rest[k:]
		used = append(used, virtio.Used{Head: c.Head, Len: w.Written()})
	}
	// All chains of the frame in one step: pushed one by one, used idx
	// would show the driver the first chain, whose num_buffers names
	// chains not yet used. Linux's receive_mergeable then counts a
	// rx_length_error, drops the frame, and takes the chains that follow
	// for new frames, reading frame data as their virtio-net headers
	// (virtio 1.2 §5.1.6.4.2).
	d.rxUsed = used
	if d.rxq.PushAll(used...) != nil {
		return errors.New("receive queue broken")
	}
	d.stats.rxPackets.Add(1)
	d.stats.rxBytes.Add(uint64(len(pkt) - HeaderLen))
	if err := d.notify(RxQueue); err != nil {
		d.log.Error("signal used buffers", "err", err)
	}
	return nil
}

// rxChains takes enough receive chains for n bytes: one big enough chain, or
// with MRG_RXBUF as many as needed. When the driver has not posted enough,
// it waits up to rxWait for a kick; chains it took but cannot use stay in
// the stash for the next frame.
func (d *Device) rxChains(n uint64, stop <-chan struct{}) ([]*virtio.Chain, error) {
	mrg := d.acked&FeatureMrgRxbuf != 0
	var deadline <-chan time.Time
	for {
		if err := d.fillStash(); err != nil {
			return nil, err
		}
		if k, ok := d.fits(n, mrg); ok {
			got := d.stash[:k:k]
			d.stash = d.stash[k:]
			return got, nil
		}
		if !mrg && len(d.stash) > 0 {
			// The head chain is too small for this frame but may
			// fit the next one; waiting would not help.
			return nil, fmt.Errorf("%d-byte frame larger than the receive buffer", n)
		}
		if deadline == nil {
			deadline = time.After(rxWait)
		}
		select {
		case <-stop:
			return nil, errors.New("device reset")
		case <-deadline:
			return nil, fmt.Errorf("no receive buffers for a %d-byte frame", n)
		case <-d.rxKick:
		}
	}
}

// fillStash pops every available receive chain into the stash.
func (d *Device) fillStash() error {
	for {
		c, err := d.rxq.Pop()
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		d.stash = append(d.stash, c)
	}
}

// fits reports how many stashed chains, from the front, hold n bytes.
func (d *Device) fits(n uint64, mrg bool) (int, bool) {
	if !mrg {
		return 1, len(d.stash) > 0 && d.stash[0].WriteLen() >= n
	}
	var room uint64
	for i, c := range d.stash {
		room += c.WriteLen()
		if room >= n {
			return i + 1, true
		}
	}
	return 0, false
}
