package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ironvisor/ironvisor/vmm/control"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// ErrUnknown means the supervisor has no record of the instance.
var ErrUnknown = errors.New("supervisor: unknown instance")

// Console returns up to max bytes (at most control.MaxConsoleRead; 0 means
// control.DefaultConsoleRead) of the instance's console output from offset
// off and the offset to ask for next. It asks the running VMM (whose ring
// buffer holds the newest output) and falls back to the console log file
// when the VMM is gone or does not answer. Offsets are the same in both:
// Start truncates the log.
func (s *Supervisor) Console(ctx context.Context, id string, off int64, max int) ([]byte, int64, error) {
	if !jail.ValidID(id) {
		return nil, 0, fmt.Errorf("console: invalid instance id %q", id)
	}
	if off < 0 || max < 0 {
		return nil, 0, fmt.Errorf("console %s: negative offset or length", id)
	}
	if max == 0 {
		max = control.DefaultConsoleRead
	}
	max = min(max, control.MaxConsoleRead)
	if s.lookup(id) != nil {
		if b, next, err := s.liveConsole(ctx, id, off, max); err == nil {
			return b, next, nil
		}
	}
	m, err := s.readMeta(id)
	if err == nil && m.ConsoleLog == "" {
		err = ErrUnknown // given its ids (InstanceIDs), never started
	}
	if err != nil {
		return nil, 0, fmt.Errorf("console %s: %w", id, err)
	}
	return readLog(m.ConsoleLog, off, max)
}

// liveConsole reads the console through the VMM's control socket.
func (s *Supervisor) liveConsole(ctx context.Context, id string, off int64, max int) ([]byte, int64, error) {
	c, err := control.DialContext(ctx, s.opt.socket(id))
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	return c.Console(ctx, off, max)
}

// readMeta reads what the supervisor keeps about id.
func (s *Supervisor) readMeta(id string) (meta, error) {
	var m meta
	b, err := os.ReadFile(s.opt.instDir(id) + "/meta.json")
	if errors.Is(err, os.ErrNotExist) {
		return m, ErrUnknown
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read meta: %w", err)
	}
	return m, nil
}

// readLog reads up to max bytes of the log file at path from off.
func readLog(path string, off int64, max int) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("console log: %w", err)
	}
	defer f.Close()
	b := make([]byte, max)
	n, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("console log: %w", err)
	}
	return b[:n], off + int64(n), nil
}

// Forget removes what the supervisor keeps about a stopped instance (its
// console log path and the VMM's log); call it when the instance is
// terminated. The console log file itself belongs to the caller.
func (s *Supervisor) Forget(id string) error {
	if !jail.ValidID(id) {
		return fmt.Errorf("forget: invalid instance id %q", id)
	}
	if s.lookup(id) != nil {
		return fmt.Errorf("forget %s: %w", id, ErrRunning)
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	var m meta
	if s.taken != nil {
		m, _ = s.readMeta(id) // a meta that cannot be read holds no uid
	}
	if err := os.RemoveAll(s.opt.instDir(id)); err != nil {
		return fmt.Errorf("forget %s: %w", id, err)
	}
	if m.UID != 0 {
		delete(s.taken, m.UID)
	}
	return nil
}
