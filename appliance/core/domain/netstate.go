package domain

import (
	"slices"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// netState loads every network, group, port forward and public IP in tx.
func netState(tx *store.Tx) (netcfg.State, error) {
	nets, err := store.List[netcfg.Network](tx, store.Networks, "")
	if err != nil {
		return netcfg.State{}, err
	}
	groups, err := store.List[netcfg.SecurityGroup](tx, store.SecurityGroups, "")
	if err != nil {
		return netcfg.State{}, err
	}
	fwds, err := store.List[PortForward](tx, store.PortForwards, "")
	if err != nil {
		return netcfg.State{}, err
	}
	pips, err := store.List[PublicIP](tx, store.PublicIPs, "")
	if err != nil {
		return netcfg.State{}, err
	}
	st := netcfg.State{Networks: nets, Groups: groups}
	for _, f := range fwds {
		st.Forwards = append(st.Forwards, f.netForward())
	}
	for _, p := range pips {
		if p.Instance != "" {
			st.PublicIPs = append(st.PublicIPs, p.netPublicIP())
		}
	}
	return st, nil
}

// changeNet validates and commits one change to the network state, then
// calls the hook with the new state (under host names: hostState). fn
// works with the tenants' own names. When the hook fails (the kernel
// refused the change), the change is undone in the store and the old
// state handed to the hook again (undo): an answered failure leaves
// nothing behind.
func (d *Domain) changeNet(tenant string, fn func(tx *store.Tx, st *netcfg.State) error) error {
	return d.change(tenant, fn, true)
}

// change is changeNet, with undo on a failed hook or without: a
// deletion that follows what already happened (an instance terminated)
// stays done.
func (d *Domain) change(tenant string, fn func(tx *store.Tx, st *netcfg.State) error, undo bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var st netcfg.State
	var before netSnapshot
	err := d.cfg.DB.Update(func(tx *store.Tx) error {
		var err error
		if st, err = netState(tx); err != nil {
			return err
		}
		if undo && d.cfg.OnNetworkChange != nil {
			if before, err = snapshotNet(tx); err != nil {
				return err
			}
		}
		if err := fn(tx, &st); err != nil {
			return err
		}
		// Forwards and public IPs name NICs, which exist only while
		// instances run: the host network applies each once its NIC is
		// there (the domain checked the rest), so the stored state is
		// validated without them.
		v := hostState(st)
		v.Forwards, v.PublicIPs = nil, nil
		v.HostNets = d.cfg.HostNets
		return tenantError(tenant, apiv1.WithCode(apiv1.InvalidParameter, v.Validate()))
	})
	if err != nil || d.cfg.OnNetworkChange == nil {
		return err
	}
	err = d.cfg.OnNetworkChange(tenant, hostState(st))
	if err != nil && undo {
		err = d.undo(tenant, before, err)
	}
	return tenantError(tenant, err)
}

// DropPublicOf deletes the port forwards and public IPs of instance in,
// which is being terminated (a held public IP is only disassociated); the host network hears of it only when it had
// any.
func (d *Domain) DropPublicOf(in lifecycle.Instance) error {
	var has bool
	err := d.cfg.DB.View(func(tx *store.Tx) error {
		st, err := netState(tx)
		has = slices.ContainsFunc(st.Forwards, func(f netcfg.PortForward) bool { return f.Instance == in.ID }) ||
			slices.ContainsFunc(st.PublicIPs, func(p netcfg.PublicIP) bool { return p.Instance == in.ID })
		return err
	})
	if err != nil || !has {
		return err
	}
	return d.change(in.TenantID, func(tx *store.Tx, st *netcfg.State) error {
		return dropGone(tx, st, func(id string) bool { return id != in.ID })
	}, false)
}

// StartState returns the whole network state, under host names, for the
// host network's start-up sync. Forwards and public IPs of instances live reports false
// for (terminated while the appliance was down, or before a crash let
// terminate drop them) are deleted in the same transaction that reads the
// state, and the state is returned without them; the hook is not called,
// since nothing may reach the host network before its sync, which knows
// which taps survived.
func (d *Domain) StartState(live func(instance string) bool) (netcfg.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var st netcfg.State
	err := d.cfg.DB.Update(func(tx *store.Tx) (err error) {
		if st, err = netState(tx); err != nil {
			return err
		}
		return dropGone(tx, &st, live)
	})
	return hostState(st), err
}

// dropGone deletes, in tx, the port forwards and public IPs of the
// instances that keep reports false for (terminated, or forgotten), and
// takes them out of st; held public IPs are disassociated instead.
func dropGone(tx *store.Tx, st *netcfg.State, keep func(instance string) bool) error {
	fwds, err := store.List[PortForward](tx, store.PortForwards, "")
	if err != nil {
		return err
	}
	for _, f := range fwds {
		if !keep(f.Instance) {
			if err := tx.Delete(store.PortForwards, f.ID); err != nil {
				return err
			}
		}
	}
	pips, err := store.List[PublicIP](tx, store.PublicIPs, "")
	if err != nil {
		return err
	}
	for _, p := range pips {
		switch {
		case p.Instance == "" || keep(p.Instance):
		case p.Held:
			p.Instance, p.Network = "", ""
			if err := tx.Put(store.PublicIPs, p.Address.String(), p); err != nil {
				return err
			}
		default:
			if err := tx.Delete(store.PublicIPs, p.Address.String()); err != nil {
				return err
			}
		}
	}
	st.Forwards = slices.DeleteFunc(st.Forwards, func(o netcfg.PortForward) bool { return !keep(o.Instance) })
	st.PublicIPs = slices.DeleteFunc(st.PublicIPs, func(o netcfg.PublicIP) bool { return !keep(o.Instance) })
	return nil
}
