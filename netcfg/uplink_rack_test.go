//go:build rack

// TestVLANAndBond needs VLAN_8021Q and BONDING, which the hosts that run
// make test lack; it is compiled only with the rack tag and runs in
// netcfg/racktest, whose Debian kernel has both.

package netcfg

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestVLANAndBond(t *testing.T) {
	l := newLab(t)
	l.addPeer(t, "nic0", "", netip.Prefix{}, netip.Addr{})
	l.addPeer(t, "nic1", "", netip.Prefix{}, netip.Addr{})
	l.addPeer(t, "nic2", "", netip.Prefix{}, netip.Addr{})
	if _, err := l.host.EnsureVLAN("nic0", 4095, "bad"); err == nil {
		t.Fatal("vlan 4095 accepted")
	}
	var skipped []string
	ch, err := l.host.EnsureVLAN("nic0", 42, "nic0.42")
	switch {
	case errors.Is(err, ErrUnsupported):
		skipped = append(skipped, "VLAN_8021Q")
	case err != nil:
		t.Fatal(err)
	default:
		if len(ch) == 0 {
			t.Fatal("vlan not created")
		}
		if ch, err := l.host.EnsureVLAN("nic0", 42, "nic0.42"); err != nil || len(ch) != 0 {
			t.Fatalf("vlan second run: %v %v", ch, err)
		}
	}
	ch, err = l.host.EnsureBond("bond0", []string{"nic1", "nic2"})
	switch {
	case errors.Is(err, ErrUnsupported):
		skipped = append(skipped, "BONDING")
	case err != nil:
		t.Fatal(err)
	default:
		if ch, err := l.host.EnsureBond("bond0", []string{"nic1", "nic2"}); err != nil || len(ch) != 0 {
			t.Fatalf("bond second run: %v %v", ch, err)
		}
	}
	if len(skipped) > 0 {
		t.Skipf("SKIP: kernel lacks %s (tested in the virtual rack, whose Debian kernel has them)", strings.Join(skipped, ", "))
	}
}
