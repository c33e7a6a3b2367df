package domain

import (
	"strings"

	"github.com/ironvisor/ironvisor/netcfg"
)

// hostState returns st as the host network sees it: every network and
// security group, and every reference to a group, under its host-wide
// netcfg.TenantName. The domain works with the tenants' own names, which
// are unique per tenant only; port forwards and public IPs name their
// network by host name already (netForward, netPublicIP).
func hostState(st netcfg.State) netcfg.State {
	out := st
	out.Networks = make([]netcfg.Network, len(st.Networks))
	for i, n := range st.Networks {
		n.Name = netcfg.TenantName(n.Tenant, n.Name)
		out.Networks[i] = n
	}
	out.Groups = make([]netcfg.SecurityGroup, len(st.Groups))
	for i, g := range st.Groups {
		g.Ingress = hostRules(g.Tenant, g.Ingress)
		g.Egress = hostRules(g.Tenant, g.Egress)
		g.Name = netcfg.TenantName(g.Tenant, g.Name)
		out.Groups[i] = g
	}
	return out
}

// hostRules returns rules with their peer groups (of tenant) under host
// names.
func hostRules(tenant string, rules []netcfg.Rule) []netcfg.Rule {
	out := make([]netcfg.Rule, len(rules))
	for i, r := range rules {
		if r.Group != "" {
			r.Group = netcfg.TenantName(tenant, r.Group)
		}
		out[i] = r
	}
	return out
}

// tenantError returns err with tenant's host names put back to the names
// the tenant chose. The messages of a change by tenant name only its own
// objects (the domain refuses a clash with another's before netcfg
// validates: freeCIDR), so nothing of another tenant is left in them.
func tenantError(tenant string, err error) error {
	if err == nil {
		return nil
	}
	return &renamed{msg: strings.ReplaceAll(err.Error(), netcfg.TenantName(tenant, ""), ""), err: err}
}

// renamed is an error with a rewritten message that still unwraps to the
// original (so its code survives).
type renamed struct {
	msg string
	err error
}

func (e *renamed) Error() string { return e.msg }
func (e *renamed) Unwrap() error { return e.err }
