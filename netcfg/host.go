package netcfg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Host is a handle on one network namespace (usually the appliance's own)
// in which Reconcile converges links and rules.
type Host struct {
	ns    netns.NsHandle // closed by Close; -1 means the caller's namespace
	nl    *netlink.Handle
	nft   *nftables.Conn
	genc  *mdnetlink.Conn // NETLINK_NETFILTER, for the ruleset generation
	links *linkCache      // the namespace's links, kept by notifications
	// mu serializes Reconcile and Teardown, which read-modify-write the
	// kernel's state.
	mu sync.Mutex
	// rules is what the own tables hold, as the last Reconcile loaded or
	// found them; nil when unknown. Guarded by mu.
	rules *installed
	// cur is the State of the last Reconcile that converged everything,
	// with the NIC changes that AttachNIC and DetachNIC made since (in
	// cur.nics; cur.st.NICs is not kept); nil when unknown. Guarded by mu.
	cur *index
}

// Open returns a Host for the calling thread's network namespace.
func Open() (*Host, error) { return open(netns.None()) }

// OpenAt returns a Host for the network namespace ns. The handle is
// duplicated, so the caller may close ns.
func OpenAt(ns netns.NsHandle) (*Host, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup netns handle: %w", err)
	}
	return open(netns.NsHandle(fd))
}

func open(ns netns.NsHandle) (*Host, error) {
	h := &Host{ns: ns}
	var err error
	// Only NETLINK_ROUTE: with no family, netlink opens XFRM and netfilter
	// sockets too, and the XFRM one fails ("protocol not supported") on a
	// kernel whose xfrm_user is a module nobody loads, like Debian's.
	if ns.IsOpen() {
		h.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	} else {
		h.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(bigSendBuffer)}
	if ns.IsOpen() {
		opts = append(opts, nftables.WithNetNSFd(int(ns)))
	}
	h.nft, err = nftables.New(opts...)
	if err != nil {
		h.nl.Close()
		ns.Close()
		return nil, fmt.Errorf("nftables connection: %w", err)
	}
	cfg := &mdnetlink.Config{}
	if ns.IsOpen() {
		cfg.NetNS = int(ns)
	}
	if h.genc, err = mdnetlink.Dial(unix.NETLINK_NETFILTER, cfg); err != nil {
		h.nft.CloseLasting()
		h.nl.Close()
		ns.Close()
		return nil, fmt.Errorf("netfilter netlink connection: %w", err)
	}
	if h.links, err = newLinkCache(ns); err != nil {
		h.genc.Close()
		h.nft.CloseLasting()
		h.nl.Close()
		ns.Close()
		return nil, err
	}
	return h, nil
}

// Close releases the Host's sockets.
func (h *Host) Close() error {
	h.nl.Close()
	h.links.close()
	err := errors.Join(h.nft.CloseLasting(), h.genc.Close())
	if h.ns.IsOpen() {
		h.ns.Close()
	}
	return err
}

// Do runs fn on an OS thread inside the Host's network namespace, for work
// that creates sockets or reads /proc/sys/net there. The thread is
// discarded afterwards if it could not be switched back.
func (h *Host) Do(fn func() error) error {
	if !h.ns.IsOpen() {
		return fn()
	}
	return InNetNS(h.ns, fn)
}

// InNetNS runs fn on an OS thread switched into ns.
func InNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		} // else: exit with the thread locked so the runtime destroys it
		errc <- ferr
	}()
	return <-errc
}

// sysctls are the kernel settings Reconcile needs in the namespace:
// forwarding for NAT and forwards, br_netfilter so bridged IPv4 meets the
// inet chains, and tcp_fwmark_accept so accepted metadata connections carry
// the mark of their SYN (see MetadataIdentity).
var sysctls = map[string]string{
	"net/ipv4/ip_forward":                "1",
	"net/bridge/bridge-nf-call-iptables": "1",
	"net/ipv4/tcp_fwmark_accept":         "1",
}

func (h *Host) setSysctls() (int, error) {
	changed := 0
	err := h.Do(func() error {
		for k, v := range sysctls {
			p := filepath.Join("/proc/sys", k)
			cur, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("read sysctl %s: %w", k, err)
			}
			if string(cur) == v+"\n" {
				continue
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				return fmt.Errorf("set sysctl %s: %w", k, err)
			}
			changed++
		}
		return nil
	})
	return changed, err
}

// Changes lists what a Reconcile changed, one entry per kernel object; an
// empty list means the kernel already matched the State.
type Changes []string

// Reconcile converges links, addresses and nftables rules in the Host's
// namespace to st, and returns what it changed. It creates and updates
// bridges and taps, deletes links with Ironvisor's prefixes that st no
// longer wants, leaves all other links alone, and replaces Ironvisor's own
// nftables tables in one transaction when the rules differ. When only
// NICs changed since the last Reconcile of this Host and nothing else was
// committed to the ruleset in between, that transaction only adds and
// deletes the changed NICs' set elements and combo chains, so its cost
// does not grow with the number of NICs (applyRules); the links are not
// dumped either, but followed through the kernel's notifications
// (linkCache). After a Reconcile that converged everything, AttachNIC and
// DetachNIC change one NIC at a cost that does not depend on the others
// at all. Running it
// twice with the same st changes nothing the second time. A network whose
// bridge or tap the kernel refuses does not hold the others back: they
// are converged, and the error holds a *NetworkError for it (see
// OnlyNetworks).
func (h *Host) Reconcile(ctx context.Context, st State) (Changes, error) {
	// Our own copy: the index points into it, and AttachNIC and
	// DetachNIC carry it on.
	st = st.clone()
	ix, err := st.index()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = nil
	var ch Changes
	n, err := h.setSysctls()
	if err != nil {
		return nil, err
	}
	for range n {
		ch = append(ch, "sysctl")
	}
	netErrs, err := h.reconcileLinks(ctx, ix, &ch)
	if err != nil {
		return ch, errors.Join(append(netErrs, err)...)
	}
	changed, err := h.applyRules(ix)
	if err != nil {
		return ch, errors.Join(append(netErrs, err)...)
	}
	if changed {
		ch = append(ch, "nftables ruleset")
	}
	if len(netErrs) == 0 {
		ix.st.NICs = nil // from now on in ix.nics only
		h.cur = ix
	}
	return ch, errors.Join(netErrs...)
}

// Teardown removes everything Reconcile may have created: links with
// Ironvisor's prefixes, public addresses on uplink and the own nftables
// tables.
func (h *Host) Teardown(ctx context.Context, uplink string) (Changes, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = nil
	var ch Changes
	// No networks: no network errors.
	if _, err := h.reconcileLinks(ctx, &index{st: &State{Uplink: Uplink{Name: uplink}}}, &ch); err != nil {
		return ch, err
	}
	h.rules = nil
	n, err := removeRules(h.nft)
	for range n {
		ch = append(ch, "delete nftables table")
	}
	return ch, err
}

// bigSendBuffer lets one nftables batch carry hundreds of NICs' rules.
// SO_*BUFFORCE needs CAP_NET_ADMIN, which Reconcile needs anyway.
func bigSendBuffer(c *mdnetlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		// Every message of the batch is acknowledged: the acks of a large
		// batch must fit the receive buffer too.
		serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 16<<20),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20))
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netlink send buffer: %w", serr)
	}
	return nil
}
