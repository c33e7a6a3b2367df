package netcfg

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
)

// ErrPoolFull is returned when a network has no free address left.
var ErrPoolFull = errors.New("no free address")

// Lease is one allocated address of a network.
type Lease struct {
	// Instance holds the lease.
	Instance string `json:"instance"`
	// IP is the leased address.
	IP netip.Addr `json:"ip"`
	// MAC is derived from the network index and IP (MACFor).
	MAC string `json:"mac"`
}

// Pool is the IPAM of one network: its addresses and MACs. Allocation is
// deterministic: the lowest free host address after the gateway, and a MAC
// derived from the network index and the host offset (02:49:ii:ii:hh:hh,
// locally administered, unique per host). A Pool is not safe for concurrent
// use; it is persisted with the network by Save.
type Pool struct {
	// Network is the network the pool belongs to, persisted with it.
	Network Network `json:"network"`
	// Leases are sorted by address.
	Leases []Lease `json:"leases"`
}

// NewPool returns an empty pool for network n.
func NewPool(n Network) (*Pool, error) {
	st := State{Networks: []Network{n}}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return &Pool{Network: n}, nil
}

// MACFor returns the deterministic MAC of host offset off in network n.
func MACFor(n Network, off uint32) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x49, byte(n.Index >> 8), byte(n.Index), byte(off >> 8), byte(off)}
}

// Lookup returns the instance's lease.
func (p *Pool) Lookup(instance string) (Lease, bool) {
	for _, l := range p.Leases {
		if l.Instance == instance {
			return l, true
		}
	}
	return Lease{}, false
}

// Allocate returns the instance's lease, allocating one if it has none.
func (p *Pool) Allocate(instance string) (Lease, error) {
	if err := checkName("instance", instance); err != nil {
		return Lease{}, err
	}
	if l, ok := p.Lookup(instance); ok {
		return l, nil
	}
	used := make(map[uint32]bool, len(p.Leases))
	for _, l := range p.Leases {
		off, err := hostOffset(&p.Network, l.IP)
		if err != nil {
			return Lease{}, fmt.Errorf("network %s: corrupt lease %s: %w", p.Network.Name, l.Instance, err)
		}
		used[off] = true
	}
	base := be32(p.Network.CIDR.Masked().Addr())
	last := uint32(1)<<(32-p.Network.CIDR.Bits()) - 1
	for off := uint32(2); off < last; off++ {
		if used[off] {
			continue
		}
		l := Lease{Instance: instance, IP: addrFrom32(base + off), MAC: MACFor(p.Network, off).String()}
		p.Leases = append(p.Leases, l)
		sort.Slice(p.Leases, func(i, j int) bool { return p.Leases[i].IP.Less(p.Leases[j].IP) })
		return l, nil
	}
	return Lease{}, fmt.Errorf("network %s: %w", p.Network.Name, ErrPoolFull)
}

// Release frees the instance's lease and reports whether it had one.
func (p *Pool) Release(instance string) bool {
	for i, l := range p.Leases {
		if l.Instance == instance {
			p.Leases = append(p.Leases[:i], p.Leases[i+1:]...)
			return true
		}
	}
	return false
}

// validate checks a pool read from disk.
func (p *Pool) validate() error {
	if err := (&State{Networks: []Network{p.Network}}).Validate(); err != nil {
		return err
	}
	seen := map[netip.Addr]bool{}
	names := map[string]bool{}
	for _, l := range p.Leases {
		off, err := hostOffset(&p.Network, l.IP)
		if err != nil {
			return fmt.Errorf("lease %s: %w", l.Instance, err)
		}
		if seen[l.IP] || names[l.Instance] {
			return fmt.Errorf("lease %s: duplicate", l.Instance)
		}
		if l.MAC != MACFor(p.Network, off).String() {
			return fmt.Errorf("lease %s: mac %s does not match %s", l.Instance, l.MAC, l.IP)
		}
		seen[l.IP], names[l.Instance] = true, true
	}
	return nil
}

// Save writes the pool to path atomically: a temporary file in the same
// directory is written and fsynced, renamed over path, and the directory
// is fsynced, so a crash leaves either the old or the new pool.
func (p *Pool) Save(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode pool %s: %w", p.Network.Name, err)
	}
	return writeFileAtomic(path, b)
}

// LoadPool reads and checks a pool written by Save.
func LoadPool(path string) (*Pool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pool: %w", err)
	}
	var p Pool
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode pool %s: %w", path, err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("pool %s: %w", path, err)
	}
	return &p, nil
}

// tempPattern is the name of writeFileAtomic's temporary file for path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// RemovePoolTemps removes from dir the temporary files of pool saves that
// a crash interrupted (Save writes beside the pool and renames). Call it
// before any Save in dir, once at start.
func RemovePoolTemps(dir string) error {
	tmps, err := filepath.Glob(filepath.Join(dir, tempPattern("*.json")))
	if err != nil {
		return err
	}
	for _, f := range tmps {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove interrupted pool save: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data durably: a temporary file
// beside it, fsynced, renamed over it, and the directory fsynced.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("create temp for %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
