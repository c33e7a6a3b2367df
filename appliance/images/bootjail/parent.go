package bootjail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// Read reads the disk in a jailed child and writes its kernel to kernel
// and its initrd (if any) to initrd. The disk must be open for reading;
// the child gets it read-only, whatever disk's own mode, through
// /proc/self/fd. A refusal of the disk's contents is a *ParseError;
// anything else that goes wrong with the child wraps ErrChild. When Read
// returns, the child is gone and its jail removed; on error kernel and
// initrd may have received part of a file.
func (c Config) Read(ctx context.Context, disk *os.File, q Request, kernel, initrd io.Writer) (Result, error) {
	if q.MaxKernel <= 0 || q.MaxInitrd <= 0 {
		return Result{}, fmt.Errorf("boot reader: MaxKernel and MaxInitrd are required")
	}
	c = c.withDefaults()
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", disk.Fd()))
	if err != nil {
		return Result{}, fmt.Errorf("boot reader: reopen the disk read-only: %w", err)
	}
	defer ro.Close()
	args, err := json.Marshal(q)
	if err != nil {
		return Result{}, err
	}
	var p pipes
	defer p.close()
	if err := p.open(); err != nil {
		return Result{}, fmt.Errorf("boot reader: %w", err)
	}
	var tag [8]byte
	rand.Read(tag[:])
	spec := c.spec(idPrefix + hex.EncodeToString(tag[:]))
	spec.Args = []string{Command, string(args)}
	spec.Files = jail.Files{Kernel: p.kw, Initrd: p.iw, Disks: []*os.File{ro}}
	stdout, stderr := &capped{max: maxReport}, &capped{max: maxReport}
	spec.Stdout, spec.Stderr = stdout, stderr
	defer jail.Cleanup(spec) // idempotent; kills anything left in the cgroup
	cmd, err := jail.Start(spec)
	if errors.Is(err, jail.ErrNoController) {
		// A host whose cgroup v2 lacks the memory or pids controller:
		// the namespaces, uid and seccomp still hold.
		spec.MemoryMax, spec.PidsMax = 0, 0
		cmd, err = jail.Start(spec)
	}
	if err != nil {
		return Result{}, errf("%v", err)
	}
	p.closeWriters() // the child holds them now: EOF when it ends
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	kill := sync.OnceFunc(func() { cmd.Process.Kill() })
	ks, is := p.copy(p.kr, kernel, q.MaxKernel, kill), p.copy(p.ir, initrd, q.MaxInitrd, kill)
	waited := make(chan error, 1)
	go func() { waited <- c.Starter.Wait(cmd) }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		kill()
		<-waited
		p.wg.Wait()
		return Result{}, errf("no answer within %v (%v); killed", c.Timeout, ctx.Err())
	}
	p.wg.Wait()
	return finish(werr, stdout, stderr, ks, is, q)
}

// finish makes Read's answer from how the child ended and what it sent.
func finish(werr error, stdout, stderr *capped, ks, is *sink, q Request) (Result, error) {
	if ks.err != nil {
		return Result{}, fmt.Errorf("boot reader: write kernel: %w", ks.err)
	}
	if is.err != nil {
		return Result{}, fmt.Errorf("boot reader: write initrd: %w", is.err)
	}
	var rep report
	if werr == nil {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			werr = fmt.Errorf("unreadable report %q: %v", trim(stdout.String()), err)
		}
	}
	if werr != nil {
		if msg := trim(stderr.String()); msg != "" {
			return Result{}, errf("%v: %s", exitText(werr), msg)
		}
		return Result{}, errf("%v", exitText(werr))
	}
	if rep.Error != "" {
		return Result{}, &ParseError{Stage: rep.Stage, Path: rep.Path, Msg: rep.Error}
	}
	r := rep.Result
	switch {
	case ks.n > q.MaxKernel:
		return Result{}, &ParseError{Stage: StageKernel, Path: r.KernelPath, Msg: fmt.Sprintf("kernel larger than %d bytes", q.MaxKernel)}
	case is.n > q.MaxInitrd:
		return Result{}, &ParseError{Stage: StageInitrd, Path: r.InitrdPath, Msg: fmt.Sprintf("initrd larger than %d bytes", q.MaxInitrd)}
	case ks.n != r.KernelSize || is.n != r.InitrdSize:
		return Result{}, errf("sent %d and %d bytes, reported %d and %d", ks.n, is.n, r.KernelSize, r.InitrdSize)
	case ks.n == 0 || r.KernelPath == "":
		return Result{}, errf("reported no kernel")
	case (is.n == 0) != (r.InitrdPath == ""):
		return Result{}, errf("initrd %q of %d bytes", r.InitrdPath, is.n)
	}
	return r, nil
}

// exitText says how the child ended.
func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return err.Error()
}

// trim keeps the last lines of a child's output for an error message.
func trim(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// pipes are the kernel's and the initrd's, read and write ends.
type pipes struct {
	kr, kw, ir, iw *os.File
	wg             sync.WaitGroup
}

func (p *pipes) open() (err error) {
	if p.kr, p.kw, err = os.Pipe(); err != nil {
		return err
	}
	p.ir, p.iw, err = os.Pipe()
	return err
}

func (p *pipes) closeWriters() {
	for _, f := range []**os.File{&p.kw, &p.iw} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

func (p *pipes) close() {
	p.closeWriters()
	for _, f := range []*os.File{p.kr, p.ir} {
		if f != nil {
			f.Close()
		}
	}
}

// sink is one pipe's copy: the bytes received and the writer's error.
type sink struct {
	n   int64
	err error
}

// copy copies r into w in the background, at most max+1 bytes: one more
// than allowed, or a failed write, kills the child.
func (p *pipes) copy(r io.Reader, w io.Writer, max int64, kill func()) *sink {
	s := &sink{}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ew := &errWriter{w: w}
		// A read error ends the copy short, which the size check
		// catches; a write error is the caller's.
		n, _ := io.Copy(ew, io.LimitReader(r, max+1))
		s.n, s.err = n, ew.err
		if n > max || ew.err != nil {
			kill()
		}
	}()
	return s
}

// errWriter remembers w's error, to tell it from the pipe's.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// capped is a bytes.Buffer that keeps the first max bytes written.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
