package uplink

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/ironvisor/ironvisor/config"
)

// dhcpState is what Keep needs to renew a lease: the client (whose socket
// stays bound to the uplink) and the current lease.
type dhcpState struct {
	client *nclient4.Client
	lease  *nclient4.Lease
	nl     *netlink.Handle // bound to the uplink's network namespace
	link   netlink.Link
	cfg    config.Config
}

// minRetry is the shortest wait between failed renewals (RFC 2131 section
// 4.4.5: "down to a minimum of 60 seconds").
const minRetry = 60 * time.Second

// Keep keeps a DHCP uplink's lease alive until ctx ends, then closes the
// client and the netlink handle. Call it once for every DHCP Result, in any
// goroutine. Following RFC 2131 section 4.4.5, it renews at T1 (half the
// lease); after a failure it retries at half the remaining time (at least
// minRetry apart); once the lease has expired it starts over with a full
// DISCOVER/REQUEST exchange. Each new lease is applied again. It returns at
// once for a static uplink or an infinite lease.
func Keep(ctx context.Context, res Result, o Options) {
	o = o.withDefaults()
	st := res.dhcp
	if st == nil {
		return
	}
	defer st.client.Close()
	defer st.nl.Close()
	for {
		d := st.lease.ACK.IPAddressLeaseTime(0)
		if d <= 0 || d >= math.MaxUint32*time.Second {
			return
		}
		expiry := st.lease.CreationTime.Add(d)
		at := st.lease.CreationTime.Add(d / 2)
		for {
			if !sleepUntil(ctx, at) {
				return
			}
			next, err := st.refresh(ctx, time.Now().After(expiry))
			if err == nil {
				st.lease = next
				break
			}
			if ctx.Err() != nil {
				return
			}
			o.Logf("uplink: renew lease on %s: %v", res.Iface, err)
			at = time.Now().Add(max(time.Until(expiry)/2, minRetry))
		}
		if r, err := applyLease(st.nl, st.link, st.lease, st.cfg, o); err != nil {
			o.Logf("uplink: apply renewed lease: %v", err)
		} else {
			o.Logf("uplink: lease on %s renewed: %s for %v", r.Iface, r.Address, r.Lease)
		}
	}
}

// refresh renews the lease, or, once it has expired, asks for a new one.
func (st *dhcpState) refresh(ctx context.Context, expired bool) (*nclient4.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if expired {
		l, err := st.client.Request(ctx)
		if err != nil {
			return nil, fmt.Errorf("new lease: %w", err)
		}
		return l, nil
	}
	return st.client.Renew(ctx, st.lease)
}

// sleepUntil waits until t; it returns false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
