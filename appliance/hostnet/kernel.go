package hostnet

import (
	"context"
	"errors"
	"fmt"

	"github.com/ironvisor/ironvisor/netcfg"
)

// Kernel is the production Applier: netcfg's Reconcile in one network
// namespace, then the guest DHCP servers, one per network bridge. It is a
// NICApplier: one NIC's change goes through netcfg's AttachNIC and
// DetachNIC and the DHCP server's lease of that NIC alone.
type Kernel struct {
	host *netcfg.Host
	dhcp *netcfg.DHCP
	logf func(format string, args ...any)
}

var _ NICApplier = (*Kernel)(nil)

// NewKernel returns an Applier over host. logf (may be nil) receives what
// each Apply changed and the DHCP servers' send errors.
func NewKernel(host *netcfg.Host, logf func(format string, args ...any)) *Kernel {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Kernel{host: host, dhcp: host.NewDHCP(logf), logf: logf}
}

// Apply reconciles links and rules to st, then starts, updates or stops
// the DHCP servers so that each network's bridge answers its NICs' MACs.
// A network the kernel refuses is logged and returned (as a
// *netcfg.NetworkError) after the others are converged.
func (k *Kernel) Apply(ctx context.Context, st netcfg.State) error {
	ch, err := k.host.Reconcile(ctx, st)
	if len(ch) > 0 {
		k.logf("host network: %d changes (%v)", len(ch), []string(ch))
	}
	if !netcfg.OnlyNetworks(err, func(string) bool { return true }) {
		return fmt.Errorf("reconcile: %w", err)
	}
	if derr := k.dhcp.Update(st); derr != nil {
		err = errors.Join(err, fmt.Errorf("dhcp: %w", derr))
	}
	if err != nil {
		k.logf("host network: the other networks are up; refused: %v", err)
	}
	return err
}

// AttachNIC converges the change of one NIC alone (netcfg's AttachNIC),
// then serves its lease, on top of the last State applied.
func (k *Kernel) AttachNIC(ctx context.Context, c netcfg.NIC) error {
	ch, err := k.host.AttachNIC(ctx, c)
	if len(ch) > 0 {
		k.logf("host network: %d changes (%v)", len(ch), []string(ch))
	}
	if err != nil {
		return err
	}
	return k.dhcp.SetLease(c.Network, c.MAC, c.IP)
}

// DetachNIC takes one NIC away alone (netcfg's DetachNIC) and stops
// serving its lease.
func (k *Kernel) DetachNIC(ctx context.Context, c netcfg.NIC) error {
	ch, err := k.host.DetachNIC(ctx, c.Instance, c.Network)
	if len(ch) > 0 {
		k.logf("host network: %d changes (%v)", len(ch), []string(ch))
	}
	if err != nil {
		return err
	}
	return k.dhcp.DropLease(c.Network, c.MAC)
}

// Close stops the DHCP servers; links and rules stay for the next start.
func (k *Kernel) Close() error { return k.dhcp.Close() }
