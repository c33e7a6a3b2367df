package netcfg

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Counter names in the inet table.
const (
	CounterCrossNetwork = "xnet"       // forwarding between two different bridges
	CounterSGIngress    = "sg_ingress" // ingress not allowed by any group of the NIC
	CounterSGEgress     = "sg_egress"  // egress not allowed by any group of the NIC
	CounterHostBlock    = "host_block" // guest to a host port other than DHCP, DNS, metadata
	CounterMgmtBlock    = "mgmt_block" // guest to a management port
	CounterMgmtNet      = "mgmt_net"   // guest to a GuestBlocked prefix (the management network)
	CounterMetadataOut  = "md_outside" // to the metadata port, not from a bridge
)

// Conntrack bits (linux/netfilter/nf_conntrack_common.h).
const (
	ctStateEstablished = 1 << 1
	ctStateRelated     = 1 << 2
	ctStatusDNAT       = 1 << 5
)

// chainIngress receives every forwarded packet after the egress check. It
// always ends with a verdict, so egress group chains can goto it.
const chainIngress = "ingress"

type filterSets struct {
	bridges, egress, ingress *nftables.Set
}

// buildFilter adds the "inet ironvisor" table: isolation between networks,
// security groups and the guest-to-host filter. Bridged IPv4 reaches these
// chains through br_netfilter with iif = oif = the bridge.
func (b *builder) buildFilter() error {
	t := b.table(tableFilter, nftables.TableFamilyINet)
	for _, n := range []string{CounterCrossNetwork, CounterSGIngress, CounterSGEgress, CounterHostBlock, CounterMgmtBlock,
		CounterMgmtNet, CounterMetadataOut} {
		b.counter(t, n)
	}
	if err := b.groupMemberSets(t); err != nil {
		return err
	}
	// Egress group chains goto the ingress chain: it must exist first.
	ing := b.chain(&nftables.Chain{Name: chainIngress, Table: t})
	b.groupChains(t)
	s, err := b.filterSets(t)
	if err != nil {
		return err
	}
	b.ingressChain(t, ing, s)
	b.forwardChain(t, s)
	b.inputChains(t, s)
	return nil
}

// memberSet names the set of addresses of a group's NICs.
func memberSet(group string) string { return "m-" + group }

// memberSetDef names the member set of group in the inet table t.
func memberSetDef(t *nftables.Table, group string) *nftables.Set {
	return &nftables.Set{Table: t, Name: memberSet(group), KeyType: nftables.TypeIPAddr}
}

func (b *builder) groupMemberSets(t *nftables.Table) error {
	b.members = map[string]*nftables.Set{}
	members := map[string][]nftables.SetElement{}
	for i := range b.nics {
		for _, g := range b.nics[i].groupList() {
			members[g] = append(members[g], b.nics[i].memberElem())
		}
	}
	for _, g := range b.ix.st.Groups {
		s := memberSetDef(t, g.Name)
		b.members[g.Name] = s
		if err := b.c.AddSet(s, members[g.Name]); err != nil {
			return fmt.Errorf("add member set of group %s: %w", g.Name, err)
		}
	}
	return nil
}

// groupChains adds one chain per group and direction ("gi-"/"ge-" + name)
// and the combo chains of every distinct list of groups (comboChains).
func (b *builder) groupChains(t *nftables.Table) {
	for _, g := range b.ix.st.Groups {
		gi := b.chain(&nftables.Chain{Name: "gi-" + g.Name, Table: t})
		for _, r := range g.Ingress {
			b.c.AddRule(&nftables.Rule{Table: t, Chain: gi, Exprs: join(b.ruleMatch(r, 12), one(verdict(expr.VerdictAccept)))})
		}
		ge := b.chain(&nftables.Chain{Name: "ge-" + g.Name, Table: t})
		for _, r := range g.Egress {
			b.c.AddRule(&nftables.Rule{Table: t, Chain: ge, Exprs: join(b.ruleMatch(r, 16),
				one(&expr.Verdict{Kind: expr.VerdictGoto, Chain: chainIngress}))})
		}
	}
	made := map[string]bool{}
	for i := range b.nics {
		if r := &b.nics[i]; !made[r.combo] {
			made[r.combo] = true
			b.comboChains(t, r)
		}
	}
}

// comboChains adds the chains shared by all NICs with r's list of groups:
// "ni-" + r.combo, and "ne-" + r.combo when the groups restrict egress.
func (b *builder) comboChains(t *nftables.Table, r *nicRules) {
	groups := r.groupList()
	b.comboChain(t, r.ingressChain(), "gi-", groups, CounterSGIngress)
	if r.egress {
		b.comboChain(t, r.egressChain(), "ge-", groups, CounterSGEgress)
	}
}

// egressRestricted reports whether any of the groups has an egress rule:
// NICs in none of them may send anywhere.
func (ix *index) egressRestricted(groups []string) bool {
	for _, g := range groups {
		if len(ix.groups[g].Egress) > 0 {
			return true
		}
	}
	return false
}

// comboChain jumps to each group's chain and drops what none allowed.
func (b *builder) comboChain(t *nftables.Table, name, prefix string, groups []string, counter string) {
	ch := b.chain(&nftables.Chain{Name: name, Table: t})
	for _, g := range groups {
		b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: one(jump(prefix + g))})
	}
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: drop(counter)})
}

// ruleMatch matches a security-group rule; peerOff is the IPv4 header
// offset of the peer address (12: source, for ingress; 16: destination).
func (b *builder) ruleMatch(r Rule, peerOff uint32) []expr.Any {
	var m []expr.Any
	switch r.Proto {
	case ProtoTCP, ProtoUDP:
		p := byte(unix.IPPROTO_TCP)
		if r.Proto == ProtoUDP {
			p = unix.IPPROTO_UDP
		}
		m = l4proto(p)
		if r.FromPort != 0 {
			m = join(m, portRange(2, r.FromPort, r.ToPort))
		}
	case ProtoICMP:
		m = l4proto(unix.IPPROTO_ICMP)
	}
	if r.Group != "" {
		return join(m, one(payload(expr.PayloadBaseNetworkHeader, peerOff, 4),
			lookup(b.members[r.Group], false)))
	}
	if r.CIDR.Bits() == 0 {
		return m
	}
	return join(m, ipPrefix(peerOff, r.CIDR))
}

// filterSetDefs names the sets and maps of the inet table t.
func filterSetDefs(t *nftables.Table) *filterSets {
	return &filterSets{
		bridges: &nftables.Set{Table: t, Name: "bridges", KeyType: nftables.TypeIFName},
		egress: &nftables.Set{Table: t, Name: "egress", KeyType: nftables.TypeMark, IsMap: true,
			DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian},
		ingress: &nftables.Set{Table: t, Name: "ingress", KeyType: nftables.TypeIPAddr, IsMap: true,
			DataType: nftables.TypeVerdict},
	}
}

func (b *builder) filterSets(t *nftables.Table) (*filterSets, error) {
	s := filterSetDefs(t)
	var brs, eg, in []nftables.SetElement
	for _, n := range b.ix.st.Networks {
		brs = append(brs, nftables.SetElement{Key: ifnameBytes(n.Bridge())})
	}
	for i := range b.nics {
		r := &b.nics[i]
		if r.egress {
			eg = append(eg, r.egressElem())
		}
		in = append(in, r.ingressElem())
	}
	for _, x := range []struct {
		set  *nftables.Set
		vals []nftables.SetElement
	}{{s.bridges, brs}, {s.egress, eg}, {s.ingress, in}} {
		if err := b.c.AddSet(x.set, x.vals); err != nil {
			return nil, fmt.Errorf("add set %s: %w", x.set.Name, err)
		}
	}
	return s, nil
}

// ingressChain: packets into a bridge go to their NIC's group chains, and
// are dropped if no NIC owns the destination; everything else is accepted.
func (b *builder) ingressChain(t *nftables.Table, ch *nftables.Chain, s *filterSets) {
	toBridge := one(meta(expr.MetaKeyOIFNAME), lookup(s.bridges, false))
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(toBridge, ipv4(),
		one(payload(expr.PayloadBaseNetworkHeader, 16, 4), vmap(s.ingress)))})
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(toBridge, drop(CounterSGIngress))})
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: one(verdict(expr.VerdictAccept))})
}

// forwardChain is the forward hook: cross-network drops first (stateless,
// so no conntrack entry can open a path between bridges), then replies of
// allowed connections, then egress of the source NIC and ingress of the
// destination NIC, re-checked on every original-direction packet.
func (b *builder) forwardChain(t *nftables.Table, s *filterSets) {
	ch := b.chain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	up := b.ix.st.Uplink.Name
	for _, n := range b.ix.st.Networks {
		br := n.Bridge()
		out := join(iifname(br), matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, ifnameBytes(br)))
		in := join(oifname(br), matchMeta(expr.MetaKeyIIFNAME, expr.CmpOpNeq, ifnameBytes(br)))
		if up != "" {
			out = join(out, matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, ifnameBytes(up)))
			in = join(in, matchMeta(expr.MetaKeyIIFNAME, expr.CmpOpNeq, ifnameBytes(up)))
		}
		b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(out, drop(CounterCrossNetwork))})
		b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(in, drop(CounterCrossNetwork))})
	}
	accept := one(verdict(expr.VerdictAccept))
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(ctReply(), accept)})
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(ctBits(expr.CtKeySTATE, ctStateRelated), accept)})
	// Guests open no connection to the management network, whatever
	// their groups allow: only replies (above) go there.
	fromGuest := one(meta(expr.MetaKeyIIFNAME), lookup(s.bridges, false))
	for _, p := range b.ix.st.GuestBlocked {
		b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(fromGuest, ipv4(), ipPrefix(16, p), drop(CounterMgmtNet))})
	}
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(ipv4(), one(meta(expr.MetaKeyMARK), vmap(s.egress)))})
	b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: one(&expr.Verdict{Kind: expr.VerdictGoto, Chain: chainIngress})})
}

// inputChains filter what guests may send to the host itself.
func (b *builder) inputChains(t *nftables.Table, s *filterSets) {
	g := b.chain(&nftables.Chain{Name: "guest-input", Table: t})
	accept := one(verdict(expr.VerdictAccept))
	tcp, udp := l4proto(unix.IPPROTO_TCP), l4proto(unix.IPPROTO_UDP)
	rules := [][]expr.Any{
		join(ctBits(expr.CtKeySTATE, ctStateEstablished|ctStateRelated), accept),
	}
	for _, p := range b.ix.st.Uplink.ManagementPorts {
		rules = append(rules, join(tcp, portMatch(2, p), drop(CounterMgmtBlock)))
	}
	rules = append(rules, join(ipv4(), udp, portMatch(2, 67), accept))
	if b.ix.st.DNS {
		rules = append(rules, join(ipv4(), udp, portMatch(2, 53), accept), join(ipv4(), tcp, portMatch(2, 53), accept))
	}
	if m := b.ix.st.Metadata; m.Port != 0 {
		rules = append(rules, join(ipv4(), ctBits(expr.CtKeySTATUS, ctStatusDNAT), tcp, portMatch(2, m.Port), accept))
	}
	// ICMP echo request (RFC 792 type 8) to the guest's own gateway.
	for _, n := range b.ix.st.Networks {
		rules = append(rules, join(iifname(n.Bridge()), ipv4(),
			matchPayload(expr.PayloadBaseNetworkHeader, 16, expr.CmpOpEq, ip4(n.Gateway())),
			l4proto(unix.IPPROTO_ICMP), matchPayload(expr.PayloadBaseTransportHeader, 0, expr.CmpOpEq, []byte{8}), accept))
	}
	rules = append(rules, drop(CounterHostBlock))
	for _, r := range rules {
		b.c.AddRule(&nftables.Rule{Table: t, Chain: g, Exprs: r})
	}
	in := b.chain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	b.c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: one(meta(expr.MetaKeyIIFNAME), lookup(s.bridges, false), jump(g.Name))})
	// The metadata service is for guests, through their bridge: nothing
	// from the uplink or another interface reaches its port, whatever
	// address it is bound to. The host itself (lo) may, and is refused
	// by the service for carrying no NIC's mark.
	if m := b.ix.st.Metadata; m.Port != 0 {
		b.c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: join(
			matchMeta(expr.MetaKeyIIFNAME, expr.CmpOpNeq, ifnameBytes("lo")),
			l4proto(unix.IPPROTO_TCP), portMatch(2, m.Port), drop(CounterMetadataOut))})
	}
}
