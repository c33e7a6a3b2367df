package domain

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Public IPs map an extra address of the host's uplink 1:1 onto an
// instance (DNAT in, SNAT out), from the pool the operator configured
// (Config.PublicIPs). Like port forwards they are stored, tenant-scoped,
// reach the kernel while the instance has a tap, and go back to the pool
// when released or when the instance is terminated. An instance has at
// most one.
//
// An address may also be allocated for no instance (held), as EC2's
// AllocateAddress does: it is the tenant's until released, is associated
// with and disassociated from instances, and outlives them (terminating
// its instance only disassociates it). Disassociating an address that
// was allocated for an instance makes it held too. Only associated
// addresses reach the host network.

// PublicIP is an allocated public address.
type PublicIP struct {
	Address  netip.Addr `json:"address"`
	Tenant   string     `json:"tenant_id"`
	Instance string     `json:"instance"`
	Network  string     `json:"network"`
	// Held is an address that outlives its instance: allocated for none,
	// or disassociated. Instance is empty while it is associated with
	// none.
	Held       bool      `json:"held,omitempty"`
	CreateTime time.Time `json:"create_time"`
}

// netPublicIP is p in netcfg's model.
func (p PublicIP) netPublicIP() netcfg.PublicIP {
	return netcfg.PublicIP{Address: p.Address, Instance: p.Instance, Network: netcfg.TenantName(p.Tenant, p.Network)}
}

// publicIPTenant is p's owner.
func publicIPTenant(p PublicIP) string { return p.Tenant }

// PublicIPs lists the public IPs who may see.
func (d *Domain) PublicIPs(who auth.Principal) ([]PublicIP, error) {
	return listOwned(d.cfg.DB, store.PublicIPs, who, publicIPTenant)
}

// PublicIP returns public address addr if who may see it.
func (d *Domain) PublicIP(addr string, who auth.Principal) (PublicIP, error) {
	return getOwned(d.cfg.DB, store.PublicIPs, addr, addr, who, publicIPTenant, "public ip")
}

// AllocatePublicIP gives who's instance the lowest free address of the
// pool, or holds one for who's tenant when instance is empty:
// AlreadyExists if the instance has one, LimitExceeded if none is free.
func (d *Domain) AllocatePublicIP(who auth.Principal, instance string) (PublicIP, error) {
	pip := PublicIP{Tenant: who.TenantID, Held: true, CreateTime: d.cfg.Now().UTC()}
	if instance != "" {
		in, err := d.publicTarget(instance, who, len(d.cfg.PublicIPs) > 0, "public IPs (none are configured)")
		if err != nil {
			return PublicIP{}, err
		}
		pip.Tenant, pip.Instance, pip.Network, pip.Held = in.TenantID, in.ID, in.Network, false
	} else if err := d.canHold(who); err != nil {
		return PublicIP{}, err
	}
	err := d.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		if err := checkQuota(tx, store.PublicIPs, "", pip.Tenant, "public ips",
			func(l quota.Limits) int { return l.PublicIPs }); err != nil {
			return err
		}
		all, err := store.List[PublicIP](tx, store.PublicIPs, "")
		if err != nil {
			return err
		}
		used := map[netip.Addr]bool{}
		for _, o := range all {
			if pip.Instance != "" && o.Instance == pip.Instance {
				return fmt.Errorf("%w: instance %s has public ip %s already", apiv1.AlreadyExists, pip.Instance, o.Address)
			}
			used[o.Address] = true
		}
		i := slices.IndexFunc(d.cfg.PublicIPs, func(a netip.Addr) bool { return !used[a] })
		if i < 0 {
			return fmt.Errorf("%w: all %d public ips are taken", apiv1.LimitExceeded, len(d.cfg.PublicIPs))
		}
		pip.Address = d.cfg.PublicIPs[i]
		if pip.Instance != "" {
			st.PublicIPs = append(st.PublicIPs, pip.netPublicIP())
		}
		return tx.Create(store.PublicIPs, pip.Address.String(), pip)
	})
	return pip, err
}

// canHold checks that who may hold an address for no instance: a
// tenant, on a host with an uplink and a pool.
func (d *Domain) canHold(who auth.Principal) error {
	switch {
	case who.Admin || who.TenantID == "":
		return invalid("the admin token holds no addresses: use a tenant's token")
	case !d.cfg.Uplink:
		return fmt.Errorf("%w: this host has no uplink", apiv1.IncorrectState)
	case len(d.cfg.PublicIPs) == 0:
		return fmt.Errorf("%w: this host offers no public IPs (none are configured)", apiv1.IncorrectState)
	}
	return nil
}

// AssociatePublicIP maps who's address addr onto who's instance: InUse
// if addr is associated with another instance and reassociate is false
// (with it, addr moves), AlreadyExists if the instance has another
// address. Associating addr with its own instance again is no change.
func (d *Domain) AssociatePublicIP(who auth.Principal, addr, instance string, reassociate bool) (PublicIP, error) {
	pip, err := d.PublicIP(addr, who)
	if err != nil {
		return PublicIP{}, err
	}
	in, err := d.publicTarget(instance, who, true, "")
	if err != nil {
		return PublicIP{}, err
	}
	if pip.Instance == in.ID {
		return pip, nil
	}
	if pip.Instance != "" && !reassociate {
		return PublicIP{}, fmt.Errorf("%w: public ip %s is associated with instance %s", apiv1.InUse, addr, pip.Instance)
	}
	err = d.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		for _, o := range st.PublicIPs {
			if o.Instance == in.ID {
				return fmt.Errorf("%w: instance %s has public ip %s already", apiv1.AlreadyExists, in.ID, o.Address)
			}
		}
		st.PublicIPs = slices.DeleteFunc(st.PublicIPs, func(o netcfg.PublicIP) bool { return o.Address == pip.Address })
		pip.Instance, pip.Network, pip.Held = in.ID, in.Network, true
		st.PublicIPs = append(st.PublicIPs, pip.netPublicIP())
		return tx.Put(store.PublicIPs, pip.Address.String(), pip)
	})
	return pip, err
}

// DisassociatePublicIP unmaps who's address addr from its instance; the
// address stays who's (held) until released. An address associated with
// nothing is no change.
func (d *Domain) DisassociatePublicIP(who auth.Principal, addr string) (PublicIP, error) {
	pip, err := d.PublicIP(addr, who)
	if err != nil || pip.Instance == "" {
		return pip, err
	}
	err = d.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		st.PublicIPs = slices.DeleteFunc(st.PublicIPs, func(o netcfg.PublicIP) bool { return o.Address == pip.Address })
		pip.Instance, pip.Network, pip.Held = "", "", true
		return tx.Put(store.PublicIPs, pip.Address.String(), pip)
	})
	return pip, err
}

// ReleasePublicIP gives who's public address addr back to the pool.
func (d *Domain) ReleasePublicIP(who auth.Principal, addr string) error {
	pip, err := d.PublicIP(addr, who)
	if err != nil {
		return err
	}
	return d.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		st.PublicIPs = slices.DeleteFunc(st.PublicIPs, func(o netcfg.PublicIP) bool { return o.Address == pip.Address })
		return tx.Delete(store.PublicIPs, pip.Address.String())
	})
}
