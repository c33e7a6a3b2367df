package hostnet

import (
	"fmt"
	"os"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// The host network names a tenant's networks and security groups by
// netcfg.TenantName; instances name theirs as the tenant does.

// hostGroups returns the host names of in's security groups.
func hostGroups(in lifecycle.Instance) []string {
	out := make([]string, len(in.SecurityGroups))
	for i, g := range in.SecurityGroups {
		out[i] = netcfg.TenantName(in.TenantID, g)
	}
	return out
}

// renameOldPool moves pool p, read from file f and written by a version
// that named networks by their tenant's name alone, to its host name, so
// that the leases of running instances survive the upgrade. It returns
// the file p is in now.
func (n *Net) renameOldPool(f string, p *netcfg.Pool) (string, error) {
	if p.Network.Tenant == "" || strings.HasPrefix(p.Network.Name, netcfg.TenantName(p.Network.Tenant, "")) ||
		f != n.poolPath(p.Network.Name) {
		return f, nil
	}
	p.Network.Name = netcfg.TenantName(p.Network.Tenant, p.Network.Name)
	to := n.poolPath(p.Network.Name)
	if err := p.Save(to); err != nil {
		return f, fmt.Errorf("hostnet: rename pool %s: %w", f, err)
	}
	if err := os.Remove(f); err != nil {
		return f, fmt.Errorf("hostnet: rename pool %s: %w", f, err)
	}
	return to, nil
}
