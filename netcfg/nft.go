package netcfg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Names of Ironvisor's own nftables tables. Reconcile never touches any
// other table.
const (
	tableBridge = "ironvisor"     // family bridge: anti-spoofing
	tableFilter = "ironvisor"     // family inet: security groups, isolation
	tableNAT    = "ironvisor_nat" // family ip: NAT, forwards, metadata
)

// rulesetVersion changes whenever the rules generated for a given State
// change, so that an upgraded appliance rebuilds its tables.
const rulesetVersion = "ironvisor-nft-2"

// stateChain holds one rule whose user data is the fingerprint of the State
// the tables were built from.
const stateChain = "state"

// ownTables lists Ironvisor's tables.
var ownTables = []nftables.Table{
	{Name: tableBridge, Family: nftables.TableFamilyBridge},
	{Name: tableFilter, Family: nftables.TableFamilyINet},
	{Name: tableNAT, Family: nftables.TableFamilyIPv4},
}

// builder queues a complete rebuild of Ironvisor's tables into one batch.
type builder struct {
	c        *nftables.Conn
	ix       *index
	counters map[string]uint64 // "table/name" → packets, kept across rebuilds
	bytes    map[string]uint64
	members  map[string]*nftables.Set // group → member address set
	chains   map[string]int           // "family/table" → chains added
	nics     []nicRules               // what each NIC of ix adds, in order
}

// chain adds a chain and counts it for the marker.
func (b *builder) chain(ch *nftables.Chain) *nftables.Chain {
	b.chains[tableKey(ch.Table.Family, ch.Table.Name)]++
	return b.c.AddChain(ch)
}

// table queues add+delete+add of the table, which replaces it atomically
// inside the batch whether or not it existed.
func (b *builder) table(name string, fam nftables.TableFamily) *nftables.Table {
	t := &nftables.Table{Name: name, Family: fam}
	b.c.AddTable(t)
	b.c.DelTable(t)
	return b.c.AddTable(t)
}

// counter adds a named counter, carrying its values over from the old table.
func (b *builder) counter(t *nftables.Table, name string) {
	k := fmt.Sprintf("%d/%s/%s", t.Family, t.Name, name)
	b.c.AddObj(&nftables.CounterObj{Table: t, Name: name, Packets: b.counters[k], Bytes: b.bytes[k]})
}

// fingerprints identify the ruleset generated for st with the uplink's
// addresses that Reconcile read from the kernel: structural covers
// everything but what NICs add as set and map elements and combo chains
// (nicRules), and keeps the NICs that port forwards and public IPs name,
// whose addresses are in the NAT rules; full adds every NIC, through an
// order-independent digest that one NIC's change updates in O(1)
// (nicDigest). The order of the NICs makes no difference to the rules.
func fingerprints(ix *index) (full, structural []byte, err error) {
	st := *ix.st
	st.NICs = nil
	var d nicDigest
	for _, c := range ix.st.NICs {
		if ix.named[nicKey{c.Instance, c.Network}] {
			st.NICs = append(st.NICs, c)
		}
		d.add(&c)
	}
	if structural, err = fingerprint(&st, ix.uplinkAddrs); err != nil {
		return nil, nil, err
	}
	ix.digest = d
	return fullFingerprint(structural, d), structural, nil
}

// nicDigest is an order-independent digest of a set of NICs: the sum,
// lane by lane, of each NIC's SHA-256. Adding or removing one NIC costs
// the same however many there are.
type nicDigest [4]uint64

// nicHash is the SHA-256 of c's JSON as four lanes.
func nicHash(c *NIC) [4]uint64 {
	j, _ := json.Marshal(c) // a NIC always encodes
	h := sha256.Sum256(j)
	var out [4]uint64
	for i := range out {
		out[i] = binary.BigEndian.Uint64(h[8*i:])
	}
	return out
}

func (d *nicDigest) add(c *NIC) {
	for i, v := range nicHash(c) {
		d[i] += v
	}
}

func (d *nicDigest) remove(c *NIC) {
	for i, v := range nicHash(c) {
		d[i] -= v
	}
}

// fullFingerprint combines the structural fingerprint and the NICs'
// digest.
func fullFingerprint(structural []byte, d nicDigest) []byte {
	b := append([]byte(rulesetVersion+"\nnics "), structural...)
	for _, v := range d {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	h := sha256.Sum256(b)
	return []byte(hex.EncodeToString(h[:]))
}

// fingerprint hashes st and the uplink's addresses with rulesetVersion.
func fingerprint(st *State, uplinkAddrs []netip.Addr) ([]byte, error) {
	j, err := json.Marshal(struct {
		*State
		UplinkAddrs []netip.Addr `json:"uplink_addrs"`
	}{st, uplinkAddrs})
	if err != nil {
		return nil, fmt.Errorf("fingerprint state: %w", err)
	}
	h := sha256.Sum256(append([]byte(rulesetVersion+"\n"), j...))
	return []byte(hex.EncodeToString(h[:])), nil
}

// marker is what the state chain's rule records: the fingerprint of the
// State and how many chains each own table had when it was built, so that
// a table someone tampered with (chains added or deleted) is rebuilt.
type marker struct {
	Fingerprint string         `json:"fp"`
	Chains      map[string]int `json:"chains"` // "family/table" → chain count
}

func tableKey(fam nftables.TableFamily, name string) string { return fmt.Sprintf("%d/%s", fam, name) }

// installedMarker returns the marker in the inet table, or nil when any of
// the own tables is missing or its chain count differs from the marker's.
func installedMarker(c *nftables.Conn) *marker {
	t := &nftables.Table{Name: tableFilter, Family: nftables.TableFamilyINet}
	rules, err := c.GetRules(t, &nftables.Chain{Name: stateChain, Table: t})
	if err != nil || len(rules) != 1 {
		return nil
	}
	var m marker
	if json.Unmarshal(rules[0].UserData, &m) != nil {
		return nil
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil
	}
	have := map[string]int{}
	for _, ch := range chains {
		have[tableKey(ch.Table.Family, ch.Table.Name)]++
	}
	for _, t := range ownTables {
		k := tableKey(t.Family, t.Name)
		if have[k] == 0 || have[k] != m.Chains[k] {
			return nil
		}
	}
	return &m
}

// readCounters returns the packet and byte counts of every named counter in
// the own tables, keyed "family/table/name".
func readCounters(c *nftables.Conn) (packets, bytes map[string]uint64) {
	packets, bytes = map[string]uint64{}, map[string]uint64{}
	for _, t := range ownTables {
		objs, err := c.GetObjects(&t)
		if err != nil {
			continue // table absent
		}
		for _, o := range objs {
			if co, ok := o.(*nftables.CounterObj); ok {
				k := fmt.Sprintf("%d/%s/%s", t.Family, t.Name, co.Name)
				packets[k], bytes[k] = co.Packets, co.Bytes
			}
		}
	}
	return packets, bytes
}

// applyRules converges the own tables to ix. When only NICs changed since
// the last call and the tables are as that call left them (intact), it
// adds and deletes the changed NICs' elements and combo chains in one
// small transaction (applyNICs), whose size does not depend on how many
// NICs there are. Otherwise it rebuilds the tables in one transaction,
// unless they already carry ix's fingerprint. It reports whether it
// changed any rule. The caller holds h.mu.
func (h *Host) applyRules(ix *index) (bool, error) {
	fp, sfp, err := fingerprints(ix)
	if err != nil {
		return false, err
	}
	nics := ix.allNICRules()
	if in := h.rules; in != nil && in.structural == string(sfp) && h.intact(in) {
		return h.applyNICs(ix, in, fp, nics)
	}
	h.rules = nil
	gen, genErr := h.gen()
	if m := installedMarker(h.nft); m != nil && m.Fingerprint == string(fp) {
		// Cache it only if nothing was committed while the marker was read.
		if now, err := h.gen(); genErr == nil && err == nil && now == gen {
			h.rules = newInstalled(string(sfp), *m, nics, gen)
		}
		return false, nil
	}
	c := h.nft
	b := &builder{c: c, ix: ix, chains: map[string]int{}, nics: nics}
	b.counters, b.bytes = readCounters(c)
	if err := errors.Join(b.buildBridge(), b.buildFilter(), b.buildNAT()); err != nil {
		return false, err
	}
	t := &nftables.Table{Name: tableFilter, Family: nftables.TableFamilyINet}
	ch := c.AddChain(&nftables.Chain{Name: stateChain, Table: t})
	b.chains[tableKey(t.Family, t.Name)]++
	m := marker{Fingerprint: string(fp), Chains: b.chains}
	if err := addMarker(c, t, ch, m); err != nil {
		return false, err
	}
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("load nftables ruleset: %w", err)
	}
	if genErr == nil {
		h.rules = newInstalled(string(sfp), m, nics, h.genAfter(gen))
		h.rules.rebuilt = true
	}
	return true, nil
}

// addMarker queues the state chain's rule that records m.
func addMarker(c *nftables.Conn, t *nftables.Table, ch *nftables.Chain, m marker) error {
	ud, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode ruleset marker: %w", err)
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: one(&expr.Counter{}), UserData: ud})
	return nil
}

// removeRules deletes the own tables in one transaction.
func removeRules(c *nftables.Conn) (int, error) {
	n := 0
	for _, t := range ownTables {
		if _, err := c.ListTableOfFamily(t.Name, t.Family); err == nil {
			c.DelTable(&t)
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := c.Flush(); err != nil {
		return 0, fmt.Errorf("delete nftables tables: %w", err)
	}
	return n, nil
}

// Counters returns the packet count of every named drop counter in
// Ironvisor's tables (CounterSpoofMAC, CounterSGIngress, ...).
func (h *Host) Counters() (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, t := range ownTables {
		objs, err := h.nft.GetObjects(&t)
		if err != nil {
			return nil, fmt.Errorf("read counters of %s: %w", t.Name, err)
		}
		for _, o := range objs {
			if co, ok := o.(*nftables.CounterObj); ok {
				out[co.Name] = co.Packets
			}
		}
	}
	return out, nil
}
