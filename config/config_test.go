package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCmdlineGood(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		want          Config
	}{
		{"empty", "", Defaults()},
		{"other keys ignored", "console=ttyS0 quiet root=/dev/vda1 kvm.nx_huge_pages=off", Defaults()},
		{"hostname", "console=ttyS0 ironvisor.hostname=rack1-node7", Config{Hostname: "rack1-node7", Uplink: "dhcp", API: ":8080"}},
		{"static", "ironvisor.uplink=static ironvisor.address=192.0.2.10/24 ironvisor.gateway=192.0.2.1 ironvisor.dns=192.0.2.53,9.9.9.9",
			Config{Hostname: "ironvisor", Uplink: "static", Address: "192.0.2.10/24", Gateway: "192.0.2.1", DNS: []string{"192.0.2.53", "9.9.9.9"}, API: ":8080"}},
		{"api modules iface", "ironvisor.api=127.0.0.1:9000 ironvisor.modules=nvme,,ahci ironvisor.iface=eth1",
			Config{Hostname: "ironvisor", Uplink: "dhcp", API: "127.0.0.1:9000", Modules: []string{"nvme", "ahci"}, Iface: "eth1"}},
		{"quoted", `ironvisor.hostname="quoted" "ironvisor.iface=eth0"`, Config{Hostname: "quoted", Uplink: "dhcp", API: ":8080", Iface: "eth0"}},
		{"last wins", "ironvisor.hostname=a ironvisor.hostname=b", Config{Hostname: "b", Uplink: "dhcp", API: ":8080"}},
		{"after -- ignored", "ironvisor.hostname=a -- ironvisor.bogus=1", Config{Hostname: "a", Uplink: "dhcp", API: ":8080"}},
		{"tabs newline", "ironvisor.hostname=h1\tironvisor.api=:1\n", Config{Hostname: "h1", Uplink: "dhcp", API: ":1"}},
		{"ipv6 api", "ironvisor.api=[::1]:8080", Config{Hostname: "ironvisor", Uplink: "dhcp", API: "[::1]:8080"}},
		{"data label", "ironvisor.data=LABEL=ivdata", Config{Hostname: "ironvisor", Uplink: "dhcp", API: ":8080", Data: "LABEL=ivdata"}},
		{"data uuid", "ironvisor.data=UUID=0B5C3F3E-9F1D-4C1A-8A57-1F2E3D4C5B6A", Config{Hostname: "ironvisor", Uplink: "dhcp", API: ":8080", Data: "UUID=0B5C3F3E-9F1D-4C1A-8A57-1F2E3D4C5B6A"}},
		{"data device", "ironvisor.data=/dev/nvme0n1p3", Config{Hostname: "ironvisor", Uplink: "dhcp", API: ":8080", Data: "/dev/nvme0n1p3"}},
		{"data tmpfs", "ironvisor.data=tmpfs", Config{Hostname: "ironvisor", Uplink: "dhcp", API: ":8080", Data: "tmpfs"}},
		{"overcommit", "ironvisor.cpu_overcommit=4", Config{Hostname: "ironvisor", Uplink: "dhcp", API: ":8080", CPUOvercommit: "4"}},
		{"overcommit fraction", "ironvisor.cpu_overcommit=1.5", Config{Hostname: "ironvisor", Uplink: "dhcp", API: ":8080", CPUOvercommit: "1.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCmdline(tc.cmdline)
			if err != nil {
				t.Fatalf("ParseCmdline(%q): %v", tc.cmdline, err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCmdline(%q) = %+v, want %+v", tc.cmdline, got, tc.want)
			}
		})
	}
}

func TestCmdlineBad(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		wantKey       string // the key the error must name
		wantValue     string // the bad value the error must quote
	}{
		{"bogus uplink", "ironvisor.uplink=bogus", KeyUplink, "bogus"},
		{"data unknown", "ironvisor.data=sda2", KeyData, "sda2"},
		{"data empty label", "ironvisor.data=LABEL=", KeyData, "LABEL="},
		{"data label slash", "ironvisor.data=LABEL=a/b", KeyData, "LABEL=a/b"},
		{"data bad uuid", "ironvisor.data=UUID=xyz", KeyData, "UUID=xyz"},
		{"data dev escape", "ironvisor.data=/dev/../etc", KeyData, "/dev/../etc"},
		{"unknown key", "ironvisor.colour=blue", "ironvisor.colour", "blue"},
		{"no value", "ironvisor.hostname", KeyHostname, ""},
		{"bad hostname", "ironvisor.hostname=-bad", KeyHostname, "-bad"},
		{"hostname chars", "ironvisor.hostname=a_b", KeyHostname, "a_b"},
		{"hostname too long", "ironvisor.hostname=" + strings.Repeat("a", 64), KeyHostname, strings.Repeat("a", 64)},
		{"static without address", "ironvisor.uplink=static", KeyAddress, ""},
		{"bad address", "ironvisor.uplink=static ironvisor.address=10.0.0.300/24", KeyAddress, "10.0.0.300/24"},
		{"address without prefix", "ironvisor.uplink=static ironvisor.address=10.0.0.3", KeyAddress, "10.0.0.3"},
		{"address with dhcp", "ironvisor.address=10.0.0.3/24", KeyAddress, "10.0.0.3/24"},
		{"bad gateway", "ironvisor.uplink=static ironvisor.address=10.0.0.3/24 ironvisor.gateway=gw", KeyGateway, "gw"},
		{"bad dns", "ironvisor.dns=1.1.1.1,nope", KeyDNS, "nope"},
		{"api no port", "ironvisor.api=8080", KeyAPI, "8080"},
		{"api big port", "ironvisor.api=:65536", KeyAPI, ":65536"},
		{"api host name", "ironvisor.api=example.com:80", KeyAPI, "example.com:80"},
		{"bad module", "ironvisor.modules=ok,../evil", KeyModules, "../evil"},
		{"overcommit below 1", "ironvisor.cpu_overcommit=0.5", KeyOvercommit, "0.5"},
		{"overcommit too big", "ironvisor.cpu_overcommit=17", KeyOvercommit, "17"},
		{"overcommit not a number", "ironvisor.cpu_overcommit=lots", KeyOvercommit, "lots"},
		{"overcommit NaN", "ironvisor.cpu_overcommit=NaN", KeyOvercommit, "NaN"},
		{"public ip v6", "ironvisor.public_ips=2001:db8::1", KeyPublicIPs, "2001:db8::1"},
		{"public ip twice", "ironvisor.public_ips=192.0.2.1,192.0.2.0/30", KeyPublicIPs, "192.0.2.1,192.0.2.0/30"},
		{"public ip huge prefix", "ironvisor.public_ips=10.0.0.0/8", KeyPublicIPs, "10.0.0.0/8"},
		{"public ip junk", "ironvisor.public_ips=nope", KeyPublicIPs, "nope"},
		{"bad iface", "ironvisor.iface=eth0/1", KeyIface, "eth0/1"},
		{"ec2 region upper case", "ironvisor.ec2_region=US-East", KeyEC2Region, "US-East"},
		{"ec2 skew too small", "ironvisor.ec2_clock_skew=10ms", KeyEC2Skew, "10ms"},
		{"ec2 skew junk", "ironvisor.ec2_clock_skew=forever", KeyEC2Skew, "forever"},
		{"long iface", "ironvisor.iface=abcdefghijklmnop", KeyIface, "abcdefghijklmnop"},
		{"watchdog too short", "ironvisor.watchdog=5", KeyWatchdog, "5"},
		{"watchdog too long", "ironvisor.watchdog=601", KeyWatchdog, "601"},
		{"watchdog junk", "ironvisor.watchdog=yes", KeyWatchdog, "yes"},
		{"watchdog duration", "ironvisor.watchdog=30s", KeyWatchdog, "30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCmdline(tc.cmdline)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatalf("%q: no error", tc.cmdline)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%q: error %v is not a *FieldError", tc.cmdline, err)
			}
			if fe.Key != tc.wantKey || fe.Value != tc.wantValue {
				t.Errorf("%q: error names %s=%q, want %s=%q (%v)", tc.cmdline, fe.Key, fe.Value, tc.wantKey, tc.wantValue, err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("%q: message %q does not name %s", tc.cmdline, err, tc.wantKey)
			}
		})
	}
}

func TestSanitizeKeepsGoodFields(t *testing.T) {
	c, err := ParseCmdline("ironvisor.hostname=node1 ironvisor.uplink=bogus ironvisor.api=:9090")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Sanitize()
	if err == nil || !strings.Contains(err.Error(), `ironvisor.uplink="bogus"`) {
		t.Fatalf("Sanitize error = %v, want it to name ironvisor.uplink=\"bogus\"", err)
	}
	want := Config{Hostname: "node1", Uplink: UplinkDHCP, API: ":9090"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sanitize = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("sanitized config invalid: %v", err)
	}
}

func TestSanitizeStaticWithoutAddressFallsBackToDHCP(t *testing.T) {
	c := Defaults()
	c.Uplink, c.Gateway = UplinkStatic, "192.0.2.1"
	got, err := c.Sanitize()
	if err == nil {
		t.Fatal("no error for static uplink without address")
	}
	if got.Uplink != UplinkDHCP || got.Gateway != "" {
		t.Errorf("Sanitize = %+v, want dhcp without gateway", got)
	}
}

func TestDecodeJSON(t *testing.T) {
	base := Defaults()
	base.Hostname = "from-base"
	got, err := DecodeJSON(base, strings.NewReader(`{"uplink":"static","address":"10.1.2.3/16","dns":["10.0.0.1"],"modules":["nvme"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Hostname: "from-base", Uplink: "static", Address: "10.1.2.3/16", DNS: []string{"10.0.0.1"}, API: ":8080", Modules: []string{"nvme"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeJSON = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
}

func TestDecodeJSONBad(t *testing.T) {
	for _, in := range []string{
		`{"colour":"blue"}`,
		`{"hostname":1}`,
		`{"hostname":"a"} {"hostname":"b"}`,
		`[]`,
		`{`,
		`{"hostname":"` + strings.Repeat("a", MaxFileSize) + `"}`,
	} {
		if _, err := DecodeJSON(Defaults(), strings.NewReader(in)); err == nil {
			t.Errorf("DecodeJSON(%.40q) succeeded", in)
		}
	}
}

func TestLoadFileThenCmdline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ironvisor.json")
	if err := os.WriteFile(path, []byte(`{"hostname":"file","api":":7000"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(Defaults(), path)
	if err != nil {
		t.Fatal(err)
	}
	c, err = ApplyCmdline(c, "ironvisor.api=:7001")
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "file" || c.API != ":7001" {
		t.Errorf("got %+v, want hostname from file and api from cmdline", c)
	}
	if _, err := LoadFile(Defaults(), filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
}

func TestParseData(t *testing.T) {
	for _, tc := range []struct{ in, kind, value string }{
		{"", DataKindAuto, ""},
		{"auto", DataKindAuto, ""},
		{"tmpfs", DataKindTmpfs, ""},
		{"LABEL=ivdata", DataKindLabel, "ivdata"},
		{"UUID=AB-cd", DataKindUUID, "ab-cd"},
		{"/dev/sda2", DataKindDevice, "/dev/sda2"},
	} {
		kind, value, err := ParseData(tc.in)
		if err != nil || kind != tc.kind || value != tc.value {
			t.Errorf("ParseData(%q) = %q, %q, %v; want %q, %q", tc.in, kind, value, err, tc.kind, tc.value)
		}
	}
	c, err := Config{Hostname: "h", Uplink: "dhcp", API: ":1", Data: "nope"}.Sanitize()
	if err == nil || c.Data != "" {
		t.Errorf("Sanitize with a bad data source = %+v, %v; want the default and an error", c, err)
	}
}

func TestParsePublicIPs(t *testing.T) {
	got, err := ParsePublicIPs("198.51.100.7, 192.0.2.8/30")
	want := []string{"198.51.100.7", "192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParsePublicIPs = %v, %v; want %v", got, err, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("ParsePublicIPs[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if got, err := ParsePublicIPs(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
}

// TestParseGuestBlocked: the management network is blocked unless the
// operator says "none"; prefixes add to or replace it.
func TestParseGuestBlocked(t *testing.T) {
	for _, c := range []struct {
		in     string
		want   string
		uplink bool
		bad    bool
	}{
		{"", "[]", true, false},
		{"none", "[]", false, false},
		{"uplink", "[]", true, false},
		{"10.0.0.0/8,uplink", "[10.0.0.0/8]", true, false},
		{"192.168.1.7/24", "[192.168.1.0/24]", false, false},
		{"10.0.0.1", "", true, true},
		{"fe80::/10", "", true, true},
	} {
		p, up, err := ParseGuestBlocked(c.in)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if up != c.uplink || (!c.bad && fmt.Sprint(p) != c.want) {
			t.Errorf("%q: %v uplink=%v, want %s uplink=%v", c.in, p, up, c.want, c.uplink)
		}
	}
	if _, err := (Config{Uplink: UplinkDHCP, GuestBlocked: "x"}).Sanitize(); err == nil {
		t.Error("a bad guest_blocked validated")
	}
}

func TestParseWatchdog(t *testing.T) {
	for _, tc := range []struct {
		in      string
		on      bool
		timeout time.Duration
	}{
		{"", true, 0},
		{"on", true, 0},
		{"off", false, 0},
		{"10", true, 10 * time.Second},
		{"600", true, 600 * time.Second},
	} {
		on, timeout, err := ParseWatchdog(tc.in)
		if err != nil || on != tc.on || timeout != tc.timeout {
			t.Errorf("ParseWatchdog(%q) = %v, %v, %v; want %v, %v", tc.in, on, timeout, err, tc.on, tc.timeout)
		}
	}
	c, err := ParseCmdline("ironvisor.watchdog=off")
	if err != nil || c.Watchdog != "off" || c.Validate() != nil {
		t.Fatalf("ironvisor.watchdog=off: %+v, %v", c, err)
	}
	// A bad value falls back to the default (on), not to off: a typo must
	// not disarm the watchdog.
	c, _ = ParseCmdline("ironvisor.watchdog=of ironvisor.hostname=n1")
	got, err := c.Sanitize()
	if err == nil || !strings.Contains(err.Error(), `ironvisor.watchdog="of"`) {
		t.Fatalf("Sanitize error = %v, want it to name the key and value", err)
	}
	if on, _, _ := ParseWatchdog(got.Watchdog); !on || got.Hostname != "n1" {
		t.Fatalf("sanitised config %+v: watchdog not on or other fields lost", got)
	}
}
