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

// FuzzParseConfigURL feeds arbitrary config URLs to the parser: it must
// not panic, and what it accepts formats back to an accepted URL with the
// same checksum.
func FuzzParseConfigURL(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	for _, s := range []string{"", "http://h/c#sha256=" + sum, "https://[::1]:1/#sha256=" + sum, "http://h#sha256=",
		"http://h/c#sha256=" + sum[:40], "ftp://h/#sha256=" + sum, "#", "http://%zz/#sha256=" + sum} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfigURL(s)
		if err != nil {
			return
		}
		again, err := ParseConfigURL(c.String())
		if err != nil || again != c {
			t.Fatalf("ParseConfigURL(%q) = %+v, but its String %q gives %+v, %v", s, c, c.String(), again, err)
		}
	})
}
