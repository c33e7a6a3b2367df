//go:build rack

// This test needs hardware KVM; it is compiled only with the rack tag and
// runs in appliance/service/racktest.

package service

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// netInstance is the part of an instance's JSON this test reads.
type netInstance struct {
	ID, State, Reason string
	IPs               []string
}

// vmmHoldsTap reports whether a running "ironvisor vmm run" was given a
// tap fd with mac (the supervisor opens the tap and passes its fd into
// the jail, so the VMM's command line names the fd and the MAC).
func vmmHoldsTap(t *testing.T, mac string) bool {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("vmm\x00run\x00")) {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--tap" && strings.HasPrefix(args[i+1], "fd:") && strings.HasSuffix(args[i+1], ",mac="+mac) {
				return true
			}
		}
	}
	return false
}

// antiSpoofHas reports whether the bridge table of netcfg maps tap to mac.
func antiSpoofHas(t *testing.T, tap, mac string) bool {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.GetSetByName(&nftables.Table{Name: "ironvisor", Family: nftables.TableFamilyBridge}, "tap_mac")
	if err != nil {
		t.Fatalf("netcfg's bridge table: %v", err)
	}
	els, err := c.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range els {
		if bytes.HasPrefix(e.Key, append([]byte(tap), 0)) && bytes.Contains(e.Key, hw) {
			return true
		}
	}
	return false
}

// tapGone fails the test if link name still exists.
func tapGone(t *testing.T, name, when string) {
	t.Helper()
	if _, err := netlink.LinkByName(name); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Fatalf("tap %s %s: %v", name, when, err)
	}
}

// TestInstanceNetworkOnKVM launches a tiny guest into a network with a
// security group through the API on real KVM and checks the host side of
// its NIC: the instance reports its leased IP, its tap is on the network's
// bridge with carrier (the VMM holds it, given with the lease's MAC), the
// anti-spoofing rules know the MAC, the tap goes on stop and comes back
// with the same address on start, and after terminate the tap and the
// lease are gone.
func TestInstanceNetworkOnKVM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("SKIP: no /dev/kvm (%v); appliance/service/racktest runs this in the rack", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the VMM jail and the host network need root")
	}
	s := startServe(t, "--insecure-http")
	admin := s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "netkvm", "--json")
	tok := tenant.Token
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	os.WriteFile(kernel, testutil.PVHHello("NET-KVM-MARKER\n", testutil.ExitHalt), 0o644)
	s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0")
	var nw netcfg.Network
	s.ok(t, tok, &nw, "networks", "create", "--name", "web", "--cidr", "10.77.0.0/24", "--json")
	sg := filepath.Join(t.TempDir(), "sg.json")
	os.WriteFile(sg, []byte(`{"name":"web-ssh","ingress":[{"proto":"tcp","from_port":22,"to_port":22,"cidr":"0.0.0.0/0"}]}`), 0o644)
	s.ok(t, tok, nil, "security-groups", "create", "--file", sg)

	var insts []netInstance
	s.ok(t, tok, &insts, "instances", "launch", "--image", "tiny", "--type", "nano", "--network", "web",
		"--security-groups", "web-ssh", "--wait", "2m", "--json")
	id := insts[0].ID
	var in netInstance
	s.ok(t, tok, &in, "instances", "get", id, "--json")
	if in.State != "running" || len(in.IPs) != 1 || in.IPs[0] != "10.77.0.2" {
		t.Fatalf("instance %+v, want running with IP 10.77.0.2", in)
	}
	pool, err := netcfg.LoadPool(filepath.Join(s.data, NetDir, "web.json"))
	if err != nil {
		t.Fatal(err)
	}
	lease, ok := pool.Lookup(id)
	if !ok || lease.IP.String() != in.IPs[0] {
		t.Fatalf("lease %+v, instance IPs %v", lease, in.IPs)
	}
	tapName := fmt.Sprintf("%s%x-%x", netcfg.TapPrefix, nw.Index, 2)
	tap, err := netlink.LinkByName(tapName)
	if err != nil {
		t.Fatalf("tap %s: %v", tapName, err)
	}
	br, err := netlink.LinkByName(nw.Bridge())
	if err != nil || tap.Attrs().MasterIndex != br.Attrs().Index {
		t.Fatalf("tap %s is not on bridge %s: %v", tapName, nw.Bridge(), err)
	}
	if tap.Attrs().OperState != netlink.OperUp {
		t.Fatalf("tap %s is %v: no VMM attached", tapName, tap.Attrs().OperState)
	}
	if !vmmHoldsTap(t, lease.MAC) {
		t.Fatalf("no VMM was given a tap with MAC %s", lease.MAC)
	}
	if !antiSpoofHas(t, tapName, lease.MAC) {
		t.Fatalf("no anti-spoofing entry for %s with %s", tapName, lease.MAC)
	}
	t.Logf("instance %s: IP %s, MAC %s, tap %s on %s", id, lease.IP, lease.MAC, tapName, nw.Bridge())

	s.ok(t, tok, &in, "instances", "stop", id, "--force", "--json")
	if in.State != "stopped" || len(in.IPs) != 1 || in.IPs[0] != lease.IP.String() {
		t.Fatalf("stopped instance %+v, want its IP kept", in)
	}
	tapGone(t, tapName, "after stop")
	s.ok(t, tok, nil, "instances", "start", id, "--wait", "2m")
	s.ok(t, tok, &in, "instances", "get", id, "--json")
	if in.State != "running" || len(in.IPs) != 1 || in.IPs[0] != lease.IP.String() {
		t.Fatalf("restarted instance %+v, want its IP %s", in, lease.IP)
	}
	if _, err := netlink.LinkByName(tapName); err != nil || !vmmHoldsTap(t, lease.MAC) {
		t.Fatalf("tap %s after start: %v", tapName, err)
	}

	s.ok(t, tok, &in, "instances", "terminate", id, "--json")
	if in.State != "terminated" || len(in.IPs) != 0 {
		t.Fatalf("terminated instance %+v", in)
	}
	tapGone(t, tapName, "after terminate")
	if pool, err = netcfg.LoadPool(filepath.Join(s.data, NetDir, "web.json")); err != nil {
		t.Fatal(err)
	}
	if _, ok := pool.Lookup(id); ok {
		t.Fatalf("lease of %s left after terminate", id)
	}
	if antiSpoofHas(t, tapName, lease.MAC) {
		t.Fatalf("anti-spoofing entry for %s left after terminate", tapName)
	}
}
