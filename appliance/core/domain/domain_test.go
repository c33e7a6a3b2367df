package domain

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

var (
	alice = auth.Principal{TenantID: "t-alice"}
	bob   = auth.Principal{TenantID: "t-bob"}
	admin = auth.Principal{Admin: true}
)

// newDomain returns a domain over a fresh store with a pool of one public
// address, the instances' manager, and the states its hook saw.
func newDomain(t *testing.T) (*Domain, *lifecycle.Manager, *[]netcfg.State) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	life := lifecycle.NewManager(db, lifecycle.SystemClock{}, types.Host{CPUs: 4, MemBytes: 4 * types.GiB})
	var hooked []netcfg.State
	d := New(Config{DB: db, Life: life, Uplink: true, ReservedPorts: []uint16{8443},
		PublicIPs:       []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		OnNetworkChange: func(_ string, st netcfg.State) error { hooked = append(hooked, st); return nil }})
	return d, life, &hooked
}

// TestNetworkRules: networks get the lowest free index, overlap is
// invalid, another tenant's network is not found, and a network an
// instance uses cannot go (InUse); every change reaches the hook.
func TestNetworkRules(t *testing.T) {
	d, life, hooked := newDomain(t)
	web, err := d.CreateNetwork(alice, netcfg.Network{Name: "web", CIDR: netip.MustParsePrefix("10.1.0.0/24")})
	if err != nil || web.Index != 1 || web.Tenant != alice.TenantID {
		t.Fatalf("create: %+v %v", web, err)
	}
	if _, err := d.CreateNetwork(alice, netcfg.Network{Name: "db", CIDR: netip.MustParsePrefix("10.1.0.0/25")}); !errors.Is(err, apiv1.InvalidParameter) {
		t.Fatalf("overlap: %v", err)
	}
	if _, err := d.CreateNetwork(admin, netcfg.Network{Name: "adm", CIDR: netip.MustParsePrefix("10.2.0.0/24")}); !errors.Is(err, apiv1.InvalidParameter) {
		t.Fatalf("admin's network: %v", err)
	}
	if _, err := d.Network("web", bob); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("bob sees alice's network: %v", err)
	}
	if _, err := d.CreateGroup(alice, netcfg.SecurityGroup{Name: "ssh"}); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckLaunch(bob.TenantID, "web", []string{"ssh"}); !errors.Is(err, apiv1.InvalidParameter) {
		t.Fatalf("bob launches into alice's network: %v", err)
	}
	if _, err := life.Launch(lifecycle.LaunchSpec{TenantID: alice.TenantID, Image: "img", Type: "nano", Count: 1,
		Network: "web", SecurityGroups: []string{"ssh"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteNetwork(alice, "web"); !errors.Is(err, apiv1.InUse) {
		t.Fatalf("delete a network in use: %v", err)
	}
	if err := d.DeleteGroup(alice, "ssh"); !errors.Is(err, apiv1.InUse) {
		t.Fatalf("delete a group in use: %v", err)
	}
	if len(*hooked) != 2 {
		t.Fatalf("%d hook calls, want 2", len(*hooked))
	}
}

// TestPublicIPPool: the pool hands out its addresses one per instance;
// a second for the same instance exists already, none left is
// LimitExceeded, and dropping the instance's objects frees it.
func TestPublicIPPool(t *testing.T) {
	d, life, _ := newDomain(t)
	d.CreateNetwork(alice, netcfg.Network{Name: "web", CIDR: netip.MustParsePrefix("10.1.0.0/24")})
	d.CreateGroup(alice, netcfg.SecurityGroup{Name: "ssh"})
	insts, err := life.Launch(lifecycle.LaunchSpec{TenantID: alice.TenantID, Image: "img", Type: "nano", Count: 2,
		Network: "web", SecurityGroups: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	pip, err := d.AllocatePublicIP(alice, insts[0].ID)
	if err != nil || pip.Address.String() != "203.0.113.10" {
		t.Fatalf("allocate: %+v %v", pip, err)
	}
	if _, err := d.AllocatePublicIP(alice, insts[0].ID); !errors.Is(err, apiv1.AlreadyExists) {
		t.Fatalf("second for one instance: %v", err)
	}
	if _, err := d.AllocatePublicIP(alice, insts[1].ID); !errors.Is(err, apiv1.LimitExceeded) {
		t.Fatalf("empty pool: %v", err)
	}
	if _, err := d.AllocatePublicIP(bob, insts[1].ID); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("bob takes an address for alice's instance: %v", err)
	}
	if _, err := d.CreateForward(alice, insts[0].ID, netcfg.ProtoTCP, 8443, 22); !errors.Is(err, apiv1.InvalidParameter) {
		t.Fatalf("forward of the API's port: %v", err)
	}
	if err := d.DropPublicOf(insts[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AllocatePublicIP(alice, insts[1].ID); err != nil {
		t.Fatalf("after the first instance's objects were dropped: %v", err)
	}
}

// TestParseKeyPair: a key is normalised with its type and fingerprint; a
// private key, options or a control character are invalid.
func TestParseKeyPair(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez alice@laptop"
	k, err := ParseKeyPair("laptop", "  "+key+"\n")
	if err != nil || k.PublicKey != key || k.Type != "ssh-ed25519" || k.Fingerprint != "SHA256:J73/1A9skFNW/EO8pbSozigU9zflESYZnmaqUk8UUoo" {
		t.Fatalf("parsed %+v %v", k, err)
	}
	for _, bad := range []string{"-----BEGIN OPENSSH PRIVATE KEY-----", `command="/bin/sh" ` + key, key + "\x1b[31m"} {
		if _, err := ParseKeyPair("k", bad); !errors.Is(err, apiv1.InvalidParameter) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
