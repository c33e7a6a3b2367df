package controlplane

import (
	"fmt"
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Networks and security groups are stored as the netcfg model objects,
// keyed by name (names are unique per host, as netcfg requires). Every
// change is validated as part of the whole host state by netcfg's own
// State.Validate before it is committed, then handed to the NetworkHook;
// the API never reconciles the kernel itself.

// netState loads every network and group in tx.
func netState(tx *store.Tx) (netcfg.State, error) {
	nets, err := store.List[netcfg.Network](tx, store.Networks, "")
	if err != nil {
		return netcfg.State{}, err
	}
	groups, err := store.List[netcfg.SecurityGroup](tx, store.SecurityGroups, "")
	if err != nil {
		return netcfg.State{}, err
	}
	return netcfg.State{Networks: nets, Groups: groups}, nil
}

// changeNet validates and commits one change to the network state, then
// calls the hook with the new state.
func (cp *ControlPlane) changeNet(tenant string, fn func(tx *store.Tx, st *netcfg.State) error) error {
	cp.netMu.Lock()
	defer cp.netMu.Unlock()
	var st netcfg.State
	err := cp.cfg.DB.Update(func(tx *store.Tx) error {
		var err error
		if st, err = netState(tx); err != nil {
			return err
		}
		if err := fn(tx, &st); err != nil {
			return err
		}
		return st.Validate()
	})
	if err != nil || cp.cfg.OnNetworkChange == nil {
		return err
	}
	return cp.cfg.OnNetworkChange(tenant, st)
}

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
	return 0, badRequest("no free network index")
}

func (cp *ControlPlane) listNetworks(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	all, err := store.ListAll[netcfg.Network](cp.cfg.DB, store.Networks, "")
	if err != nil {
		fail(w, err)
		return
	}
	out := []netcfg.Network{}
	for _, n := range all {
		if who.CanAccess(n.Tenant) {
			out = append(out, n)
		}
	}
	api.JSON(w, http.StatusOK, out)
}

func (cp *ControlPlane) createNetwork(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	n, err := decodeNetwork(r.Body)
	if err == nil && who.Admin {
		err = badRequest("the admin token owns no networks: use a tenant's token")
	}
	if err == nil {
		n.Tenant = who.TenantID
		err = cp.changeNet(who.TenantID, func(tx *store.Tx, st *netcfg.State) error {
			if n.Index, err = nextIndex(st.Networks); err != nil {
				return err
			}
			st.Networks = append(st.Networks, n)
			return tx.Create(store.Networks, n.Name, n)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, n)
}

// ownedNet returns network name if who may see it.
func (cp *ControlPlane) ownedNet(name string, who auth.Principal) (netcfg.Network, error) {
	n, err := store.GetOne[netcfg.Network](cp.cfg.DB, store.Networks, name)
	if err != nil || !who.CanAccess(n.Tenant) {
		return netcfg.Network{}, fmt.Errorf("network %q: %w", name, errNotFound)
	}
	return n, nil
}

func (cp *ControlPlane) getNetwork(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	n, err := cp.ownedNet(p["name"], who)
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, n)
}

// inUse refuses deleting a network or group that a live instance uses.
func (cp *ControlPlane) inUse(tenant string, uses func(lifecycle.Instance) bool) error {
	insts, err := cp.life.List(tenant)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.State != lifecycle.Terminated && uses(in) {
			return fmt.Errorf("%w: in use by instance %s", store.ErrExists, in.ID)
		}
	}
	return nil
}

func (cp *ControlPlane) deleteNetwork(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	n, err := cp.ownedNet(p["name"], who)
	if err == nil {
		err = cp.inUse(n.Tenant, func(in lifecycle.Instance) bool { return in.Network == n.Name })
	}
	if err == nil {
		err = cp.changeNet(n.Tenant, func(tx *store.Tx, st *netcfg.State) error {
			for i := range st.Networks {
				if st.Networks[i].Name == n.Name {
					st.Networks = append(st.Networks[:i], st.Networks[i+1:]...)
					break
				}
			}
			return tx.Delete(store.Networks, n.Name)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (cp *ControlPlane) listGroups(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	all, err := store.ListAll[netcfg.SecurityGroup](cp.cfg.DB, store.SecurityGroups, "")
	if err != nil {
		fail(w, err)
		return
	}
	out := []netcfg.SecurityGroup{}
	for _, g := range all {
		if who.CanAccess(g.Tenant) {
			out = append(out, g)
		}
	}
	api.JSON(w, http.StatusOK, out)
}

// ownedGroup returns group name if who may see it.
func (cp *ControlPlane) ownedGroup(name string, who auth.Principal) (netcfg.SecurityGroup, error) {
	g, err := store.GetOne[netcfg.SecurityGroup](cp.cfg.DB, store.SecurityGroups, name)
	if err != nil || !who.CanAccess(g.Tenant) {
		return netcfg.SecurityGroup{}, fmt.Errorf("security group %q: %w", name, errNotFound)
	}
	return g, nil
}

func (cp *ControlPlane) getGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	g, err := cp.ownedGroup(p["name"], who)
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, g)
}

// putGroupState replaces or adds g in st.
func putGroupState(st *netcfg.State, g netcfg.SecurityGroup) {
	for i := range st.Groups {
		if st.Groups[i].Name == g.Name {
			st.Groups[i] = g
			return
		}
	}
	st.Groups = append(st.Groups, g)
}

func (cp *ControlPlane) createGroup(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	g, err := decodeGroup(r.Body)
	if err == nil && who.Admin {
		err = badRequest("the admin token owns no security groups: use a tenant's token")
	}
	if err == nil {
		g.Tenant = who.TenantID
		err = cp.changeNet(who.TenantID, func(tx *store.Tx, st *netcfg.State) error {
			putGroupState(st, g)
			return tx.Create(store.SecurityGroups, g.Name, g)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, g)
}

func (cp *ControlPlane) putGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	old, err := cp.ownedGroup(p["name"], who)
	var g netcfg.SecurityGroup
	if err == nil {
		g, err = decodeGroup(r.Body)
	}
	if err == nil && g.Name != old.Name {
		err = badRequest("name %q does not match the path %q", g.Name, old.Name)
	}
	if err == nil {
		g.Tenant = old.Tenant
		err = cp.changeNet(g.Tenant, func(tx *store.Tx, st *netcfg.State) error {
			putGroupState(st, g)
			return tx.Put(store.SecurityGroups, g.Name, g)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, g)
}

func (cp *ControlPlane) deleteGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	g, err := cp.ownedGroup(p["name"], who)
	if err == nil {
		err = cp.inUse(g.Tenant, func(in lifecycle.Instance) bool {
			for _, s := range in.SecurityGroups {
				if s == g.Name {
					return true
				}
			}
			return false
		})
	}
	if err == nil {
		err = cp.changeNet(g.Tenant, func(tx *store.Tx, st *netcfg.State) error {
			for i := range st.Groups {
				if st.Groups[i].Name == g.Name {
					st.Groups = append(st.Groups[:i], st.Groups[i+1:]...)
					break
				}
			}
			return tx.Delete(store.SecurityGroups, g.Name)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
