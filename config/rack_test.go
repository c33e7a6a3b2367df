package config

import (
	"strings"
	"testing"
)

func TestRackCmdline(t *testing.T) {
	c, err := ParseCmdline("console=ttyS0 ironvisor.rack=on ironvisor.rack_iface=eth1 ironvisor.rack_net=10.9.0.1/24")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Rack.Enabled || c.Rack.Iface != "eth1" || c.Rack.Net != "10.9.0.1/24" {
		t.Fatalf("rack = %+v", c.Rack)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := Defaults(); d.Rack.Enabled {
		t.Fatal("rack bootstrap is on by default")
	}
}

func TestRackJSON(t *testing.T) {
	c, err := DecodeJSON(Defaults(), strings.NewReader(`{"rack":{"enabled":true,"net":"192.168.50.1/24"}}`))
	if err != nil || !c.Rack.Enabled || c.Rack.Net != "192.168.50.1/24" {
		t.Fatalf("rack = %+v, %v", c.Rack, err)
	}
}

// TestRackBadTurnsItOff: a bad rack setting is reported by its key, and
// Sanitize turns rack bootstrap off instead of serving DHCP somewhere the
// operator did not mean.
func TestRackBadTurnsItOff(t *testing.T) {
	for _, line := range []string{
		"ironvisor.rack=yes",
		"ironvisor.rack=on ironvisor.rack_net=10.77.0.0/24",
		"ironvisor.rack=on ironvisor.rack_net=10.77.0.1/31",
		"ironvisor.rack=on ironvisor.rack_net=fd00::1/64",
		"ironvisor.rack=on ironvisor.rack_iface=../x",
	} {
		c, err := ParseCmdline(line)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), "ironvisor.rack") {
			t.Errorf("%q: err = %v, want one naming the rack key", line, err)
		}
		s, _ := c.Sanitize()
		if s.Rack.Enabled {
			t.Errorf("%q: still on after Sanitize", line)
		}
	}
}

func TestParseRackNetDefault(t *testing.T) {
	p, err := ParseRackNet("")
	if err != nil || p.String() != DefaultRackNet {
		t.Fatalf("%v, %v", p, err)
	}
}

// TestTestHookCmdlineOnly: the test hook comes from the kernel command
// line only; an unknown one is refused.
func TestTestHookCmdlineOnly(t *testing.T) {
	c, err := ParseCmdline("ironvisor.test_hook=freeze-pid1")
	if err != nil || c.TestHook != TestHookFreezePID1 || c.Validate() != nil {
		t.Fatalf("%q, %v", c.TestHook, err)
	}
	if _, err := DecodeJSON(Defaults(), strings.NewReader(`{"TestHook":"freeze-pid1"}`)); err == nil {
		t.Fatal("a JSON config set the test hook")
	}
	c, _ = ParseCmdline("ironvisor.test_hook=rm-rf")
	if s, err := c.Sanitize(); err == nil || s.TestHook != "" {
		t.Fatalf("bad hook kept: %q, %v", s.TestHook, err)
	}
}
