package controlplane

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
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

// PortForward is a stored port forward (the API's object).
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

// PortForwardRequest is the body of POST /v1/port-forwards.
type PortForwardRequest struct {
	Instance   string       `json:"instance"`
	Proto      netcfg.Proto `json:"proto"`
	PublicPort uint16       `json:"public_port"`
	Port       uint16       `json:"port"`
}

// decodeForward decodes and checks a PortForwardRequest (ports 1 to 65535,
// tcp or udp; ports out of range fail to decode).
func decodeForward(r io.Reader) (PortForwardRequest, error) {
	var q PortForwardRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	if err := checkName("instance", q.Instance); err != nil {
		return q, err
	}
	if q.Proto != netcfg.ProtoTCP && q.Proto != netcfg.ProtoUDP {
		return q, badRequest("proto %q: want tcp or udp", q.Proto)
	}
	if q.PublicPort == 0 || q.Port == 0 {
		return q, badRequest("public_port and port must be 1 to 65535")
	}
	return q, nil
}

// netForward is f in netcfg's model.
func (f PortForward) netForward() netcfg.PortForward {
	return netcfg.PortForward{Proto: f.Proto, PublicPort: f.PublicPort, Instance: f.Instance, Network: f.Network, Port: f.Port}
}

// forwardTenant is f's owner.
func forwardTenant(f PortForward) string { return f.Tenant }

func (cp *ControlPlane) listForwards(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	listOwned(w, cp.cfg.DB, store.PortForwards, who, forwardTenant)
}

// ownedForward returns forward id if who may see it.
func (cp *ControlPlane) ownedForward(id string, who auth.Principal) (PortForward, error) {
	return getOwned(cp.cfg.DB, store.PortForwards, id, who, forwardTenant, "port forward")
}

func (cp *ControlPlane) getForward(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	answerOwned(w, func() (PortForward, error) { return cp.ownedForward(p["id"], who) })
}

func (cp *ControlPlane) createForward(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q, err := decodeForward(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	f, err := cp.addForward(q, who)
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, f)
}

// addForward checks and stores a forward for who.
func (cp *ControlPlane) addForward(q PortForwardRequest, who auth.Principal) (PortForward, error) {
	if slices.Contains(cp.cfg.ReservedPorts, q.PublicPort) {
		return PortForward{}, badRequest("public_port %d is the host's own (reserved: %v)", q.PublicPort, cp.cfg.ReservedPorts)
	}
	if cp.cfg.HostListener != nil {
		l, err := cp.cfg.HostListener(q.Proto, q.PublicPort)
		if err != nil {
			return PortForward{}, fmt.Errorf("ask the kernel for the host's services: %w", err)
		}
		if l != "" {
			return PortForward{}, fmt.Errorf("%w: public port %s/%d is taken by a service of the host (%s)", store.ErrExists, q.Proto, q.PublicPort, l)
		}
	}
	in, err := cp.publicTarget(q.Instance, who, true, "port forwards")
	if err != nil {
		return PortForward{}, err
	}
	id, err := store.NewID("pf-")
	if err != nil {
		return PortForward{}, err
	}
	f := PortForward{ID: id, Tenant: in.TenantID, Instance: in.ID, Network: in.Network, Proto: q.Proto,
		PublicPort: q.PublicPort, Port: q.Port, CreateTime: cp.cfg.Now().UTC()}
	err = cp.changeNet(f.Tenant, func(tx *store.Tx, st *netcfg.State) error {
		for _, o := range st.Forwards {
			if o.Proto == f.Proto && o.PublicPort == f.PublicPort {
				return fmt.Errorf("%w: public port %s/%d is forwarded already", store.ErrExists, f.Proto, f.PublicPort)
			}
		}
		st.Forwards = append(st.Forwards, f.netForward())
		return tx.Create(store.PortForwards, f.ID, f)
	})
	return f, err
}

func (cp *ControlPlane) deleteForward(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	f, err := cp.ownedForward(p["id"], who)
	if err == nil {
		err = cp.changeNet(f.Tenant, func(tx *store.Tx, st *netcfg.State) error {
			st.Forwards = slices.DeleteFunc(st.Forwards, func(o netcfg.PortForward) bool {
				return o.Proto == f.Proto && o.PublicPort == f.PublicPort
			})
			return tx.Delete(store.PortForwards, f.ID)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dropPublicOf deletes the port forwards and public IPs of instance in,
// which is being terminated; the host network hears of it only when it had
// any.
func (cp *ControlPlane) dropPublicOf(in lifecycle.Instance) error {
	var has bool
	err := cp.cfg.DB.View(func(tx *store.Tx) error {
		st, err := netState(tx)
		has = slices.ContainsFunc(st.Forwards, func(f netcfg.PortForward) bool { return f.Instance == in.ID }) ||
			slices.ContainsFunc(st.PublicIPs, func(p netcfg.PublicIP) bool { return p.Instance == in.ID })
		return err
	})
	if err != nil || !has {
		return err
	}
	return cp.changeNet(in.TenantID, func(tx *store.Tx, st *netcfg.State) error {
		return dropGone(tx, st, func(id string) bool { return id != in.ID })
	})
}

// dropGone deletes, in tx, the port forwards and public IPs of the
// instances that keep reports false for (terminated, or forgotten), and
// takes them out of st.
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
		if !keep(p.Instance) {
			if err := tx.Delete(store.PublicIPs, p.Address.String()); err != nil {
				return err
			}
		}
	}
	st.Forwards = slices.DeleteFunc(st.Forwards, func(o netcfg.PortForward) bool { return !keep(o.Instance) })
	st.PublicIPs = slices.DeleteFunc(st.PublicIPs, func(o netcfg.PublicIP) bool { return !keep(o.Instance) })
	return nil
}
