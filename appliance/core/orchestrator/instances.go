package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// busyWait bounds how long a lifecycle call waits for another call on the
// same instance before answering IncorrectState.
const busyWait = 5 * time.Second

// LaunchSpec is a launch as a front end decoded and checked it (names
// valid, count and user data in bounds).
type LaunchSpec struct {
	Image, Type    string
	Count          int
	UserData       []byte
	Network        string
	SecurityGroups []string
	KeyName        string
	HTTPTokens     string // the metadata token policy (lifecycle.HTTPTokens*)
	// RootSizeGiB is the root volume's size; 0 means the image's disk.
	RootSizeGiB int
}

// Launch creates who's instances of q and boots them in the background.
func (o *Orchestrator) Launch(who auth.Principal, q LaunchSpec) ([]lifecycle.Instance, error) {
	if who.Admin {
		return nil, fmt.Errorf("%w: the admin token owns no instances: launch with a tenant's token", apiv1.InvalidParameter)
	}
	o.imgMu.Lock()
	defer o.imgMu.Unlock()
	img, err := o.cfg.Images.Get(q.Image)
	if err != nil {
		return nil, fmt.Errorf("%w: image %q does not exist", apiv1.InvalidParameter, q.Image)
	}
	root, err := rootSize(img, q.RootSizeGiB)
	if err != nil {
		return nil, err
	}
	if err := o.cfg.Domain.CheckLaunch(who.TenantID, q.Network, q.SecurityGroups); err != nil {
		return nil, err
	}
	key, err := o.cfg.Domain.LaunchKey(who.TenantID, q.KeyName)
	if err != nil {
		return nil, err
	}
	reason := "launched"
	if o.cfg.Runner == nil {
		reason = NoHypervisor
	}
	o.diskMu.Lock()
	defer o.diskMu.Unlock()
	if err := o.admitDisk(q.Count, root); err != nil {
		return nil, err
	}
	insts, err := o.cfg.Life.Launch(lifecycle.LaunchSpec{
		TenantID: who.TenantID, Image: img.ID, Type: q.Type, Count: q.Count, UserData: q.UserData,
		Network: q.Network, SecurityGroups: q.SecurityGroups, KeyName: q.KeyName, PublicKey: key, Reason: reason,
		HTTPTokens: q.HTTPTokens, RootSize: root, Admit: admit(who.TenantID, root),
	})
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		o.boot(in)
	}
	o.metrics.launched.Add(float64(len(insts)))
	return insts, nil
}

// transition applies a user event to who's instance id.
func (o *Orchestrator) transition(ctx context.Context, who auth.Principal, id string, e lifecycle.Event, ch lifecycle.Change) (lifecycle.Instance, error) {
	if _, err := o.Instance(id, who); err != nil {
		return lifecycle.Instance{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, busyWait)
	defer cancel()
	return o.cfg.Life.Apply(ctx, id, e, ch)
}

// settle applies the supervisor-side follow-up event (halted, cleaned)
// once the user event's effect has completed.
func (o *Orchestrator) settle(ctx context.Context, in lifecycle.Instance, e lifecycle.Event, reason string) (lifecycle.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, busyWait)
	defer cancel()
	out, err := o.cfg.Life.Apply(ctx, in.ID, e, lifecycle.Change{Reason: reason})
	if errors.Is(err, lifecycle.ErrConflict) {
		// The Runner's exit notification got there first.
		if cur, gerr := o.cfg.Life.Get(in.ID); gerr == nil && cur.State != in.State {
			out, err = cur, nil
		}
	}
	return out, err
}

// Stop stops who's instance id, gracefully unless force.
func (o *Orchestrator) Stop(ctx context.Context, who auth.Principal, id string, force bool) (lifecycle.Instance, error) {
	return o.StopWithin(ctx, who, id, force, 0)
}

// MaxStopTimeout bounds the graceful timeout a stop may ask for.
const MaxStopTimeout = 10 * time.Minute

// StopWithin is Stop whose graceful stop (an ACPI power button, or
// Ctrl-Alt-Del, that the guest's init honours) is forced after graceful
// instead of the Runner's default; 0 means that default.
func (o *Orchestrator) StopWithin(ctx context.Context, who auth.Principal, id string, force bool, graceful time.Duration) (lifecycle.Instance, error) {
	if graceful < 0 || graceful > MaxStopTimeout {
		return lifecycle.Instance{}, fmt.Errorf("%w: stop timeout %v: must be 0 to %v", apiv1.InvalidParameter, graceful, MaxStopTimeout)
	}
	in, err := o.transition(ctx, who, id, lifecycle.Stop, lifecycle.Change{Reason: "user request", Effect: o.stopVMMWithin(force, graceful)})
	if err == nil && in.State == lifecycle.Stopped && in.Reason == ReasonRestartDue {
		// Stopped by a restart and waiting for StartAgain: the user's
		// stop is that it stays stopped.
		in, _, err = o.cfg.Life.Annotate(ctx, id, lifecycle.Stopped, ReasonRestartDue, "stopped by user request")
		return in, err
	}
	if err != nil || in.State != lifecycle.Stopping {
		return in, err
	}
	return o.settle(ctx, in, lifecycle.Halted, "stopped by user request")
}

// Start starts who's stopped instance id; it boots in the background.
func (o *Orchestrator) Start(ctx context.Context, who auth.Principal, id string) (lifecycle.Instance, error) {
	reason := "user request"
	if o.cfg.Runner == nil {
		reason = NoHypervisor
	}
	in, err := o.transition(ctx, who, id, lifecycle.Start, lifecycle.Change{Reason: reason})
	if err == nil && in.State == lifecycle.Pending {
		o.boot(in)
	}
	return in, err
}

// Reboot restarts the VMM of who's running instance id: gracefully, the
// guest rebooting in order, if the Runner is a Rebooter, else by force.
func (o *Orchestrator) Reboot(ctx context.Context, who auth.Principal, id string) (lifecycle.Instance, error) {
	return o.transition(ctx, who, id, lifecycle.Reboot, lifecycle.Change{Reason: "rebooted by user request", Effect: o.restartVMM(true)})
}

// restartVMM is the effect of a reboot: it ends the instance's VMM if
// stopFirst (a guest's own reset has ended it already), through the
// guest's own reboot if the Runner is a Rebooter, and starts a new one
// from a fresh run spec.
func (o *Orchestrator) restartVMM(stopFirst bool) func(cur lifecycle.Instance, next *lifecycle.Instance) error {
	return func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if o.cfg.Runner == nil {
			return fmt.Errorf("reboot: %s", NoHypervisor)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if stopFirst {
			if err := o.endForReboot(cur.ID); err != nil {
				return err
			}
		}
		// The old VMM's exit was reported before Stop returned; only the
		// new VMM's may still end the instance.
		o.cfg.Life.DiscardExits(cur.ID)
		spec, err := o.runSpec(ctx, cur)
		if err == nil {
			err = o.cfg.Runner.Start(ctx, spec)
		}
		if err != nil {
			o.detach(ctx, cur.ID)
		}
		return err
	}
}

// endForReboot ends the VMM of id for a reboot by the user: through the
// guest's reboot if the Runner is a Rebooter (within the Runner's graceful
// timeout, then forced), else by force.
func (o *Orchestrator) endForReboot(id string) error {
	// Longer than the Runner's graceful timeout, after which it forces.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if r, ok := o.cfg.Runner.(Rebooter); ok {
		return r.Reboot(ctx, id)
	}
	return o.cfg.Runner.Stop(ctx, id, true)
}

// Resize gives who's stopped instance id the instance type typeName.
func (o *Orchestrator) Resize(ctx context.Context, who auth.Principal, id, typeName string) (lifecycle.Instance, error) {
	t, err := o.cfg.Catalog.Get(typeName)
	if err != nil {
		return lifecycle.Instance{}, fmt.Errorf("%w: type: %v", apiv1.InvalidParameter, err)
	}
	return o.transition(ctx, who, id, lifecycle.Resize, lifecycle.Change{Reason: "resized to " + t.Name, Type: &t})
}

// Terminate stops who's instance id for good and removes what it had:
// its volume and console log, its NIC and lease, its port forwards and
// public IP, and the Runner's files about it.
func (o *Orchestrator) Terminate(ctx context.Context, who auth.Principal, id string) (lifecycle.Instance, error) {
	stop := o.stopVMM(true)
	effect := func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if err := stop(cur, next); err != nil {
			return err
		}
		next.IPs = nil // the lease is released below
		return nil
	}
	in, err := o.transition(ctx, who, id, lifecycle.Terminate, lifecycle.Change{Reason: "user request", Effect: effect})
	if err != nil || in.State != lifecycle.ShuttingDown {
		return in, err
	}
	if err := o.removeInstanceFiles(in.ID); err != nil {
		return in, err
	}
	rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := o.release(rctx, in); err != nil {
		return in, err
	}
	if err := o.cfg.Domain.DropPublicOf(in); err != nil {
		return in, err
	}
	if f, ok := o.cfg.Runner.(Forgetter); ok {
		if err := f.Forget(in.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
			o.metrics.forgetFailures.Inc()
		}
	}
	return o.settle(ctx, in, lifecycle.Cleaned, "terminated by user request")
}

// Console returns up to max bytes of the serial output of who's instance
// id from offset off, and the offset after them; available is false when
// there is no Runner to read from.
func (o *Orchestrator) Console(ctx context.Context, who auth.Principal, id string, off int64, max int) (out []byte, next int64, available bool, err error) {
	in, err := o.Instance(id, who)
	if err != nil {
		return nil, 0, false, err
	}
	if o.cfg.Runner == nil {
		return nil, off, false, nil
	}
	b, next, err := o.cfg.Runner.Console(ctx, in.ID, off, max)
	if err != nil && in.State == lifecycle.Pending {
		// Its VMM is not started yet: no output so far, but a console
		// is coming (a launch's page opens its terminal now).
		return nil, off, true, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("console of %s: %w", in.ID, err)
	}
	return b, next, true, nil
}
