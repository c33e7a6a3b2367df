package virtio

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// RequestQueue is the plumbing of a device with one request queue served
// synchronously in Notify (virtio-blk, virtio-rng): it keeps the queue,
// guest memory and notify function between Activate and Reset, and runs a
// serve function on every available chain. Embed it and implement the rest
// of Device.
type RequestQueue struct {
	// mu serializes Serve against Activate and Reset and guards the
	// fields below.
	mu     sync.Mutex
	mem    *memory.Memory
	q      *Queue
	notify func(int) error
}

// Activate takes queue 0 of queues, which must be enabled.
func (r *RequestQueue) Activate(mem *memory.Memory, queues []*Queue, notify func(int) error, acked uint64) error {
	if len(queues) != 1 || queues[0] == nil {
		return errors.New("request queue not enabled")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mem, r.q, r.notify = mem, queues[0], notify
	return nil
}

// Reset forgets the queue; Serve does nothing until the next Activate.
func (r *RequestQueue) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mem, r.q, r.notify = nil, nil, nil
}

// Serve runs serve on every available chain of queue q (which must be 0),
// returns each chain with the used length serve reports, and signals the
// driver once. A queue the driver broke stops the loop; the transport has
// already marked the device. Notify implementations call it; it runs in the
// caller's goroutine (the ioeventfd goroutine in the VMM).
func (r *RequestQueue) Serve(q int, serve func(mem *memory.Memory, c *Chain) uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if q != 0 || r.q == nil {
		return nil
	}
	served := false
	for {
		c, err := r.q.Pop()
		if err != nil || c == nil {
			break
		}
		used := serve(r.mem, c)
		if r.q.Push(c.Head, used) != nil {
			break
		}
		served = true
	}
	if !served {
		return nil
	}
	if err := r.notify(0); err != nil {
		return fmt.Errorf("signal used buffers: %w", err)
	}
	return nil
}
