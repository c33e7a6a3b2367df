package rackboot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pin/tftp/v3"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

func newRegistry(t *testing.T, path string) *Registry {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewRegistry(db, netip.MustParsePrefix("10.77.0.1/29"))
}

// TestLeasesStablePerMACAcrossRestart: a MAC keeps its address, across a
// reopened store, and two MACs never share one; the pool skips the box's
// own, the network and the broadcast address.
func TestLeasesStablePerMACAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	r := newRegistry(t, path)
	_, a1, err := r.Lease("52:54:00:00:00:01")
	if err != nil {
		t.Fatal(err)
	}
	_, a2, _ := r.Lease("52:54:00:00:00:02")
	if a1.String() != "10.77.0.2" || a2.String() != "10.77.0.3" {
		t.Fatalf("leases %v %v, want .2 and .3", a1, a2)
	}
	r.db.Close()
	r = newRegistry(t, path)
	if _, again, _ := r.Lease("52:54:00:00:00:01"); again != a1 {
		t.Fatalf("after a restart %v, want %v", again, a1)
	}
	for i := 3; i <= 6; i++ {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, byte(i)}.String()
		_, a, err := r.Lease(mac)
		if i <= 6-1 && err != nil {
			t.Fatalf("lease %d: %v", i, err)
		}
		if i == 6 && !errors.Is(err, apiv1.LimitExceeded) {
			t.Fatalf("lease past the pool: %v, %v; want LimitExceeded", a, err)
		}
		if a.String() == "10.77.0.7" || a.String() == "10.77.0.1" {
			t.Fatalf("leased %v", a)
		}
	}
}

// TestPutChecksAndPins: a pinned address is the machine's lease; bad
// input is refused and changes nothing.
func TestPutChecksAndPins(t *testing.T) {
	r := newRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	m, err := r.Put("52-54-00-AA-BB-CC", apiv1.RackMachineRequest{Address: "10.77.0.5", Hostname: "n1", PublicIPs: "203.0.113.8/30"})
	if err != nil || m.MAC != "52:54:00:aa:bb:cc" || m.Address != "10.77.0.5" || !m.Configured {
		t.Fatalf("%+v, %v", m, err)
	}
	if _, a, _ := r.Lease("52:54:00:aa:bb:cc"); a.String() != "10.77.0.5" {
		t.Fatalf("lease %v, want the pinned 10.77.0.5", a)
	}
	bad := []struct {
		mac string
		q   apiv1.RackMachineRequest
	}{
		{"nope", apiv1.RackMachineRequest{}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Address: "10.77.0.1"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Address: "10.77.0.7"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Address: "10.78.0.2"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Address: "10.77.0.5"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Hostname: "-bad-"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{API: "10.77.0.2:99999"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Data: "/etc/passwd"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Cmdline: "a\" b"}},
		{"52:54:00:00:00:09", apiv1.RackMachineRequest{Cmdline: "a\nb"}},
	}
	for _, b := range bad {
		if _, err := r.Put(b.mac, b.q); err == nil {
			t.Errorf("Put(%q, %+v) accepted", b.mac, b.q)
		}
	}
	if ms, _ := r.List(); len(ms) != 1 {
		t.Fatalf("%d machines after bad requests, want 1", len(ms))
	}
	if err := r.Delete("52:54:00:aa:bb:cc"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("52:54:00:aa:bb:cc"); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

func discover(t *testing.T, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testDHCP(t *testing.T) *DHCP {
	r := newRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	return &DHCP{Server: r.Net(), ScriptURL: (&Boot{Base: "http://10.77.0.1:80"}).ScriptURL,
		Lease: func(mac string) (netip.Addr, error) { _, a, err := r.Lease(mac); return a, err }}
}

// TestDHCPAnswersPXEAndIPXE: plain PXE firmware is sent to TFTP for the
// iPXE binary of its architecture; iPXE gets its script's URL; the
// appliance's own client gets an address and no boot file.
func TestDHCPAnswersPXEAndIPXE(t *testing.T) {
	d := testDHCP(t)
	pxe := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	cases := []struct {
		name string
		req  *dhcpv4.DHCPv4
		file string
	}{
		{"bios", discover(t, pxe, dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))), IPXEBIOS},
		{"uefi", discover(t, pxe, dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64))), IPXEEFI},
		{"ipxe", discover(t, pxe, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))), "http://10.77.0.1:80/rack/ipxe/52-54-00-00-00-01"},
		{"linux", discover(t), ""},
	}
	for _, c := range cases {
		rep, err := d.Reply(c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.MessageType() != dhcpv4.MessageTypeOffer || rep.YourIPAddr.String() != "10.77.0.2" {
			t.Errorf("%s: %v for %v", c.name, rep.MessageType(), rep.YourIPAddr)
		}
		if got := rep.BootFileNameOption(); got != c.file {
			t.Errorf("%s: boot file %q, want %q", c.name, got, c.file)
		}
		if c.file == IPXEBIOS && (rep.TFTPServerName() != "10.77.0.1" || !rep.ServerIPAddr.Equal(net.IPv4(10, 77, 0, 1))) {
			t.Errorf("%s: tftp server %q siaddr %v", c.name, rep.TFTPServerName(), rep.ServerIPAddr)
		}
	}
}

// TestDHCPRequestOtherAddressNaks and ignores requests for other servers.
func TestDHCPRequestOtherAddressNaks(t *testing.T) {
	d := testDHCP(t)
	off, _ := d.Reply(discover(t))
	req, _ := dhcpv4.NewRequestFromOffer(off)
	if ack, err := d.Reply(req); err != nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("request of the offer: %v, %v", ack, err)
	}
	req.UpdateOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 77, 0, 6)))
	if nak, err := d.Reply(req); err != nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("request of another address: %v, %v", nak, err)
	}
	req.UpdateOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 0, 9)))
	if _, err := d.Reply(req); !errors.Is(err, errIgnore) {
		t.Fatalf("request to another server: %v", err)
	}
}

// TestScriptCarriesConfig: the script boots this box's files with the
// machine's keys, and the inherited words of the box's own command line.
func TestScriptCarriesConfig(t *testing.T) {
	m := apiv1.RackMachine{MAC: "52:54:00:00:00:01", Address: "10.77.0.2", Hostname: "n1", Data: "tmpfs", PublicIPs: "203.0.113.8", Cmdline: "ironvisor.watchdog=off"}
	s := Script("http://10.77.0.1:80", m, "BOOT_IMAGE=/x console=ttyS0 ironvisor.rack=on ironvisor.hostname=boot tsc=reliable -- init-arg")
	for _, want := range []string{
		"#!ipxe\n",
		"kernel http://10.77.0.1:80/rack/vmlinuz console=ttyS0 tsc=reliable ironvisor.hostname=n1 ironvisor.api=10.77.0.2:8080 ironvisor.data=tmpfs ironvisor.public_ips=203.0.113.8 ironvisor.watchdog=off\n",
		"initrd http://10.77.0.1:80/rack/initrd\n",
		"boot\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "ironvisor.rack") || strings.Contains(s, "init-arg") || strings.Contains(s, "BOOT_IMAGE") {
		t.Errorf("script hands on the box's own keys:\n%s", s)
	}
}

// fakeRoot is a root file system with a kernel, an iPXE binary and a
// "mount" (a folder on another device cannot be made here, so pack's
// device check is exercised by the real rack test).
func fakeRoot(t *testing.T) string {
	root := t.TempDir()
	for p, data := range map[string]string{"init": "ELF", "boot/vmlinuz": "bzImage", "lib/ironvisor/ipxe/undionly.kpxe": "pxe",
		"etc/resolv.conf": "nameserver 10.0.2.3\n", "etc/hostname": "ironvisor\n"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(data), 0o644)
	}
	os.Symlink("/init", filepath.Join(root, "ivlink"))
	return root
}

// TestBootServesFiles: the HTTP server answers the script of a leased MAC,
// the kernel and the packed initramfs; unknown MACs and other paths 404.
func TestBootServesFiles(t *testing.T) {
	r := newRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	r.Lease("52:54:00:00:00:01")
	b := &Boot{Base: "http://x", Registry: r, Artefacts: &Artefacts{Root: fakeRoot(t)}, Cmdline: "console=ttyS0"}
	srv := httptest.NewServer(b)
	defer srv.Close()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, body := get("/rack/ipxe/52-54-00-00-00-01"); code != 200 || !bytes.Contains(body, []byte("ironvisor.api=10.77.0.2:8080")) {
		t.Fatalf("script: %d %s", code, body)
	}
	if m, _ := r.Get("52:54:00:00:00:01"); m.LastBoot.IsZero() {
		t.Error("boot not recorded")
	}
	if code, body := get("/rack/vmlinuz"); code != 200 || string(body) != "bzImage" {
		t.Fatalf("kernel: %d %q", code, body)
	}
	code, body := get("/rack/initrd")
	if code != 200 {
		t.Fatalf("initrd: %d", code)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, rec := range recs {
		names[rec.Name] = true
	}
	for _, want := range []string{"init", "boot/vmlinuz", "etc/hostname", "ivlink", "dev/console"} {
		if !names[want] {
			t.Errorf("initrd lacks %s (has %v)", want, names)
		}
	}
	if names["etc/resolv.conf"] {
		t.Error("initrd carries this box's resolv.conf")
	}
	for _, p := range []string{"/rack/ipxe/52-54-00-00-00-09", "/rack/ipxe/zz", "/etc/passwd", "/rack/../etc/hostname"} {
		if code, _ := get(p); code == 200 {
			t.Errorf("%s answered 200", p)
		}
	}
}

// TestTFTPServesOnlyIPXE: the TFTP server hands out the iPXE binary and
// refuses other names and every write.
func TestTFTPServesOnlyIPXE(t *testing.T) {
	s := newTFTP(&Artefacts{Root: fakeRoot(t)}, t.Logf)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	defer s.Shutdown()
	c, err := tftp.NewClient(conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	wt, err := c.Receive(IPXEBIOS, "octet")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil || buf.String() != "pxe" {
		t.Fatalf("got %q, %v", buf.String(), err)
	}
	for _, name := range []string{"boot/vmlinuz", "../../etc/passwd", "/lib/ironvisor/ipxe/undionly.kpxe"} {
		if wt, err := c.Receive(name, "octet"); err == nil {
			if _, err := wt.WriteTo(io.Discard); err == nil {
				t.Errorf("%s was served", name)
			}
		}
	}
	if rf, err := c.Send(IPXEBIOS, "octet"); err == nil {
		if _, err := rf.ReadFrom(strings.NewReader("evil")); err == nil {
			t.Error("a write was accepted")
		}
	}
}

// TestCheckReportsNoAnswer: the API check says why nothing answered.
func TestCheckReportsNoAnswer(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := Check(context.Background(), apiv1.RackMachine{API: addr})
	if c.Answered || c.Error == "" || c.URL != "https://"+addr+"/v1/host" {
		t.Fatalf("%+v", c)
	}
}
