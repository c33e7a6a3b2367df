// Package metadata is the instance metadata service: what a guest learns
// about itself at http://169.254.169.254/, laid out like EC2's IMDS, so
// that stock cloud-init (its Ec2 datasource, which the guest picks from
// the SMBIOS UUID the supervisor gives it) and the usual scripts find it.
// "/" lists the API versions (Versions); every one, and "latest", serves:
//
//	VER/                          dynamic, meta-data, user-data
//	VER/meta-data/                the keys, one per line, directories with "/"
//	VER/meta-data/instance-id     i-…; also ami-id (the image), ami-launch-index,
//	    instance-type, instance-action, instance-life-cycle, hostname,
//	    local-hostname, local-ipv4, mac, public-ipv4 (with a public IP),
//	    security-groups, placement/availability-zone, placement/region,
//	    block-device-mapping/ami and /root (with a root volume)
//	VER/meta-data/network/interfaces/macs/MAC/  device-number, interface-id,
//	    local-hostname, local-ipv4s, mac, owner-id, public-ipv4s,
//	    security-groups, subnet-id, subnet-ipv4-cidr-block, vpc-id,
//	    vpc-ipv4-cidr-block
//	VER/meta-data/public-keys/0/openssh-key  the launch's key pair, if any
//	VER/dynamic/instance-identity/document   the identity document (JSON, unsigned)
//	VER/user-data                 the launch's user_data, verbatim (404 if none)
//	PUT /latest/api/token         an IMDSv2 session token (header
//	                              X-aws-ec2-metadata-token-ttl-seconds, 1..21600)
//
// netcfg redirects guest traffic to 169.254.169.254:80 to this server on
// the host (Port, on the bridge's gateway address), and Bind listens
// there and on no other address; netcfg also drops traffic to Port that
// does not come from a bridge. Who asks is decided by
// the tap the connection came through, never by what the guest claims: the
// bridge marks each tap's frames with its NIC's mark, and the accepted
// socket carries it (netcfg.MetadataIdentity). A connection that carries no
// NIC's mark (from the uplink, or from the host itself) is refused with 403,
// and an instance that is not pending or running gets 404.
//
// Requests without a token are answered (IMDSv1) unless the instance's
// HTTPTokens is "required", as EC2's http_tokens: then they get 401. A
// request that carries X-aws-ec2-metadata-token must carry a live token
// issued to the same NIC, or it gets 401.
//
// What one guest does must not hurt another: live tokens are counted per
// instance (maxTokens each; issuing one more drops that instance's token
// closest to expiry), never host-wide. As on EC2, every answer leaves with
// IP TTL 1, so that a guest that forwards packets (a container host, a
// proxy) cannot pass a token on to what runs behind it, and a request
// carrying X-Forwarded-For, the mark of a proxy, is refused with 403.
// Requests are rate-limited per instance (Config.Rate and Burst, a token
// bucket of package ratelimit, as EC2 throttles IMDS per interface): a
// guest over its rate gets 429 with Retry-After, held for
// ratelimit.HoldFor first, so that a guest asking again at once on many
// connections cannot take the host's CPU from other guests and the API.
package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/ratelimit"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Port is the host TCP port that netcfg redirects guests' metadata
// connections to (OpenStack's metadata port).
const Port = 8775

// Token headers of IMDSv2.
const (
	tokenHeader    = "X-Aws-Ec2-Metadata-Token"
	tokenTTLHeader = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	maxTokenTTL    = 21600
	maxTokens      = 64 // live tokens per instance; more drop its oldest
	forwardedFor   = "X-Forwarded-For"
)

// Default request rate of one instance: cloud-init's first boot reads a
// few dozen documents at once, and a script polling a key once a second
// is far below it.
const (
	DefaultRate  = 100 // requests per second
	DefaultBurst = 200 // requests at once
)

// Config is what a Server needs.
type Config struct {
	// State returns the host network's desired state (the NICs and their
	// marks). Required.
	State func() netcfg.State
	// Instance returns the stored instance id. Required.
	Instance func(id string) (lifecycle.Instance, error)
	// Zone is the availability zone guests are told; "" means
	// DefaultZone.
	Zone string
	// Rate and Burst are each instance's request rate limit: zeros for
	// DefaultRate and DefaultBurst, a negative Rate no limit.
	Rate  float64
	Burst int
	// Now may be nil for time.Now.
	Now func() time.Time
}

// Server serves the metadata of the instance behind each connection.
type Server struct {
	cfg   Config
	srv   *http.Server
	limit *ratelimit.Limiter // per instance ID; nil is no limit
	// hold delays a refusal over the rate (ratelimit.Hold; tests
	// replace it).
	hold func(context.Context)

	lmu sync.Mutex
	// lns are the listeners Bind opened, one per bridge gateway. Guarded
	// by lmu.
	lns map[netip.AddrPort]net.Listener

	mu sync.Mutex
	// tokens holds the live IMDSv2 session tokens of each instance, with
	// their expiry. Guarded by mu.
	tokens map[string]map[string]time.Time
}

// nicKey is the context key of a connection's identity.
type nicKey struct{}

// identity is who is behind a connection: a NIC, or why there is none.
type identity struct {
	nic netcfg.NIC
	err error
}

// New returns a server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.State == nil || cfg.Instance == nil {
		return nil, errors.New("metadata: State and Instance are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Zone == "" {
		cfg.Zone = DefaultZone
	}
	s := &Server{cfg: cfg, tokens: map[string]map[string]time.Time{}, lns: map[netip.AddrPort]net.Listener{},
		limit: ratelimit.NewOr(cfg.Rate, cfg.Burst, DefaultRate, DefaultBurst, cfg.Now), hold: ratelimit.Hold}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			nic, err := netcfg.MetadataIdentity(c, s.cfg.State())
			if herr := hopLimit(c); err == nil {
				err = herr // an answer that could leave the bridge is none
			}
			return context.WithValue(ctx, nicKey{}, identity{nic, err})
		},
	}
	return s, nil
}

// Serve serves ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops serving and closes every connection and listener.
func (s *Server) Close() error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for k, ln := range s.lns {
		ln.Close()
		delete(s.lns, k)
	}
	return s.srv.Close()
}

// Bind listens on port at the gateway address of every network of st,
// where netcfg's redirect sends its guests, and on no other address; it
// closes the listeners of networks that are gone. Call it after each
// change of the host network. A listener that cannot be opened is
// reported, and the others are served.
func (s *Server) Bind(st netcfg.State, port uint16) error {
	want := map[netip.AddrPort]bool{}
	for _, n := range st.Networks {
		want[netip.AddrPortFrom(n.Gateway(), port)] = true
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for ap, ln := range s.lns {
		if !want[ap] {
			ln.Close()
			delete(s.lns, ap)
		}
	}
	var errs []error
	for ap := range want {
		if s.lns[ap] != nil {
			continue
		}
		// IP_FREEBIND: the bridge may get its address a moment later.
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1) })
			return errors.Join(err, serr)
		}}
		ln, err := lc.Listen(context.Background(), "tcp4", ap.String())
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata: listen on %s: %w", ap, err))
			continue
		}
		s.lns[ap] = ln
		go s.srv.Serve(ln) // ends when ln or the server is closed
	}
	return errors.Join(errs...)
}

// ServeHTTP answers one request of the guest behind the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, _ := r.Context().Value(nicKey{}).(identity)
	if id.err != nil || id.nic.Instance == "" {
		http.Error(w, "metadata: not from an instance's interface", http.StatusForbidden)
		return
	}
	if _, ok := r.Header[forwardedFor]; ok {
		http.Error(w, "metadata: forwarded requests are refused", http.StatusForbidden)
		return
	}
	if ok, wait := s.limit.Allow(id.nic.Instance); !ok {
		s.hold(r.Context())
		ratelimit.SetRetryAfter(w, wait)
		http.Error(w, fmt.Sprintf("metadata: this instance's rate is %g requests a second (burst %g)",
			s.limit.Rate(), s.limit.Burst()), http.StatusTooManyRequests)
		return
	}
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		s.issueToken(w, r, id.nic)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, PUT")
		http.Error(w, "metadata: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	t := r.Header.Get(tokenHeader)
	if t != "" && !s.validToken(t, id.nic) {
		http.Error(w, "metadata: invalid or expired token", http.StatusUnauthorized)
		return
	}
	in, err := s.cfg.Instance(id.nic.Instance)
	if err != nil || (in.State != lifecycle.Pending && in.State != lifecycle.Running) {
		http.Error(w, "metadata: no such instance", http.StatusNotFound)
		return
	}
	if t == "" && in.HTTPTokens == lifecycle.HTTPTokensRequired {
		http.Error(w, "metadata: a session token is required (PUT /latest/api/token)", http.StatusUnauthorized)
		return
	}
	body, userData, ok := document(newView(in, id.nic, s.cfg.State(), s.cfg.Zone), r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if userData {
		w.Header().Set("Content-Type", "application/octet-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// document returns the body of path for the instance in view v, and
// whether it is user data: "/" lists the versions, and each version
// serves the same tree (tree.go).
func document(v view, path string) (body []byte, userData, ok bool) {
	if path == "/" {
		return []byte(strings.Join(Versions, "\n")), false, true
	}
	ver, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !slices.Contains(Versions, ver) {
		return nil, false, false
	}
	out, ok := v.lookup(rest)
	return []byte(out), rest == "user-data", ok
}

// issueToken answers PUT /latest/api/token with a session token for nic.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, nic netcfg.NIC) {
	ttl, err := strconv.Atoi(r.Header.Get(tokenTTLHeader))
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		http.Error(w, fmt.Sprintf("metadata: %s must be 1 to %d", tokenTTLHeader, maxTokenTTL), http.StatusBadRequest)
		return
	}
	var b [24]byte
	rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	s.addToken(nic.Instance, t, s.cfg.Now(), time.Duration(ttl)*time.Second)
	w.Header().Set(tokenTTLHeader, strconv.Itoa(ttl))
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(t))
}

// addToken records t as a live token of instance id until now+ttl. It
// first forgets the instance's expired tokens and, when the instance
// already holds maxTokens, the one that expires first: the instance can
// always get a token, and never holds more than maxTokens, whatever the
// others do.
func (s *Server) addToken(id, t string, now time.Time, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.tokens[id]
	if live == nil {
		live = map[string]time.Time{}
		s.tokens[id] = live
	}
	var first string
	for k, exp := range live {
		if !now.Before(exp) {
			delete(live, k)
		} else if first == "" || exp.Before(live[first]) {
			first = k
		}
	}
	if len(live) >= maxTokens {
		delete(live, first)
	}
	live[t] = now.Add(ttl)
}

// liveTokens returns how many tokens instance id holds (expired ones
// included until its next issue).
func (s *Server) liveTokens(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens[id])
}

// validToken reports whether t is live and was issued to nic's instance.
func (s *Server) validToken(t string, nic netcfg.NIC) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[nic.Instance][t]
	return ok && s.cfg.Now().Before(exp)
}

// hopLimit sets IP TTL 1 on an accepted connection, so that its answers
// die at the first router: they reach the guest on the bridge and nothing
// behind it (EC2's IMDSv2 hop limit of 1).
func hopLimit(c net.Conn) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("hop limit: %T is not a socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("hop limit: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, 1)
	}); err != nil {
		return fmt.Errorf("hop limit: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("hop limit: set IP_TTL: %w", serr)
	}
	return nil
}
