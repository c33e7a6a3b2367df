package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// VM is what the control server drives; vmm/vm implements it (or an adapter
// in cmd/ironvisor does). Its methods are called from one goroutine per
// client connection, so concurrently, and Status, Console and Counters
// must not block on a running operation such as a graceful Stop.
type VM interface {
	// Stop stops the VM. With force false it asks the guest to shut down
	// (ACPI power button or Ctrl-Alt-Del) and waits until the VM has
	// stopped or ctx is done, returning ctx.Err() in that case. With force
	// true it stops the vCPUs at once and returns when they have stopped.
	Stop(ctx context.Context, force bool) error
	// Reboot asks the guest to end its VM in order (as a graceful Stop
	// does) and waits until the VM has ended (the guest powered off or
	// reset it) or ctx is done, returning ctx.Err() in that case.
	Reboot(ctx context.Context) error
	// Pause stops the vCPUs without stopping the VM.
	Pause() error
	// Resume restarts paused vCPUs.
	Resume() error
	// Status describes the VM.
	Status() Status
	// Console returns up to max bytes of console output from absolute
	// offset and the offset to ask for next (ring.Buffer.Read semantics).
	Console(offset int64, max int) ([]byte, int64)
	// Counters returns the per-device counters.
	Counters() map[string]uint64
	// ConsoleInput queues p for the guest's serial port and returns how
	// many bytes were queued; it must not block on the vCPUs.
	ConsoleInput(p []byte) int
}

// MaxConns is the most connections a server serves at once; more are
// closed on accept.
const MaxConns = 16

// writeTimeout bounds writing one response to a slow client.
const writeTimeout = 10 * time.Second

// Server serves the control protocol for one VM.
type Server struct {
	vm VM
	// input paces OpInput across all connections.
	input *limiter
	// sem limits concurrent connections.
	sem chan struct{}
	wg  sync.WaitGroup
	// mu guards the fields below.
	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool // true while a request is being answered
	closed    bool
}

// NewServer returns a server for vm.
func NewServer(vm VM) *Server {
	return &Server{
		vm:        vm,
		input:     newLimiter(InputRate, MaxInput, time.Now),
		sem:       make(chan struct{}, MaxConns),
		listeners: map[net.Listener]bool{},
		conns:     map[net.Conn]bool{},
	}
}

// Listen creates a unix socket at path, replacing a stale one, readable and
// writable by its owner only.
func Listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod control socket: %w", err)
	}
	return l, nil
}

// ListenFile creates the control socket at path like Listen and returns
// it as a file to hand to a jailed VMM (jail.Files.Control). The socket
// file stays when the returned file is closed; the caller removes it.
func ListenFile(path string) (*os.File, error) {
	l, err := Listen(path)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	f, err := ul.File()
	ul.Close()
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("control socket file: %w", err)
	}
	return f, nil
}

// Serve accepts connections on l until l or the server is closed; it then
// returns nil. Each connection is served on its own goroutine.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l, nil) {
		l.Close()
		return nil
	}
	defer s.untrack(l, nil)
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept control connection: %w", err)
		}
		select {
		case s.sem <- struct{}{}:
		default:
			c.Close() // too many connections
			continue
		}
		if !s.track(nil, c) {
			c.Close()
			<-s.sem
			return nil
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			defer s.untrack(nil, c)
			s.serveConn(c)
		}()
	}
}

// track records a listener or connection; it reports false once closed.
func (s *Server) track(l net.Listener, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if l != nil {
		s.listeners[l] = true
	}
	if c != nil {
		s.conns[c] = false
	}
	return true
}

// setBusy marks c as answering a request (or not); it reports false once
// the server is closed, when c must stop.
func (s *Server) setBusy(c net.Conn, busy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = busy
	return true
}

// untrack forgets and closes a listener or connection.
func (s *Server) untrack(l net.Listener, c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l != nil {
		delete(s.listeners, l)
	}
	if c != nil {
		delete(s.conns, c)
		c.Close()
	}
}

// Close closes every listener and idle connection and waits for the
// connection goroutines to finish. A request in flight (such as the stop
// that made the VM exit) is answered first, then its connection closed.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c, busy := range s.conns {
		if !busy {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// serveConn answers requests on c until it closes or misbehaves.
func (s *Server) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, MaxLine)
	enc := json.NewEncoder(c)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.SetWriteDeadline(time.Now().Add(writeTimeout))
			enc.Encode(Response{Error: fmt.Sprintf("request line longer than %d bytes", MaxLine)})
			return
		}
		if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
			return
		}
		// A last line without a newline is still answered.
		if !s.setBusy(c, true) {
			return
		}
		ok := s.reply(c, enc, line)
		if !s.setBusy(c, false) || !ok || err != nil {
			return
		}
	}
}

// reply handles one line and writes the response; it reports whether the
// write succeeded.
func (s *Server) reply(c net.Conn, enc *json.Encoder, line []byte) bool {
	resp := s.Handle(context.Background(), line)
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return enc.Encode(resp) == nil
}
