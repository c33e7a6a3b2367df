// Package netcfg configures the host network of an Ironvisor appliance
// through netlink and nftables, and serves DHCP to guests.
//
// The desired state (State) lists networks, instance NICs, security groups,
// port forwards and public IPs. Reconcile converges the kernel to it:
//
//   - one Linux bridge per network (named ivbr-<index>) carrying the gateway
//     address, and one tap per NIC (named ivtap-<index>-<host>) attached to
//     it; objects with these prefixes that are no longer wanted are deleted,
//     anything else is left alone;
//   - nftables rules in Ironvisor's own tables only ("bridge ironvisor",
//     "inet ironvisor", "ip ironvisor_nat"), replaced in one netlink batch so
//     that there is never a moment without rules.
//
// Isolation model. The kernel here has no NF_CONNTRACK_BRIDGE and no
// NFT_BRIDGE_META, but BRIDGE_NETFILTER is built in, so:
//
//   - anti-spoofing is stateless, in the bridge family, per tap (iifname):
//     only the NIC's MAC and IPv4 address may leave the tap, ARP included;
//     DHCP server replies, DHCP requests for another chaddr, IPv6 (and so
//     router advertisements) and any other ethertype are dropped, each into a
//     named counter. The same chain stamps the packet mark with the NIC's
//     identity (see Mark);
//   - stateful security groups run in the inet family, which sees bridged
//     IPv4 through br_netfilter (net.bridge.bridge-nf-call-iptables=1, set
//     by Reconcile). Inside br_netfilter both iif and oif are the bridge, so
//     the source NIC is found by the packet mark and the destination NIC by
//     (oifname, ip daddr) verdict maps; each dispatches to per-NIC chains
//     that jump to shared per-group chains;
//   - forwarding between two different bridges is always dropped, whatever
//     the routes say; guests reach the host only for DHCP, DNS (if served),
//     ICMP echo to the gateway and the metadata redirect.
//
// Established flows: reply-direction packets are accepted by conntrack, but
// original-direction packets are checked against the current rules on every
// packet. A security-group update therefore keeps established flows that
// the new rules still allow and cuts those they no longer allow.
//
// Overlapping CIDRs across networks are refused by Validate: without
// directional conntrack zones (which google/nftables v0.3.0 cannot express)
// two networks with the same addresses would share conntrack entries.
package netcfg
