package netcfg

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/google/nftables"
)

// ruleDump lists the own tables' chains with their rules in order, their
// sets with their elements and their named objects, canonically sorted,
// so that two rulesets can be compared whatever order built them.
func ruleDump(t testing.TB, c *nftables.Conn) []string {
	t.Helper()
	var out []string
	own := func(tb *nftables.Table) bool {
		return slices.ContainsFunc(ownTables, func(o nftables.Table) bool { return o.Name == tb.Name && o.Family == tb.Family })
	}
	chains, err := c.ListChains()
	must(t, err)
	for _, ch := range chains {
		if !own(ch.Table) {
			continue
		}
		id := fmt.Sprintf("%d/%s/%s", ch.Table.Family, ch.Table.Name, ch.Name)
		desc := "chain " + id + " type=" + string(ch.Type)
		if ch.Hooknum != nil && ch.Priority != nil {
			desc += fmt.Sprintf(" hook=%d prio=%d", *ch.Hooknum, *ch.Priority)
		}
		out = append(out, desc)
		rules, err := c.GetRules(ch.Table, ch)
		must(t, err)
		for i, r := range rules {
			j, err := json.Marshal(r.Exprs)
			must(t, err)
			out = append(out, fmt.Sprintf("rule %s #%d %s %q", id, i, j, r.UserData))
		}
	}
	for _, tb := range ownTables {
		sets, err := c.GetSets(&tb)
		must(t, err)
		for _, s := range sets {
			id := fmt.Sprintf("%d/%s/%s", tb.Family, tb.Name, s.Name)
			out = append(out, fmt.Sprintf("set %s map=%v key=%s data=%s", id, s.IsMap, s.KeyType.Name, s.DataType.Name))
			elems, err := c.GetSetElements(s)
			must(t, err)
			for _, e := range elems {
				v := ""
				if e.VerdictData != nil {
					v = fmt.Sprintf("%d:%s", e.VerdictData.Kind, e.VerdictData.Chain)
				}
				out = append(out, fmt.Sprintf("elem %s %x %x %s", id, e.Key, e.Val, v))
			}
		}
		objs, err := c.GetObjects(&tb)
		must(t, err)
		for _, o := range objs {
			if co, ok := o.(*nftables.CounterObj); ok {
				out = append(out, fmt.Sprintf("counter %d/%s/%s", tb.Family, tb.Name, co.Name))
			}
		}
	}
	sort.Strings(out)
	return out
}

// diffDump reports the lines only in a and only in b.
func diffDump(a, b []string) (onlyA, onlyB []string) {
	for _, l := range a {
		if _, ok := slices.BinarySearch(b, l); !ok {
			onlyA = append(onlyA, l)
		}
	}
	for _, l := range b {
		if _, ok := slices.BinarySearch(a, l); !ok {
			onlyB = append(onlyB, l)
		}
	}
	return onlyA, onlyB
}

// incrementalSteps is a sequence of states that differ only in their
// NICs: NICs come and go, share and stop sharing a list of groups (and so
// a combo chain), change groups, and one comes back with a new address.
func incrementalSteps() []State {
	pool := benchState(8, 8000)
	nic := func(i int, groups ...string) NIC {
		c := pool.NICs[i]
		c.Groups = groups
		return c
	}
	moved := nic(4, "sg4", "shared")
	moved.IP = netip.MustParseAddr("10.7.0.100")
	moved.MAC = MACFor(pool.Networks[0], 98).String()
	sets := [][]NIC{
		{nic(0, "shared"), nic(1, "shared"), nic(2, "sg2"), nic(3, "sg3", "shared"), nic(4, "sg4", "shared")},
		{nic(0, "shared"), nic(1, "shared"), nic(2, "sg2"), nic(3, "sg3", "shared"), nic(4, "sg4", "shared"),
			nic(5, "shared", "sg5"), nic(6, "shared")},
		{nic(1, "shared"), nic(2, "sg2"), nic(3, "sg3", "shared"), nic(4, "sg4", "shared"), nic(5, "shared", "sg5"), nic(6, "shared")},
		{nic(2, "sg2"), nic(3, "sg3", "shared"), nic(4, "sg4", "shared"), nic(5, "shared", "sg5")},
		{nic(2, "sg2", "shared"), nic(3, "shared"), nic(4, "sg4", "shared"), nic(5, "shared", "sg5")},
		{nic(2, "sg2", "shared"), nic(3, "shared"), moved, nic(5, "shared", "sg5"), nic(7, "shared", "sg2")},
		nil,
		{nic(0, "shared"), nic(1, "shared"), nic(2, "sg2"), nic(3, "sg3", "shared"), nic(4, "sg4", "shared")},
	}
	out := make([]State, len(sets))
	for i, nics := range sets {
		out[i] = pool
		out[i].NICs = nics
	}
	return out
}

// TestIncrementalMatchesRebuild applies NIC changes one Reconcile at a
// time, which takes the incremental path, and checks after each that the
// tables hold exactly what a full rebuild of the same state holds.
func TestIncrementalMatchesRebuild(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps")
	}
	inc, ref := newLab(t), newLab(t)
	for i, st := range incrementalSteps() {
		inc.reconcile(t, st)
		if i > 0 && (inc.host.rules == nil || inc.host.rules.rebuilt) {
			t.Fatalf("step %d: the NIC change rebuilt the tables", i)
		}
		if _, err := removeRules(ref.host.nft); err != nil {
			t.Fatal(err)
		}
		ref.reconcile(t, st)
		if !ref.host.rules.rebuilt {
			t.Fatalf("step %d: the reference was not rebuilt", i)
		}
		if a, b := diffDump(ruleDump(t, inc.host.nft), ruleDump(t, ref.host.nft)); len(a)+len(b) > 0 {
			t.Errorf("step %d: incremental differs from rebuild:\nonly incremental:\n%v\nonly rebuild:\n%v", i, a, b)
		}
	}
}

// TestIncrementalAfterForeignCommit edits an element of the own tables
// behind Reconcile's back: the next NIC change must rebuild, restoring it,
// not patch on top of tables that no longer are what it loaded.
func TestIncrementalAfterForeignCommit(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps")
	}
	steps := incrementalSteps()
	l := newLab(t)
	l.reconcile(t, steps[0])
	ft := &nftables.Table{Name: tableFilter, Family: nftables.TableFamilyINet}
	r := l.host.rules.nics[steps[0].TapName("i2", "bench")]
	must(t, l.host.nft.SetDeleteElements(filterSetDefs(ft).ingress, []nftables.SetElement{{Key: ip4(r.ip)}}))
	must(t, l.host.nft.Flush())
	l.reconcile(t, steps[1])
	if !l.host.rules.rebuilt {
		t.Fatal("a NIC change after a foreign commit did not rebuild the tables")
	}
	ref := newLab(t)
	ref.reconcile(t, steps[1])
	if a, b := diffDump(ruleDump(t, l.host.nft), ruleDump(t, ref.host.nft)); len(a)+len(b) > 0 {
		t.Errorf("tables after the foreign commit differ from a rebuild:\n%v\n%v", a, b)
	}
}
