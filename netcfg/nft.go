package netcfg

import (
	"crypto/sha256"
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

// fingerprint identifies the ruleset generated for st with the uplink's
// addresses that Reconcile read from the kernel.
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

// applyRules rebuilds the own tables in one transaction unless they already
// carry st's fingerprint. It reports whether it changed anything.
func applyRules(c *nftables.Conn, ix *index) (bool, error) {
	fp, err := fingerprint(ix.st, ix.uplinkAddrs)
	if err != nil {
		return false, err
	}
	if m := installedMarker(c); m != nil && m.Fingerprint == string(fp) {
		return false, nil
	}
	b := &builder{c: c, ix: ix, chains: map[string]int{}}
	b.counters, b.bytes = readCounters(c)
	if err := errors.Join(b.buildBridge(), b.buildFilter(), b.buildNAT()); err != nil {
		return false, err
	}
	t := &nftables.Table{Name: tableFilter, Family: nftables.TableFamilyINet}
	ch := c.AddChain(&nftables.Chain{Name: stateChain, Table: t})
	b.chains[tableKey(t.Family, t.Name)]++
	ud, err := json.Marshal(marker{Fingerprint: string(fp), Chains: b.chains})
	if err != nil {
		return false, fmt.Errorf("encode ruleset marker: %w", err)
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: one(&expr.Counter{}), UserData: ud})
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("load nftables ruleset: %w", err)
	}
	return true, nil
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
