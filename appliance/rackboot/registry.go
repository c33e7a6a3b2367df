package rackboot

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/config"
)

// DefaultAPIPort is the port a machine's API listens on when its
// configuration names none.
const DefaultAPIPort = 8080

// maxMachines bounds the machines one bootstrap box keeps, so that a
// flood of random MACs on the rack network cannot fill the store.
const maxMachines = 4096

// Registry is the rack's machines, keyed by MAC, in the appliance's
// store (bucket store.RackMachines): the configuration each boots with
// and its stable lease. It is safe for concurrent use.
type Registry struct {
	db  *store.DB
	net netip.Prefix // the box's own address and the rack subnet
	now func() time.Time

	// mu serialises lease allocation, so two machines never get one
	// address.
	mu sync.Mutex
}

// NewRegistry returns the registry in db for the rack network rackNet
// (the box's own address in CIDR form, as config.ParseRackNet returns).
func NewRegistry(db *store.DB, rackNet netip.Prefix) *Registry {
	return &Registry{db: db, net: rackNet, now: time.Now}
}

// Net is the rack network: the box's own address and the subnet.
func (r *Registry) Net() netip.Prefix { return r.net }

// ParseMAC reads a MAC address in any form net.ParseMAC accepts (or with
// dashes, as in iPXE's URLs) and returns it lower case with colons; only
// 6-byte Ethernet addresses are accepted.
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%w: %q is not an Ethernet MAC address", apiv1.InvalidParameter, s)
	}
	return hw.String(), nil
}

// List returns every machine, configured or leased, in MAC order.
func (r *Registry) List() ([]apiv1.RackMachine, error) {
	return store.ListAll[apiv1.RackMachine](r.db, store.RackMachines, "")
}

// Get returns the machine with this MAC.
func (r *Registry) Get(mac string) (apiv1.RackMachine, error) {
	key, err := ParseMAC(mac)
	if err != nil {
		return apiv1.RackMachine{}, err
	}
	m, err := store.GetOne[apiv1.RackMachine](r.db, store.RackMachines, key)
	if errors.Is(err, store.ErrNotFound) {
		return m, fmt.Errorf("%w: no rack machine %s", apiv1.NotFound, key)
	}
	return m, err
}

// Put sets a machine's configuration after checking every field; a bad
// request changes nothing.
func (r *Registry) Put(mac string, q apiv1.RackMachineRequest) (apiv1.RackMachine, error) {
	key, err := ParseMAC(mac)
	if err != nil {
		return apiv1.RackMachine{}, err
	}
	if err := checkRequest(q); err != nil {
		return apiv1.RackMachine{}, err
	}
	var pin netip.Addr
	if q.Address != "" {
		if pin, err = r.checkAddress(q.Address); err != nil {
			return apiv1.RackMachine{}, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out apiv1.RackMachine
	err = r.db.Update(func(tx *store.Tx) error {
		var m apiv1.RackMachine
		if err := tx.Get(store.RackMachines, key, &m); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		} else if err != nil {
			if n, err := tx.Count(store.RackMachines); err != nil || n >= maxMachines {
				return fmt.Errorf("%w: %d rack machines already", apiv1.LimitExceeded, n)
			}
		}
		if pin.IsValid() && pin.String() != m.Address {
			if owner, err := addressOwner(tx, pin); err != nil {
				return err
			} else if owner != "" && owner != key {
				return fmt.Errorf("%w: %s is leased to %s", apiv1.AlreadyExists, pin, owner)
			}
			m.Address, m.LeasedAt = pin.String(), r.now().UTC()
		}
		m.MAC, m.Configured = key, true
		m.Hostname, m.API, m.Data, m.PublicIPs, m.Cmdline = q.Hostname, q.API, q.Data, q.PublicIPs, q.Cmdline
		out = m
		return tx.Put(store.RackMachines, key, m)
	})
	return out, err
}

// Delete forgets a machine: its configuration and its lease.
func (r *Registry) Delete(mac string) error {
	key, err := ParseMAC(mac)
	if err != nil {
		return err
	}
	return r.db.Update(func(tx *store.Tx) error {
		if !tx.Has(store.RackMachines, key) {
			return fmt.Errorf("%w: no rack machine %s", apiv1.NotFound, key)
		}
		return tx.Delete(store.RackMachines, key)
	})
}

// Lease returns the stable lease of the machine with this MAC (lower
// case, colons), giving it the lowest free address of the subnet at its
// first request, and records the request's time.
func (r *Registry) Lease(mac string) (apiv1.RackMachine, netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out apiv1.RackMachine
	err := r.db.Update(func(tx *store.Tx) error {
		var m apiv1.RackMachine
		if err := tx.Get(store.RackMachines, mac, &m); errors.Is(err, store.ErrNotFound) {
			if n, err := tx.Count(store.RackMachines); err != nil || n >= maxMachines {
				return fmt.Errorf("%w: %d rack machines already", apiv1.LimitExceeded, n)
			}
			m = apiv1.RackMachine{MAC: mac}
		} else if err != nil {
			return err
		}
		if m.Address == "" {
			a, err := r.free(tx)
			if err != nil {
				return err
			}
			m.Address, m.LeasedAt = a.String(), r.now().UTC()
		}
		m.LastDHCP = r.now().UTC()
		out = m
		return tx.Put(store.RackMachines, mac, m)
	})
	if err != nil {
		return out, netip.Addr{}, err
	}
	a, err := netip.ParseAddr(out.Address)
	return out, a, err
}

// Booted records that the machine fetched its boot script and returns it.
// A machine that never asked for a lease (booted through another DHCP
// server) is not known: ErrNotFound.
func (r *Registry) Booted(mac string) (apiv1.RackMachine, error) {
	var out apiv1.RackMachine
	err := r.db.Update(func(tx *store.Tx) error {
		if err := tx.Get(store.RackMachines, mac, &out); err != nil {
			return err
		}
		out.LastBoot = r.now().UTC()
		return tx.Put(store.RackMachines, mac, out)
	})
	return out, err
}

// free returns the lowest address of the subnet that is not the box's,
// the network's or the broadcast address, nor leased.
func (r *Registry) free(tx *store.Tx) (netip.Addr, error) {
	used := map[netip.Addr]bool{r.net.Addr(): true}
	err := tx.Scan(store.RackMachines, "", func(_ string, raw []byte) error {
		if a, err := netip.ParseAddr(addressOf(raw)); err == nil {
			used[a] = true
		}
		return nil
	})
	if err != nil {
		return netip.Addr{}, err
	}
	for a := r.net.Masked().Addr().Next(); r.net.Contains(a) && !isBroadcast(r.net, a); a = a.Next() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: no free address left in %s", apiv1.LimitExceeded, r.net.Masked())
}

// checkAddress checks a pinned lease address.
func (r *Registry) checkAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || !a.Is4():
		return a, fmt.Errorf("%w: address %q is not an IPv4 address", apiv1.InvalidParameter, s)
	case !r.net.Contains(a) || a == r.net.Masked().Addr() || isBroadcast(r.net, a):
		return a, fmt.Errorf("%w: address %s is not a host address of the rack network %s", apiv1.InvalidParameter, a, r.net.Masked())
	case a == r.net.Addr():
		return a, fmt.Errorf("%w: address %s is the bootstrap box's own", apiv1.InvalidParameter, a)
	}
	return a, nil
}

// checkRequest checks the fields handed to the machine with the very
// validation the machine applies to its command line.
func checkRequest(q apiv1.RackMachineRequest) error {
	c := config.Defaults()
	if q.Hostname != "" {
		c.Hostname = q.Hostname
	}
	c.Data, c.PublicIPs = q.Data, q.PublicIPs
	if q.API != "" {
		c.API = q.API
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", apiv1.InvalidParameter, err)
	}
	if len(q.Cmdline) > 512 {
		return fmt.Errorf("%w: cmdline is longer than 512 bytes", apiv1.InvalidParameter)
	}
	for _, ch := range q.Cmdline {
		if ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\'' || ch == '\\' {
			return fmt.Errorf("%w: cmdline may hold printable ASCII without quotes or backslashes only", apiv1.InvalidParameter)
		}
	}
	for _, v := range []string{q.Hostname, q.API, q.Data, q.PublicIPs} {
		if strings.ContainsAny(v, " \t\"'\\") {
			return fmt.Errorf("%w: %q: no spaces, quotes or backslashes", apiv1.InvalidParameter, v)
		}
	}
	return nil
}

// APIAddr is the HOST:PORT of a machine's API: its configured API, with
// an empty or unspecified host replaced by its lease address.
func APIAddr(m apiv1.RackMachine) string {
	host, port, err := net.SplitHostPort(m.API)
	if err != nil || port == "" {
		host, port = "", fmt.Sprint(DefaultAPIPort)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = m.Address
	}
	return net.JoinHostPort(host, port)
}

// Check calls the machine's API (GET /v1/host over HTTPS, no token) at
// APIAddr over the rack network and says what answered. The certificate
// is not verified: the call proves that the machine's API answers at the
// address it was given, and carries nothing secret.
func Check(ctx context.Context, m apiv1.RackMachine) *apiv1.RackAPICheck {
	c := &apiv1.RackAPICheck{URL: "https://" + APIAddr(m) + "/v1/host"}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // see above
	defer tr.CloseIdleConnections()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			c.Answered, c.Status = true, resp.StatusCode
		}
	}
	if err != nil {
		c.Error = err.Error()
	}
	c.Millis = float64(time.Since(start).Microseconds()) / 1000
	return c
}

// addressOwner returns the MAC leased a, or "".
func addressOwner(tx *store.Tx, a netip.Addr) (string, error) {
	owner := ""
	err := tx.Scan(store.RackMachines, "", func(key string, raw []byte) error {
		if addressOf(raw) == a.String() {
			owner = key
		}
		return nil
	})
	return owner, err
}

// isBroadcast reports whether a is p's broadcast address.
func isBroadcast(p netip.Prefix, a netip.Addr) bool {
	b := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := range 4 {
		for j := range 8 {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	return a == netip.AddrFrom4(b)
}

// addressOf returns the address field of a stored machine, or "".
func addressOf(raw []byte) string {
	var m struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	return m.Address
}

// Check calls the machine's API (the package's Check), for the admin API.
func (r *Registry) Check(ctx context.Context, m apiv1.RackMachine) *apiv1.RackAPICheck {
	return Check(ctx, m)
}
