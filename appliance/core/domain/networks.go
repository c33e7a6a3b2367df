package domain

import (
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Networks and security groups are stored as the netcfg model objects
// with the tenant's own names, keyed by store.TenantKey: names are unique
// per tenant. The host network gets them under netcfg.TenantName
// (hostState), which is unique per host.

func networkTenant(n netcfg.Network) string     { return n.Tenant }
func groupTenant(g netcfg.SecurityGroup) string { return g.Tenant }

// nextIndex returns the lowest network index not in use.
func nextIndex(nets []netcfg.Network) (int, error) {
	used := map[int]bool{}
	for _, n := range nets {
		used[n.Index] = true
	}
	for i := 1; i <= netcfg.MaxNetworkIndex; i++ {
		if !used[i] {
			return i, nil
		}
	}
	return 0, invalid("no free network index")
}

// ErrCIDRConflict is wrapped (beside apiv1.InvalidParameter) by the
// error of a network whose CIDR overlaps another's, so that a front end
// can name the conflict (EC2's InvalidSubnet.Conflict).
var ErrCIDRConflict = errors.New("cidr conflict")

// conflict returns an InvalidParameter error that is an ErrCIDRConflict.
func conflict(format string, a ...any) error {
	return fmt.Errorf("%w: %s%.0w", apiv1.InvalidParameter, fmt.Sprintf(format, a...), ErrCIDRConflict)
}

// freeCIDR refuses n's CIDR if it overlaps another network: the
// tenant's own by name, another tenant's without a word of it (one host
// routes every network, so CIDRs are unique per host, but whose they are
// is nobody else's business).
func freeCIDR(nets []netcfg.Network, n netcfg.Network) error {
	for _, o := range nets {
		if !o.CIDR.Overlaps(n.CIDR) {
			continue
		}
		if o.Tenant == n.Tenant {
			return conflict("cidr %s overlaps your network %s (%s)", n.CIDR, o.Name, o.CIDR)
		}
		return conflict("cidr %s is not available on this host: choose another range", n.CIDR)
	}
	return nil
}

// Networks lists the networks who may see.
func (d *Domain) Networks(who auth.Principal) ([]netcfg.Network, error) {
	return listOwned(d.cfg.DB, store.Networks, who, networkTenant)
}

// Network returns network name if who may see it.
func (d *Domain) Network(name string, who auth.Principal) (netcfg.Network, error) {
	return getOwned(d.cfg.DB, store.Networks, store.TenantKey(who.TenantID, name), name, who, networkTenant, "network")
}

// CreateNetwork creates n (name, CIDR, NoNAT) for who, with the lowest
// free index.
func (d *Domain) CreateNetwork(who auth.Principal, n netcfg.Network) (netcfg.Network, error) {
	if err := ownerOnly(who, "networks"); err != nil {
		return n, err
	}
	n.Tenant = who.TenantID
	err := d.changeNet(who.TenantID, func(tx *store.Tx, st *netcfg.State) (err error) {
		if n.Index, err = nextIndex(st.Networks); err != nil {
			return err
		}
		if err := checkNetworkQuota(tx, st, n.Tenant); err != nil {
			return err
		}
		if err := freeCIDR(st.Networks, n); err != nil {
			return err
		}
		st.Networks = append(st.Networks, n)
		return tx.Create(store.Networks, store.TenantKey(n.Tenant, n.Name), n)
	})
	return n, err
}

// inUse refuses deleting a network or group that a live instance uses.
func (d *Domain) inUse(tenant string, uses func(lifecycle.Instance) bool) error {
	insts, err := d.cfg.Life.List(tenant)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.State != lifecycle.Terminated && uses(in) {
			return fmt.Errorf("%w by instance %s", apiv1.InUse, in.ID)
		}
	}
	return nil
}

// DeleteNetwork deletes network name of who unless an instance uses it.
func (d *Domain) DeleteNetwork(who auth.Principal, name string) error {
	n, err := d.Network(name, who)
	if err == nil {
		err = d.inUse(n.Tenant, func(in lifecycle.Instance) bool { return in.Network == n.Name })
	}
	if err != nil {
		return err
	}
	return d.changeNet(n.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		st.Networks = slices.DeleteFunc(st.Networks, func(o netcfg.Network) bool { return o.Tenant == n.Tenant && o.Name == n.Name })
		return tx.Delete(store.Networks, store.TenantKey(n.Tenant, n.Name))
	})
}

// Groups lists the security groups who may see.
func (d *Domain) Groups(who auth.Principal) ([]netcfg.SecurityGroup, error) {
	return listOwned(d.cfg.DB, store.SecurityGroups, who, groupTenant)
}

// Group returns security group name if who may see it.
func (d *Domain) Group(name string, who auth.Principal) (netcfg.SecurityGroup, error) {
	return getOwned(d.cfg.DB, store.SecurityGroups, store.TenantKey(who.TenantID, name), name, who, groupTenant, "security group")
}

// putGroupState replaces or adds g in st.
func putGroupState(st *netcfg.State, g netcfg.SecurityGroup) {
	for i := range st.Groups {
		if st.Groups[i].Tenant == g.Tenant && st.Groups[i].Name == g.Name {
			st.Groups[i] = g
			return
		}
	}
	st.Groups = append(st.Groups, g)
}

// MaxGroupDescription bounds a security group's description, as EC2
// does.
const MaxGroupDescription = 255

// checkDescription refuses a description that is too long or holds a
// control character.
func checkDescription(s string) error {
	if len(s) > MaxGroupDescription {
		return invalid("description is %d bytes, at most %d", len(s), MaxGroupDescription)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return invalid("description: control or invalid character %U", r)
		}
	}
	return nil
}

// CreateGroup creates security group g for who.
func (d *Domain) CreateGroup(who auth.Principal, g netcfg.SecurityGroup) (netcfg.SecurityGroup, error) {
	if err := ownerOnly(who, "security groups"); err != nil {
		return g, err
	}
	if err := checkDescription(g.Description); err != nil {
		return g, err
	}
	g.Tenant = who.TenantID
	err := d.changeNet(who.TenantID, func(tx *store.Tx, st *netcfg.State) error {
		if err := checkGroupQuota(tx, st, g, !tx.Has(store.SecurityGroups, store.TenantKey(g.Tenant, g.Name))); err != nil {
			return err
		}
		putGroupState(st, g)
		return tx.Create(store.SecurityGroups, store.TenantKey(g.Tenant, g.Name), g)
	})
	return g, err
}

// PutGroup replaces the rules of who's security group name with g's; g
// must carry the same name. An empty description keeps the group's.
func (d *Domain) PutGroup(who auth.Principal, name string, g netcfg.SecurityGroup) (netcfg.SecurityGroup, error) {
	old, err := d.Group(name, who)
	if err != nil {
		return g, err
	}
	if g.Description == "" {
		g.Description = old.Description
	}
	if err := checkDescription(g.Description); err != nil {
		return g, err
	}
	if g.Name != old.Name {
		return g, invalid("name %q does not match the path %q", g.Name, old.Name)
	}
	g.Tenant = old.Tenant
	err = d.changeNet(g.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		if err := checkGroupQuota(tx, st, g, false); err != nil {
			return err
		}
		putGroupState(st, g)
		return tx.Put(store.SecurityGroups, store.TenantKey(g.Tenant, g.Name), g)
	})
	return g, err
}

// DeleteGroup deletes who's security group name unless an instance uses it.
func (d *Domain) DeleteGroup(who auth.Principal, name string) error {
	g, err := d.Group(name, who)
	if err == nil {
		err = d.inUse(g.Tenant, func(in lifecycle.Instance) bool { return slices.Contains(in.SecurityGroups, g.Name) })
	}
	if err != nil {
		return err
	}
	return d.changeNet(g.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		st.Groups = slices.DeleteFunc(st.Groups, func(o netcfg.SecurityGroup) bool { return o.Tenant == g.Tenant && o.Name == g.Name })
		return tx.Delete(store.SecurityGroups, store.TenantKey(g.Tenant, g.Name))
	})
}

// CheckLaunch checks the network and groups a launch of tenant names:
// they exist and belong to the tenant, and an instance in a network has a
// security group (its NIC's rules; with none there would be nothing to
// allow or deny by).
func (d *Domain) CheckLaunch(tenant, network string, groups []string) error {
	if network != "" && len(groups) == 0 {
		return invalid("an instance in network %q needs at least one security group", network)
	}
	if network != "" {
		n, err := store.GetOne[netcfg.Network](d.cfg.DB, store.Networks, store.TenantKey(tenant, network))
		if err != nil || n.Tenant != tenant {
			return invalid("network %q does not exist", network)
		}
	}
	for _, g := range groups {
		sg, err := store.GetOne[netcfg.SecurityGroup](d.cfg.DB, store.SecurityGroups, store.TenantKey(tenant, g))
		if err != nil || sg.Tenant != tenant {
			return invalid("security group %q does not exist", g)
		}
	}
	return nil
}
