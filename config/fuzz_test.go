package config

import (
	"strings"
	"testing"
)

// FuzzParseCmdline feeds arbitrary command lines to the parser: it must not
// panic, and Sanitize must always yield a valid configuration.
func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{
		"", "console=ttyS0 ironvisor.hostname=a", `ironvisor.hostname="a b"`, "ironvisor.uplink=bogus",
		"ironvisor.uplink=static ironvisor.address=10.0.0.2/8 ironvisor.gateway=10.0.0.1 ironvisor.dns=1.1.1.1,8.8.8.8",
		"ironvisor.api=[::1]:80 ironvisor.modules=a,b,, ironvisor.iface=eth0 -- x", `"ironvisor.x`, "ironvisor.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, _ := ParseCmdline(s)
		got, _ := c.Sanitize()
		if err := got.Validate(); err != nil {
			t.Fatalf("Sanitize(%q) gave an invalid config %+v: %v", s, got, err)
		}
	})
}

// FuzzDecodeJSON feeds arbitrary bytes to the JSON decoder: it must not
// panic, and Sanitize must always yield a valid configuration.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"hostname":"a","uplink":"static","address":"10.0.0.1/24"}`, `{"dns":["x"]}`, `null`, `{"api":":0"}`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := DecodeJSON(Defaults(), strings.NewReader(string(b)))
		got, _ := c.Sanitize()
		if err := got.Validate(); err != nil {
			t.Fatalf("Sanitize(%q) gave an invalid config %+v: %v", b, got, err)
		}
	})
}
