package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	// WriteTimeout bounds writing one answer: a client that stops
	// reading is cut. A handler that needs longer (an image upload)
	// extends its own deadline with http.ResponseController.
	WriteTimeout = 60 * time.Second
)

// Server is an HTTP server for the API with conservative timeouts and a
// connection limit.
type Server struct {
	srv      *http.Server
	maxConns int
}

// NewServer wraps h in an http.Server with timeouts that keep slow or idle
// clients from holding connections forever, and at most MaxConns
// connections.
func NewServer(h http.Handler) *Server { return newServer(h, MaxConns, WriteTimeout) }

// newServer is NewServer with its limits as arguments, for tests.
func newServer(h http.Handler, maxConns int, writeTimeout time.Duration) *Server {
	return &Server{maxConns: maxConns, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}}
}

// Serve serves on ln, at most MaxConns connections at once, until
// Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(netutil.LimitListener(ln, s.maxConns)); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve api on %s: %w", ln.Addr(), err)
	}
	return nil
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
