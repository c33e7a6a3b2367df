package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Port forwards make a port of an instance reachable from outside: TCP or
// UDP to a public port of the host's uplink is forwarded (DNAT) to a port
// of the instance's address. They are stored, tenant-scoped, like networks
// and groups; a forward reaches the kernel while its instance has a tap
// (hostnet), so a stopped instance's forward waits, and it goes when the
// instance is terminated. The instance's security groups still decide what
// reaches it.

// PortForward is a stored port forward.
type PortForward struct {
	ID         string       `json:"id"`
	Tenant     string       `json:"tenant_id"`
	Instance   string       `json:"instance"`
	Network    string       `json:"network"`
	Proto      netcfg.Proto `json:"proto"`
	PublicPort uint16       `json:"public_port"`
	Port       uint16       `json:"port"`
	CreateTime time.Time    `json:"create_time"`
}

// netForward is f in netcfg's model.
func (f PortForward) netForward() netcfg.PortForward {
	return netcfg.PortForward{Proto: f.Proto, PublicPort: f.PublicPort, Instance: f.Instance, Network: netcfg.TenantName(f.Tenant, f.Network), Port: f.Port}
}

// forwardTenant is f's owner.
func forwardTenant(f PortForward) string { return f.Tenant }

// Forwards lists the port forwards who may see.
func (d *Domain) Forwards(who auth.Principal) ([]PortForward, error) {
	return listOwned(d.cfg.DB, store.PortForwards, who, forwardTenant)
}

// Forward returns port forward id if who may see it.
func (d *Domain) Forward(id string, who auth.Principal) (PortForward, error) {
	return getOwned(d.cfg.DB, store.PortForwards, id, id, who, forwardTenant, "port forward")
}

// CreateForward forwards proto/publicPort of the uplink to port of who's
// instance (ports and proto were checked by the caller's decoding).
func (d *Domain) CreateForward(who auth.Principal, instance string, proto netcfg.Proto, publicPort, port uint16) (PortForward, error) {
	if slices.Contains(d.cfg.ReservedPorts, publicPort) {
		return PortForward{}, invalid("public_port %d is the host's own (reserved: %v)", publicPort, d.cfg.ReservedPorts)
	}
	if d.cfg.HostListener != nil {
		l, err := d.cfg.HostListener(proto, publicPort)
		if err != nil {
			return PortForward{}, fmt.Errorf("ask the kernel for the host's services: %w", err)
		}
		if l != "" {
			return PortForward{}, fmt.Errorf("%w: public port %s/%d is taken by a service of the host (%s)", apiv1.AlreadyExists, proto, publicPort, l)
		}
	}
	in, err := d.publicTarget(instance, who, true, "port forwards")
	if err != nil {
		return PortForward{}, err
	}
	id, err := store.NewID("pf-")
	if err != nil {
		return PortForward{}, err
	}
	f := PortForward{ID: id, Tenant: in.TenantID, Instance: in.ID, Network: in.Network, Proto: proto,
		PublicPort: publicPort, Port: port, CreateTime: d.cfg.Now().UTC()}
	err = d.changeNet(f.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		if err := checkQuota(tx, store.PortForwards, "", f.Tenant, "port forwards",
			func(l quota.Limits) int { return l.PortForwards }); err != nil {
			return err
		}
		for _, o := range st.Forwards {
			if o.Proto == f.Proto && o.PublicPort == f.PublicPort {
				return fmt.Errorf("%w: public port %s/%d is forwarded already", apiv1.AlreadyExists, f.Proto, f.PublicPort)
			}
		}
		st.Forwards = append(st.Forwards, f.netForward())
		return tx.Create(store.PortForwards, f.ID, f)
	})
	return f, err
}

// DeleteForward deletes who's port forward id.
func (d *Domain) DeleteForward(who auth.Principal, id string) error {
	f, err := d.Forward(id, who)
	if err != nil {
		return err
	}
	return d.changeNet(f.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		st.Forwards = slices.DeleteFunc(st.Forwards, func(o netcfg.PortForward) bool {
			return o.Proto == f.Proto && o.PublicPort == f.PublicPort
		})
		return tx.Delete(store.PortForwards, f.ID)
	})
}

// publicTarget returns instance id as the target of a port forward or a
// public IP for who: a tenant's own instance in a network, not ending,
// on a host that has what it takes (available; else IncorrectState
// naming what).
func (d *Domain) publicTarget(id string, who auth.Principal, available bool, what string) (lifecycle.Instance, error) {
	switch {
	case who.Admin:
		return lifecycle.Instance{}, invalid("the admin token owns no instances: use a tenant's token")
	case !d.cfg.Uplink:
		return lifecycle.Instance{}, fmt.Errorf("%w: this host has no uplink", apiv1.IncorrectState)
	case !available:
		return lifecycle.Instance{}, fmt.Errorf("%w: this host offers no %s", apiv1.IncorrectState, what)
	}
	in, err := d.cfg.Life.Get(id)
	if err != nil || !who.CanAccess(in.TenantID) {
		return lifecycle.Instance{}, notFound("instance", id)
	}
	if in.Network == "" {
		return lifecycle.Instance{}, invalid("instance %s is in no network", in.ID)
	}
	if in.State == lifecycle.ShuttingDown || in.State == lifecycle.Terminated {
		return lifecycle.Instance{}, fmt.Errorf("%w: instance %s is %s", apiv1.IncorrectState, in.ID, in.State)
	}
	return in, nil
}
