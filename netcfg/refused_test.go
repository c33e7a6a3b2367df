package netcfg

import (
	"context"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestRefusedNetworkDoesNotBlockOthers: when the kernel refuses one
// tenant's network (here its bridge's name is taken by a link that is not
// a bridge), Reconcile still converges every other network, NICs
// included, and reports the refused one as a *NetworkError (issue 10,
// finding 4).
func TestRefusedNetworkDoesNotBlockOthers(t *testing.T) {
	w := newWorld(t)
	g3 := *w.nic("g3")
	w.st.NICs = w.st.NICs[:2] // g3 detached
	w.reconcile(t, w.st)
	if ping(w.g3.ns, netB.Gateway()) == nil {
		t.Fatal("a detached NIC reaches its gateway")
	}
	nl := nlAt(t, w.ns)
	br, err := nl.LinkByName(netA.Bridge())
	must(t, err)
	must(t, nl.LinkDel(br))
	must(t, nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: netA.Bridge()}, PeerName: "xpeer0"}))

	w.st.NICs = append(w.st.NICs, g3)
	_, err = w.host.Reconcile(context.Background(), w.st)
	if err == nil {
		t.Fatal("a refused network was not reported")
	}
	if !OnlyNetworks(err, func(n string) bool { return n == netA.Name }) {
		t.Fatalf("error is not only about network a: %v", err)
	}
	// g3's ping above, refused, left the gateway's neighbour entry in its
	// resolution retries: the first request may miss its deadline.
	if err := pingWithin(w.g3.ns, netB.Gateway(), 5*time.Second); err != nil {
		t.Fatalf("network b's NIC was held back by network a: %v", err)
	}
}
