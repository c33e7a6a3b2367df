package vm

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// eventFD is a Linux eventfd used as an irqfd (the VMM writes, KVM injects)
// or an ioeventfd (KVM writes on a guest MMIO write, the VMM reads).
type eventFD struct {
	f   *os.File // non-blocking, so reads park in the Go poller
	raw int      // the descriptor; f.Fd() would make it blocking
}

// newEventFD creates a non-blocking eventfd.
func newEventFD() (*eventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &eventFD{f: os.NewFile(uintptr(fd), "eventfd"), raw: fd}, nil
}

// fd returns the raw descriptor, for KVM_IRQFD and KVM_IOEVENTFD.
func (e *eventFD) fd() int { return e.raw }

// Trigger adds one to the counter: as an irqfd, KVM injects an edge on the
// bound GSI without any exit.
func (e *eventFD) Trigger() error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	if _, err := e.f.Write(b[:]); err != nil {
		return fmt.Errorf("signal eventfd: %w", err)
	}
	return nil
}

// wait blocks until the counter is non-zero and resets it. It returns an
// error once the eventfd is closed.
func (e *eventFD) wait() error {
	var b [8]byte
	_, err := e.f.Read(b[:])
	return err
}

// Close closes the eventfd, waking a blocked wait.
func (e *eventFD) Close() error { return e.f.Close() }
