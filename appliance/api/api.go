package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
)

// HostSource produces the host document; *hostinfo.Collector is one.
type HostSource interface {
	Collect() hostinfo.Host
}

// New returns the API handler with every route registered.
func New(host HostSource) *Router {
	rt := &Router{}
	rt.Handle(http.MethodGet, "/v1/host", HostHandler(host, ""))
	return rt
}

// Server limits: what one client may hold of the API server.
const (
	// MaxConns is how many connections are served at once; more wait in
	// the kernel's accept queue until one closes, so a client that opens
	// thousands cannot exhaust the appliance's file descriptors.
	MaxConns = 512
	// MaxConnsPerAddr is how many of those one client address (an IPv6
	// client: its /64) may hold. Without it one client that opens
	// MaxConns connections makes every other tenant's new connection
	// wait in the accept queue.
	MaxConnsPerAddr = 64
	// ParkFor is how long a connection beyond its client's
	// MaxConnsPerAddr is held, unread and unanswered, before it is
	// closed. Closed at once, a client that reconnects as soon as it is
	// refused makes the server accept and close thousands of connections
	// a second, CPU taken from every other client. A parked connection
	// holds no slot of MaxConns.
	ParkFor = 5 * time.Second
	// maxParked bounds the parked connections; beyond it they are closed
	// at once.
	maxParked = 2 * MaxConns
	// WriteTimeout bounds writing one answer: a client that stops
	// reading is cut. A handler that needs longer (an image upload)
	// extends its own deadline with http.ResponseController.
	WriteTimeout = 60 * time.Second
)

// Server is an HTTP server for the API with conservative timeouts and
// connection limits.
type Server struct {
	srv *http.Server
	lim limits
}

// limits are a Server's connection limits.
type limits struct {
	conns, perAddr, parked int
	park                   time.Duration
	// parkedHook, if set, is called once a connection is parked (tests
	// wait on it instead of sleeping).
	parkedHook func()
}

// NewServer wraps h in an http.Server with timeouts that keep slow or idle
// clients from holding connections forever, at most MaxConns
// connections, and at most MaxConnsPerAddr of them from one client.
func NewServer(h http.Handler) *Server {
	return newServer(h, limits{conns: MaxConns, perAddr: MaxConnsPerAddr, parked: maxParked, park: ParkFor}, WriteTimeout)
}

// newServer is NewServer with its limits as arguments, for tests.
func newServer(h http.Handler, lim limits, writeTimeout time.Duration) *Server {
	return &Server{lim: lim, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}}
}

// Serve serves on ln, at most MaxConns connections at once and
// MaxConnsPerAddr of one client, until Shutdown; it returns nil after a
// clean shutdown.
func (s *Server) Serve(ln net.Listener) error {
	l := &connLimit{Listener: ln, lim: s.lim, slots: make(chan struct{}, s.lim.conns), done: make(chan struct{}),
		held: map[netip.Prefix]int{}, parked: map[net.Conn]bool{}}
	if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve api on %s: %w", ln.Addr(), err)
	}
	return nil
}

// connLimit accepts a connection only when one of its slots is free, and
// parks the connections of a client that already holds lim.perAddr.
type connLimit struct {
	net.Listener
	lim   limits
	slots chan struct{} // one sent per connection served
	done  chan struct{} // closed by Close
	close sync.Once

	mu     sync.Mutex
	held   map[netip.Prefix]int // guarded by mu: client → connections served
	parked map[net.Conn]bool    // guarded by mu
}

func (l *connLimit) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		key, ok := client(c.RemoteAddr())
		l.mu.Lock()
		if ok && l.held[key] >= l.lim.perAddr {
			l.park(c)
			l.mu.Unlock()
			<-l.slots
			continue
		}
		if ok {
			l.held[key]++
		}
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() {
			if ok {
				l.mu.Lock()
				if l.held[key]--; l.held[key] <= 0 {
					delete(l.held, key)
				}
				l.mu.Unlock()
			}
			<-l.slots
		})}, nil
	}
}

// park holds c for lim.park and then closes it, or closes it at once
// when lim.parked are held. The caller holds mu.
func (l *connLimit) park(c net.Conn) {
	if len(l.parked) >= l.lim.parked {
		c.Close()
		return
	}
	l.parked[c] = true
	if l.lim.parkedHook != nil {
		l.lim.parkedHook()
	}
	time.AfterFunc(l.lim.park, func() {
		l.mu.Lock()
		delete(l.parked, c)
		l.mu.Unlock()
		c.Close()
	})
}

// Close stops accepting and closes the parked connections.
func (l *connLimit) Close() error {
	l.close.Do(func() { close(l.done) })
	l.mu.Lock()
	for c := range l.parked {
		c.Close()
		delete(l.parked, c)
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// client is who a remote address counts as: an IPv4 address, or the /64
// of an IPv6 one (what one host is usually given).
func client(a net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32), true
	}
	p, err := ip.WithZone("").Prefix(64)
	return p, err == nil
}

// limitedConn gives its slot and its client's count back when it is
// closed.
type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
		return fmt.Errorf("shut down api: %w", err)
	}
	return nil
}

// URL returns the http:// URL for a listening address. An unspecified host
// (0.0.0.0 or ::) is replaced by advertise when it is valid.
func URL(addr net.Addr, advertise net.IP) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); (ip == nil || ip.IsUnspecified()) && advertise != nil {
		host = advertise.String()
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
