package netcfg

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Counter names in the bridge table; each counts frames dropped for one
// reason. Tests and operators read them with Host.Counters.
const (
	CounterSpoofMAC   = "spoof_mac"   // Ethernet source is not the NIC's MAC
	CounterSpoofARP   = "spoof_arp"   // ARP sender MAC/IP is not the NIC's (gratuitous ARP for the gateway too)
	CounterSpoofIP    = "spoof_ip"    // IPv4 source is not the NIC's address
	CounterRogueDHCP  = "rogue_dhcp"  // a guest sent a DHCP server message (UDP source port 67)
	CounterDHCPChaddr = "dhcp_chaddr" // a DHCP request whose chaddr is not the NIC's MAC (starvation)
	CounterRA         = "ra"          // an IPv6 router advertisement
	CounterIPv6       = "ipv6"        // any other IPv6 (guest networks are IPv4 only)
	CounterOtherL2    = "other_l2"    // any other ethertype, VLAN tags included
)

// Ethernet types (IEEE 802 numbers).
const (
	ethIPv4 = 0x0800
	ethARP  = 0x0806
	ethIPv6 = 0x86dd
)

// NFT_REG32_00 and NFT_REG32_04: 32-bit registers for concatenations.
const (
	reg32x0 = 8
	reg32x4 = 12
)

var bridgeCounters = []string{CounterSpoofMAC, CounterSpoofARP, CounterSpoofIP, CounterRogueDHCP,
	CounterDHCPChaddr, CounterRA, CounterIPv6, CounterOtherL2}

// arpEthIPv4 is the fixed start of an Ethernet/IPv4 ARP header: htype 1,
// ptype 0x0800, hlen 6, plen 4 (RFC 826).
var arpEthIPv4 = []byte{0, 1, 8, 0, 6, 4}

// Offsets in a DHCP message after the UDP header (RFC 2131 section 2):
// chaddr starts at byte 28 of the BOOTP header, which follows 8 bytes of UDP.
const dhcpChaddrOff = 8 + 28

// bridgeSets are the per-tap tables of the anti-spoofing chain.
type bridgeSets struct {
	taps, mark, mac, ip *nftables.Set
}

// buildBridge adds the "bridge ironvisor" table: stateless anti-spoofing on
// every frame that enters a bridge from one of our taps. Per-tap data lives
// in sets and maps (tap → mark, tap . mac, tap . ip), so the chain has a
// fixed number of rules however many NICs there are.
func (b *builder) buildBridge() error {
	t := b.table(tableBridge, nftables.TableFamilyBridge)
	for _, name := range bridgeCounters {
		b.counter(t, name)
	}
	s, err := b.bridgeSets(t)
	if err != nil {
		return err
	}
	ch := b.chain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-300)})
	rules := [][]expr.Any{
		// Frames from anything but our taps are none of our business.
		join(one(meta(expr.MetaKeyIIFNAME), lookup(s.taps, true)), one(verdict(expr.VerdictAccept))),
		// Stamp the NIC's identity; inet chains and sockets read it.
		one(meta(expr.MetaKeyIIFNAME), &expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: s.mark.Name, SetID: s.mark.ID},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1}),
		join(tapPair(loadAt(expr.PayloadBaseLLHeader, 6, 6), s.mac, false), drop(CounterSpoofMAC)),
	}
	// What follows only lets through what it has proven good: a frame too
	// short for a check fails the check and falls to the final drop.
	rules = append(rules, arpRules(s)...)
	rules = append(rules, ipv4Rules(s)...)
	rules = append(rules,
		// Router advertisement: ICMPv6 type 134 (RFC 4861 section 4.2).
		join(etherType(ethIPv6), l4proto(unix.IPPROTO_ICMPV6),
			matchPayload(expr.PayloadBaseTransportHeader, 0, expr.CmpOpEq, []byte{134}), drop(CounterRA)),
		join(etherType(ethIPv6), drop(CounterIPv6)),
		drop(CounterOtherL2))
	for _, r := range rules {
		b.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	return nil
}

// loadAt loads n bytes at off into reg32x4, the second half of a
// (iifname . value) key.
func loadAt(base expr.PayloadBase, off, n uint32) expr.Any {
	return &expr.Payload{DestRegister: reg32x4, Base: base, Offset: off, Len: n}
}

// tapPair matches when (iifname . value) is in set (or, with invert, is
// not): it loads the input interface into reg32x0 and val into reg32x4 and
// looks the concatenation up.
func tapPair(val expr.Any, set *nftables.Set, in bool) []expr.Any {
	return one(&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg32x0}, val,
		&expr.Lookup{SourceRegister: reg32x0, SetName: set.Name, SetID: set.ID, Invert: !in})
}

// arpRules accept ARP (RFC 826) only for Ethernet/IPv4 with the NIC's own
// sender MAC and IP, or sender IP 0.0.0.0 (an RFC 5227 probe); a
// gratuitous ARP for the gateway or anyone else is dropped.
func arpRules(s *bridgeSets) [][]expr.Any {
	arp := join(etherType(ethARP), matchPayload(expr.PayloadBaseNetworkHeader, 0, expr.CmpOpEq, arpEthIPv4),
		tapPair(loadAt(expr.PayloadBaseNetworkHeader, 8, 6), s.mac, true))
	accept := one(verdict(expr.VerdictAccept))
	return [][]expr.Any{
		join(arp, matchPayload(expr.PayloadBaseNetworkHeader, 14, expr.CmpOpEq, make([]byte, 4)), accept),
		join(arp, tapPair(loadAt(expr.PayloadBaseNetworkHeader, 14, 4), s.ip, true), accept),
		join(etherType(ethARP), drop(CounterSpoofARP)),
	}
}

// ipv4Rules drop DHCP server messages, accept DHCP client messages only
// with the NIC's chaddr (from 0.0.0.0 before it has a lease, RFC 2131
// section 4.1, or from its own address), and other IPv4 only from the
// NIC's address.
func ipv4Rules(s *bridgeSets) [][]expr.Any {
	ip, udp := etherType(ethIPv4), l4proto(unix.IPPROTO_UDP)
	accept := one(verdict(expr.VerdictAccept))
	ownSrc := tapPair(loadAt(expr.PayloadBaseNetworkHeader, 12, 4), s.ip, true)
	dhcp := join(ip, udp, portMatch(0, 68), portMatch(2, 67),
		tapPair(loadAt(expr.PayloadBaseTransportHeader, dhcpChaddrOff, 6), s.mac, true))
	return [][]expr.Any{
		join(ip, udp, portMatch(0, 67), drop(CounterRogueDHCP)),
		join(dhcp, matchPayload(expr.PayloadBaseNetworkHeader, 12, expr.CmpOpEq, make([]byte, 4)), accept),
		join(dhcp, ownSrc, accept),
		join(ip, udp, portMatch(2, 67), drop(CounterDHCPChaddr)),
		join(ip, ownSrc, accept),
		join(ip, drop(CounterSpoofIP)),
	}
}

func drop(counter string) []expr.Any { return one(counted(counter), verdict(expr.VerdictDrop)) }

// bridgeSetDefs names the per-tap sets and maps of the bridge table t.
func bridgeSetDefs(t *nftables.Table) *bridgeSets {
	return &bridgeSets{
		taps: &nftables.Set{Table: t, Name: "taps", KeyType: nftables.TypeIFName},
		mark: &nftables.Set{Table: t, Name: "tap_mark", KeyType: nftables.TypeIFName, IsMap: true, DataType: nftables.TypeMark},
		mac: &nftables.Set{Table: t, Name: "tap_mac", Concatenation: true,
			KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeEtherAddr)},
		ip: &nftables.Set{Table: t, Name: "tap_ip", Concatenation: true,
			KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIPAddr)},
	}
}

func (b *builder) bridgeSets(t *nftables.Table) (*bridgeSets, error) {
	s := bridgeSetDefs(t)
	var taps, marks, macs, ips []nftables.SetElement
	for i := range b.nics {
		e := b.nics[i].bridgeElems()
		taps, marks, macs, ips = append(taps, e[0]), append(marks, e[1]), append(macs, e[2]), append(ips, e[3])
	}
	for _, x := range []struct {
		set  *nftables.Set
		vals []nftables.SetElement
	}{{s.taps, taps}, {s.mark, marks}, {s.mac, macs}, {s.ip, ips}} {
		if err := b.c.AddSet(x.set, x.vals); err != nil {
			return nil, fmt.Errorf("add set %s: %w", x.set.Name, err)
		}
	}
	return s, nil
}
