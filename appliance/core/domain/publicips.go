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

// PublicIP is an allocated public address.
type PublicIP struct {
	Address    netip.Addr `json:"address"`
	Tenant     string     `json:"tenant_id"`
	Instance   string     `json:"instance"`
	Network    string     `json:"network"`
	CreateTime time.Time  `json:"create_time"`
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
// pool: AlreadyExists if it has one, LimitExceeded if none is free.
func (d *Domain) AllocatePublicIP(who auth.Principal, instance string) (PublicIP, error) {
	in, err := d.publicTarget(instance, who, len(d.cfg.PublicIPs) > 0, "public IPs (none are configured)")
	if err != nil {
		return PublicIP{}, err
	}
	pip := PublicIP{Tenant: in.TenantID, Instance: in.ID, Network: in.Network, CreateTime: d.cfg.Now().UTC()}
	err = d.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		if err := checkQuota(tx, store.PublicIPs, "", pip.Tenant, "public ips",
			func(l quota.Limits) int { return l.PublicIPs }); err != nil {
			return err
		}
		used := map[netip.Addr]bool{}
		for _, o := range st.PublicIPs {
			if o.Instance == in.ID {
				return fmt.Errorf("%w: instance %s has public ip %s already", apiv1.AlreadyExists, in.ID, o.Address)
			}
			used[o.Address] = true
		}
		i := slices.IndexFunc(d.cfg.PublicIPs, func(a netip.Addr) bool { return !used[a] })
		if i < 0 {
			return fmt.Errorf("%w: all %d public ips are taken", apiv1.LimitExceeded, len(d.cfg.PublicIPs))
		}
		pip.Address = d.cfg.PublicIPs[i]
		st.PublicIPs = append(st.PublicIPs, pip.netPublicIP())
		return tx.Create(store.PublicIPs, pip.Address.String(), pip)
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
