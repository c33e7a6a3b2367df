package netcfg

import (
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkSummary lists name, index, master, MTU and up flag of every link.
func linkSummary(links map[string]netlink.Link) []string {
	var out []string
	for name, l := range links {
		a := l.Attrs()
		out = append(out, fmt.Sprintf("%s idx=%d master=%d mtu=%d up=%v type=%s", name, a.Index, a.MasterIndex, a.MTU,
			a.Flags&unix.IFF_UP != 0, l.Type()))
	}
	sort.Strings(out)
	return out
}

// kernelLinks dumps the lab's links.
func kernelLinks(t *testing.T, l *lab) map[string]netlink.Link {
	t.Helper()
	links, err := l.nl.LinkList()
	must(t, err)
	m := map[string]netlink.Link{}
	for _, k := range links {
		m[k.Attrs().Name] = k
	}
	return m
}

// checkMirror fails unless the Host's link mirror matches a fresh dump.
func checkMirror(t *testing.T, l *lab, when string) {
	t.Helper()
	got, err := l.host.links.list(l.host.nl)
	must(t, err)
	a, b := linkSummary(got), linkSummary(kernelLinks(t, l))
	if x, y := diffDump(a, b); len(x)+len(y) > 0 {
		t.Fatalf("%s: link mirror differs from the kernel:\nonly mirror: %v\nonly kernel: %v", when, x, y)
	}
}

// TestLinkMirrorFollowsOthers changes links behind Reconcile's back: a tap
// deleted, one set down, one renamed away, a stranger put on the bridge.
// The next Reconcile must see each (it repairs them, as with a full dump)
// and the mirror must equal the kernel's links.
func TestLinkMirrorFollowsOthers(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps")
	}
	l := newLab(t)
	st := benchState(4, 8000)
	l.reconcile(t, st)
	checkMirror(t, l, "after the first Reconcile")
	dumps := l.host.links.dumps
	tap := func(i int) netlink.Link {
		k, err := l.nl.LinkByName(st.TapName(fmt.Sprintf("i%d", i), "bench"))
		must(t, err)
		return k
	}
	must(t, l.nl.LinkDel(tap(0)))
	must(t, l.nl.LinkSetDown(tap(1)))
	t2 := tap(2)
	must(t, l.nl.LinkSetDown(t2))
	must(t, l.nl.LinkSetName(t2, "renamed0"))
	must(t, l.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "stranger0"}, PeerName: "stranger1"}))
	br, err := l.nl.LinkByName(st.Networks[0].Bridge())
	must(t, err)
	s0, err := l.nl.LinkByName("stranger0")
	must(t, err)
	must(t, l.nl.LinkSetMaster(s0, br))
	ch := l.reconcile(t, st)
	t.Logf("repairs: %v", ch)
	want := map[string]bool{"create tap " + tap(0).Attrs().Name: true, "detach stranger0": true,
		"create tap " + tap(2).Attrs().Name: true}
	for _, c := range ch {
		delete(want, c)
	}
	if len(want) > 0 {
		t.Errorf("Reconcile did not repair %v (changes %v)", want, ch)
	}
	if tap(1).Attrs().Flags&unix.IFF_UP == 0 {
		t.Error("the tap set down behind Reconcile's back is still down")
	}
	checkMirror(t, l, "after the repair")
	if l.host.links.dumps != dumps {
		t.Errorf("%d full dumps: the changes were not followed through notifications", l.host.links.dumps-dumps)
	}
	if ch := l.reconcile(t, st); len(ch) != 0 {
		t.Errorf("third Reconcile changed %v", ch)
	}
}

// TestLinkMirrorOverflow lets the notification queue overflow: the next
// list must dump the links again rather than trust a mirror with gaps.
func TestLinkMirrorOverflow(t *testing.T) {
	needRoot(t)
	l := newLab(t)
	l.reconcile(t, benchState(0, 8000))
	dumps := l.host.links.dumps
	must(t, unix.SetsockoptInt(l.host.links.sub.GetFd(), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1024))
	for i := range 20 {
		must(t, l.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("flood%d", i)},
			PeerName: fmt.Sprintf("flood%dp", i)}))
	}
	checkMirror(t, l, "after an overflow")
	if l.host.links.dumps != dumps+1 {
		t.Errorf("%d full dumps after the overflow, want 1", l.host.links.dumps-dumps)
	}
}
