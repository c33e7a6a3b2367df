//go:build fairness

package service

// The fairness run of issue 10: one tenant floods the API and the
// metadata service while another tenant's p99 must stay within 2x of its
// quiet p99. It is a measurement, not a pass/fail test of a noisy shared
// host: TestFairness is compiled only with the fairness build tag (set by
// build/bench/fairness.sh, which `make bench` runs) and prints one
// FAIRNESS line that the script turns into a section of docs/benchmarks.md.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metadata"
	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/netcfg/netnstest"
)

// The fairness run's shape.
const (
	fairRounds     = 4                     // rounds of one quiet and one flooded phase each
	fairPhase      = 8 * time.Second       // length of each phase
	fairEvery      = 40 * time.Millisecond // tenant B's pace: 25 requests a second
	fairAPIConns   = 600                   // tenant A's API connections, more than api.MaxConns
	fairMetaConns  = 64                    // tenant A's guest's metadata connections
	fairBTimeout   = 10 * time.Second      // one request of B; a timeout counts as its latency
	fairFloodReady = 30 * time.Second      // how long the flood may take to open its connections
)

// TestFairness measures tenant B's request latency through the typed
// client, quiet and while tenant A floods, in rotated rounds (Q F, F Q,
// Q F, ...) so that the host's other load falls on both alike.
//
// B reads steadily (GET /v1/instances, /v1/networks, /v1/host in turn,
// fairEvery apart) from 127.0.0.2, each request on a new connection as
// `ironvisor ctl` makes it. A, from 127.0.0.1, runs in a child process
// (so that its goroutines do not delay B's in this one): fairAPIConns
// keep-alive connections that send GET /v1/instances with A's token as
// fast as they are answered (the per-token limit answers most with 429),
// and fairMetaConns connections that fetch the metadata of A's instance
// as fast as they are answered. The metadata service runs in the child,
// in a network namespace of its own, not in `serve`: without a hypervisor
// no instance has a tap, so the flood reaches the metadata handler over
// real sockets whose SO_MARK is the NIC's mark (the identity the bridge
// gives a guest's connection), sharing the host's CPUs with `serve` but
// not its store.
func TestFairness(t *testing.T) {
	s := startServe(t, "--insecure-http", "--no-hypervisor")
	admin := s.adminToken(t)
	var a, b struct{ Token string }
	s.ok(t, admin, &a, "tenants", "create", "flooder", "--json")
	s.ok(t, admin, &b, "tenants", "create", "steady", "--json")

	from := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: fairBTimeout}
	hc := &http.Client{Timeout: fairBTimeout, Transport: &http.Transport{DialContext: from.DialContext, DisableKeepAlives: true}}
	c := apiv1.NewClient(s.url, b.Token, hc)
	reads := []func(context.Context) error{
		func(ctx context.Context) error { _, err := c.Instances(ctx); return err },
		func(ctx context.Context) error { _, err := c.Networks(ctx); return err },
		func(ctx context.Context) error { _, err := c.Host(ctx); return err },
	}
	// phase runs B for fairPhase and returns its latencies in ms.
	phase := func() (ms []float64, failed int) {
		tick := time.NewTicker(fairEvery)
		defer tick.Stop()
		end := time.Now().Add(fairPhase)
		for i := 0; time.Now().Before(end); i++ {
			<-tick.C
			t0 := time.Now()
			if err := reads[i%len(reads)](context.Background()); err != nil {
				failed++
				t.Logf("B: %v", err)
			}
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		}
		return ms, failed
	}
	phase() // warm up: the first connections, the store's pages

	var quietP50, quietP99, floodP50, floodP99, ratios []float64
	var quietAll, floodAll []float64
	failures := 0
	var floodStats []string
	for r := range fairRounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, flooded := range order {
			var stop func() string
			if flooded {
				stop = startFlood(t, s.url, a.Token)
			}
			ms, failed := phase()
			failures += failed
			p50, p99 := nearestRank(ms, 50), nearestRank(ms, 99)
			kind := "quiet"
			if flooded {
				kind = "flooded"
				floodStats = append(floodStats, stop())
				floodP50, floodP99 = append(floodP50, p50), append(floodP99, p99)
				floodAll = append(floodAll, ms...)
			} else {
				quietP50, quietP99 = append(quietP50, p50), append(quietP99, p99)
				quietAll = append(quietAll, ms...)
			}
			t.Logf("round %d %s: %d requests of B, p50 %.2f ms, p99 %.2f ms, %d failed", r+1, kind, len(ms), p50, p99, failed)
		}
		ratios = append(ratios, floodP99[r]/quietP99[r])
	}
	for i, st := range floodStats {
		t.Logf("flood %d: %s", i+1, st)
	}
	// One line for the script: medians over the rounds, and the pooled
	// percentiles of every phase of each kind.
	fmt.Printf("FAIRNESS rounds=%d quiet-p50-ms=%.2f quiet-p99-ms=%.2f flooded-p50-ms=%.2f flooded-p99-ms=%.2f p99-ratio=%.2f ratios=%s pooled-quiet-p99-ms=%.2f pooled-flooded-p99-ms=%.2f b-requests=%d b-failed=%d flood=%s\n",
		fairRounds, median(quietP50), median(quietP99), median(floodP50), median(floodP99), median(ratios),
		joinFloats(ratios), nearestRank(quietAll, 99), nearestRank(floodAll, 99), len(quietAll)+len(floodAll), failures,
		strings.Join(floodStats, ";"))
}

// nearestRank returns the p-th percentile of xs (nearest rank).
func nearestRank(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median is the middle of xs (the lower of the two middles of an even
// count).
func median(xs []float64) float64 { return nearestRank(xs, 50) }

func joinFloats(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.FormatFloat(x, 'f', 2, 64))
	}
	return strings.Join(parts, ",")
}

// startFlood starts tenant A's flood in a child process (this test binary
// running TestFairnessFlood) and returns once its connections are open.
// The returned stop ends it and returns its counts.
func startFlood(t *testing.T, url, token string) (stop func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFairnessFlood$", "-test.v")
	cmd.Env = append(os.Environ(), "IRONVISOR_FLOOD_URL="+url, "IRONVISOR_FLOOD_TOKEN="+token)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	ready := make(chan bool, 1)
	stats := make(chan string, 1)
	go func() {
		for lines.Scan() {
			l := lines.Text()
			if l == "FLOOD READY" {
				ready <- true
			} else if st, ok := strings.CutPrefix(l, "FLOOD DONE "); ok {
				stats <- st
			}
		}
		close(stats)
	}()
	select {
	case <-ready:
	case <-time.After(fairFloodReady):
		cmd.Process.Kill()
		t.Fatal("the flood did not start")
	}
	return func() string {
		in.Close() // the child stops at EOF on stdin
		st := <-stats
		if err := cmd.Wait(); err != nil {
			t.Fatalf("flood: %v", err)
		}
		return st
	}
}

// TestFairnessFlood is tenant A's flood, run by startFlood as a child
// process; it stops when its stdin ends and prints its counts.
func TestFairnessFlood(t *testing.T) {
	url, token := os.Getenv("IRONVISOR_FLOOD_URL"), os.Getenv("IRONVISOR_FLOOD_TOKEN")
	if url == "" {
		t.Skip("run by TestFairness")
	}
	mdURL, mdClient := metadataTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	var codes sync.Map // "api 429" → *atomic.Int64
	count := func(k string) {
		v, _ := codes.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	hammer := func(hc *http.Client, kind, url, token string) {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					count(kind + " error")
					time.Sleep(10 * time.Millisecond)
				}
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			count(kind + " " + strconv.Itoa(resp.StatusCode))
		}
	}
	from := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	api := &http.Client{Transport: &http.Transport{DialContext: from.DialContext,
		MaxIdleConns: fairAPIConns, MaxIdleConnsPerHost: fairAPIConns}}
	var wg sync.WaitGroup
	for range fairAPIConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hammer(api, "api", strings.TrimSuffix(url, "/")+"/v1/instances", token)
		}()
	}
	for range fairMetaConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hammer(mdClient, "metadata", mdURL+"/latest/meta-data/instance-id", "")
		}()
	}
	time.Sleep(2 * time.Second) // the connections are open and busy
	fmt.Println("FLOOD READY")
	t0 := time.Now()
	io.Copy(io.Discard, os.Stdin)
	cancel()
	wg.Wait()
	secs := time.Since(t0).Seconds()
	var parts []string
	codes.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s:%.0f/s", strings.ReplaceAll(k.(string), " ", "-"), float64(v.(*atomic.Int64).Load())/secs))
		return true
	})
	slices.Sort(parts)
	fmt.Printf("FLOOD DONE %s\n", strings.Join(parts, ","))
}

// metadataTarget starts a metadata server in a network namespace of its
// own, bound to the gateway of one network with one NIC of a running
// instance, and returns its URL and an HTTP client whose connections come
// from that namespace carrying the NIC's mark, as the bridge marks a
// guest's frames (tcp_fwmark_accept gives the accepted socket the mark).
func metadataTarget(t *testing.T) (string, *http.Client) {
	t.Helper()
	ns := netnstest.New(t)
	web := netcfg.Network{Name: "web", Tenant: "flooder", Index: 1, CIDR: netip.MustParsePrefix("10.99.0.0/24")}
	nic := netcfg.NIC{Instance: "i-flood", Network: "web", IP: netip.MustParseAddr("10.99.0.2"),
		MAC: netcfg.MACFor(web, 2).String(), Groups: []string{"any"}, HostIfName: "v-flood"}
	st := netcfg.State{Networks: []netcfg.Network{web},
		Groups: []netcfg.SecurityGroup{{Name: "any", Tenant: "flooder"}}, NICs: []netcfg.NIC{nic}}
	mark := nic.Mark(&web)
	err := netcfg.InNetNS(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			err = netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: web.Gateway().AsSlice(), Mask: net.CIDRMask(32, 32)}})
		}
		if err == nil {
			err = os.WriteFile("/proc/sys/net/ipv4/tcp_fwmark_accept", []byte("1"), 0o644)
		}
		return err
	})
	if err != nil {
		t.Fatalf("metadata namespace: %v", err)
	}
	in := lifecycle.Instance{ID: "i-flood", Image: "img-flood", State: lifecycle.Running}
	md, err := metadata.New(metadata.Config{State: func() netcfg.State { return st },
		Instance: func(string) (lifecycle.Instance, error) { return in, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := netcfg.InNetNS(ns, func() error { return md.Bind(st, metadata.Port) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark)) })
		if err != nil {
			return err
		}
		return serr
	}}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: fairMetaConns,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = netcfg.InNetNS(ns, func() (err error) {
				conn, err = d.DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		}}}
	u := "http://" + netip.AddrPortFrom(web.Gateway(), metadata.Port).String()
	// The flood must be the guest's, not a stream of 403s.
	resp, err := hc.Get(u + "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "i-flood" {
		t.Fatalf("metadata as the guest: %d %q", resp.StatusCode, body)
	}
	return u, hc
}
