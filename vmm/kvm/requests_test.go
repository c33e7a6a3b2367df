//go:build !rack

// This test reads the package's sources, which the rack's test binaries
// (built with the rack tag and copied into an L1) do not carry; the host
// run of make test checks it.

package kvm

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestRequestsListEveryIssuedRequest fails when the package issues an ioctl
// request that neither BuildRequests nor RunRequests lists: a jailed VMM
// would be killed by its seccomp filter for it.
func TestRequestsListEveryIssuedRequest(t *testing.T) {
	listed := map[string]bool{}
	for _, name := range []string{"requests.go"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`req[A-Z]\w*`).FindAllString(string(b), -1) {
			listed[m] = true
		}
	}
	files, _ := os.ReadDir(".")
	issued := regexp.MustCompile(`ioctl(?:Ptr)?\([^,]+, (req\w+)`)
	for _, f := range files {
		if f.Name() == "requests.go" || !regexp.MustCompile(`^[a-z_]+\.go$`).MatchString(f.Name()) || regexp.MustCompile(`_test\.go$`).MatchString(f.Name()) {
			continue
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range issued.FindAllStringSubmatch(string(b), -1) {
			if !listed[m[1]] {
				t.Errorf("%s issues %s, which BuildRequests and RunRequests do not list", f.Name(), m[1])
			}
		}
	}
	if slices.Contains(RunRequests(), reqCreateVM) || slices.Contains(RunRequests(), reqCreateVCPU) {
		t.Error("RunRequests lists a request that creates a VM or vCPU")
	}
}
