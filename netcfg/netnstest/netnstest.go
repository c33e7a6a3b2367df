// Package netnstest gives tests fresh network namespaces, for exercising
// the real kernel (links, nftables, sockets) without touching the host's
// own network.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// New returns a new network namespace, closed when the test ends. It skips
// the test when not root. The calling thread's namespace is not changed:
// the namespace is made on a thread of its own, which dies with it.
func New(t testing.TB) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root for network namespaces")
	}
	type result struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		c <- result{ns, err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatalf("new netns: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	return r.ns
}
