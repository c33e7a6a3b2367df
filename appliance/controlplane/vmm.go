package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Per-instance files under the data directory: the root volume, copied
// from the image's disk at the first start and kept across stop and start,
// and the console log. Both are deleted when the instance terminates.
const (
	volumesDir  = "volumes"
	consolesDir = "consoles"
)

// volumePath is instance id's root volume.
func (cp *ControlPlane) volumePath(id string) string {
	return filepath.Join(cp.cfg.DataDir, volumesDir, id+".img")
}

// Instance returns the stored instance id, whoever owns it: for the
// appliance's own services (the metadata service), never for the API.
func (cp *ControlPlane) Instance(id string) (lifecycle.Instance, error) { return cp.life.Get(id) }

// ConsolePath is where instance id's console log goes.
func (cp *ControlPlane) ConsolePath(id string) string {
	return filepath.Join(cp.cfg.DataDir, consolesDir, id+".log")
}

// ensureVolume copies the image disk to the instance's volume unless it
// exists, keeping holes (runs of zero blocks are skipped, so the copy is
// sparse). The copy goes to a temporary file renamed into place, so a
// crash never leaves a half volume.
func (cp *ControlPlane) ensureVolume(id, disk string) (string, error) {
	dst := cp.volumePath(id)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("create volume directory: %w", err)
	}
	src, err := os.Open(disk)
	if err != nil {
		return "", fmt.Errorf("open image disk: %w", err)
	}
	defer src.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("create volume: %w", err)
	}
	err = sparseCopy(out, src)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("copy volume of %s: %w", id, err)
	}
	return dst, nil
}

// sparseCopy copies src to dst, seeking over all-zero blocks.
func sparseCopy(dst *os.File, src io.Reader) error {
	buf := make([]byte, 64<<10)
	var size int64
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if allZero(buf[:n]) {
				if _, err := dst.Seek(int64(n), io.SeekCurrent); err != nil {
					return err
				}
			} else if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
			size += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return dst.Truncate(size)
		}
		if err != nil {
			return err
		}
	}
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// removeInstanceFiles deletes the volume and console log of a terminated
// instance.
func (cp *ControlPlane) removeInstanceFiles(id string) error {
	for _, p := range []string{cp.volumePath(id), cp.ConsolePath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// VMMExited is the Runner's exit notification: a VMM that ended on its own
// (or after a stop) moves its instance to stopped with the reason, and its
// tap goes (the lease stays for the next start). Exits the
// lifecycle does not expect (the instance is already stopped, or shutting
// down) are ignored.
func (cp *ControlPlane) VMMExited(id, reason string, crashed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp.detach(ctx, id)
	e := lifecycle.Halted
	if crashed {
		e = lifecycle.Crashed
	}
	cp.life.Apply(ctx, id, e, lifecycle.Change{Reason: reason})
}

// Reconcile runs once at start: instances whose VMM did not survive the
// restart (not in alive) go to stopped (or terminated) with a reason. An
// instance it terminates was shutting down when the appliance died, between
// terminate's commit and its cleanup, so its volume, console log and VMM
// directory are removed here (the lease goes in SyncNetwork).
func (cp *ControlPlane) Reconcile(ctx context.Context, alive []string) ([]lifecycle.Instance, error) {
	live := map[string]bool{}
	for _, id := range alive {
		live[id] = true
	}
	reason := "vmm did not survive the appliance restart"
	if cp.cfg.Runner == nil {
		reason = NoHypervisor
	}
	changed, err := cp.life.Reconcile(ctx, func(in lifecycle.Instance) bool { return live[in.ID] }, reason)
	if err != nil {
		return changed, err
	}
	if err := cp.stopOrphans(ctx, alive); err != nil {
		return changed, err
	}
	for _, in := range changed {
		if in.State != lifecycle.Terminated {
			continue
		}
		if rerr := cp.removeInstanceFiles(in.ID); rerr != nil {
			return changed, rerr
		}
		if f, ok := cp.cfg.Runner.(Forgetter); ok {
			if ferr := f.Forget(in.ID); ferr != nil && !errors.Is(ferr, os.ErrNotExist) {
				return changed, ferr
			}
		}
	}
	return changed, err
}

// stopOrphans force-stops every VMM in alive whose instance is unknown or,
// after reconciling, not running (nothing may run that no instance
// accounts for), and forgets it unless a stopped instance still shows its
// console through it.
func (cp *ControlPlane) stopOrphans(ctx context.Context, alive []string) error {
	for _, id := range alive {
		in, err := cp.life.Get(id)
		unknown := errors.Is(err, store.ErrNotFound)
		switch {
		case err != nil && !unknown:
			return err
		case err == nil && mayRun(in.State):
			continue
		}
		if err := cp.cfg.Runner.Stop(ctx, id, true); err != nil {
			return fmt.Errorf("stop orphaned vmm %s: %w", id, err)
		}
		if f, ok := cp.cfg.Runner.(Forgetter); ok && (unknown || in.State == lifecycle.Terminated) {
			if err := f.Forget(id); err != nil {
				return fmt.Errorf("forget orphaned vmm %s: %w", id, err)
			}
		}
	}
	return nil
}

// SyncNetwork converges the host network to the store once at start, after
// Reconcile: every network and group, the taps of instances that may have a
// VMM, and no lease for an instance that is gone or terminated. It does
// nothing without NICs.
func (cp *ControlPlane) SyncNetwork(ctx context.Context) error {
	if cp.cfg.NICs == nil {
		return nil
	}
	insts, err := store.ListAll[lifecycle.Instance](cp.cfg.DB, store.Instances, "")
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, in := range insts {
		live[in.ID] = in.State != lifecycle.Terminated
	}
	// Forwards and public IPs of instances that are gone (terminated
	// while the appliance was down, or before a crash let terminate drop
	// them) are deleted in the same transaction that reads the state, and
	// Sync gets the state without them: nothing reaches the host network
	// before Sync, which knows which taps survived.
	var st netcfg.State
	err = cp.cfg.DB.Update(func(tx *store.Tx) (err error) {
		if st, err = netState(tx); err != nil {
			return err
		}
		return dropGone(tx, &st, func(id string) bool { return live[id] })
	})
	if err != nil {
		return err
	}
	return cp.cfg.NICs.Sync(ctx, st, insts)
}
