package netcfg

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// nicRules is what one NIC contributes to the rules: one element in each
// of the bridge table's per-tap sets and maps, one in the member set of
// each of its groups, one in the ingress map (and the egress map when its
// groups restrict egress), and a use of the combo chains ("ni-"/"ne-" +
// combo) that it shares with every NIC with the same list of groups. Two
// equal values stand for the same elements and chains.
type nicRules struct {
	tap    string
	mark   uint32
	mac    [6]byte
	ip     netip.Addr
	groups string // the NIC's groups, sorted and joined with "\x00"
	combo  string // the combo chains' id: a hash of groups
	egress bool   // the groups restrict egress: the NIC has an "ne-" chain
}

// nicRules returns what c contributes to the rules.
func (ix *index) nicRules(c *NIC) nicRules {
	n := ix.nets[c.Network]
	groups := append([]string(nil), c.Groups...)
	sort.Strings(groups)
	joined := strings.Join(groups, "\x00")
	h := sha256.Sum256([]byte(joined))
	r := nicRules{tap: c.tapName(n), mark: c.Mark(n), ip: c.IP, groups: joined,
		combo: hex.EncodeToString(h[:8]), egress: ix.egressRestricted(groups)}
	mac, _ := ParseMAC(c.MAC)
	copy(r.mac[:], mac)
	return r
}

// allNICRules returns nicRules for every NIC of the state, in its order.
func (ix *index) allNICRules() []nicRules {
	out := make([]nicRules, len(ix.st.NICs))
	for i := range ix.st.NICs {
		out[i] = ix.nicRules(&ix.st.NICs[i])
	}
	return out
}

// groupList returns the NIC's groups, sorted.
func (r *nicRules) groupList() []string {
	if r.groups == "" {
		return nil
	}
	return strings.Split(r.groups, "\x00")
}

func (r *nicRules) ingressChain() string { return "ni-" + r.combo }
func (r *nicRules) egressChain() string  { return "ne-" + r.combo }

// bridgeElems returns the NIC's elements of the bridge table's taps,
// tap_mark, tap_mac and tap_ip.
func (r *nicRules) bridgeElems() [4]nftables.SetElement {
	m := r.mac
	return [4]nftables.SetElement{
		{Key: ifnameBytes(r.tap)},
		{Key: ifnameBytes(r.tap), Val: ne32(r.mark)},
		// The MAC is padded to the 32-bit register the concatenation uses.
		{Key: append(ifnameBytes(r.tap), m[0], m[1], m[2], m[3], m[4], m[5], 0, 0)},
		{Key: append(ifnameBytes(r.tap), ip4(r.ip)...)},
	}
}

// memberElem is the NIC's element of its groups' member sets.
func (r *nicRules) memberElem() nftables.SetElement { return nftables.SetElement{Key: ip4(r.ip)} }

// ingressElem maps the NIC's address to its ingress combo chain.
func (r *nicRules) ingressElem() nftables.SetElement {
	return nftables.SetElement{Key: ip4(r.ip), VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: r.ingressChain()}}
}

// egressElem maps the NIC's mark to its egress combo chain.
func (r *nicRules) egressElem() nftables.SetElement {
	return nftables.SetElement{Key: ne32(r.mark), VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: r.egressChain()}}
}

// elemOp adds or deletes elements of a set in the batch.
type elemOp func(s *nftables.Set, vals []nftables.SetElement) error

// queueElems queues op on every element of r in the batch.
func queueElems(bs *bridgeSets, fs *filterSets, r *nicRules, op elemOp) error {
	be := r.bridgeElems()
	for i, s := range []*nftables.Set{bs.taps, bs.mark, bs.mac, bs.ip} {
		if err := op(s, be[i:i+1]); err != nil {
			return err
		}
	}
	for _, g := range r.groupList() {
		if err := op(memberSetDef(fs.ingress.Table, g), []nftables.SetElement{r.memberElem()}); err != nil {
			return err
		}
	}
	if err := op(fs.ingress, []nftables.SetElement{r.ingressElem()}); err != nil {
		return err
	}
	if r.egress {
		return op(fs.egress, []nftables.SetElement{r.egressElem()})
	}
	return nil
}
