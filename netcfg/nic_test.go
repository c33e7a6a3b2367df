package netcfg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nicModel is the State that a sequence of AttachNIC and DetachNIC calls
// stands for: base plus the attached NICs.
type nicModel struct {
	base     State
	attached map[nicKey]NIC
}

// state returns the model's State with its NICs in random order (the
// order must not matter).
func (m *nicModel) state(rng *rand.Rand) State {
	st := m.base.clone()
	st.NICs = nil
	for _, c := range m.attached {
		st.NICs = append(st.NICs, c)
	}
	sort.Slice(st.NICs, func(i, j int) bool { return st.NICs[i].Instance < st.NICs[j].Instance })
	rng.Shuffle(len(st.NICs), func(i, j int) { st.NICs[i], st.NICs[j] = st.NICs[j], st.NICs[i] })
	return st
}

// nicTestBase has two tenants' networks, groups that NICs share in
// various combinations (some restrict egress, one refers to another), an
// uplink with a port forward to the NIC "fwd" (which stays attached) and
// the metadata redirect.
func nicTestBase() (State, NIC) {
	a := Network{Name: "a", Tenant: "t1", Index: 1, CIDR: netip.MustParsePrefix("10.1.0.0/24")}
	b := Network{Name: "b", Tenant: "t2", Index: 2, CIDR: netip.MustParsePrefix("10.2.0.0/24")}
	st := State{
		Uplink:   Uplink{Name: "up0", Address: uplinkAddr.Addr(), ManagementPorts: []uint16{8443}},
		Networks: []Network{a, b},
		Groups: []SecurityGroup{
			{Name: "a-web", Tenant: "t1", Ingress: []Rule{{Proto: ProtoTCP, FromPort: 80, ToPort: 80, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}},
			{Name: "a-db", Tenant: "t1", Ingress: []Rule{{Proto: ProtoTCP, FromPort: 5432, ToPort: 5432, Group: "a-web"}},
				Egress: []Rule{{Proto: ProtoAll, Group: "a-web"}}},
			{Name: "a-ssh", Tenant: "t1", Ingress: []Rule{{Proto: ProtoTCP, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("192.0.2.0/24")}}},
			{Name: "b-all", Tenant: "t2", Ingress: []Rule{{Proto: ProtoAll, Group: "b-all"}},
				Egress: []Rule{{Proto: ProtoUDP, FromPort: 53, ToPort: 53, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}},
			{Name: "b-icmp", Tenant: "t2", Ingress: []Rule{{Proto: ProtoICMP, CIDR: netip.MustParsePrefix("10.0.0.0/8")}}},
		},
		Metadata: MetadataTarget{Addr: netip.IPv4Unspecified(), Port: 8775},
	}
	fwd := NIC{Instance: "fwd", Network: "a", IP: netip.MustParseAddr("10.1.0.250"), MAC: MACFor(a, 250).String(),
		Groups: []string{"a-web"}}
	st.Forwards = []PortForward{{Proto: ProtoTCP, PublicPort: 8080, Instance: "fwd", Network: "a", Port: 80}}
	return st, fwd
}

// portSummary describes the lab's Ironvisor links and the ports on its
// bridges: type, bridge, MTU, up flag and tap owner.
func portSummary(t *testing.T, l *lab) []string {
	t.Helper()
	links, err := l.nl.LinkList()
	must(t, err)
	names := map[int]string{}
	for _, k := range links {
		names[k.Attrs().Index] = k.Attrs().Name
	}
	var out []string
	for _, k := range links {
		a := k.Attrs()
		master := names[a.MasterIndex]
		if !strings.HasPrefix(a.Name, TapPrefix) && !strings.HasPrefix(a.Name, BridgePrefix) && !strings.HasPrefix(master, BridgePrefix) {
			continue
		}
		owner := ""
		if tt, ok := k.(*netlink.Tuntap); ok {
			owner = strconv.Itoa(int(tt.Owner))
		}
		out = append(out, fmt.Sprintf("%s type=%s master=%s mtu=%d up=%v owner=%s", a.Name, k.Type(), master, a.MTU,
			a.Flags&unix.IFF_UP != 0, owner))
	}
	sort.Strings(out)
	return out
}

// TestNICPathMatchesReconcile runs a random sequence of NIC attaches,
// replacements (other groups, another address, another owner) and
// detaches through AttachNIC and DetachNIC, and after each checks that
// the kernel holds exactly what a full Reconcile of the same State
// builds in a fresh set of tables (rules, set elements, taps and bridge
// ports), and now and then that a Reconcile of that State on the same
// Host changes nothing. The seed is logged; IRONVISOR_NIC_SEED replays one.
func TestNICPathMatchesReconcile(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IRONVISOR_NIC_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (IRONVISOR_NIC_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x1e0))
	base, fwd := nicTestBase()
	m := &nicModel{base: base, attached: map[nicKey]NIC{{fwd.Instance, fwd.Network}: fwd}}
	inc, ref := newLab(t), newLab(t)
	for _, l := range []*lab{inc, ref} {
		l.addUplink(t, uplinkAddr, outside)
		// A host interface that a NIC names instead of a tap.
		l.addPeer(t, "v-veth", MACFor(base.Networks[1], 40).String(), netip.MustParsePrefix("10.2.0.40/24"), netip.Addr{})
	}
	inc.reconcile(t, m.state(rng))
	ctx := context.Background()

	// The NIC with the forward cannot change alone.
	if _, err := inc.host.DetachNIC(ctx, "fwd", "a"); !errors.Is(err, ErrNeedReconcile) {
		t.Fatalf("detach of a forwarded NIC: %v, want ErrNeedReconcile", err)
	}
	// Nor may a NIC take another's address; nothing changes.
	dup := fwd
	dup.Instance = "dup"
	if _, err := inc.host.AttachNIC(ctx, dup); !errors.Is(err, ErrInvalid) {
		t.Fatalf("attach of a NIC with a taken address: %v, want ErrInvalid", err)
	}

	groupsOf := map[string][]string{"a": {"a-web", "a-db", "a-ssh"}, "b": {"b-all", "b-icmp"}}
	randomNIC := func(inst string) NIC {
		nw := base.Networks[rng.IntN(2)]
		var off uint32
		for {
			off = 2 + uint32(rng.IntN(12))
			ip := addrFrom32(be32(nw.CIDR.Addr()) + off)
			taken := false
			for k, c := range m.attached {
				taken = taken || (c.IP == ip && k.instance != inst)
			}
			if !taken {
				break
			}
		}
		c := NIC{Instance: inst, Network: nw.Name, IP: addrFrom32(be32(nw.CIDR.Addr()) + off), MAC: MACFor(nw, off).String()}
		all := groupsOf[nw.Name]
		for len(c.Groups) == 0 {
			for _, g := range all {
				if rng.IntN(2) == 0 {
					c.Groups = append(c.Groups, g)
				}
			}
		}
		rng.Shuffle(len(c.Groups), func(i, j int) { c.Groups[i], c.Groups[j] = c.Groups[j], c.Groups[i] })
		if rng.IntN(4) == 0 {
			c.Owner = 1000
		}
		if rng.IntN(8) == 0 && nw.Name == "b" {
			// The veth, at the address of its peer.
			c.IP, c.MAC, c.HostIfName = netip.MustParseAddr("10.2.0.40"), MACFor(nw, 40).String(), "v-veth"
		}
		return c
	}
	for step := range 40 {
		inst := fmt.Sprintf("i%d", rng.IntN(8))
		var op string
		var err error
		var cur *NIC
		for k, c := range m.attached {
			if k.instance == inst {
				cur = &c
			}
		}
		switch {
		case cur != nil && rng.IntN(3) == 0:
			op = "detach " + inst
			_, err = inc.host.DetachNIC(ctx, inst, cur.Network)
			delete(m.attached, nicKey{inst, cur.Network})
		default:
			c := randomNIC(inst)
			if cur != nil && cur.Network != c.Network {
				// A move to another network is a detach and an attach.
				if _, err := inc.host.DetachNIC(ctx, inst, cur.Network); err != nil {
					t.Fatalf("step %d: detach before the move: %v", step, err)
				}
				delete(m.attached, nicKey{inst, cur.Network})
			}
			clash := false
			for k, o := range m.attached {
				clash = clash || (k.instance != inst && (o.IP == c.IP || o.HostIfName != "" && o.HostIfName == c.HostIfName))
			}
			if clash {
				continue
			}
			op = fmt.Sprintf("attach %+v", c)
			_, err = inc.host.AttachNIC(ctx, c)
			m.attached[nicKey{inst, c.Network}] = c
		}
		if err != nil {
			t.Fatalf("step %d: %s: %v", step, op, err)
		}
		st := m.state(rng)
		_, err = removeRules(ref.host.nft)
		must(t, err)
		ref.reconcile(t, st)
		if a, b := diffDump(ruleDump(t, inc.host.nft), ruleDump(t, ref.host.nft)); len(a)+len(b) > 0 {
			t.Fatalf("step %d (%s): rules differ from a rebuild:\nonly per-NIC path:\n%v\nonly rebuild:\n%v", step, op, a, b)
		}
		if a, b := diffDump(portSummary(t, inc), portSummary(t, ref)); len(a)+len(b) > 0 {
			t.Fatalf("step %d (%s): links differ from a Reconcile:\nonly per-NIC path:\n%v\nonly Reconcile:\n%v", step, op, a, b)
		}
		if rng.IntN(4) == 0 {
			if ch := inc.reconcile(t, st); len(ch) != 0 {
				t.Fatalf("step %d (%s): a Reconcile of the same State changed %v", step, op, ch)
			}
			if inc.host.cur == nil {
				t.Fatalf("step %d: a Reconcile that converged left no State for the per-NIC path", step)
			}
		}
	}
}

// TestNICPathNeedsReconcile checks the cases where AttachNIC must leave
// the change to a Reconcile, changing nothing: before any Reconcile,
// after a foreign commit to the ruleset, and when the NIC's bridge went.
func TestNICPathNeedsReconcile(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps")
	}
	ctx := context.Background()
	st := benchState(3, 8000)
	extra := st.NICs[2]
	st.NICs = st.NICs[:2]
	l := newLab(t)
	if _, err := l.host.AttachNIC(ctx, extra); !errors.Is(err, ErrNeedReconcile) {
		t.Fatalf("before any Reconcile: %v", err)
	}
	l.reconcile(t, st)
	// A foreign commit: a table of someone else's.
	c := l.host.nft
	c.AddTable(&nftables.Table{Name: "someone", Family: nftables.TableFamilyINet})
	must(t, c.Flush())
	before := ruleDump(t, l.host.nft)
	if _, err := l.host.AttachNIC(ctx, extra); !errors.Is(err, ErrNeedReconcile) {
		t.Fatalf("after a foreign commit: %v", err)
	}
	if _, err := l.nl.LinkByName(extra.tapName(&st.Networks[0])); err == nil {
		t.Fatal("AttachNIC created the tap although it needed a Reconcile")
	}
	if a, b := diffDump(before, ruleDump(t, l.host.nft)); len(a)+len(b) > 0 {
		t.Fatalf("AttachNIC changed the rules although it needed a Reconcile: %v %v", a, b)
	}
	l.reconcile(t, st)
	br, err := l.nl.LinkByName(st.Networks[0].Bridge())
	must(t, err)
	must(t, l.nl.LinkDel(br))
	if _, err := l.host.AttachNIC(ctx, extra); !errors.Is(err, ErrNeedReconcile) {
		t.Fatalf("with the bridge gone: %v", err)
	}
	st.NICs = append(st.NICs, extra)
	l.reconcile(t, st)
	if _, err := l.host.DetachNIC(ctx, extra.Instance, extra.Network); err != nil {
		t.Fatalf("detach after the repair: %v", err)
	}
	if _, err := l.nl.LinkByName(extra.tapName(&st.Networks[0])); err == nil {
		t.Fatal("DetachNIC left the tap")
	}
	if !slices.ContainsFunc(portSummary(t, l), func(s string) bool { return strings.HasPrefix(s, st.TapName("i0", "bench")) }) {
		t.Fatal("DetachNIC took another NIC's tap")
	}
}
