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
		st.PublicIPs = append(st.PublicIPs, p.netPublicIP())
	}
	return st, nil
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
		// Forwards and public IPs name NICs, which exist only while
		// instances run: the host network applies each once its NIC is
		// there (the API checked the rest), so the stored state is
		// validated without them.
		v := st
		v.Forwards, v.PublicIPs = nil, nil
		v.HostNets = cp.cfg.HostNets
		return v.Validate()
	})
	if err != nil || cp.cfg.OnNetworkChange == nil {
		return err
	}
	return cp.cfg.OnNetworkChange(tenant, st)
}

// listOwned answers a list of bucket b with the objects who may see
// (tenant names each one's owner).
func listOwned[T any](w http.ResponseWriter, db *store.DB, b store.Bucket, who auth.Principal, tenant func(T) string) {
	all, err := store.ListAll[T](db, b, "")
	if err != nil {
		fail(w, err)
		return
	}
	out := []T{}
	for _, o := range all {
		if who.CanAccess(tenant(o)) {
			out = append(out, o)
		}
	}
	api.JSON(w, http.StatusOK, out)
}

// getOwned returns object key of bucket b if who may see it; else, as for
// a missing one, a not-found error naming what and key.
func getOwned[T any](db *store.DB, b store.Bucket, key string, who auth.Principal, tenant func(T) string, what string) (T, error) {
	o, err := store.GetOne[T](db, b, key)
	if err != nil || !who.CanAccess(tenant(o)) {
		var zero T
		return zero, fmt.Errorf("%s %q: %w", what, key, errNotFound)
	}
	return o, nil
}

// answerOwned answers GET of one object found by get.
func answerOwned[T any](w http.ResponseWriter, get func() (T, error)) {
	o, err := get()
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, o)
}

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
	return 0, badRequest("no free network index")
}

func (cp *ControlPlane) listNetworks(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	listOwned(w, cp.cfg.DB, store.Networks, who, networkTenant)
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
	return getOwned(cp.cfg.DB, store.Networks, name, who, networkTenant, "network")
}

func (cp *ControlPlane) getNetwork(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	answerOwned(w, func() (netcfg.Network, error) { return cp.ownedNet(p["name"], who) })
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
	listOwned(w, cp.cfg.DB, store.SecurityGroups, who, groupTenant)
}

// ownedGroup returns group name if who may see it.
func (cp *ControlPlane) ownedGroup(name string, who auth.Principal) (netcfg.SecurityGroup, error) {
	return getOwned(cp.cfg.DB, store.SecurityGroups, name, who, groupTenant, "security group")
}

func (cp *ControlPlane) getGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	answerOwned(w, func() (netcfg.SecurityGroup, error) { return cp.ownedGroup(p["name"], who) })
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
