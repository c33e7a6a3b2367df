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

	"golang.org/x/net/netutil"

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
	// client: its /64) may hold; a connection beyond it is closed at
	// once. Without it one client that opens MaxConns connections makes
	// every other tenant's new connection wait in the accept queue.
	MaxConnsPerAddr = 64
	// WriteTimeout bounds writing one answer: a client that stops
	// reading is cut. A handler that needs longer (an image upload)
	// extends its own deadline with http.ResponseController.
	WriteTimeout = 60 * time.Second
)

// Server is an HTTP server for the API with conservative timeouts and a
// connection limit.
type Server struct {
	srv               *http.Server
	maxConns, perAddr int
}

// NewServer wraps h in an http.Server with timeouts that keep slow or idle
// clients from holding connections forever, at most MaxConns
// connections, and at most MaxConnsPerAddr of them from one client.
func NewServer(h http.Handler) *Server {
	return newServer(h, MaxConns, MaxConnsPerAddr, WriteTimeout)
}

// newServer is NewServer with its limits as arguments, for tests.
func newServer(h http.Handler, maxConns, perAddr int, writeTimeout time.Duration) *Server {
	return &Server{maxConns: maxConns, perAddr: perAddr, srv: &http.Server{
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
	lim := &addrLimit{Listener: netutil.LimitListener(ln, s.maxConns), max: s.perAddr, held: map[netip.Prefix]int{}}
	if err := s.srv.Serve(lim); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve api on %s: %w", ln.Addr(), err)
	}
	return nil
}

// addrLimit closes, as soon as they are accepted, the connections of a
// client that already holds max. It sits above the server-wide limit:
// a refused connection gives its slot back at once.
type addrLimit struct {
	net.Listener
	max int

	mu   sync.Mutex
	held map[netip.Prefix]int // guarded by mu: client → connections open
}

func (l *addrLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := client(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		l.mu.Lock()
		if l.held[key] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.held[key]++
		l.mu.Unlock()
		return &addrConn{Conn: c, release: sync.OnceFunc(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.held[key]--; l.held[key] <= 0 {
				delete(l.held, key)
			}
		})}, nil
	}
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

// addrConn gives its client's count back when it is closed.
type addrConn struct {
	net.Conn
	release func()
}

func (c *addrConn) Close() error {
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
