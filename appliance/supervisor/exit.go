package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// exitStatus is how a VMM process ended, as far as the supervisor knows.
type exitStatus struct {
	known  bool // the wait status was collected (the VMM is our child)
	code   int  // exit code, if known and not signalled
	signal syscall.Signal
}

// watchChild waits for a VMM the supervisor started and finishes it.
func (s *Supervisor) watchChild(inst *instance, cmd *exec.Cmd) {
	err := s.opt.Starter.Wait(cmd)
	st := exitStatus{known: true}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			st.signal = ws.Signal()
		} else {
			st.code = ws.ExitStatus()
		}
	default:
		st.known = false
	}
	s.finish(inst, st)
}

// finish records how inst ended, cleans up its jail and socket, forgets it
// and calls OnExit.
func (s *Supervisor) finish(inst *instance, st exitStatus) {
	var reset bool
	inst.reason, inst.crashed, reset = s.describe(inst.id, st)
	if err := jail.Cleanup(s.opt.jailSpec(inst.id)); err != nil {
		inst.reason += fmt.Sprintf(" (cleanup: %v)", err)
	}
	os.Remove(s.opt.socket(inst.id))
	s.mu.Lock()
	if s.live[inst.id] == inst {
		delete(s.live, inst.id)
	}
	s.mu.Unlock()
	// OnExit (or OnReset) before done: Stop and a failed Start return
	// after it. A reset while a stop or reboot asked of the VMM was under
	// way ends that request (a graceful stop's Ctrl-Alt-Del makes a
	// systemd guest reboot rather than power off): the caller restarts
	// the instance or not, not the guest.
	switch {
	case reset && s.opt.OnReset != nil && !inst.asked.Load():
		s.opt.OnReset(inst.id, inst.reason)
	case s.opt.OnExit != nil:
		s.opt.OnExit(inst.id, inst.reason, inst.crashed)
	}
	close(inst.done)
}

// exitLine matches the VMM's last line: "ironvisor vmm run: REASON (exit N)".
var exitLine = regexp.MustCompile(`\(exit (\d+)\)`)

// describe turns an exit status and the VMM's last message into a reason,
// whether the VMM crashed (rather than the guest powering off or
// resetting, or the host stopping it), and whether the guest reset
// (rebooted) the machine.
func (s *Supervisor) describe(id string, st exitStatus) (reason string, crashed, reset bool) {
	msg := strings.TrimPrefix(lastLine(s.opt.logPath(id)), "ironvisor vmm run: ")
	if strings.HasPrefix(msg, stagesPrefix) {
		msg = "" // the VMM started and said nothing since: no reason of its own
	}
	code := st.code
	if !st.known {
		// Not our child: the VMM's own last line is the only record.
		m := exitLine.FindStringSubmatch(msg)
		if m == nil {
			return joinReason("vmm ended, exit status unknown", msg), true, false
		}
		code, _ = strconv.Atoi(m[1])
	}
	if stats, err := jail.ReadStats(s.opt.jailSpec(id)); err == nil && stats.OOMKills > 0 {
		return joinReason("vmm killed for running out of memory", msg), true, false
	}
	if st.signal != 0 {
		return joinReason("vmm killed by signal "+st.signal.String(), msg), true, false
	}
	if msg == "" {
		msg = "vmm exited with status " + strconv.Itoa(code)
	}
	switch code {
	case exitcode.Reset:
		return msg, false, true
	case exitcode.Poweroff, exitcode.Stopped:
		return msg, false, false
	}
	return msg, true, false
}

// stagesPrefix starts the line a VMM writes once its vCPUs are about to
// run (vmm/cli's start stages), which is not an exit message.
const stagesPrefix = "start stages "

// joinReason appends the VMM's message, if any, to what the supervisor saw.
func joinReason(what, msg string) string {
	if msg == "" {
		return what
	}
	return what + ": " + msg
}

// lastLine returns the last non-empty line of the file at path (looking
// at its final 4 KiB at most), or "".
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		f.Seek(fi.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, tail))
	b = bytes.TrimRight(b, "\r\n\t ")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// ignoreGone treats "the process is already gone" as success.
func ignoreGone(err error) error {
	if errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
