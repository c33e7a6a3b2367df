package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// boot starts the VMM of a pending instance in the background and moves it
// to running, or to stopped with the reason. Without a Runner the instance
// stays pending (NoHypervisor). The start runs as the effect of the booted
// event, under the instance's lock, so a stop or terminate that arrives
// meanwhile waits for it and then finds either a running VMM or none, and
// a repeated boot of the same instance finds it no longer pending. An
// instance in a network gets its NIC first; the NIC's address is recorded
// when the VMM starts, and the tap is taken away again when it does not.
func (o *Orchestrator) boot(in lifecycle.Instance) {
	if o.cfg.Runner == nil {
		return
	}
	o.bg.Add(1)
	go func() {
		defer o.bg.Done()
		o.bootNow(in, "vmm started")
	}()
}

// bootNow is boot's work, done before it returns: the instance runs with
// reason, or is stopped with "vmm start failed: ...". It reports whether
// this call started the VMM.
func (o *Orchestrator) bootNow(in lifecycle.Instance, reason string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var failed error // the effect's own error, without Apply's wrapping
	t0 := time.Now()
	var t3 time.Time // when the effect ended
	effect := func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		t1 := time.Now()
		spec, err := o.runSpec(ctx, cur)
		t2 := time.Now()
		if err == nil {
			err = o.cfg.Runner.Start(ctx, spec)
		}
		t3 = time.Now()
		if err != nil {
			o.detach(ctx, cur.ID)
			failed = err
			return err
		}
		o.metrics.bootStage("queue", t1.Sub(t0))
		o.metrics.bootStage("prepare", t2.Sub(t1))
		o.metrics.bootStage("vmm", t3.Sub(t2))
		return recordIPs(spec)(cur, next)
	}
	_, err := o.cfg.Life.Apply(ctx, in.ID, lifecycle.Booted, lifecycle.Change{Reason: reason, Effect: effect})
	if err == nil && !t3.IsZero() {
		o.metrics.bootStage("commit", time.Since(t3))
	}
	if err == nil || failed == nil {
		// Started, or no longer pending (stopped, terminated or
		// booted by another start) before this boot got its turn.
		return err == nil && !t3.IsZero()
	}
	o.cfg.Life.Apply(ctx, in.ID, lifecycle.Crashed, lifecycle.Change{Reason: "vmm start failed: " + failed.Error()})
	return false
}

// recordIPs is an Effect that records the addresses of spec's NICs on the
// instance (an instance without NICs keeps the addresses it has, so a
// stopped instance still shows its lease).
func recordIPs(spec RunSpec) func(cur lifecycle.Instance, next *lifecycle.Instance) error {
	return func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if len(spec.NICs) == 0 {
			return nil
		}
		next.IPs = nil
		for _, n := range spec.NICs {
			next.IPs = append(next.IPs, n.IP.String())
		}
		return nil
	}
}

// detach takes the tap of instance id away (keeping its lease); a failure
// is counted, and the next Sync or Attach converges.
func (o *Orchestrator) detach(ctx context.Context, id string) {
	if o.cfg.NICs == nil {
		return
	}
	if err := o.cfg.NICs.Detach(ctx, id); err != nil {
		o.metrics.netFailures.Inc()
	}
}

// release frees the NIC and lease of a terminated instance.
func (o *Orchestrator) release(ctx context.Context, in lifecycle.Instance) error {
	if o.cfg.NICs == nil || in.Network == "" {
		return nil
	}
	if err := o.cfg.NICs.Release(ctx, in.ID); err != nil {
		o.metrics.netFailures.Inc()
		return fmt.Errorf("release network interface of %s: %w", in.ID, err)
	}
	return nil
}

// runSpec describes instance in for the Runner; an instance in a network
// gets its NIC attached (its lease allocated at the first start).
func (o *Orchestrator) runSpec(ctx context.Context, in lifecycle.Instance) (RunSpec, error) {
	img, err := o.cfg.Images.Get(in.Image)
	if err != nil {
		return RunSpec{}, err
	}
	s := RunSpec{
		ID: in.ID, Kernel: o.cfg.Images.Path(img.ID, images.PartKernel), Cmdline: img.Cmdline,
		VCPUs: in.Type.VCPUs, MemBytes: in.Type.MemBytes, UserData: in.UserData,
	}
	if img.Initrd != nil {
		s.Initrd = o.cfg.Images.Path(img.ID, images.PartInitrd)
	}
	if img.Disk != nil {
		if s.RootVolume, err = o.ensureVolume(ctx, in.ID, o.cfg.Images.Path(img.ID, images.PartDisk), in.RootSize); err != nil {
			return RunSpec{}, err
		}
		if img.Boot != nil {
			// The image's kernel came from its disk: read it again from
			// the instance's own root at each start, as a bootloader
			// would, so that a kernel the guest installed boots.
			vb, err := o.cfg.Images.ReadBoot(s.RootVolume, o.bootDir(in.ID))
			if err != nil {
				return RunSpec{}, fmt.Errorf("boot from the root volume: %w", err)
			}
			s.Kernel, s.Initrd = vb.Kernel, vb.Initrd
		}
	}
	s.ConsoleLog = o.ConsolePath(in.ID)
	if err := os.MkdirAll(filepath.Dir(s.ConsoleLog), 0o700); err != nil {
		return RunSpec{}, fmt.Errorf("create console directory: %w", err)
	}
	if in.Network != "" && o.cfg.NICs != nil {
		nic, err := o.cfg.NICs.Attach(ctx, in)
		if err != nil {
			o.metrics.netFailures.Inc()
			return s, fmt.Errorf("network %s: %w", in.Network, err)
		}
		s.NICs = append(s.NICs, nic)
	}
	return s, nil
}

// mayRun reports whether an instance in state s, seen under its lock, may
// have a VMM. Only a running one does: boot starts the VMM under the same
// lock and leaves the instance running or stopped, and stop and terminate
// commit stopping and shutting-down only after their effect stopped it.
func mayRun(s lifecycle.State) bool { return s == lifecycle.Running }

// stopVMM is the effect of stop and terminate: it stops the VMM if there
// is a Runner and the instance may have one.
func (o *Orchestrator) stopVMM(force bool) func(cur lifecycle.Instance, next *lifecycle.Instance) error {
	return o.stopVMMWithin(force, 0)
}

// stopVMMWithin is stopVMM whose graceful stop, if graceful is set and the
// Runner is a TimedStopper, is forced after graceful rather than the
// Runner's own timeout.
func (o *Orchestrator) stopVMMWithin(force bool, graceful time.Duration) func(cur lifecycle.Instance, next *lifecycle.Instance) error {
	return func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if o.cfg.Runner == nil || !mayRun(cur.State) {
			return nil
		}
		// Longer than the graceful timeout, after which the Runner
		// forces the stop itself.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+graceful)
		defer cancel()
		ts, timed := o.cfg.Runner.(TimedStopper)
		var err error
		if !force && graceful > 0 && timed {
			err = ts.StopWithin(ctx, cur.ID, graceful)
		} else {
			err = o.cfg.Runner.Stop(ctx, cur.ID, force)
		}
		if err != nil {
			return err
		}
		o.detach(ctx, cur.ID)
		return nil
	}
}
