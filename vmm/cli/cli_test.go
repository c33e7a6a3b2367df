package cli

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/kvm"
	"github.com/ironvisor/ironvisor/vmm/vm"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"256M": 256 << 20, "1G": 1 << 30, "512K": 512 << 10, "4096": 4096} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "1T", "99999999999999999999G", "17179869184G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestParseDisk(t *testing.T) {
	if p, ro, err := parseDisk("/a.img,ro"); err != nil || p != "/a.img" || !ro {
		t.Errorf("ro disk: %q %v %v", p, ro, err)
	}
	if p, ro, err := parseDisk("/b.img"); err != nil || p != "/b.img" || ro {
		t.Errorf("rw disk: %q %v %v", p, ro, err)
	}
	for _, in := range []string{",ro", "/c.img,rw", "/d.img,ro,x"} {
		if _, _, err := parseDisk(in); err == nil {
			t.Errorf("parseDisk(%q) accepted", in)
		}
	}
}

func TestParseTap(t *testing.T) {
	name, mac, err := parseTap("tap0,mac=02:00:00:00:00:01")
	if err != nil || name != "tap0" || mac != [6]byte{2, 0, 0, 0, 0, 1} {
		t.Errorf("parseTap: %q %x %v", name, mac, err)
	}
	for _, in := range []string{"", "averyveryverylongname0", "tap0,mac=zz", "tap0,mac=01:00:5e:00:00:01", "tap0,mtu=1"} {
		if _, _, err := parseTap(in); err == nil {
			t.Errorf("parseTap(%q) accepted", in)
		}
	}
}

func TestVMMUsageExitCode(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"run"}, {"run", "--kernel"}, {"run", "--kernel", "k", "extra"}, {"run", "--nope"}} {
		if code := Run(args); code != exitcode.Usage {
			t.Errorf("Run(%q) = %d, want %d", args, code, exitcode.Usage)
		}
	}
	if code := Run([]string{"run", "--kernel", "/nonexistent/kernel"}); code != exitcode.VMMError {
		t.Errorf("missing kernel file: exit %d, want %d", code, exitcode.VMMError)
	}
}

// TestVMMRunPVMGuard: told the host is PVM, vmm run refuses a stock bzImage
// before touching /dev/kvm, and says why.
func TestVMMRunPVMGuard(t *testing.T) {
	dir := t.TempDir()
	bz := make([]byte, 0x1000)
	copy(bz[0x202:], "HdrS")
	k := filepath.Join(dir, "bzImage")
	if err := os.WriteFile(k, bz, 0o644); err != nil {
		t.Fatal(err)
	}
	f := vmmFlags{kernel: k, mem: "16M", cpus: 1, kvm: "/nonexistent/kvm", kvmKind: "PVM"}
	_, err := startVMM(f, slog.New(slog.DiscardHandler))
	if !errors.Is(err, kvm.ErrPVMNeedsPVMGuest) {
		t.Fatalf("startVMM = %v, want ErrPVMNeedsPVMGuest", err)
	}
	f.kvmKind = "bogus"
	if _, err := startVMM(f, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--kvm-kind") {
		t.Fatalf("bogus kind: %v", err)
	}
}

// TestExitReportEndsWithReason checks that the line saying why the VM
// ended is the last one, after a triple fault's register report too: the
// appliance's supervisor reports a VMM's last line as the reason its
// instance stopped or reset.
func TestExitReportEndsWithReason(t *testing.T) {
	state := "vcpu 0: last exit mmio write 0xd0000064 (7309 exits in all)\n" + vm.VCPUState{ID: 0}.String()
	for _, c := range []struct {
		res  vm.Result
		last string
	}{
		{vm.Result{Code: exitcode.Reset, Reason: "triple fault (KVM shutdown exit)", State: state}, "ironvisor vmm run: triple fault (KVM shutdown exit) (exit 10)"},
		{vm.Result{Code: exitcode.Poweroff, Reason: "guest powered off"}, "ironvisor vmm run: guest powered off (exit 0)"},
		{vm.Result{Code: exitcode.VMMError, Reason: "vcpu failed", Err: errors.New("boom")}, "ironvisor vmm run: vcpu failed (exit 1): boom"},
	} {
		out := exitReport(c.res)
		if !strings.HasSuffix(out, "\n") {
			t.Errorf("report %q does not end its last line", out)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if got := lines[len(lines)-1]; got != c.last {
			t.Errorf("last line %q, want %q; report:\n%s", got, c.last, out)
		}
		if c.res.State != "" && !strings.Contains(out, "guest state at the end:\n"+c.res.State) {
			t.Errorf("report lacks the guest state:\n%s", out)
		}
	}
}
