package netcfg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// installed is what the own tables hold, as Reconcile last loaded or
// found them: enough to turn a change of NICs into a small transaction.
type installed struct {
	structural string              // fingerprints' structural part
	marker     marker              // what the state chain records
	nics       map[string]nicRules // tap → what its NIC added
	combos     map[string]int      // combo id → NICs that use its chains
	// gen is the ruleset generation right after the transaction that
	// made this state, 0 when unknown (another commit came in between).
	gen uint32
	// rebuilt: the last transaction rebuilt the tables (not applyNICs).
	rebuilt bool
}

func newInstalled(structural string, m marker, nics []nicRules, gen uint32) *installed {
	in := &installed{structural: structural, marker: m, nics: make(map[string]nicRules, len(nics)),
		combos: map[string]int{}, gen: gen}
	for _, r := range nics {
		in.nics[r.tap] = r
		in.combos[r.combo]++
	}
	return in
}

// intact reports whether the kernel's tables still are what in describes:
// nothing was committed to the namespace's ruleset since the transaction
// that made in. After any other commit (someone edited our tables, or any
// other table) Reconcile takes the full path: the fingerprint check, and a
// rebuild when the tables differ, which also heals edited elements at the
// next change of NICs.
func (h *Host) intact(in *installed) bool {
	gen, err := h.gen()
	return err == nil && in.gen != 0 && gen == in.gen
}

// gen returns the generation of the namespace's nftables ruleset, which
// every committed transaction advances by one (NFT_MSG_GETGEN).
func (h *Host) gen() (uint32, error) {
	msgs, err := h.genc.Execute(mdnetlink.Message{
		Header: mdnetlink.Header{Type: mdnetlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: mdnetlink.Request},
		// struct nfgenmsg: family, version, resource id.
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("nftables generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mdnetlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("nftables generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("nftables generation: no NFTA_GEN_ID in the answer")
}

// genAfter returns the generation after our commit, which started from
// before: 0 (unknown) if another commit may have come in between.
func (h *Host) genAfter(before uint32) uint32 {
	if after, err := h.gen(); err == nil && after == before+1 {
		return after
	}
	return 0
}

// applyNICs brings the tables from in to want, whose structure is the
// same: the NICs that went or changed are gone, those that came or
// changed are added (applyNICDelta). The result is what a full rebuild
// for ix would load (TestIncrementalMatchesRebuild).
func (h *Host) applyNICs(ix *index, in *installed, fp []byte, want []nicRules) (bool, error) {
	wantBy := make(map[string]nicRules, len(want))
	for _, r := range want {
		wantBy[r.tap] = r
	}
	var gone, added []nicRules
	for tap, r := range in.nics {
		if w, ok := wantBy[tap]; !ok || w != r {
			gone = append(gone, r)
		}
	}
	for _, r := range want {
		if o, ok := in.nics[r.tap]; !ok || o != r {
			added = append(added, r)
		}
	}
	return h.applyNICDelta(ix, in, string(fp), gone, added)
}

// applyNICDelta updates the tables from in, taking away the rules of the
// NICs in gone and adding those of the NICs in added (a NIC that changed
// is in both), all in one transaction: it deletes the elements of gone,
// adds the combo chains that a new list of groups needs, adds the
// elements of added, deletes the combo chains no NIC uses any more and
// rewrites the marker with fingerprint fp. Its size depends on gone and
// added only. It updates in in place and leaves it in h.rules, or sets
// h.rules to nil when the transaction failed. It reports whether it
// changed any NIC's rules.
func (h *Host) applyNICDelta(ix *index, in *installed, fp string, gone, added []nicRules) (bool, error) {
	if len(gone)+len(added) == 0 && fp == in.marker.Fingerprint {
		return false, nil
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].tap < gone[j].tap })
	h.rules = nil // until the transaction is in
	in.marker.Fingerprint = fp
	b := &builder{c: h.nft, ix: ix, chains: in.marker.Chains}
	bt := &nftables.Table{Name: tableBridge, Family: nftables.TableFamilyBridge}
	ft := &nftables.Table{Name: tableFilter, Family: nftables.TableFamilyINet}
	bs, fs := bridgeSetDefs(bt), filterSetDefs(ft)
	unused := map[string]*nicRules{}
	for i := range gone {
		r := &gone[i]
		if err := queueElems(bs, fs, r, deleteElems(h.nft)); err != nil {
			return false, err
		}
		delete(in.nics, r.tap)
		if in.combos[r.combo]--; in.combos[r.combo] == 0 {
			unused[r.combo] = r
		}
	}
	for i := range added {
		r := &added[i]
		// A combo in unused still has its chains until the end.
		if in.combos[r.combo] == 0 && unused[r.combo] == nil {
			b.comboChains(ft, r)
		}
		in.combos[r.combo]++
		in.nics[r.tap] = *r
	}
	for i := range added {
		if err := queueElems(bs, fs, &added[i], h.nft.SetAddElements); err != nil {
			return false, err
		}
	}
	for id, r := range unused {
		if in.combos[id] != 0 {
			continue
		}
		delete(in.combos, id)
		h.delChain(b, ft, r.ingressChain())
		if r.egress {
			h.delChain(b, ft, r.egressChain())
		}
	}
	st := &nftables.Chain{Name: stateChain, Table: ft}
	h.nft.FlushChain(st)
	if err := addMarker(h.nft, ft, st, in.marker); err != nil {
		return false, err
	}
	if err := h.nft.Flush(); err != nil {
		return false, fmt.Errorf("update nftables NICs: %w", err)
	}
	in.gen, in.rebuilt = h.genAfter(in.gen), false
	h.rules = in
	return len(gone)+len(added) > 0, nil
}

// delChain queues the deletion of chain name of t and uncounts it.
func (h *Host) delChain(b *builder, t *nftables.Table, name string) {
	h.nft.DelChain(&nftables.Chain{Name: name, Table: t})
	b.chains[tableKey(t.Family, t.Name)]--
}

// deleteElems deletes elements by key: the kernel finds them by key, and
// the data of a map element is not part of its identity.
func deleteElems(c *nftables.Conn) elemOp {
	return func(s *nftables.Set, vals []nftables.SetElement) error {
		keys := make([]nftables.SetElement, len(vals))
		for i, v := range vals {
			keys[i] = nftables.SetElement{Key: v.Key}
		}
		return c.SetDeleteElements(s, keys)
	}
}
