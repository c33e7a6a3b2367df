package jail

import (
	"strings"
	"testing"
)

// TestOpenTapBadNameNamesTheTap checks that OpenTap fails, naming the tap,
// on an interface name the kernel cannot take (longer than IFNAMSIZ-1),
// whether or not /dev/net/tun can be opened here.
func TestOpenTapBadNameNamesTheTap(t *testing.T) {
	name := strings.Repeat("t", 20)
	f, err := OpenTap(name)
	if err == nil {
		f.Close()
		t.Fatalf("OpenTap(%q) succeeded", name)
	}
	if !strings.HasPrefix(err.Error(), "tap "+name+": ") {
		t.Errorf("error %q does not start with the tap's name", err)
	}
}
