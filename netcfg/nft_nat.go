package netcfg

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NF_NAT_RANGE_MAP_IPS and NF_NAT_RANGE_PROTO_SPECIFIED
// (linux/netfilter/nf_nat.h).
const natRangeProtoSpecified = 2

// buildNAT adds the "ip ironvisor_nat" table: the metadata redirect, public
// port forwards and public IPs (DNAT, before the filter, so the forward
// chain applies the destination NIC's groups to the real address), 1:1
// SNAT of public-IP NICs and per-network masquerade on the uplink.
func (b *builder) buildNAT() error {
	t := b.table(tableNAT, nftables.TableFamilyIPv4)
	pre := b.chain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	post := b.chain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	st := b.ix.st
	if st.Metadata.Port != 0 {
		for _, n := range st.Networks {
			m := join(iifname(n.Bridge()), matchPayload(expr.PayloadBaseNetworkHeader, 16, expr.CmpOpEq, ip4(MetadataAddr)),
				l4proto(unix.IPPROTO_TCP), portMatch(2, 80))
			b.c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: join(m, metadataNAT(st.Metadata))})
		}
	}
	// Public IPs come first: their DNAT is the whole of the address, and a
	// forward never matches a public IP anyway (readUplinkAddrs).
	for _, p := range st.PublicIPs {
		c := b.ix.nics[nicKey{p.Instance, p.Network}]
		b.c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: join(
			matchPayload(expr.PayloadBaseNetworkHeader, 16, expr.CmpOpEq, ip4(p.Address)), natTo(expr.NATTypeDestNAT, c.IP.AsSlice()))})
		b.c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: join(oifname(st.Uplink.Name),
			matchPayload(expr.PayloadBaseNetworkHeader, 12, expr.CmpOpEq, ip4(c.IP)), natTo(expr.NATTypeSourceNAT, p.Address.AsSlice()))})
	}
	// A forward matches only the uplink's own addresses: with none (no
	// address yet), forwards match nothing rather than everything.
	for _, f := range st.Forwards {
		c := b.ix.nics[nicKey{f.Instance, f.Network}]
		p := byte(unix.IPPROTO_TCP)
		if f.Proto == ProtoUDP {
			p = unix.IPPROTO_UDP
		}
		for _, a := range b.ix.uplinkAddrs {
			m := join(iifname(st.Uplink.Name), matchPayload(expr.PayloadBaseNetworkHeader, 16, expr.CmpOpEq, ip4(a)),
				l4proto(p), portMatch(2, f.PublicPort),
				one(&expr.Immediate{Register: 1, Data: ip4(c.IP)}, &expr.Immediate{Register: 2, Data: be16(f.Port)},
					&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true}))
			b.c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: m})
		}
	}
	if st.Uplink.Name != "" {
		for _, n := range st.Networks {
			if n.NoNAT {
				continue
			}
			b.c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: join(oifname(st.Uplink.Name),
				ipPrefix(12, n.CIDR), one(&expr.Masq{}))})
		}
	}
	return nil
}

func natTo(typ expr.NATType, addr []byte) []expr.Any {
	return one(&expr.Immediate{Register: 1, Data: addr},
		&expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
}

// metadataNAT redirects to the listener: to the bridge's own address when
// the listener address is unspecified, else DNAT to addr:port.
func metadataNAT(m MetadataTarget) []expr.Any {
	port := &expr.Immediate{Register: 2, Data: be16(m.Port)}
	if m.Addr.IsUnspecified() {
		return one(port, &expr.Redir{RegisterProtoMin: 2, Flags: natRangeProtoSpecified})
	}
	return one(&expr.Immediate{Register: 1, Data: ip4(m.Addr)}, port,
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
}
