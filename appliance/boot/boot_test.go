package boot

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/config"
	"github.com/ironvisor/ironvisor/initramfs"
)

// testAppliance returns an appliance whose kernel command line is cmdline.
func testAppliance(t *testing.T, cmdline string, args ...string) (*appliance, *bytes.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(path, []byte(cmdline), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	return &appliance{o: Options{Args: args, Console: &out}, cmdline: path,
		tl: timeline.New(&out, time.Now(), 0), cfg: config.Defaults()}, &out
}

func TestBrokenConfigIsReportedAndDefaultsUsed(t *testing.T) {
	a, out := testAppliance(t, "console=ttyS0 ironvisor.hostname=node9 ironvisor.uplink=bogus ironvisor.api=:9000\n")
	a.tl.Run("config", a.loadConfig)
	a.tl.Run("next", func() error { return nil })
	want := config.Config{Hostname: "node9", Uplink: "dhcp", API: ":9000"}
	if !reflect.DeepEqual(a.cfg, want) {
		t.Errorf("config = %+v, want %+v", a.cfg, want)
	}
	rep := a.tl.Report()
	if len(rep.Failures) != 1 || rep.Failures[0].Step != "config" || !strings.Contains(rep.Failures[0].Error, `ironvisor.uplink="bogus"`) {
		t.Errorf("failures = %+v", rep.Failures)
	}
	if len(rep.Steps) != 2 {
		t.Errorf("boot stopped after the failing step: %+v", rep.Steps)
	}
	if !strings.Contains(out.String(), `IRONVISOR FAILED step=config: ironvisor.uplink="bogus": must be dhcp or static (defaults used instead)`) {
		t.Errorf("console:\n%s", out)
	}
}

func TestConfigFileThenCmdline(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"hostname":"fromfile","modules":["nvme"]}`), 0o600)
	a, _ := testAppliance(t, "ironvisor.api=:7000", "single", "--config", file)
	if err := a.loadConfig(); err != nil {
		t.Fatal(err)
	}
	if a.cfg.Hostname != "fromfile" || a.cfg.API != ":7000" || len(a.cfg.Modules) != 1 {
		t.Errorf("config = %+v", a.cfg)
	}
	a, _ = testAppliance(t, "", "--config=/nonexistent.json")
	if err := a.loadConfig(); err == nil || !reflect.DeepEqual(a.cfg, config.Defaults()) {
		t.Errorf("missing config file: err %v, config %+v", err, a.cfg)
	}
}

func TestBootLoadsEveryModuleOfTheImage(t *testing.T) {
	loads := map[string]bool{}
	for _, m := range append(append([]string{}, EarlyModules...), LateModules...) {
		if loads[m] {
			t.Errorf("module %s listed twice", m)
		}
		loads[m] = true
	}
	for _, m := range initramfs.DefaultModules {
		if !loads[m] {
			t.Errorf("the initramfs carries %s but boot never loads it", m)
		}
		delete(loads, m)
	}
	// Soft dependencies are the only modules boot loads beyond the list.
	delete(loads, "crc32c_generic")
	if len(loads) > 0 {
		t.Errorf("boot loads modules the initramfs does not list: %v", loads)
	}
}

func TestModuleList(t *testing.T) {
	got := moduleList(EarlyModules, []string{"mlx5_core", "kvm", "mlx5_core"})
	if len(got) != len(EarlyModules)+1 || got[len(got)-1] != "mlx5_core" {
		t.Errorf("moduleList = %v", got)
	}
}

func TestBanner(t *testing.T) {
	a, out := testAppliance(t, "")
	a.tl.Fail("uplink", os.ErrDeadlineExceeded)
	a.banner("http://10.0.2.15:8080/")
	for _, want := range []string{"API      http://10.0.2.15:8080/", "curl http://10.0.2.15:8080/v1/host", "FAILED   uplink: i/o timeout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
}

func TestGoSafeRecordsPanics(t *testing.T) {
	a, out := testAppliance(t, "")
	done := make(chan struct{})
	a.goSafe("reaper", func() { defer close(done); panic("bad") })
	<-done
	deadline := time.Now().Add(10 * time.Second)
	for len(a.tl.Report().Failures) == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if f := a.tl.Report().Failures; len(f) != 1 || f[0].Step != "reaper" || f[0].Error != "panic: bad" {
		t.Errorf("failures = %+v\n%s", f, out)
	}
}
