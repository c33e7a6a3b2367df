package netcfg

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"testing"
	"time"
)

// benchState has n instances on one /16 network, each with its own group of
// five ingress rules, plus a shared group and one egress rule.
func benchState(n int, port uint16) State {
	nw := Network{Name: "bench", Tenant: "t", Index: 7, CIDR: netip.MustParsePrefix("10.7.0.0/16")}
	st := State{Networks: []Network{nw}, Uplink: Uplink{ManagementPorts: []uint16{8443}},
		Metadata: MetadataTarget{Addr: netip.IPv4Unspecified(), Port: 8775}}
	st.Groups = append(st.Groups, SecurityGroup{Name: "shared", Tenant: "t",
		Ingress: []Rule{{Proto: ProtoAll, Group: "shared"}},
		Egress:  []Rule{{Proto: ProtoAll, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}})
	for i := range n {
		g := SecurityGroup{Name: fmt.Sprintf("sg%d", i), Tenant: "t", Ingress: []Rule{
			{Proto: ProtoTCP, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("192.0.2.0/24")},
			{Proto: ProtoTCP, FromPort: port, ToPort: port + 10, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			{Proto: ProtoUDP, FromPort: 53, ToPort: 53, CIDR: netip.MustParsePrefix("10.0.0.0/8")},
			{Proto: ProtoICMP, CIDR: netip.MustParsePrefix("10.7.0.0/16")},
			{Proto: ProtoTCP, FromPort: 443, ToPort: 443, Group: "shared"},
		}}
		st.Groups = append(st.Groups, g)
		off := uint32(2 + i)
		ip := addrFrom32(be32(nw.CIDR.Addr()) + off)
		st.NICs = append(st.NICs, NIC{Instance: fmt.Sprintf("i%d", i), Network: nw.Name, IP: ip,
			MAC: MACFor(nw, off).String(), Groups: []string{g.Name, "shared"}})
	}
	return st
}

// BenchmarkReconcile measures Reconcile with n instances × 5 rules:
// "cold" creates the bridge, n taps and the ruleset in a fresh namespace;
// "rules" rebuilds the ruleset after a rule change (links unchanged);
// "noop" is the idempotent second run.
func BenchmarkReconcile(b *testing.B) {
	needRoot(b)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		b.Skip("SKIP: no /dev/net/tun for taps")
	}
	for _, n := range []int{1, 200} {
		b.Run(fmt.Sprintf("instances=%d/cold", n), func(b *testing.B) {
			st := benchState(n, 8000)
			for b.Loop() {
				b.StopTimer()
				l := newLab(b)
				b.StartTimer()
				l.reconcile(b, st)
			}
		})
		b.Run(fmt.Sprintf("instances=%d/rules", n), func(b *testing.B) {
			l := newLab(b)
			states := []State{benchState(n, 8000), benchState(n, 9000)}
			l.reconcile(b, states[0])
			i := 0
			for b.Loop() {
				i++
				if ch := l.reconcile(b, states[i%2]); len(ch) != 1 {
					b.Fatalf("changed %v", ch)
				}
			}
		})
		b.Run(fmt.Sprintf("instances=%d/noop", n), func(b *testing.B) {
			l := newLab(b)
			st := benchState(n, 8000)
			l.reconcile(b, st)
			for b.Loop() {
				if ch := l.reconcile(b, st); len(ch) != 0 {
					b.Fatalf("changed %v", ch)
				}
			}
		})
	}
}

// transfer sends size bytes from g1 to a sink on g2:5001 and returns the
// throughput in MB/s.
func transfer(b testing.TB, w *world, ln net.Listener, size int) float64 {
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != int64(size) {
			err = fmt.Errorf("received %d of %d bytes", n, size)
		}
		done <- err
	}()
	var c net.Conn
	must(b, in(w.g1.ns, func() (err error) { c, err = net.DialTimeout("tcp4", "10.1.0.3:5001", time.Second); return err }))
	start := time.Now()
	buf := make([]byte, 256<<10)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	for sent := 0; sent < size; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	must(b, <-done)
	return float64(size) / time.Since(start).Seconds() / 1e6
}

// BenchmarkBridgeThroughput measures TCP between two veth guests on one
// bridge with the full ruleset loaded and with no rules at all, in
// alternating rounds of the same run, and reports the median of each and
// their ratio (rules/none; 1.0 means no overhead).
func BenchmarkBridgeThroughput(b *testing.B) {
	w := newWorld(b)
	var ln net.Listener
	must(b, in(w.g2.ns, func() (err error) { ln, err = net.Listen("tcp4", "10.1.0.3:5001"); return err }))
	defer ln.Close()
	// Let g1 reach g2's sink port through the groups.
	w.st.Groups[0].Ingress = append(w.st.Groups[0].Ingress, Rule{Proto: ProtoTCP, FromPort: 5001, ToPort: 5001, CIDR: netip.MustParsePrefix("10.1.0.0/24")})
	w.reconcile(b, w.st)
	const size = 128 << 20
	var with, without []float64
	for b.Loop() {
		w.reconcile(b, w.st)
		with = append(with, transfer(b, w, ln, size))
		if _, err := removeRules(w.host.nft); err != nil {
			b.Fatal(err)
		}
		without = append(without, transfer(b, w, ln, size))
	}
	mw, mo := median(with), median(without)
	b.ReportMetric(mw, "MB/s-rules")
	b.ReportMetric(mo, "MB/s-none")
	b.ReportMetric(mw/mo, "ratio")
	if _, err := w.host.Reconcile(context.Background(), w.st); err != nil {
		b.Fatal(err)
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkAttach measures one NIC attach and its detach on hosts that
// already have 0, 10, 100 and 200 attached NICs, through the per-NIC path
// that the orchestrator takes (AttachNIC, which creates the tap and adds
// the NIC's rules; DetachNIC, which deletes them) and, for comparison,
// through a full Reconcile with and without the NIC. The hosts are set
// up side by side and every round visits each of them in turn, starting
// one host further each round, so that the medians and the ratio to the
// empty host (ratio-attach-N = median per-NIC attach at N / at 0) come
// from one run.
func BenchmarkAttach(b *testing.B) {
	needRoot(b)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		b.Skip("SKIP: no /dev/net/tun for taps")
	}
	ctx := context.Background()
	sizes := []int{0, 10, 100, 200}
	labs := make([]*lab, len(sizes))
	base, plus := make([]State, len(sizes)), make([]State, len(sizes))
	for i, n := range sizes {
		labs[i] = newLab(b)
		plus[i] = benchState(n+1, 8000)
		base[i] = plus[i]
		base[i].NICs = base[i].NICs[:n]
		labs[i].reconcile(b, base[i])
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	attach, detach := make([][]float64, len(sizes)), make([][]float64, len(sizes))
	rattach, rdetach := make([][]float64, len(sizes)), make([][]float64, len(sizes))
	for round := 0; b.Loop(); round++ {
		for k := range sizes {
			i := (round + k) % len(sizes) // rotate which host goes first
			c := plus[i].NICs[sizes[i]]
			t0 := time.Now()
			if _, err := labs[i].host.AttachNIC(ctx, c); err != nil {
				b.Fatalf("attach at %d: %v", sizes[i], err)
			}
			t1 := time.Now()
			if _, err := labs[i].host.DetachNIC(ctx, c.Instance, c.Network); err != nil {
				b.Fatalf("detach at %d: %v", sizes[i], err)
			}
			t2 := time.Now()
			labs[i].reconcile(b, plus[i])
			t3 := time.Now()
			labs[i].reconcile(b, base[i])
			t4 := time.Now()
			attach[i], detach[i] = append(attach[i], ms(t1.Sub(t0))), append(detach[i], ms(t2.Sub(t1)))
			rattach[i], rdetach[i] = append(rattach[i], ms(t3.Sub(t2))), append(rdetach[i], ms(t4.Sub(t3)))
		}
	}
	for i, n := range sizes {
		b.ReportMetric(median(attach[i]), fmt.Sprintf("ms-attach-%d", n))
		b.ReportMetric(median(detach[i]), fmt.Sprintf("ms-detach-%d", n))
		b.ReportMetric(median(rattach[i]), fmt.Sprintf("ms-reconcile-attach-%d", n))
		b.ReportMetric(median(rdetach[i]), fmt.Sprintf("ms-reconcile-detach-%d", n))
		if n > 0 {
			b.ReportMetric(median(attach[i])/median(attach[0]), fmt.Sprintf("ratio-attach-%d", n))
			b.ReportMetric(median(rattach[i])/median(rattach[0]), fmt.Sprintf("ratio-reconcile-attach-%d", n))
		}
	}
}
