// Package netnstest gives tests fresh network namespaces, for exercising
// the real kernel (links, nftables, sockets) without touching the host's
// own network.
package netnstest

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/netcfg"
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

// HTTPClient returns an HTTP client whose connections are made inside ns
// (without keep-alives, so each request dials anew), with timeout per
// request.
func HTTPClient(ns netns.NsHandle, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = netcfg.InNetNS(ns, func() (err error) {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}}
}

// Get fetches url with c until the first answer or until deadline passes
// (links and rules come up asynchronously), and returns the status and
// body.
func Get(c *http.Client, url string, deadline time.Time) (int, string, error) {
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b), err
		}
		if time.Now().After(deadline) {
			return 0, "", err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
