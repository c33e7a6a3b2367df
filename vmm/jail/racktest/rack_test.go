package racktest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/initramfs"
)

// jailInit is /init of the test server: it mounts what the jail tests need
// and runs them.
const jailInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "JAILTEST controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
cd /tmp
/jail.test -test.v -test.count=1 2>&1
echo "JAILTEST EXIT $?"
poweroff -f
`

// buildJailTests compiles the vmm/jail test binary, statically, into dir.
func buildJailTests(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "jail.test")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "test", "-c", "-o", out, "github.com/ironvisor/ironvisor/vmm/jail")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build jail tests: %v\n%s", err, b)
	}
	return out
}

// overlay writes the test server's initramfs into dir.
func overlay(t *testing.T, dir, tests string) string {
	t.Helper()
	b := initramfs.New()
	err := b.Add(
		initramfs.HostFile("/bin/busybox", 0o755, "/bin/busybox"),
		initramfs.HostFile("/jail.test", 0o755, tests),
		initramfs.File("/init", 0o755, []byte(jailInit)),
		initramfs.Dir("/proc", 0o755), initramfs.Dir("/sys", 0o755),
		initramfs.Dir("/dev", 0o755), initramfs.Dir("/tmp", 0o1777),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "jailtest.cpio")
	if _, err := b.WriteFile(p, initramfs.None); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJailInRack(t *testing.T) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skipf("SKIP: /bin/busybox not installed (apt-get install busybox-static): %v", err)
	}
	dir := t.TempDir()
	img := overlay(t, dir, buildJailTests(t, dir))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "jail", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{img},
		Append: "console=ttyS0 quiet panic=-1", MemoryMiB: 1024, CPUs: 2, LogDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	m, err := srv.Console.ExpectRegexp(ctx, regexp.MustCompile(`JAILTEST EXIT (\d+)`))
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, srv.Console.Tail(60))
	}
	if m[1] != "0" {
		t.Fatalf("jail tests failed in the rack (exit %s):\n%s", m[1], srv.Console.Tail(80))
	}
	out := srv.Console.String()
	for _, want := range []string{"--- PASS: TestMemoryMaxEnforced", "--- PASS: TestJailConfinesChild", "--- PASS: TestForbiddenSyscallKills"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in the console:\n%s", want, srv.Console.Tail(80))
		}
	}
	if err := srv.Console.NotSeen("SKIP:"); err != nil {
		t.Errorf("a jail test skipped in the rack: %v", err)
	}
}
