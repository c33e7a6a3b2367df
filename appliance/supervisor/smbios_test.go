package supervisor

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// uuidForm is an RFC 9562 version 8 UUID, lower case.
var uuidForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestSMBIOSUUIDIsEC2Shaped: the UUID is stable per instance, different
// between instances, well formed, and passes the checks stock cloud-init
// makes: ds-identify's first octet matching [Ee][Cc]2*, and
// DataSourceEc2.identify_aws's lower-cased UUID starting with "ec2" (the
// serial's part of Debian 12's check is TestVMMArgsCarrySMBIOS's).
func TestSMBIOSUUIDIsEC2Shaped(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range []string{"i-0123456789abcdef0", "i-1", "i-2", ""} {
		u := SMBIOSUUID(id)
		if u != SMBIOSUUID(id) {
			t.Fatalf("%q: not stable", id)
		}
		if seen[u] {
			t.Fatalf("%q: %s repeats another instance's", id, u)
		}
		seen[u] = true
		if !uuidForm.MatchString(u) {
			t.Errorf("%q: %s is not a version 8 UUID", id, u)
		}
		firstOctet, _, _ := strings.Cut(u, "-")
		if !strings.HasPrefix(strings.ToLower(firstOctet), "ec2") || !strings.HasPrefix(strings.ToLower(u), "ec2") {
			t.Errorf("%q: %s would not be identified as EC2 by cloud-init", id, u)
		}
	}
}

// TestVMMArgsCarrySMBIOS: every VMM gets its instance's identity, with
// the serial equal to the UUID, which Debian 12's cloud-init (22.4.2)
// requires besides the "ec2" prefix before it picks its Ec2 datasource.
func TestVMMArgsCarrySMBIOS(t *testing.T) {
	a := vmmArgs(RunSpec{ID: "i-42", VCPUs: 1, MemBytes: 64 << 20}, jail.Files{})
	u := SMBIOSUUID("i-42")
	for flag, want := range map[string]string{"--smbios-uuid": u, "--smbios-serial": u, "--smbios-asset-tag": "i-42"} {
		i := slices.Index(a, flag)
		if i < 0 || i+1 >= len(a) || a[i+1] != want {
			t.Errorf("%s: want %q in %v", flag, want, a)
		}
	}
}
