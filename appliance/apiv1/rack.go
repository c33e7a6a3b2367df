package apiv1

import (
	"context"
	"net/url"
	"time"
)

// RackMachine is one machine of the rack that this box network-boots
// (rack bootstrap, ironvisor.rack=on): the configuration it hands the
// machine, keyed by the MAC address it boots from, and what it has seen
// of it.
type RackMachine struct {
	// MAC is the machine's boot NIC, lower case with colons.
	MAC string `json:"mac"`
	// Address is the machine's IPv4 address on the rack network: its
	// stable DHCP lease (pinned by the request, or the first free one at
	// its first DHCP request). "" until either happens.
	Address string `json:"address,omitempty"`
	// Hostname, API, Data, PublicIPs and Cmdline are the request's, as
	// handed to the machine on its kernel command line.
	Hostname  string `json:"hostname,omitempty"`
	API       string `json:"api,omitempty"`
	Data      string `json:"data,omitempty"`
	PublicIPs string `json:"public_ips,omitempty"`
	Cmdline   string `json:"cmdline,omitempty"`
	// Configured says an admin set this machine's configuration; a
	// machine that only asked for a lease has none.
	Configured bool `json:"configured"`
	// LeasedAt is when the lease was first given; LastDHCP the last DHCP
	// request; LastBoot when the machine last fetched its boot script.
	LeasedAt time.Time `json:"leased_at,omitzero"`
	LastDHCP time.Time `json:"last_dhcp,omitzero"`
	LastBoot time.Time `json:"last_boot,omitzero"`
	// APICheck is the answer of the machine's own API at its configured
	// address, with ?check=true only.
	APICheck *RackAPICheck `json:"api_check,omitempty"`
}

// RackAPICheck is what the bootstrap box saw when it called a machine's
// API (GET /v1/host, with no token) over the rack network.
type RackAPICheck struct {
	// URL is the URL called.
	URL string `json:"url"`
	// Answered says an HTTP answer came (any status: the call has no
	// token, so 401 is the expected one).
	Answered bool `json:"answered"`
	// Status is the HTTP status; 0 if none came.
	Status int `json:"status,omitempty"`
	// Error says why no answer came.
	Error string `json:"error,omitempty"`
	// Millis is how long the call took.
	Millis float64 `json:"millis"`
}

// RackMachineRequest sets a machine's configuration. Every field may be
// empty: Address "" keeps the lease (or takes one at the first DHCP
// request), API "" means ADDRESS:8080, Hostname "" the appliance's
// default, Data "" (auto) a diskless machine's RAM, PublicIPs "" none.
type RackMachineRequest struct {
	// Address pins the lease: an address of the rack subnet that is not
	// the bootstrap box's nor another machine's.
	Address string `json:"address,omitempty"`
	// Hostname is ironvisor.hostname.
	Hostname string `json:"hostname,omitempty"`
	// API is ironvisor.api: HOST:PORT the machine's API listens on.
	API string `json:"api,omitempty"`
	// Data is ironvisor.data: where the machine keeps its state.
	Data string `json:"data,omitempty"`
	// PublicIPs is ironvisor.public_ips: its public IP pool.
	PublicIPs string `json:"public_ips,omitempty"`
	// Cmdline is added to the machine's kernel command line as given
	// (printable ASCII, no quotes, at most 512 bytes).
	Cmdline string `json:"cmdline,omitempty"`
}

// RackMachines lists the rack's machines: those configured and those
// leased (admin).
func (c *Client) RackMachines(ctx context.Context) ([]RackMachine, error) {
	return call[[]RackMachine](ctx, c, "GET /v1/rack/machines", nil)
}

// RackMachine describes one machine by MAC; with check, the bootstrap
// box also calls the machine's API and reports the answer (admin).
func (c *Client) RackMachine(ctx context.Context, mac string, check bool) (RackMachine, error) {
	var out RackMachine
	var q url.Values
	if check {
		q = url.Values{"check": {"true"}}
	}
	err := c.Do(ctx, "GET /v1/rack/machines/{mac}", []string{mac}, q, nil, &out)
	return out, err
}

// SetRackMachine sets the configuration of the machine with this MAC
// (admin).
func (c *Client) SetRackMachine(ctx context.Context, mac string, q RackMachineRequest) (RackMachine, error) {
	return call[RackMachine](ctx, c, "PUT /v1/rack/machines/{mac}", q, mac)
}

// DeleteRackMachine forgets a machine's configuration and lease (admin).
func (c *Client) DeleteRackMachine(ctx context.Context, mac string) error {
	return c.Do(ctx, "DELETE /v1/rack/machines/{mac}", []string{mac}, nil, nil, nil)
}
