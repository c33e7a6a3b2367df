package hostinfo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

const cpuinfo = `processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC Processor
flags		: fpu svm

processor	: 1
vendor_id	: AuthenticAMD
model name	: AMD EPYC Processor
flags		: fpu svm
`

const meminfo = `MemTotal:        2014936 kB
MemFree:         1820000 kB
`

// fakeProc writes the given files under a temporary proc root.
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCollectFromFakeProc(t *testing.T) {
	root := fakeProc(t, map[string]string{
		"cpuinfo": cpuinfo, "meminfo": meminfo, "uptime": "42.50 80.00\n", "sys/kernel/hostname": "node7\n",
	})
	tl := timeline.New(&bytes.Buffer{}, time.Now(), 1500)
	tl.Run("modules", func() error { return errors.New("tg3 missing") })
	c := &Collector{
		Mode: "appliance", ProcRoot: root, KVMDevice: "/dev/kvm-test",
		Probe: func(dev string) kvm.Status {
			return kvm.Status{Device: dev, Kind: kvm.KindSVM, Works: true}
		},
		Addresses: func() ([]Address, error) { return []Address{{"eth0", "10.0.2.15/24"}}, nil },
		Timeline:  tl,
	}
	h := c.Collect()
	if h.Hostname != "node7" || h.UptimeSeconds != 42.5 || h.Mode != "appliance" {
		t.Errorf("hostname %q uptime %v mode %q", h.Hostname, h.UptimeSeconds, h.Mode)
	}
	if h.CPU != (CPU{Model: "AMD EPYC Processor", Count: 2}) {
		t.Errorf("cpu = %+v", h.CPU)
	}
	if h.Memory.TotalBytes != 2014936*1024 {
		t.Errorf("memory = %d", h.Memory.TotalBytes)
	}
	if h.KVM != (KVM{Device: "/dev/kvm-test", Kind: "SVM", Works: true}) {
		t.Errorf("kvm = %+v", h.KVM)
	}
	if len(h.Addresses) != 1 || h.Addresses[0].CIDR != "10.0.2.15/24" {
		t.Errorf("addresses = %+v", h.Addresses)
	}
	if len(h.Failures) != 1 || h.Failures[0].Step != "modules" || h.Boot.KernelUptimeMS != 1500 || len(h.Boot.Steps) != 1 {
		t.Errorf("boot = %+v, failures = %+v", h.Boot, h.Failures)
	}
}

func TestCollectReportsUnreadableParts(t *testing.T) {
	root := fakeProc(t, map[string]string{
		"cpuinfo": "garbage\n", "meminfo": "MemTotal: lots kB\n", "uptime": "-1 0\n",
	})
	c := &Collector{ProcRoot: root, Probe: func(string) kvm.Status { return kvm.Status{Kind: kvm.KindNone, Error: "no kvm"} },
		Addresses: func() ([]Address, error) { return nil, errors.New("netlink: denied") }}
	h := c.Collect()
	if len(h.Failures) != 5 {
		t.Fatalf("failures = %+v, want hostname, uptime, cpu, memory and addresses", h.Failures)
	}
	for _, f := range h.Failures {
		if f.Step != "hostinfo" || f.Error == "" {
			t.Errorf("failure %+v", f)
		}
	}
	if h.Addresses == nil || h.Boot.Steps == nil || h.KVM.Error != "no kvm" {
		t.Errorf("document = %+v", h)
	}
}

func TestCollectThisHost(t *testing.T) {
	h := New("service", nil).Collect()
	if h.CPU.Count < runtime.NumCPU() {
		t.Errorf("cpu count %d", h.CPU.Count)
	}
	if h.Memory.TotalBytes == 0 || h.UptimeSeconds <= 0 || h.Hostname == "" {
		t.Errorf("document = %+v", h)
	}
	if h.KVM.Device != "/dev/kvm" || (!h.KVM.Works && h.KVM.Error == "") {
		t.Errorf("kvm = %+v: a non-working KVM must say why", h.KVM)
	}
	if len(h.Failures) != 0 {
		t.Errorf("failures on a normal host: %+v", h.Failures)
	}
}
