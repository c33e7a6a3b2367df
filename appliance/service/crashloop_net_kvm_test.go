//go:build rack

// The network side of the crash loop (issue 10): networks, security
// groups, NIC instances, port forwards, public IPs and image uploads are
// created and deleted while the appliance is killed, and after every
// restart the kernel, the data directory and the store must match.

package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// The appliance of the crash loop runs in a network namespace of its own
// with an uplink crashUplink (crashUplinkAddr/24) and the public IP
// pool crashPool: its links and nftables tables are then exactly its
// own, whatever else runs on the host (other appliances' tables have the
// same names).
const (
	crashUplink     = "up0"
	crashUplinkAddr = "192.0.2.1/24"
	crashPool       = "192.0.2.10,192.0.2.11"
	// crashNetOwner owns the NIC instances in crashModel: no instance
	// client drives them.
	crashNetOwner = -1
	// crashTenantSpace holds every tenant network the loop creates.
	crashTenantSpace = "10.99.0.0/16"
)

// crashHost is where the crash loop's appliance runs.
type crashHost struct {
	ns     netns.NsHandle
	hc     *http.Client  // dials inside ns
	reaper *orphanReaper // reaps the VMMs of killed appliances
}

// newCrashHost creates the network namespace with lo up and the uplink.
func newCrashHost(t *testing.T) *crashHost {
	t.Helper()
	nsc := make(chan netns.NsHandle, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked if the switch back fails
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			errc <- err
			return
		}
		if err := netns.Set(orig); err != nil {
			errc <- err
			return
		}
		runtime.UnlockOSThread()
		nsc <- ns
	}()
	var ns netns.NsHandle
	select {
	case err := <-errc:
		t.Fatalf("new network namespace: %v", err)
	case ns = <-nsc:
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE) // route only: rack kernels lack xfrm
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err == nil {
		// A veth, not a dummy: kernels without the dummy module have it.
		err = h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: crashUplink}, PeerName: crashUplink + "p"})
	}
	var up netlink.Link
	if err == nil {
		up, err = h.LinkByName(crashUplink)
	}
	if err == nil {
		a, _ := netlink.ParseAddr(crashUplinkAddr)
		err = h.AddrAdd(up, a)
	}
	if err == nil {
		err = h.LinkSetUp(up)
	}
	if err == nil {
		var peer netlink.Link
		if peer, err = h.LinkByName(crashUplink + "p"); err == nil {
			err = h.LinkSetUp(peer)
		}
	}
	if err != nil {
		t.Fatalf("crash loop namespace: %v", err)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netcfg.InNetNS(ns, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &crashHost{ns: ns, hc: &http.Client{Transport: &http.Transport{DialContext: dial}}}
}

// serveArgs are the serve flags for the namespace's uplink and pool.
func (h *crashHost) serveArgs() []string {
	return []string{"--uplink", crashUplink, "--public-ips", crashPool}
}

// crashEnvInt returns the integer in environment variable name, or def.
func crashEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// netClient creates and deletes, in rounds, one of each network object
// of its tenant (a network, a security group, a NIC instance in them, a
// port forward and a public IP to it) and an image upload, until the
// kill. Each round first deletes what the last one (or a kill) left.
type netClient struct {
	m            *crashModel
	c, admin     apiClient
	kernel, rd   string // image parts to upload
	seq, rounds  int
	nicInstances int
	// steps gets the name of each step of a round as it is acknowledged
	// (netSteps); a send never blocks. The loop sets it before each run.
	steps chan string
}

// netSteps are the steps of a round, in order: the loop kills the
// appliance just after one of them on every other kill, so that each is
// cut off at times however slow the host is (in the rack, a round takes
// longer than a random kill delay allows).
var netSteps = []string{"clean", "network", "group", "upload", "nic launch", "forward", "public ip"}

// step reports step as acknowledged.
func (n *netClient) step(name string) {
	select {
	case n.steps <- name:
	default:
	}
}

// waitStep waits until step name is reported, at most within.
func (n *netClient) waitStep(name string, within time.Duration) {
	deadline := time.After(within)
	for {
		select {
		case s := <-n.steps:
			if s == name {
				return
			}
		case <-deadline:
			return
		}
	}
}

// run drives rounds until ctx ends.
func (n *netClient) run(ctx context.Context, r *rand.Rand) {
	for ctx.Err() == nil {
		if err := n.clean(ctx); err != nil {
			pause(ctx, 50*time.Millisecond)
			continue
		}
		n.step("clean")
		n.round(ctx, r)
	}
}

// pause waits for d or the end of ctx.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// round creates one of each object; it stops at the first failure.
func (n *netClient) round(ctx context.Context, r *rand.Rand) {
	n.seq++
	name := fmt.Sprintf("n%d", n.seq)
	cidr := fmt.Sprintf("10.99.%d.0/24", n.seq%250)
	code, err := n.c.do(ctx, "POST", "/v1/networks", map[string]any{"name": name, "cidr": cidr}, nil)
	n.m.count("network", code, err)
	if err != nil {
		return
	}
	n.step("network")
	group := "g" + name
	code, err = n.c.do(ctx, "POST", "/v1/security-groups", map[string]any{"name": group,
		"ingress": []map[string]any{{"proto": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}}}, nil)
	n.m.count("group", code, err)
	if err != nil {
		return
	}
	n.step("group")
	code, err = n.upload(ctx, "up"+name)
	n.m.count("upload", code, err)
	if err == nil {
		n.step("upload")
	}
	if err != nil || r.IntN(4) == 0 {
		return // sometimes a round ends with no instance
	}
	var id string
	deadline := time.Now().Add(3 * time.Second)
	for id == "" && ctx.Err() == nil && time.Now().Before(deadline) {
		var got []instance
		code, err = n.c.do(ctx, "POST", "/v1/instances", map[string]any{"image": "tiny", "type": "nano",
			"network": name, "security_groups": []string{group}}, &got)
		n.m.count("nic launch", code, err)
		switch {
		case err == nil && len(got) == 1:
			id = got[0].ID
			n.m.mu.Lock()
			n.m.insts[id] = &crashInst{id: id, owner: crashNetOwner, state: got[0].State}
			n.m.launched++
			n.nicInstances++
			n.m.mu.Unlock()
			n.step("nic launch")
		case code == http.StatusConflict: // InsufficientCapacity: the instance clients hold it
			pause(ctx, 100*time.Millisecond)
		default:
			return
		}
	}
	if id == "" {
		return
	}
	n.m.settle(ctx, n.c, id)
	code, err = n.c.do(ctx, "POST", "/v1/port-forwards", map[string]any{"instance": id, "proto": "tcp",
		"public_port": 8000 + n.seq%1000, "port": 80}, nil)
	n.m.count("forward", code, err)
	if err != nil {
		return
	}
	n.step("forward")
	code, err = n.c.do(ctx, "POST", "/v1/public-ips", map[string]any{"instance": id}, nil)
	n.m.count("public ip", code, err)
	if err == nil {
		n.step("public ip")
		n.rounds++
	}
}

// upload sends an image (a tiny kernel and an initrd) as the admin.
func (n *netClient) upload(ctx context.Context, name string) (int, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", name)
	mw.WriteField("cmdline", "console=ttyS0")
	for part, path := range map[string]string{"kernel": n.kernel, "initrd": n.rd} {
		w, err := mw.CreateFormFile(part, filepath.Base(path))
		if err != nil {
			return 0, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		w.Write(b)
	}
	mw.Close()
	return n.admin.raw(ctx, "POST", "/v1/images", mw.FormDataContentType(), &body, nil)
}

// clean deletes everything of the tenant and every image but "tiny":
// public IPs, port forwards, instances (terminated), security groups,
// networks. It returns the first failure.
func (n *netClient) clean(ctx context.Context) error {
	var pips []struct{ Address string }
	if _, err := n.c.do(ctx, "GET", "/v1/public-ips", nil, &pips); err != nil {
		return err
	}
	for _, p := range pips {
		if err := n.del(ctx, n.c, "public ip delete", "/v1/public-ips/"+p.Address); err != nil {
			return err
		}
	}
	var fwds []struct{ ID string }
	if _, err := n.c.do(ctx, "GET", "/v1/port-forwards", nil, &fwds); err != nil {
		return err
	}
	for _, f := range fwds {
		if err := n.del(ctx, n.c, "forward delete", "/v1/port-forwards/"+f.ID); err != nil {
			return err
		}
	}
	var insts []instance
	if _, err := n.c.do(ctx, "GET", "/v1/instances", nil, &insts); err != nil {
		return err
	}
	for _, in := range insts {
		if in.State == "terminated" {
			continue
		}
		n.m.mu.Lock()
		k := n.m.insts[in.ID]
		if k == nil { // launched, but the answer was lost
			k = &crashInst{id: in.ID, owner: crashNetOwner}
			n.m.insts[in.ID] = k
		}
		k.termSent = true
		n.m.mu.Unlock()
		var got instance
		code, err := n.c.do(ctx, "DELETE", "/v1/instances/"+in.ID, nil, &got)
		n.m.count("nic terminate", code, err)
		if err != nil {
			return err
		}
		n.m.mu.Lock()
		k.state, k.termAcked = got.State, got.State == "terminated"
		n.m.mu.Unlock()
	}
	for _, list := range []struct{ path, op string }{{"/v1/security-groups", "group delete"}, {"/v1/networks", "network delete"}} {
		var objs []struct{ Name string }
		if _, err := n.c.do(ctx, "GET", list.path, nil, &objs); err != nil {
			return err
		}
		for _, o := range objs {
			if err := n.del(ctx, n.c, list.op, list.path+"/"+o.Name); err != nil {
				return err
			}
		}
	}
	var imgs []struct{ ID, Name string }
	if _, err := n.admin.do(ctx, "GET", "/v1/images", nil, &imgs); err != nil {
		return err
	}
	for _, im := range imgs {
		if im.Name != "tiny" {
			if err := n.del(ctx, n.admin, "image delete", "/v1/images/"+im.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// del sends one DELETE; gone already (404) is done.
func (n *netClient) del(ctx context.Context, c apiClient, op, path string) error {
	code, err := c.do(ctx, "DELETE", path, nil, nil)
	n.m.count(op, code, err)
	if code == http.StatusNotFound {
		return nil
	}
	return err
}

// cleanAll runs clean until it succeeds (the rate limits may refuse for
// a moment), within a minute.
func (n *netClient) cleanAll(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := n.clean(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("delete the network client's objects: %v", err)
		}
		pause(ctx, 200*time.Millisecond)
	}
}

// crashNetBuckets are the store's buckets of what the network client
// creates and deletes, with the most records each may hold at a kill: one
// round's worth (clean runs before every round), and the image "tiny".
var crashNetBuckets = map[store.Bucket]int{
	store.Networks: 1, store.SecurityGroups: 1, store.PortForwards: 1, store.PublicIPs: 1, store.Images: 2,
}

// storeCounts reads the store of the stopped appliance: the records of
// each bucket, and of instances those not terminated ("instances live").
func storeCounts(t *testing.T, data string) map[string]int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(data, "state.db"), 0, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open the store of the killed appliance: %v", err)
	}
	defer db.Close()
	out := map[string]int{}
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range store.Buckets {
			bk := tx.Bucket([]byte(b))
			if bk == nil {
				continue
			}
			err := bk.ForEach(func(k, v []byte) error {
				out[string(b)]++
				if b == store.Instances {
					var in struct{ State string }
					if json.Unmarshal(v, &in) == nil && in.State != "terminated" {
						out["instances live"]++
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkStoreCounts fails when a bucket of crashNetBuckets holds more than
// a round can leave, or when the fixed records (tenants, tokens, types,
// key pairs, access keys) changed since first.
func checkStoreCounts(t *testing.T, got, first map[string]int, kill int) {
	t.Helper()
	for b, most := range crashNetBuckets {
		if got[string(b)] > most {
			t.Fatalf("after kill %d the store holds %d %s records, a round leaves at most %d: deletes leak", kill, got[string(b)], b, most)
		}
	}
	for _, b := range []store.Bucket{store.Tenants, store.Tokens, store.InstanceTypes, store.KeyPairs, store.AccessKeys} {
		if got[string(b)] != first[string(b)] {
			t.Fatalf("after kill %d the store holds %d %s records, %d after the first kill", kill, got[string(b)], b, first[string(b)])
		}
	}
	// Each instance client keeps at most crashPerClient, plus one launch
	// cut off by the kill; the network client one NIC instance.
	if most := crashClients*(crashPerClient+1) + 2; got["instances live"] > most {
		t.Fatalf("after kill %d the store holds %d instances not terminated, at most %d can be", kill, got["instances live"], most)
	}
}

// netView is what the network check reads from the API after a restart.
type netView struct {
	insts    map[string]instance
	networks []netcfg.Network
	forwards []struct{ ID, Instance string }
	pips     []struct{ Address, Instance string }
	images   []struct{ ID, Name string }
}

// readNetView lists the objects the network check compares.
func readNetView(t *testing.T, admin, tenant apiClient, list []instance) netView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v := netView{insts: map[string]instance{}}
	for _, in := range list {
		v.insts[in.ID] = in
	}
	for _, q := range []struct {
		c    apiClient
		path string
		out  any
	}{{tenant, "/v1/networks", &v.networks}, {tenant, "/v1/port-forwards", &v.forwards},
		{tenant, "/v1/public-ips", &v.pips}, {admin, "/v1/images", &v.images}} {
		if _, err := q.c.do(ctx, "GET", q.path, nil, q.out); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// String describes the networks and the instances in them, for failures.
func (v netView) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "networks %+v; instances in networks:", v.networks)
	for _, in := range v.insts {
		if in.Network != "" {
			fmt.Fprintf(&b, " %s %s %q %v;", in.ID, in.State, in.Network, in.IPs)
		}
	}
	return b.String()
}

// nicOf returns the running NIC of instance in on its network in v, as
// netcfg names it, or false.
func (v netView) nicOf(in instance) (netcfg.NIC, *netcfg.Network, bool) {
	if in.State != "running" || in.Network == "" || len(in.IPs) == 0 {
		return netcfg.NIC{}, nil, false
	}
	for i := range v.networks {
		if v.networks[i].Name == in.Network {
			ip, err := netip.ParseAddr(in.IPs[0])
			if err != nil {
				return netcfg.NIC{}, nil, false
			}
			return netcfg.NIC{Instance: in.ID, Network: in.Network, IP: ip}, &v.networks[i], true
		}
	}
	return netcfg.NIC{}, nil, false
}

// checkNet verifies, after a restart with no client running, that the
// host matches the store: the links, the nftables rules, the public
// addresses on the uplink, the files under data, the forwards and public
// IPs.
func checkNet(t *testing.T, h *crashHost, data string, v netView) {
	t.Helper()
	// Forwards and public IPs name only live instances.
	for _, f := range v.forwards {
		if in, ok := v.insts[f.Instance]; !ok || in.State == "terminated" {
			t.Fatalf("port forward %s names instance %s, which is %q", f.ID, f.Instance, in.State)
		}
	}
	live := map[string]bool{} // public IPs that must be in the kernel
	for _, p := range v.pips {
		in, ok := v.insts[p.Instance]
		if !ok || in.State == "terminated" {
			t.Fatalf("public IP %s names instance %s, which is %q", p.Address, p.Instance, in.State)
		}
		if in.State == "running" {
			live[p.Address] = true
		}
	}

	// Links: a bridge per network, a tap per running NIC, nothing else.
	st := netcfg.State{Networks: v.networks}
	wantLinks := map[string]bool{}
	marks := map[uint32]bool{}
	nicIPs := map[netip.Addr]bool{}
	for _, n := range v.networks {
		wantLinks[n.Bridge()] = true
	}
	for _, in := range v.insts {
		if c, n, ok := v.nicOf(in); ok {
			st.NICs = append(st.NICs, c)
			marks[c.Mark(n)] = true
			nicIPs[c.IP] = true
		}
	}
	for _, c := range st.NICs {
		wantLinks[st.TapName(c.Instance, c.Network)] = true
	}
	nl, err := netlink.NewHandleAt(h.ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	gotLinks := map[string]bool{}
	var uplinkAddrs []string
	for _, l := range links {
		name := l.Attrs().Name
		if strings.HasPrefix(name, netcfg.BridgePrefix) || strings.HasPrefix(name, netcfg.TapPrefix) {
			gotLinks[name] = true
		}
		if name == crashUplink {
			addrs, err := nl.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range addrs {
				if s := a.IP.String(); s != strings.Split(crashUplinkAddr, "/")[0] {
					uplinkAddrs = append(uplinkAddrs, s)
				}
			}
		}
	}
	if got, want := slices.Sorted(maps.Keys(gotLinks)), slices.Sorted(maps.Keys(wantLinks)); !slices.Equal(got, want) {
		t.Fatalf("links %v, the store's networks and running NICs need %v (%s)", got, want, v)
	}
	if slices.Sort(uplinkAddrs); !slices.Equal(uplinkAddrs, slices.Sorted(maps.Keys(live))) {
		t.Fatalf("public addresses on the uplink %v, public IPs of running instances %v", uplinkAddrs, slices.Sorted(maps.Keys(live)))
	}

	// nftables: every link, mark and tenant or pool address a rule or set
	// names belongs to the store's state.
	refs := readNftRefs(t, h.ns)
	for name := range refs.ifnames {
		if !gotLinks[name] {
			t.Fatalf("an nftables rule names link %s, which the store has no network or running NIC for", name)
		}
	}
	for m := range refs.marks {
		if !marks[m] {
			t.Fatalf("an nftables rule names mark %#x, which no running NIC has (%v)", m, slices.Sorted(maps.Keys(marks)))
		}
	}
	space := netip.MustParsePrefix(crashTenantSpace)
	pool := map[netip.Addr]bool{}
	for _, a := range strings.Split(crashPool, ",") {
		pool[netip.MustParseAddr(a)] = true
	}
	for a := range refs.addrs {
		switch {
		case pool[a] && !live[a.String()]:
			t.Fatalf("an nftables rule names public IP %s, which no running instance holds", a)
		case space.Contains(a) && !inNetworks(a, v.networks, nicIPs):
			t.Fatalf("an nftables rule names address %s, which is no network, gateway or running NIC of the store", a)
		}
	}

	checkFiles(t, data, v)
}

// inNetworks reports whether a is a network's own address (network,
// gateway, broadcast, or within a prefix the rules match) or a running
// NIC's address.
func inNetworks(a netip.Addr, nets []netcfg.Network, nics map[netip.Addr]bool) bool {
	if nics[a] {
		return true
	}
	for _, n := range nets {
		if !n.CIDR.Contains(a) {
			continue
		}
		off := a.As4()[3] - n.CIDR.Masked().Addr().As4()[3]
		return off == 0 || off == 1 || off == 255
	}
	return false
}

// checkFiles compares the data directory with the store: an image
// directory per image record, a volume per instance not terminated, a
// lease pool per network with leases only of its live instances, and no
// temporary file anywhere.
func checkFiles(t *testing.T, data string, v netView) {
	t.Helper()
	imgs := map[string]bool{}
	for _, im := range v.images {
		imgs[im.ID] = true
	}
	ents, err := os.ReadDir(filepath.Join(data, "images"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		dirs = append(dirs, e.Name())
	}
	if slices.Sort(dirs); !slices.Equal(dirs, slices.Sorted(maps.Keys(imgs))) {
		t.Fatalf("images/ holds %v, the store's images are %v", dirs, slices.Sorted(maps.Keys(imgs)))
	}
	vols, err := os.ReadDir(filepath.Join(data, "volumes"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range vols {
		id, ok := strings.CutSuffix(e.Name(), ".img")
		if in, known := v.insts[id]; !ok || !known || in.State == "terminated" {
			t.Fatalf("volumes/ holds %s, which no instance that is not terminated owns", e.Name())
		}
	}
	pools, err := os.ReadDir(filepath.Join(data, NetDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	want := map[string]netcfg.Network{}
	for _, n := range v.networks {
		want[netcfg.TenantName(n.Tenant, n.Name)+".json"] = n
	}
	var got []string
	for _, e := range pools {
		got = append(got, e.Name())
		n, ok := want[e.Name()]
		if !ok {
			continue // reported below
		}
		p, err := netcfg.LoadPool(filepath.Join(data, NetDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range p.Leases {
			in, ok := v.insts[l.Instance]
			if !ok || in.State == "terminated" || in.Network != n.Name {
				t.Fatalf("network %s leases %s to instance %s, which is %q in network %q", n.Name, l.IP, l.Instance, in.State, in.Network)
			}
		}
	}
	// A pool file is written when a network's first lease is taken.
	for _, g := range got {
		if _, ok := want[g]; !ok {
			t.Fatalf("%s/ holds %s, which is no network of the store (%v)", NetDir, g, slices.Sorted(maps.Keys(want)))
		}
	}
}

// nftRefs are the links, marks and IPv4 addresses Ironvisor's nftables
// tables name.
type nftRefs struct {
	ifnames map[string]bool
	marks   map[uint32]bool
	addrs   map[netip.Addr]bool
}

// readNftRefs reads Ironvisor's tables in ns: the elements of every set
// and map, and what each rule compares with a link name, a mark or an
// IPv4 address, sets as a mark or translates to.
func readNftRefs(t *testing.T, ns netns.NsHandle) nftRefs {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	r := nftRefs{ifnames: map[string]bool{}, marks: map[uint32]bool{}, addrs: map[netip.Addr]bool{}}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChains()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name != "ironvisor" && tb.Name != "ironvisor_nat" {
			continue
		}
		sets, err := c.GetSets(tb)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sets {
			els, err := c.GetSetElements(s)
			if err != nil {
				t.Fatal(err)
			}
			key := s.KeyType.Name
			if key == "verdict" {
				// The library reads a verdict map's data type into
				// KeyType: take the key type netcfg gives the map.
				key = verdictMapKeys[s.Name]
			}
			for _, e := range els {
				if e.IntervalEnd {
					continue // one past a range: not an address of it
				}
				r.typed(key, e.Key)
				if s.IsMap {
					r.typed(s.DataType.Name, e.Val)
				}
			}
		}
		for _, ch := range chains {
			if ch.Table.Name != tb.Name || ch.Table.Family != tb.Family {
				continue
			}
			rules, err := c.GetRules(tb, ch)
			if err != nil {
				t.Fatal(err)
			}
			for _, rule := range rules {
				r.rule(rule.Exprs)
			}
		}
	}
	return r
}

// verdictMapKeys are the key types of netcfg's verdict maps (nft_filter.go).
var verdictMapKeys = map[string]string{"egress": "mark", "ingress": "ipv4_addr"}

// typeBytes is the register space of each data type a key or value is
// concatenated from (each part is padded to 4 bytes).
var typeBytes = map[string]int{"ifname": 16, "ether_addr": 8, "ipv4_addr": 4, "mark": 4, "inet_service": 4, "inet_proto": 4, "verdict": 4}

// typed records what data of type typ ("ifname . ether_addr" for a
// concatenation) names.
func (r nftRefs) typed(typ string, data []byte) {
	for _, part := range strings.Split(typ, " . ") {
		n, ok := typeBytes[part]
		if !ok || len(data) < min(n, 4) {
			return
		}
		d := data[:min(n, len(data))]
		data = data[len(d):]
		switch part {
		case "ifname":
			r.ifname(d)
		case "mark":
			r.mark(d)
		case "ipv4_addr":
			r.addrs[netip.AddrFrom4([4]byte(d[:4]))] = true
		}
	}
}

// ifname records a link name with Ironvisor's prefixes (not a prefix
// match of them alone).
func (r nftRefs) ifname(d []byte) {
	s := string(bytes.TrimRight(d, "\x00"))
	for _, p := range []string{netcfg.TapPrefix, netcfg.BridgePrefix} {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			r.ifnames[s] = true
		}
	}
}

// mark records a NIC mark (the flag bit set); other marks are not NICs'.
func (r nftRefs) mark(d []byte) {
	if len(d) < 4 {
		return
	}
	if m := binary.NativeEndian.Uint32(d); m&(1<<31) != 0 && m != 1<<31 {
		r.marks[m] = true
	}
}

// rule records what one rule's expressions name, following which
// register holds a link name, a mark or an IPv4 address.
func (r nftRefs) rule(exprs []expr.Any) {
	kind := map[uint32]string{}
	imm := map[uint32][]byte{}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			switch {
			case e.SourceRegister && e.Key == expr.MetaKeyMARK:
				r.mark(imm[e.Register])
			case e.Key == expr.MetaKeyMARK:
				kind[e.Register] = "mark"
			case e.Key == expr.MetaKeyIIFNAME || e.Key == expr.MetaKeyOIFNAME || e.Key == expr.MetaKeyBRIIIFNAME || e.Key == expr.MetaKeyBRIOIFNAME:
				kind[e.Register] = "ifname"
			default:
				delete(kind, e.Register)
			}
		case *expr.Payload:
			if e.Base == expr.PayloadBaseNetworkHeader && e.Len == 4 && (e.Offset == 12 || e.Offset == 16) {
				kind[e.DestRegister] = "ipv4_addr"
			} else {
				delete(kind, e.DestRegister)
			}
		case *expr.Bitwise:
			// A masked mark is a test of bits, not a NIC's; a masked
			// address is a prefix, still in its network.
			if kind[e.SourceRegister] == "ipv4_addr" {
				kind[e.DestRegister] = "ipv4_addr"
			} else {
				delete(kind, e.DestRegister)
			}
		case *expr.Cmp:
			if k := kind[e.Register]; k != "" {
				r.typed(k, e.Data)
			} else {
				r.ifname(e.Data) // an ifname compared some other way
			}
		case *expr.Immediate:
			imm[e.Register] = e.Data
		case *expr.NAT:
			if e.RegAddrMin != 0 && len(imm[e.RegAddrMin]) == 4 {
				r.typed("ipv4_addr", imm[e.RegAddrMin])
			}
		}
	}
}

// raw sends a request with a body of content type ct.
func (c apiClient) raw(ctx context.Context, method, path, ct string, body io.Reader, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.url, "/")+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ct)
	return c.send(req, out)
}
