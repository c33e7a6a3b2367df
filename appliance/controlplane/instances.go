package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// busyWait bounds how long a lifecycle call waits for another call on the
// same instance before answering 409.
const busyWait = 5 * time.Second

// MaxConsole bounds one console read.
const MaxConsole = 1 << 20

// Instance is the API view of an instance (user data is not echoed).
type Instance struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"tenant_id"`
	State          string    `json:"state"`
	Reason         string    `json:"reason"`
	Type           string    `json:"type"`
	VCPUs          int       `json:"vcpus"`
	MemBytes       uint64    `json:"mem_bytes"`
	Image          string    `json:"image"`
	IPs            []string  `json:"ips"`
	LaunchTime     time.Time `json:"launch_time"`
	CreateTime     time.Time `json:"create_time"`
	Network        string    `json:"network,omitempty"`
	SecurityGroups []string  `json:"security_groups,omitempty"`
	KeyName        string    `json:"key_name,omitempty"`
}

// view renders a stored instance for the API.
func view(in lifecycle.Instance) Instance {
	ips := in.IPs
	if ips == nil {
		ips = []string{}
	}
	return Instance{
		ID: in.ID, TenantID: in.TenantID, State: string(in.State), Reason: in.Reason,
		Type: in.Type.Name, VCPUs: in.Type.VCPUs, MemBytes: in.Type.MemBytes, Image: in.Image,
		IPs: ips, LaunchTime: in.LaunchTime, CreateTime: in.CreateTime, Network: in.Network,
		SecurityGroups: in.SecurityGroups, KeyName: in.KeyName,
	}
}

// owned returns instance id if who may see it, else a 404 error.
func (cp *ControlPlane) owned(id string, who auth.Principal) (lifecycle.Instance, error) {
	in, err := cp.life.Get(id)
	if err != nil || !who.CanAccess(in.TenantID) || lifecycle.Expired(in, cp.cfg.Now()) {
		return lifecycle.Instance{}, fmt.Errorf("instance %q: %w", id, errNotFound)
	}
	return in, nil
}

func (cp *ControlPlane) listInstances(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	all, err := cp.life.List(who.TenantID)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]Instance, 0, len(all))
	for _, in := range all {
		out = append(out, view(in))
	}
	api.JSON(w, http.StatusOK, out)
}

func (cp *ControlPlane) getInstance(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	in, err := cp.owned(p["id"], who)
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, view(in))
}

func (cp *ControlPlane) launch(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q, count, err := decodeLaunch(r.Body)
	if err == nil && who.Admin {
		err = badRequest("the admin token owns no instances: launch with a tenant's token")
	}
	var img images.Image
	if err == nil {
		if img, err = cp.images.Get(q.Image); err != nil {
			err = badRequest("image %q does not exist", q.Image)
		}
	}
	if err == nil {
		err = cp.checkNetRefs(who.TenantID, q.Network, q.SecurityGroups)
	}
	var key string
	if err == nil {
		key, err = cp.launchKey(who.TenantID, q.KeyName)
	}
	if err != nil {
		fail(w, err)
		return
	}
	reason := "launched"
	if cp.cfg.Runner == nil {
		reason = NoHypervisor
	}
	insts, err := cp.life.Launch(lifecycle.LaunchSpec{
		TenantID: who.TenantID, Image: img.ID, Type: q.Type, Count: count, UserData: q.UserData,
		Network: q.Network, SecurityGroups: q.SecurityGroups, KeyName: q.KeyName, PublicKey: key, Reason: reason,
		HTTPTokens: q.HTTPTokens,
	})
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]Instance, 0, len(insts))
	for _, in := range insts {
		out = append(out, view(in))
		cp.boot(in)
	}
	cp.metrics.launched.Add(float64(len(insts)))
	api.JSON(w, http.StatusCreated, out)
}

// checkNetRefs checks that the network and groups exist and belong to
// the tenant, and that an instance in a network has a security group (its
// NIC's rules; with none there would be nothing to allow or deny by).
func (cp *ControlPlane) checkNetRefs(tenant, network string, groups []string) error {
	if network != "" && len(groups) == 0 {
		return badRequest("an instance in network %q needs at least one security group", network)
	}
	if network != "" {
		n, err := store.GetOne[netcfg.Network](cp.cfg.DB, store.Networks, network)
		if err != nil || n.Tenant != tenant {
			return badRequest("network %q does not exist", network)
		}
	}
	for _, g := range groups {
		sg, err := store.GetOne[netcfg.SecurityGroup](cp.cfg.DB, store.SecurityGroups, g)
		if err != nil || sg.Tenant != tenant {
			return badRequest("security group %q does not exist", g)
		}
	}
	return nil
}

// boot starts the VMM of a pending instance in the background and moves it
// to running, or to stopped with the reason. Without a Runner the instance
// stays pending (NoHypervisor). The start runs as the effect of the booted
// event, under the instance's lock, so a stop or terminate that arrives
// meanwhile waits for it and then finds either a running VMM or none, and
// a repeated boot of the same instance finds it no longer pending. An
// instance in a network gets its NIC first; the NIC's address is recorded
// when the VMM starts, and the tap is taken away again when it does not.
func (cp *ControlPlane) boot(in lifecycle.Instance) {
	if cp.cfg.Runner == nil {
		return
	}
	cp.bg.Add(1)
	go func() {
		defer cp.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var failed error // the effect's own error, without Apply's wrapping
		t0 := time.Now()
		var t3 time.Time // when the effect ended
		effect := func(cur lifecycle.Instance, next *lifecycle.Instance) error {
			t1 := time.Now()
			spec, err := cp.runSpec(ctx, cur)
			t2 := time.Now()
			if err == nil {
				err = cp.cfg.Runner.Start(ctx, spec)
			}
			t3 = time.Now()
			if err != nil {
				cp.detach(ctx, cur.ID)
				failed = err
				return err
			}
			cp.metrics.bootStage("queue", t1.Sub(t0))
			cp.metrics.bootStage("prepare", t2.Sub(t1))
			cp.metrics.bootStage("vmm", t3.Sub(t2))
			return recordIPs(spec)(cur, next)
		}
		_, err := cp.life.Apply(ctx, in.ID, lifecycle.Booted, lifecycle.Change{Reason: "vmm started", Effect: effect})
		if err == nil && !t3.IsZero() {
			cp.metrics.bootStage("commit", time.Since(t3))
		}
		if err == nil || failed == nil {
			// Started, or no longer pending (stopped, terminated or
			// booted by another start) before this boot got its turn.
			return
		}
		cp.life.Apply(ctx, in.ID, lifecycle.Crashed, lifecycle.Change{Reason: "vmm start failed: " + failed.Error()})
	}()
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
func (cp *ControlPlane) detach(ctx context.Context, id string) {
	if cp.cfg.NICs == nil {
		return
	}
	if err := cp.cfg.NICs.Detach(ctx, id); err != nil {
		cp.metrics.netFailures.Inc()
	}
}

// release frees the NIC and lease of a terminated instance.
func (cp *ControlPlane) release(ctx context.Context, in lifecycle.Instance) error {
	if cp.cfg.NICs == nil || in.Network == "" {
		return nil
	}
	if err := cp.cfg.NICs.Release(ctx, in.ID); err != nil {
		cp.metrics.netFailures.Inc()
		return fmt.Errorf("release network interface of %s: %w", in.ID, err)
	}
	return nil
}

// runSpec describes instance in for the Runner; an instance in a network
// gets its NIC attached (its lease allocated at the first start).
func (cp *ControlPlane) runSpec(ctx context.Context, in lifecycle.Instance) (RunSpec, error) {
	img, err := cp.images.Get(in.Image)
	if err != nil {
		return RunSpec{}, err
	}
	s := RunSpec{
		ID: in.ID, Kernel: cp.images.Path(img.ID, images.PartKernel), Cmdline: img.Cmdline,
		VCPUs: in.Type.VCPUs, MemBytes: in.Type.MemBytes, UserData: in.UserData,
	}
	if img.Initrd != nil {
		s.Initrd = cp.images.Path(img.ID, images.PartInitrd)
	}
	if img.Disk != nil {
		if s.RootVolume, err = cp.ensureVolume(in.ID, cp.images.Path(img.ID, images.PartDisk)); err != nil {
			return RunSpec{}, err
		}
	}
	s.ConsoleLog = cp.ConsolePath(in.ID)
	if err := os.MkdirAll(filepath.Dir(s.ConsoleLog), 0o700); err != nil {
		return RunSpec{}, fmt.Errorf("create console directory: %w", err)
	}
	if in.Network != "" && cp.cfg.NICs != nil {
		nic, err := cp.cfg.NICs.Attach(ctx, in)
		if err != nil {
			cp.metrics.netFailures.Inc()
			return s, fmt.Errorf("network %s: %w", in.Network, err)
		}
		s.NICs = append(s.NICs, nic)
	}
	return s, nil
}

// transition applies a user event to an owned instance and answers it.
func (cp *ControlPlane) transition(w http.ResponseWriter, r *http.Request, id string, who auth.Principal, e lifecycle.Event, ch lifecycle.Change) (lifecycle.Instance, bool) {
	if _, err := cp.owned(id, who); err != nil {
		fail(w, err)
		return lifecycle.Instance{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), busyWait)
	defer cancel()
	in, err := cp.life.Apply(ctx, id, e, ch)
	if err != nil {
		fail(w, err)
		return in, false
	}
	return in, true
}

// settle applies the supervisor-side follow-up event (halted, cleaned)
// once the user event's effect has completed, and answers the result.
func (cp *ControlPlane) settle(w http.ResponseWriter, r *http.Request, in lifecycle.Instance, e lifecycle.Event, reason string) {
	ctx, cancel := context.WithTimeout(r.Context(), busyWait)
	defer cancel()
	out, err := cp.life.Apply(ctx, in.ID, e, lifecycle.Change{Reason: reason})
	if errors.Is(err, lifecycle.ErrConflict) {
		// The Runner's exit notification got there first.
		if cur, gerr := cp.life.Get(in.ID); gerr == nil && cur.State != in.State {
			out, err = cur, nil
		}
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, view(out))
}

// mayRun reports whether an instance in state s, seen under its lock, may
// have a VMM. Only a running one does: boot starts the VMM under the same
// lock and leaves the instance running or stopped, and stop and terminate
// commit stopping and shutting-down only after their effect stopped it.
func mayRun(s lifecycle.State) bool { return s == lifecycle.Running }

// stopVMM is the effect of stop and terminate: it stops the VMM if there
// is a Runner and the instance may have one.
func (cp *ControlPlane) stopVMM(force bool) func(cur lifecycle.Instance, next *lifecycle.Instance) error {
	return func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if cp.cfg.Runner == nil || !mayRun(cur.State) {
			return nil
		}
		// Longer than the supervisor's graceful timeout, after which it
		// forces the stop itself.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := cp.cfg.Runner.Stop(ctx, cur.ID, force); err != nil {
			return err
		}
		cp.detach(ctx, cur.ID)
		return nil
	}
}

func (cp *ControlPlane) stop(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	var q StopRequest
	if err := decodeJSON(r.Body, &q, true); err != nil {
		fail(w, err)
		return
	}
	in, ok := cp.transition(w, r, p["id"], who, lifecycle.Stop, lifecycle.Change{Reason: "user request", Effect: cp.stopVMM(q.Force)})
	if !ok {
		return
	}
	if in.State != lifecycle.Stopping {
		api.JSON(w, http.StatusOK, view(in))
		return
	}
	cp.settle(w, r, in, lifecycle.Halted, "stopped by user request")
}

func (cp *ControlPlane) start(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	reason := "user request"
	if cp.cfg.Runner == nil {
		reason = NoHypervisor
	}
	in, ok := cp.transition(w, r, p["id"], who, lifecycle.Start, lifecycle.Change{Reason: reason})
	if !ok {
		return
	}
	if in.State == lifecycle.Pending {
		cp.boot(in)
	}
	api.JSON(w, http.StatusOK, view(in))
}

func (cp *ControlPlane) reboot(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	effect := func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if cp.cfg.Runner == nil {
			return fmt.Errorf("reboot: %s", NoHypervisor)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cp.cfg.Runner.Stop(ctx, cur.ID, true); err != nil {
			return err
		}
		// The old VMM's exit was reported before Stop returned; only the
		// new VMM's may still end the instance.
		cp.life.DiscardExits(cur.ID)
		spec, err := cp.runSpec(ctx, cur)
		if err == nil {
			err = cp.cfg.Runner.Start(ctx, spec)
		}
		if err != nil {
			cp.detach(ctx, cur.ID)
		}
		return err
	}
	in, ok := cp.transition(w, r, p["id"], who, lifecycle.Reboot, lifecycle.Change{Reason: "rebooted by user request", Effect: effect})
	if ok {
		api.JSON(w, http.StatusOK, view(in))
	}
}

func (cp *ControlPlane) patchInstance(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	q, err := decodePatch(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	t, err := cp.catalog.Get(q.Type)
	if err != nil {
		fail(w, badRequest("type: %v", err))
		return
	}
	in, ok := cp.transition(w, r, p["id"], who, lifecycle.Resize, lifecycle.Change{Reason: "resized to " + t.Name, Type: &t})
	if ok {
		api.JSON(w, http.StatusOK, view(in))
	}
}

func (cp *ControlPlane) terminate(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	stop := cp.stopVMM(true)
	effect := func(cur lifecycle.Instance, next *lifecycle.Instance) error {
		if err := stop(cur, next); err != nil {
			return err
		}
		next.IPs = nil // the lease is released below
		return nil
	}
	in, ok := cp.transition(w, r, p["id"], who, lifecycle.Terminate, lifecycle.Change{Reason: "user request", Effect: effect})
	if !ok {
		return
	}
	if in.State != lifecycle.ShuttingDown {
		api.JSON(w, http.StatusOK, view(in))
		return
	}
	if err := cp.removeInstanceFiles(in.ID); err != nil {
		fail(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cp.release(ctx, in); err != nil {
		fail(w, err)
		return
	}
	if err := cp.dropPublicOf(in); err != nil {
		fail(w, err)
		return
	}
	if f, ok := cp.cfg.Runner.(Forgetter); ok {
		if err := f.Forget(in.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
			cp.metrics.forgetFailures.Inc()
		}
	}
	cp.settle(w, r, in, lifecycle.Cleaned, "terminated by user request")
}

// ConsoleOutput is the answer of GET /v1/instances/{id}/console.
type ConsoleOutput struct {
	Output     string `json:"output"`
	NextOffset int64  `json:"next_offset"`
	// Available is false when the instance has no VMM to read from.
	Available bool `json:"available"`
}

func (cp *ControlPlane) console(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	in, err := cp.owned(p["id"], who)
	if err != nil {
		fail(w, err)
		return
	}
	off, err := queryInt(r, "offset", 0, 1<<62)
	if err != nil {
		fail(w, err)
		return
	}
	max, err := queryInt(r, "max", 64<<10, MaxConsole)
	if err != nil {
		fail(w, err)
		return
	}
	if cp.cfg.Runner == nil {
		api.JSON(w, http.StatusOK, ConsoleOutput{NextOffset: off})
		return
	}
	b, next, err := cp.cfg.Runner.Console(r.Context(), in.ID, off, int(max))
	if err != nil {
		fail(w, fmt.Errorf("console of %s: %w", in.ID, err))
		return
	}
	api.JSON(w, http.StatusOK, ConsoleOutput{Output: string(b), NextOffset: next, Available: true})
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string, def, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, badRequest("%s=%q: want an integer in 0..%d", name, s, max)
	}
	return n, nil
}
