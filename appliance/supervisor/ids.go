package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// DefaultIDs is the size of the uid and gid ranges when Options.IDs is 0.
const DefaultIDs = 65536

// ErrNoIDs means every uid of the range belongs to an instance the
// supervisor still keeps (until Forget).
var ErrNoIDs = errors.New("supervisor: every VMM uid of the range is taken")

// InstanceIDs returns the uid and gid the VMM of instance id runs as:
// Options.UID+n and Options.GID+n for a slot n of [0, Options.IDs) that no
// other instance holds. The slot is recorded in the instance's meta.json
// the first time, so an instance keeps its uid across Stops and Starts and
// across appliance restarts (Reattach adopts VMMs that run as it), until
// Forget frees it.
//
// Hook for the control plane: the taps of id's NICs should be owned by
// this uid (netcfg NIC.Owner), so that no other VMM's uid may attach to
// them; it can ask here before it creates them.
func (s *Supervisor) InstanceIDs(id string) (uid, gid uint32, err error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	m, err := s.readMeta(id)
	if err != nil && !errors.Is(err, ErrUnknown) {
		return 0, 0, fmt.Errorf("ids of %s: %w", id, err)
	}
	if m.UID != 0 {
		return m.UID, m.GID, nil
	}
	if err := s.loadTaken(); err != nil {
		return 0, 0, fmt.Errorf("ids of %s: %w", id, err)
	}
	for n := uint32(0); n < s.opt.IDs; n++ {
		if s.taken[s.opt.UID+n] {
			continue
		}
		m.UID, m.GID = s.opt.UID+n, s.opt.GID+n
		if err := s.writeMeta(id, m); err != nil {
			return 0, 0, fmt.Errorf("ids of %s: %w", id, err)
		}
		s.taken[m.UID] = true
		return m.UID, m.GID, nil
	}
	return 0, 0, fmt.Errorf("ids of %s: %w", id, ErrNoIDs)
}

// loadTaken reads the uids recorded in every instance's meta.json, once
// in the supervisor's life; InstanceIDs and Forget keep s.taken current
// after that, so a new instance's uid costs the same on a host with a
// thousand instances as on an empty one. The caller holds idMu.
func (s *Supervisor) loadTaken() error {
	if s.taken != nil {
		return nil
	}
	taken, err := s.takenUIDs()
	if err != nil {
		return err
	}
	s.taken = taken
	return nil
}

// takenUIDs returns the uids recorded in every instance's meta.json.
func (s *Supervisor) takenUIDs() (map[uint32]bool, error) {
	ents, err := os.ReadDir(filepath.Join(s.opt.StateDir, "vmm"))
	if err != nil {
		return nil, err
	}
	taken := map[uint32]bool{}
	for _, e := range ents {
		if m, err := s.readMeta(e.Name()); err == nil && m.UID != 0 {
			taken[m.UID] = true
		}
	}
	return taken, nil
}

// writeMeta records m for id.
func (s *Supervisor) writeMeta(id string, m meta) error {
	dir := s.opt.instDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "meta.json"), b, 0o600)
}

// checkIDs validates the uid and gid ranges of o and fills in IDs.
func (o *Options) checkIDs() error {
	if o.IDs == 0 {
		o.IDs = DefaultIDs
	}
	if o.UID == 0 || o.GID == 0 {
		return fmt.Errorf("supervisor: VMM uid and gid must be non-zero (got %d:%d)", o.UID, o.GID)
	}
	if uint64(o.UID)+uint64(o.IDs) > math.MaxUint32 || uint64(o.GID)+uint64(o.IDs) > math.MaxUint32 {
		return fmt.Errorf("supervisor: %d VMM ids from %d:%d overflow", o.IDs, o.UID, o.GID)
	}
	return nil
}
