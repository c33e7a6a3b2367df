package virtionet

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// txBudget bounds the frames sent per wake-up, so a guest flooding the
// transmit queue shares the goroutine's time with Reset and the scheduler.
const txBudget = 256

// txLoop sends frames whenever the driver kicks the transmit queue, until
// stop closes.
func (d *Device) txLoop(stop <-chan struct{}) {
	defer d.wg.Done()
	for {
		select {
		case <-stop:
			return
		case <-d.txKick:
		}
		if d.txBatch() {
			// Budget spent with frames left: wake ourselves again
			// rather than wait for a kick the driver may not send.
			d.Notify(TxQueue)
		}
	}
}

// txBatch sends up to txBudget frames, returns their chains (virtio 1.2
// §5.1.6.2: used length 0) and signals the driver. It reports whether frames
// are left.
func (d *Device) txBatch() bool {
	sent := 0
	for ; sent < txBudget; sent++ {
		c, err := d.txq.Pop()
		if err != nil || c == nil {
			break
		}
		if err := d.transmit(c); err != nil {
			d.stats.txDropped.Add(1)
			d.log.Debug("transmit dropped", "err", err)
		}
		if d.txq.Push(c.Head, 0) != nil {
			break
		}
	}
	if sent > 0 {
		if err := d.notify(TxQueue); err != nil {
			d.log.Error("signal used buffers", "err", err)
		}
	}
	return sent == txBudget && d.txq.Pending()
}

// transmit writes one frame to the tap: a validated copy of the header, then
// the frame straight from guest RAM (writev). The guest cannot change the
// header after CheckTX looked at it.
func (d *Device) transmit(c *virtio.Chain) error {
	total := c.ReadLen()
	if total < HeaderLen+minFrame || total > HeaderLen+MaxFrame {
		return fmt.Errorf("frame of %d bytes with header", total)
	}
	var hb [HeaderLen]byte
	if _, err := io.ReadFull(virtio.NewReader(d.mem, c), hb[:]); err != nil {
		return err
	}
	h, _ := ParseHeader(hb[:])
	h, err := CheckTX(h, int(total-HeaderLen), d.acked)
	if err != nil {
		return err
	}
	h.Put(hb[:])
	_, frame := virtio.SplitAt(c.Readable(), HeaderLen)
	iovs, err := virtio.Slices(d.mem, frame)
	if err != nil {
		return err
	}
	iovs = append([][]byte{hb[:]}, iovs...)
	if err := d.writev(iovs); err != nil {
		return err
	}
	d.stats.txPackets.Add(1)
	d.stats.txBytes.Add(total - HeaderLen)
	return nil
}

// writev writes one frame to the tap without waiting: a full tap queue
// (EAGAIN) drops the frame, as a NIC would.
func (d *Device) writev(iovs [][]byte) error {
	var werr error
	err := d.raw.Write(func(fd uintptr) bool {
		for {
			_, werr = unix.Writev(int(fd), iovs)
			if !errors.Is(werr, unix.EINTR) {
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("tap write: %w", werr)
	}
	return nil
}
