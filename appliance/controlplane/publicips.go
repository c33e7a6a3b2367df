package controlplane

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Public IPs map an extra address of the host's uplink 1:1 onto an
// instance (DNAT in, SNAT out), from the pool the operator configured
// (Config.PublicIPs). Like port forwards they are stored, tenant-scoped,
// reach the kernel while the instance has a tap, and go back to the pool
// when released or when the instance is terminated. An instance has at
// most one.

// PublicIP is an allocated public address (the API's object).
type PublicIP struct {
	Address    netip.Addr `json:"address"`
	Tenant     string     `json:"tenant_id"`
	Instance   string     `json:"instance"`
	Network    string     `json:"network"`
	CreateTime time.Time  `json:"create_time"`
}

// PublicIPRequest is the body of POST /v1/public-ips.
type PublicIPRequest struct {
	Instance string `json:"instance"`
}

// decodePublicIP decodes a PublicIPRequest.
func decodePublicIP(r io.Reader) (PublicIPRequest, error) {
	var q PublicIPRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	return q, checkName("instance", q.Instance)
}

// netPublicIP is p in netcfg's model.
func (p PublicIP) netPublicIP() netcfg.PublicIP {
	return netcfg.PublicIP{Address: p.Address, Instance: p.Instance, Network: p.Network}
}

// publicIPTenant is p's owner.
func publicIPTenant(p PublicIP) string { return p.Tenant }

func (cp *ControlPlane) listPublicIPs(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	listOwned(w, cp.cfg.DB, store.PublicIPs, who, publicIPTenant)
}

// ownedPublicIP returns public address addr if who may see it.
func (cp *ControlPlane) ownedPublicIP(addr string, who auth.Principal) (PublicIP, error) {
	return getOwned(cp.cfg.DB, store.PublicIPs, addr, who, publicIPTenant, "public ip")
}

func (cp *ControlPlane) getPublicIP(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	answerOwned(w, func() (PublicIP, error) { return cp.ownedPublicIP(p["address"], who) })
}

func (cp *ControlPlane) allocatePublicIP(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q, err := decodePublicIP(r.Body)
	var pip PublicIP
	if err == nil {
		pip, err = cp.addPublicIP(q, who)
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, pip)
}

// addPublicIP gives q's instance the lowest free address of the pool.
func (cp *ControlPlane) addPublicIP(q PublicIPRequest, who auth.Principal) (PublicIP, error) {
	in, err := cp.publicTarget(q.Instance, who, len(cp.cfg.PublicIPs) > 0, "public IPs (none are configured)")
	if err != nil {
		return PublicIP{}, err
	}
	pip := PublicIP{Tenant: in.TenantID, Instance: in.ID, Network: in.Network, CreateTime: cp.cfg.Now().UTC()}
	err = cp.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		used := map[netip.Addr]bool{}
		for _, o := range st.PublicIPs {
			if o.Instance == in.ID {
				return fmt.Errorf("%w: instance %s has public ip %s already", store.ErrExists, in.ID, o.Address)
			}
			used[o.Address] = true
		}
		i := slices.IndexFunc(cp.cfg.PublicIPs, func(a netip.Addr) bool { return !used[a] })
		if i < 0 {
			return fmt.Errorf("%w: all %d public ips are taken", apiv1.LimitExceeded, len(cp.cfg.PublicIPs))
		}
		pip.Address = cp.cfg.PublicIPs[i]
		st.PublicIPs = append(st.PublicIPs, pip.netPublicIP())
		return tx.Create(store.PublicIPs, pip.Address.String(), pip)
	})
	return pip, err
}

// publicTarget returns instance id as the target of a port forward or a
// public IP for who: a tenant's own instance in a network, not ending,
// on a host that has what it takes (available; else a conflict naming
// what).
func (cp *ControlPlane) publicTarget(id string, who auth.Principal, available bool, what string) (lifecycle.Instance, error) {
	switch {
	case who.Admin:
		return lifecycle.Instance{}, badRequest("the admin token owns no instances: use a tenant's token")
	case !cp.cfg.Uplink:
		return lifecycle.Instance{}, fmt.Errorf("%w: this host has no uplink", lifecycle.ErrConflict)
	case !available:
		return lifecycle.Instance{}, fmt.Errorf("%w: this host offers no %s", lifecycle.ErrConflict, what)
	}
	in, err := cp.life.Get(id)
	if err != nil || !who.CanAccess(in.TenantID) {
		return lifecycle.Instance{}, fmt.Errorf("instance %q: %w", id, errNotFound)
	}
	if in.Network == "" {
		return lifecycle.Instance{}, badRequest("instance %s is in no network", in.ID)
	}
	if in.State == lifecycle.ShuttingDown || in.State == lifecycle.Terminated {
		return lifecycle.Instance{}, fmt.Errorf("%w: instance %s is %s", lifecycle.ErrConflict, in.ID, in.State)
	}
	return in, nil
}

func (cp *ControlPlane) releasePublicIP(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	pip, err := cp.ownedPublicIP(p["address"], who)
	if err == nil {
		err = cp.changeNet(pip.Tenant, func(tx *store.Tx, st *netcfg.State) error {
			st.PublicIPs = slices.DeleteFunc(st.PublicIPs, func(o netcfg.PublicIP) bool { return o.Address == pip.Address })
			return tx.Delete(store.PublicIPs, pip.Address.String())
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
