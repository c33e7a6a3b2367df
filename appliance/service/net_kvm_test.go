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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// netInstance is the part of an instance's JSON this test reads.
type netInstance struct {
	ID, State, Reason string
	IPs               []string
}

// findProc returns the pid of a process whose arguments match, or 0.
func findProc(match func(args []string) bool) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !match(strings.Split(string(b), "\x00")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil && pid != os.Getpid() {
			return pid
		}
	}
	return 0
}

// vmmWithTap returns the pid of the "ironvisor vmm run" that was given a
// tap fd with mac (the supervisor opens the tap and passes its fd into the
// jail, so the VMM's command line names the fd and the MAC), or 0.
func vmmWithTap(mac string) int {
	return findProc(func(args []string) bool {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--tap" && strings.HasPrefix(args[i+1], "fd:") && strings.HasSuffix(args[i+1], ",mac="+mac) {
				return slices.Contains(args, "vmm") && slices.Contains(args, "run")
			}
		}
		return false
	})
}

// vmmHoldsTap reports whether a running VMM was given a tap with mac.
func vmmHoldsTap(t *testing.T, mac string) bool {
	t.Helper()
	return vmmWithTap(mac) != 0
}

// killAndWait sends sig to pid and waits until the process is gone.
func killAndWait(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no process to signal (pid %d)", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		// Gone, or a zombie (exited, its parent has not reaped it yet).
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there a minute after signal %v", pid, sig)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
// tapOperState waits up to 10 s for tap name to be operationally up and
// returns its last state. A tap's carrier comes on when its VMM's queue
// attaches, but the kernel's linkwatch applies the operational state up
// to a second later (a carrier-on is not an urgent event), so a state read
// just after the instance turned running may still say down.
func tapOperState(t *testing.T, name string) netlink.LinkOperState {
	t.Helper()
	updates, done := make(chan netlink.LinkUpdate, 16), make(chan struct{})
	defer func() {
		close(done)
		go func() { // the subscription closes updates once its socket is shut
			for range updates {
			}
		}()
	}()
	if err := netlink.LinkSubscribe(updates, done); err != nil {
		t.Fatalf("subscribe to link updates: %v", err)
	}
	l, err := netlink.LinkByName(name) // after subscribing: no update is missed
	if err != nil {
		t.Fatalf("tap %s: %v", name, err)
	}
	st := l.Attrs().OperState
	timeout := time.After(10 * time.Second)
	for st != netlink.OperUp {
		select {
		case u := <-updates:
			if u.Attrs().Name == name {
				st = u.Attrs().OperState
			}
		case <-timeout:
			return st
		}
	}
	return st
}

func tapGone(t *testing.T, name, when string) {
	t.Helper()
	if _, err := netlink.LinkByName(name); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Fatalf("tap %s %s: %v", name, when, err)
	}
}

// netWorld starts serve and, with a new tenant's token, uploads a tiny
// image and creates the network "web" (10.77.0.0/24) and the security
// group "web-ssh"; it skips where instances cannot run.
// poolFile is the lease pool file of network nw: hostnet names it by the
// network's host-wide name (netcfg.TenantName).
func poolFile(s server, nw netcfg.Network) string {
	return filepath.Join(s.data, NetDir, netcfg.TenantName(nw.Tenant, nw.Name)+".json")
}

func netWorld(t *testing.T) (server, string, netcfg.Network) {
	t.Helper()
	testutil.NeedKVM(t)
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

	return s, tok, nw
}

// TestInstanceNetworkOnKVM launches a tiny guest into a network with a
// security group through the API on real KVM and checks the host side of
// its NIC: the instance reports its leased IP, its tap is on the network's
// bridge with carrier (the VMM holds it, given with the lease's MAC), the
// anti-spoofing rules know the MAC, the tap goes on stop and comes back
// with the same address on start, and after terminate the tap and the
// lease are gone.
func TestInstanceNetworkOnKVM(t *testing.T) {
	s, tok, nw := netWorld(t)
	var insts []netInstance
	s.ok(t, tok, &insts, "instances", "launch", "--image", "tiny", "--type", "nano", "--network", "web",
		"--security-groups", "web-ssh", "--wait", "2m", "--json")
	id := insts[0].ID
	var in netInstance
	s.ok(t, tok, &in, "instances", "get", id, "--json")
	if in.State != "running" || len(in.IPs) != 1 || in.IPs[0] != "10.77.0.2" {
		t.Fatalf("instance %+v, want running with IP 10.77.0.2", in)
	}
	pool, err := netcfg.LoadPool(poolFile(s, nw))
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
	if st := tapOperState(t, tapName); st != netlink.OperUp {
		t.Fatalf("tap %s is %v: no VMM attached", tapName, st)
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
	if pool, err = netcfg.LoadPool(poolFile(s, nw)); err != nil {
		t.Fatal(err)
	}
	if _, ok := pool.Lookup(id); ok {
		t.Fatalf("lease of %s left after terminate", id)
	}
	if antiSpoofHas(t, tapName, lease.MAC) {
		t.Fatalf("anti-spoofing entry for %s left after terminate", tapName)
	}
}

// TestInstanceNetworkRestartOnKVM restarts serve with two instances in a
// network, one of whose VMMs dies while serve is down: after the restart
// the surviving instance keeps running with its tap (still held by its
// VMM) and address, the dead one is started again on its kept lease with a
// new tap; terminating both frees every lease and tap.
func TestInstanceNetworkRestartOnKVM(t *testing.T) {
	s, tok, nw := netWorld(t)
	var insts []netInstance
	s.ok(t, tok, &insts, "instances", "launch", "--image", "tiny", "--type", "nano", "--count", "2",
		"--network", "web", "--security-groups", "web-ssh", "--wait", "2m", "--json")
	pool, err := netcfg.LoadPool(poolFile(s, nw))
	if err != nil {
		t.Fatal(err)
	}
	live, _ := pool.Lookup(insts[0].ID)
	dead, _ := pool.Lookup(insts[1].ID)
	tapOf := func(l netcfg.Lease) string {
		off := l.IP.As4()[3] - nw.CIDR.Addr().As4()[3]
		return fmt.Sprintf("%s%x-%x", netcfg.TapPrefix, nw.Index, off)
	}
	for _, l := range []netcfg.Lease{live, dead} {
		if _, err := netlink.LinkByName(tapOf(l)); err != nil || !vmmHoldsTap(t, l.MAC) {
			t.Fatalf("instance %s: tap %s (%v) or its VMM missing", l.Instance, tapOf(l), err)
		}
	}
	serve := findProc(func(args []string) bool {
		return slices.Contains(args, "serve") && slices.Contains(args, s.data)
	})
	if serve == 0 {
		t.Fatal("serve's process not found")
	}
	killAndWait(t, serve, syscall.SIGTERM)
	killAndWait(t, vmmWithTap(dead.MAC), syscall.SIGKILL)

	s2 := startServe(t, "--insecure-http", "--data", s.data)
	var in netInstance
	s2.ok(t, tok, &in, "instances", "get", live.Instance, "--json")
	if in.State != "running" || len(in.IPs) != 1 || in.IPs[0] != live.IP.String() {
		t.Fatalf("surviving instance after restart %+v, want running with %s", in, live.IP)
	}
	if st := tapOperState(t, tapOf(live)); st != netlink.OperUp || !vmmHoldsTap(t, live.MAC) {
		t.Fatalf("surviving instance's tap %s after restart: %v", tapOf(live), st)
	}
	// The instance whose VMM died is started again once the API serves
	// (issue 12), on its kept lease, with a new tap its new VMM holds.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		s2.ok(t, tok, &in, "instances", "get", dead.Instance, "--json")
		if in.State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance whose VMM died %+v, want it running again", in)
		}
		time.Sleep(50 * time.Millisecond) // poll; the API has no state stream
	}
	if in.Reason != orchestrator.ReasonStartedAgain || len(in.IPs) != 1 || in.IPs[0] != dead.IP.String() {
		t.Fatalf("instance whose VMM died %+v, want running (%s) with %s", in, orchestrator.ReasonStartedAgain, dead.IP)
	}
	if st := tapOperState(t, tapOf(dead)); st != netlink.OperUp || !vmmHoldsTap(t, dead.MAC) {
		t.Fatalf("tap %s of the instance started again: %v", tapOf(dead), st)
	}
	if pool, err = netcfg.LoadPool(poolFile(s, nw)); err != nil || len(pool.Leases) != 2 {
		t.Fatalf("leases after restart: %+v %v", pool, err)
	}

	for _, l := range []netcfg.Lease{live, dead} {
		s2.ok(t, tok, nil, "instances", "terminate", l.Instance)
		tapGone(t, tapOf(l), "after terminate")
	}
	if pool, err = netcfg.LoadPool(poolFile(s, nw)); err != nil || len(pool.Leases) != 0 {
		t.Fatalf("leases after terminating both: %+v %v", pool, err)
	}
}
