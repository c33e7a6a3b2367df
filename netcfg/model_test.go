package netcfg

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func testState() State {
	return State{
		Uplink: Uplink{Name: "eth0", Address: netip.MustParseAddr("192.0.2.10")},
		Networks: []Network{
			{Name: "a", Tenant: "t1", Index: 1, CIDR: netip.MustParsePrefix("10.1.0.0/24")},
			{Name: "b", Tenant: "t2", Index: 2, CIDR: netip.MustParsePrefix("10.2.0.0/24")},
		},
		Groups: []SecurityGroup{
			{Name: "web", Tenant: "t1", Ingress: []Rule{{Proto: ProtoTCP, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("10.1.0.0/28")}}},
			{Name: "other", Tenant: "t2"},
		},
		NICs: []NIC{
			{Instance: "i1", Network: "a", IP: netip.MustParseAddr("10.1.0.2"), MAC: "02:49:00:01:00:02", Groups: []string{"web"}},
			{Instance: "i2", Network: "b", IP: netip.MustParseAddr("10.2.0.2"), MAC: "02:49:00:02:00:02", Groups: []string{"other"}},
		},
	}
}

func TestValidateAcceptsGood(t *testing.T) {
	st := testState()
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := st.TapName("i1", "a"); got != "ivtap-1-2" {
		t.Fatalf("tap name %q", got)
	}
	if got := st.Networks[0].Bridge(); got != "ivbr-1" {
		t.Fatalf("bridge name %q", got)
	}
	if m := st.NICs[0].Mark(&st.Networks[0]); m != 0x80010002 {
		t.Fatalf("mark %#x", m)
	}
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]struct {
		mut  func(*State)
		want string
	}{
		"overlap":        {func(s *State) { s.Networks[1].CIDR = netip.MustParsePrefix("10.1.0.128/25") }, "overlaps network"},
		"dup index":      {func(s *State) { s.Networks[1].Index = 1 }, "index 1 already used"},
		"big prefix":     {func(s *State) { s.Networks[0].CIDR = netip.MustParsePrefix("10.0.0.0/8") }, "/16../29"},
		"link local":     {func(s *State) { s.Networks[0].CIDR = netip.MustParsePrefix("169.254.1.0/24") }, "169.254"},
		"bad name":       {func(s *State) { s.Networks[0].Name = "../x" }, "network name"},
		"gateway ip":     {func(s *State) { s.NICs[0].IP = netip.MustParseAddr("10.1.0.1") }, "gateway"},
		"outside ip":     {func(s *State) { s.NICs[0].IP = netip.MustParseAddr("10.2.0.9") }, "not in"},
		"multicast mac":  {func(s *State) { s.NICs[0].MAC = "01:00:5e:00:00:01" }, "multicast"},
		"foreign group":  {func(s *State) { s.NICs[0].Groups = []string{"other"} }, "another tenant"},
		"no group":       {func(s *State) { s.NICs[0].Groups = nil }, "no security group"},
		"dup mac":        {func(s *State) { s.NICs[1].MAC = s.NICs[0].MAC }, "already used"},
		"bad proto":      {func(s *State) { s.Groups[0].Ingress[0].Proto = "sctp" }, "want tcp"},
		"reversed ports": {func(s *State) { s.Groups[0].Ingress[0].FromPort = 30 }, "reversed"},
		"peer tenant":    {func(s *State) { s.Groups[0].Ingress[0] = Rule{Proto: ProtoAll, Group: "other"} }, "another tenant"},
		"no peer":        {func(s *State) { s.Groups[0].Ingress[0].CIDR = netip.Prefix{} }, "neither"},
		"fwd no nic": {func(s *State) {
			s.Forwards = []PortForward{{Proto: ProtoTCP, PublicPort: 80, Instance: "x", Network: "a", Port: 80}}
		}, "unknown nic"},
		"long host if": {func(s *State) { s.NICs[0].HostIfName = "abcdefghijklmnop" }, "1-15"},
		"mtu":          {func(s *State) { s.MTU = 100 }, "mtu"},
		// Issue 10, finding 4: no tenant network on the host's own networks.
		"uplink subnet": {func(s *State) {
			s.HostNets = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
		}, "overlaps the host's 10.1.0.0/16"},
		"uplink gateway": {func(s *State) {
			s.HostNets = []netip.Prefix{netip.MustParsePrefix("10.2.0.77/32")}
		}, "overlaps the host's 10.2.0.77/32"},
		"uplink address": {func(s *State) { s.Uplink.Address = netip.MustParseAddr("10.1.0.200") }, "overlaps the host's"},
		"name server":    {func(s *State) { s.DNSServers = []netip.Addr{netip.MustParseAddr("10.2.0.53")} }, "overlaps the host's"},
		"public ip": {func(s *State) {
			s.PublicIPs = []PublicIP{{Address: netip.MustParseAddr("10.1.0.9"), Instance: "i1", Network: "a"}}
		}, "overlaps the host's"},
		"this network": {func(s *State) { s.Networks[0].CIDR = netip.MustParsePrefix("0.1.0.0/16") }, "0.0.0.0/8"},
		"loopback":     {func(s *State) { s.Networks[0].CIDR = netip.MustParsePrefix("127.1.0.0/24") }, "127.0.0.0/8"},
		"multicast":    {func(s *State) { s.Networks[0].CIDR = netip.MustParsePrefix("239.1.0.0/24") }, "224.0.0.0/4"},
		"reserved":     {func(s *State) { s.Networks[0].CIDR = netip.MustParsePrefix("250.1.0.0/24") }, "240.0.0.0/4"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st := testState()
			c.mut(&st)
			err := st.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestPoolDeterministicAndPersisted(t *testing.T) {
	n := Network{Name: "a", Tenant: "t", Index: 0x123, CIDR: netip.MustParsePrefix("10.9.0.0/29")}
	p, err := NewPool(n)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inst := range []string{"i1", "i2", "i3", "i4", "i5"} {
		l, err := p.Allocate(inst)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.IP.String()+"="+l.MAC)
	}
	want := "10.9.0.2=02:49:01:23:00:02 10.9.0.3=02:49:01:23:00:03 10.9.0.4=02:49:01:23:00:04 10.9.0.5=02:49:01:23:00:05 10.9.0.6=02:49:01:23:00:06"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v", got)
	}
	if _, err := p.Allocate("i6"); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("full pool: %v", err)
	}
	if l, _ := p.Allocate("i2"); l.IP.String() != "10.9.0.3" {
		t.Fatalf("re-allocate not idempotent: %v", l)
	}
	if !p.Release("i2") || p.Release("i2") {
		t.Fatal("release")
	}
	if l, _ := p.Allocate("i7"); l.IP.String() != "10.9.0.3" {
		t.Fatalf("freed address not reused: %v", l)
	}
	path := filepath.Join(t.TempDir(), "a.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	q, err := LoadPool(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Leases) != 5 || q.Leases[1].Instance != "i7" {
		t.Fatalf("loaded %+v", q.Leases)
	}
}

func TestLoadPoolRejectsCorrupt(t *testing.T) {
	n := Network{Name: "a", Tenant: "t", Index: 1, CIDR: netip.MustParsePrefix("10.9.0.0/24")}
	p := &Pool{Network: n, Leases: []Lease{{Instance: "x", IP: netip.MustParseAddr("10.9.0.1"), MAC: "02:49:00:01:00:01"}}}
	path := filepath.Join(t.TempDir(), "a.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPool(path); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("got %v", err)
	}
}
