package vm

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// runState is the lifecycle shared by the vCPU goroutines and the control
// methods.
type runState struct {
	stopping atomic.Bool // set once; every vCPU leaves its loop

	mu sync.Mutex
	// All fields below are guarded by mu.
	cond    *sync.Cond
	paused  bool
	parked  int // vCPUs waiting in pause
	result  Result
	done    chan struct{} // closed by the first finish
	exited  chan struct{} // closed when Run has stopped every vCPU
	started bool
	start   time.Time // when Run started
}

// init prepares the state.
func (s *runState) init() {
	s.cond = sync.NewCond(&s.mu)
	s.done = make(chan struct{})
	s.exited = make(chan struct{})
}

// finish records how the VM ended (the first call wins) and makes every
// vCPU stop. It is safe from any goroutine, including a vCPU's own.
func (v *VM) finish(code int, reason string, err error) {
	s := &v.state
	s.mu.Lock()
	first := !s.stopping.Load()
	if first {
		s.stopping.Store(true)
		s.result = Result{Code: code, Reason: reason, Err: err}
		close(s.done)
		s.paused = false
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	if first {
		v.log.Info("vm stopping", "code", code, "reason", reason, "err", err)
		v.kickAll()
	}
}

// kickAll makes every vCPU leave KVM_RUN.
func (v *VM) kickAll() {
	for _, c := range v.vcpus {
		if err := c.Kick(); err != nil {
			v.log.Warn("kick", "err", err)
		}
	}
}

// Run runs the guest until it powers off, resets, breaks a device, the VMM
// fails, or ctx is cancelled (a forced stop), and returns how it ended. It
// runs one goroutine per vCPU, each locked to its OS thread.
func (v *VM) Run(ctx context.Context) Result {
	s := &v.state
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return Result{Code: exitcode.VMMError, Reason: "vm already ran", Err: fmt.Errorf("vm already ran")}
	}
	s.started = true
	s.start = time.Now()
	s.mu.Unlock()
	defer close(s.exited)

	for _, d := range v.virt {
		d.start(v)
	}
	for _, c := range v.vcpus {
		v.vcpuWG.Add(1)
		go func() {
			defer v.vcpuWG.Done()
			v.runVCPU(c)
		}()
	}
	select {
	case <-ctx.Done():
		v.finish(exitcode.Stopped, "stopped by the host", nil)
	case <-s.done:
	}
	v.vcpuWG.Wait()
	v.out.Flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.result.Reason == reasonTripleFault {
		s.result.State = v.crashReport(int(v.shutdownVCPU.Load()))
	}
	return s.result
}

// runVCPU is one vCPU's loop: enter the guest, serve the exit, repeat.
func (v *VM) runVCPU(c *kvm.VCPU) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c.BindThread()
	defer c.UnbindThread()
	for !v.state.stopping.Load() {
		if v.waitWhilePaused() {
			continue
		}
		reason, err := c.Run()
		if err != nil {
			v.finish(exitcode.VMMError, "KVM_RUN failed", err)
			return
		}
		v.stats.count(reason)
		v.recordExit(c, reason)
		if err := v.handleExit(c, reason); err != nil {
			v.finish(exitcode.VMMError, fmt.Sprintf("vcpu %d: %s exit", c.ID(), reason), err)
			return
		}
	}
}

// waitWhilePaused parks the calling vCPU while the VM is paused and reports
// whether it did.
func (v *VM) waitWhilePaused() bool {
	s := &v.state
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.paused {
		return false
	}
	s.parked++
	s.cond.Broadcast()
	for s.paused && !s.stopping.Load() {
		s.cond.Wait()
	}
	s.parked--
	return true
}

// handleExit serves one exit. Guest-caused endings call finish and return
// nil; an error means the VMM cannot go on.
func (v *VM) handleExit(c *kvm.VCPU, reason kvm.ExitReason) error {
	switch reason {
	case kvm.ExitIO:
		return v.handleIO(c)
	case kvm.ExitMMIO:
		e := c.MMIO()
		if e.IsWrite {
			v.mmio.Write(e.Addr, e.Data)
		} else {
			v.mmio.Read(e.Addr, e.Data)
		}
	case kvm.ExitIntr:
		// A kick or a stray signal: the loop re-checks the state.
	case kvm.ExitShutdown:
		v.shutdownVCPU.CompareAndSwap(-1, int32(c.ID()))
		v.finish(exitcode.Reset, reasonTripleFault, nil)
	case kvm.ExitSystemEvent:
		switch t := c.SystemEvent(); t {
		case kvm.SystemEventShutdown:
			v.finish(exitcode.Poweroff, "guest powered off (system event)", nil)
		case kvm.SystemEventReset:
			v.finish(exitcode.Reset, "guest reset (system event)", nil)
		default:
			v.finish(exitcode.VMMError, "guest system event "+t.String(), nil)
		}
	case kvm.ExitFailEntry:
		return fmt.Errorf("entry failed, hardware reason %#x", c.FailEntryReason())
	case kvm.ExitInternalError:
		return fmt.Errorf("KVM internal error, suberror %d", c.InternalSuberror())
	default:
		return fmt.Errorf("unexpected exit %s", reason)
	}
	return nil
}

// handleIO dispatches a port I/O exit, one bus access per repetition of a
// string instruction.
func (v *VM) handleIO(c *kvm.VCPU) error {
	e, err := c.IO()
	if err != nil {
		return err
	}
	size := int(e.Size)
	for i := 0; i+size <= len(e.Data) && size > 0; i += size {
		if e.Direction == kvm.IOOut {
			v.pio.Write(uint64(e.Port), e.Data[i:i+size])
		} else {
			v.pio.Read(uint64(e.Port), e.Data[i:i+size])
		}
	}
	return nil
}
