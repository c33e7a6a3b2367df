// Package rack is the virtual rack: it boots Ironvisor the way real iron
// boots it, in QEMU "servers" with hardware-style virtualisation.
//
// Each server runs qemu-system-x86_64 with -accel tcg -cpu EPYC,+svm (so
// kvm_amd loads and /dev/kvm works inside it), boots a kernel and initrd
// directly (or through firmware: PXE, a UEFI disk), gets its uplink address
// from QEMU's user-mode network with the API port forwarded to localhost,
// and optionally shares a rack segment with other servers. The serial
// console streams to a log file; tests wait for console strings with
// deadlines, never by sleeping.
package rack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// Server is one running virtual server.
type Server struct {
	// Console is the server's serial console.
	Console *Console
	// LogPath is the console log file.
	LogPath string

	opts Options
	cmd  *exec.Cmd
	// monitorPath is QEMU's human monitor socket, in monitorDir (a short
	// path of its own: a unix socket's path has at most 107 bytes).
	monitorPath string
	monitorDir  string
	log         *os.File
	ports       map[int]int
	tempDir     string
	done        chan struct{}
	waitErr     error

	stopOnce sync.Once
	stopErr  error
}

// Start boots a server. The server runs until Stop, which the caller must
// call (also when the test fails). ctx only bounds the start itself.
func Start(ctx context.Context, o Options) (*Server, error) {
	o = o.withDefaults()
	s := &Server{opts: o, ports: make(map[int]int), done: make(chan struct{})}
	if err := s.prepare(); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.launch(ctx); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// prepare makes the log folder and file, merges the initrds and picks the
// forwarded host ports.
func (s *Server) prepare() error {
	dir := s.opts.LogDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "rack-"+s.opts.Name+"-")
		if err != nil {
			return fmt.Errorf("rack %s: log folder: %w", s.opts.Name, err)
		}
		dir, s.tempDir = tmp, tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rack %s: log folder: %w", s.opts.Name, err)
	}
	s.LogPath = filepath.Join(dir, s.opts.Name+".console.log")
	log, err := os.Create(s.LogPath)
	if err != nil {
		return fmt.Errorf("rack %s: console log: %w", s.opts.Name, err)
	}
	s.log = log
	if s.monitorDir, err = os.MkdirTemp("", "rackmon-"); err != nil {
		return fmt.Errorf("rack %s: monitor folder: %w", s.opts.Name, err)
	}
	s.monitorPath = filepath.Join(s.monitorDir, "m")
	for _, p := range s.opts.ForwardPorts {
		if s.opts.NoUplink {
			break
		}
		hp, err := freePort()
		if err != nil {
			return fmt.Errorf("rack %s: forward port %d: %w", s.opts.Name, p, err)
		}
		s.ports[p] = hp
	}
	for _, p := range s.opts.SamePorts {
		if _, dup := s.ports[p]; dup || p <= 0 || p > 65535 {
			return fmt.Errorf("rack %s: same port %d: out of range or forwarded twice", s.opts.Name, p)
		}
		s.ports[p] = p
	}
	return nil
}

// launch merges the initrds and starts QEMU with its stdout as the console.
func (s *Server) launch(ctx context.Context) error {
	initrd := ""
	if len(s.opts.Initrds) > 0 && s.opts.Kernel != "" {
		initrd = filepath.Join(filepath.Dir(s.LogPath), s.opts.Name+".initrd")
		if err := ConcatInitrds(initrd, s.opts.Initrds...); err != nil {
			return fmt.Errorf("rack %s: %w", s.opts.Name, err)
		}
	}
	o := s.opts
	o.ForwardPorts = append(append([]int(nil), o.ForwardPorts...), o.SamePorts...)
	hostPorts := make([]int, len(o.ForwardPorts))
	for i, p := range o.ForwardPorts {
		hostPorts[i] = s.ports[p]
	}
	args := o.args(initrd, hostPorts, s.monitorPath)
	fmt.Fprintf(s.log, "# %s %q\n", s.opts.QEMU, args)
	cmd := exec.Command(s.opts.QEMU, args...)
	// QEMU dies with us: no leftover servers if the test binary is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("rack %s: %w", s.opts.Name, err)
	}
	cmd.Stderr = cmd.Stdout // QEMU's own errors land in the console log.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rack %s: %w", s.opts.Name, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rack %s: start %s: %w", s.opts.Name, s.opts.QEMU, err)
	}
	s.cmd = cmd
	s.Console = newConsole(out, s.log, s.opts.Console)
	go func() {
		// Wait reads the pipe to EOF first, so the console is complete.
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return nil
}

// Addr returns "127.0.0.1:PORT", the localhost address forwarded to the
// server's guest TCP port, or "" if that port is not forwarded.
func (s *Server) Addr(guestPort int) string {
	hp, ok := s.ports[guestPort]
	if !ok {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", hp)
}

// Done is closed when QEMU has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns QEMU's exit status once Done is closed.
func (s *Server) Err() error {
	<-s.done
	return s.waitErr
}

// Stop kills QEMU, waits for it to exit and closes the log. It removes a
// temporary log folder unless Options.KeepLogs is set. It is safe to call
// more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			select {
			case <-s.done:
			default:
				if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
					s.stopErr = fmt.Errorf("rack %s: kill qemu: %w", s.opts.Name, err)
				}
				<-s.done
			}
		}
		s.cleanup()
	})
	return s.stopErr
}

// cleanup closes the log and removes a temporary folder.
func (s *Server) cleanup() {
	if s.log != nil {
		s.log.Close()
	}
	if s.monitorDir != "" {
		os.RemoveAll(s.monitorDir)
	}
	if s.tempDir != "" && !s.opts.KeepLogs {
		os.RemoveAll(s.tempDir)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ConcatInitrds writes the archives srcs, in order, into dst. Each part is
// padded with zeros to a 4-byte boundary: the kernel's init/initramfs.c
// skips zero padding between archives but expects every uncompressed cpio
// header 4-byte aligned.
func ConcatInitrds(dst string, srcs ...string) error {
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	var total int64
	for _, src := range srcs {
		n, err := appendFile(out, src)
		if err != nil {
			out.Close()
			return err
		}
		total += n
		if pad := (4 - total%4) % 4; pad != 0 {
			if _, err := out.Write(make([]byte, pad)); err != nil {
				out.Close()
				return fmt.Errorf("initrd: %w", err)
			}
			total += pad
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	return nil
}

// appendFile copies src to w and returns the number of bytes copied.
func appendFile(w io.Writer, src string) (int64, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("initrd: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("initrd %s: %w", src, err)
	}
	return n, nil
}
