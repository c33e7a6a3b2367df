package rack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArgsDefaults(t *testing.T) {
	o := Options{Name: "n1", Kernel: "/k", Accel: "tcg", Segment: &Segment{Group: "230.0.0.1:23456"},
		Extra: []string{"-device", "virtio-rng-pci"}}.withDefaults()
	got := strings.Join(o.args("/initrd", []int{40000}, "/run/m"), " ")
	for _, want := range []string{
		"-accel tcg -cpu EPYC,+svm", "-m 2048 -smp 2",
		"-kernel /k -append console=ttyS0 tsc=reliable -initrd /initrd",
		"-netdev user,id=uplink,hostfwd=tcp:127.0.0.1:40000-:8080",
		"-device virtio-net-pci,netdev=uplink,mac=52:54:",
		"-netdev socket,id=rack,mcast=230.0.0.1:23456,localaddr=127.0.0.1",
		"-serial stdio -monitor unix:/run/m,server=on,wait=off", "-device virtio-rng-pci",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	if mac("a", 0) == mac("b", 0) || mac("a", 0) == mac("a", 1) {
		t.Error("MAC addresses collide")
	}
	fw := Options{Boot: "n", UserNet: "tftp=/srv,bootfile=boot.ipxe", Accel: "tcg"}.withDefaults()
	got = strings.Join(fw.args("", []int{1}, ""), " ")
	if strings.Contains(got, "-kernel") || !strings.Contains(got, "-boot n") || !strings.Contains(got, ",tftp=/srv,bootfile=boot.ipxe") {
		t.Errorf("firmware boot args wrong:\n%s", got)
	}
}

func TestConcatInitrdsPads(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("12345"), 0o644)
	os.WriteFile(b, []byte("xy"), 0o644)
	dst := filepath.Join(dir, "out")
	if err := ConcatInitrds(dst, a, b); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if want := []byte("12345\x00\x00\x00xy\x00\x00"); !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := ConcatInitrds(dst, filepath.Join(dir, "missing")); err == nil {
		t.Error("ConcatInitrds of a missing file succeeded")
	}
}

// TestArgsNoUplink: a diskless rack machine has its segment NIC only.
func TestArgsNoUplink(t *testing.T) {
	o := Options{Name: "sib", NoUplink: true, Boot: "n", Accel: "tcg", Segment: &Segment{Group: "230.0.0.1:23456"}}.withDefaults()
	got := strings.Join(o.args("", nil, ""), " ")
	if strings.Contains(got, "-netdev user") || strings.Contains(got, "hostfwd") {
		t.Errorf("a server without uplink has one:\n%s", got)
	}
	if !strings.Contains(got, "netdev=rack,mac="+SegmentMAC("sib")) || !strings.Contains(got, "-boot n") {
		t.Errorf("args lack the segment NIC or -boot n:\n%s", got)
	}
}

// TestSamePortsForwardedAsIs: a same port is forwarded from that port on
// localhost, beside the API's free port; a port given twice is refused.
func TestSamePortsForwardedAsIs(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(context.Background(), Options{Name: "ports", Kernel: "/nonexistent", QEMU: "true", LogDir: dir, SamePorts: []int{2299, 2300}})
	if err != nil {
		t.Fatal(err)
	}
	<-srv.Done()
	srv.Stop()
	if got := srv.Addr(2299); got != "127.0.0.1:2299" {
		t.Errorf("Addr(2299) = %q", got)
	}
	if srv.Addr(8080) == "" || srv.Addr(8080) == "127.0.0.1:8080" {
		t.Errorf("the API's port %q, want a free port", srv.Addr(8080))
	}
	log, _ := os.ReadFile(srv.LogPath)
	for _, want := range []string{"hostfwd=tcp:127.0.0.1:2299-:2299", "hostfwd=tcp:127.0.0.1:2300-:2300", "-:8080"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("QEMU's arguments lack %s:\n%s", want, log)
		}
	}
	if _, err := Start(context.Background(), Options{Name: "dup", QEMU: "true", LogDir: dir, SamePorts: []int{8080}}); err == nil {
		t.Error("the API's port as a same port too: accepted")
	}
}
