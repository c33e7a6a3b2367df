package netcfg

import (
	"net/netip"
	"testing"
)

func TestSameNetworkPingAndTCP(t *testing.T) {
	w := newWorld(t)
	listenTCP(t, w.g2.ns, "10.1.0.3:22")
	if err := ping(w.g1.ns, netip.MustParseAddr("10.1.0.3")); err != nil {
		t.Fatalf("g1 → g2 ping: %v", err)
	}
	if err := canTCP(w.g1.ns, "10.1.0.3:22"); err != nil {
		t.Fatalf("g1 → g2 tcp: %v", err)
	}
	if err := ping(w.g1.ns, netA.Gateway()); err != nil {
		t.Fatalf("g1 → gateway ping: %v", err)
	}
}

func TestReconcileIdempotent(t *testing.T) {
	w := newWorld(t)
	if ch := w.reconcile(t, w.st); len(ch) != 0 {
		t.Fatalf("second reconcile changed %v", ch)
	}
}
