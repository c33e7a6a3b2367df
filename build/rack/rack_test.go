package rack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/initramfs"
)

// busyboxInit is a test /init: it loads virtio_net through the appliance
// image's modules.dep, configures the uplink statically (QEMU user-net
// hands out 10.0.2.15/24), serves /www on port 8080 and prints a banner.
// With racktest.seg=ADDR it also puts ADDR/24 on eth1 (the rack segment),
// and with racktest.peer=ADDR it pings ADDR there until it answers.
const busyboxInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
modprobe -a virtio_pci virtio_net || echo "RACKTEST FAILED modprobe"
ip link set lo up
for i in 1 2 3 4 5 6 7 8 9 10; do ip link show eth0 >/dev/null 2>&1 && break; sleep 1; done
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
arg() { sed -n "s/.*racktest.$1=\([a-z0-9.]*\).*/\1/p" /proc/cmdline; }
echo "token=$(arg token)" > /www/index.html
httpd -p 8080 -h /www
seg=$(arg seg)
if [ -n "$seg" ]; then
	ip link set eth1 up
	ip addr add "$seg/24" dev eth1
fi
echo "RACKTEST READY $(uname -r)"
peer=$(arg peer)
if [ -n "$peer" ]; then
	i=0
	while [ $i -lt 60 ]; do
		ping -c 1 -W 1 "$peer" >/dev/null 2>&1 && { echo "RACKTEST PEER OK $peer"; break; }
		i=$((i + 1))
	done
	[ $i -lt 60 ] || echo "RACKTEST PEER UNREACHABLE $peer"
fi
while true; do read -t 3600 x; done
`

// overlay writes a busybox test overlay archive into dir.
func overlay(t *testing.T, dir string) string {
	t.Helper()
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skipf("SKIP: %s not installed (apt-get install busybox-static, or run make test): %v", bb, err)
	}
	b := initramfs.New()
	err := b.Add(
		initramfs.HostFile("/bin/busybox", 0o755, bb),
		initramfs.File("/init", 0o755, []byte(busyboxInit)),
		initramfs.Dir("/www", 0o755),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "overlay.cpio")
	if _, err := b.WriteFile(p, initramfs.None); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBootServerWithOverlay boots the host kernel on the appliance image
// with a busybox overlay whose /init wins, and checks the console, the
// forwarded port and a clean stop.
func TestBootServerWithOverlay(t *testing.T) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := Start(ctx, Options{
		Name:      "overlay",
		Kernel:    set.HostKernel.Vmlinuz(),
		Initrds:   []string{set.InitramfsPath(), overlay(t, dir)},
		Append:    "console=ttyS0 racktest.token=abc123",
		MemoryMiB: 512, CPUs: 1, LogDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	start := time.Now()
	m, err := srv.Console.ExpectRegexp(ctx, regexpMust(`RACKTEST READY (\S+)\r?\n`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("overlay /init ready after %.1fs on kernel %s", time.Since(start).Seconds(), m[1])
	if m[1] != set.HostKernel.Release {
		t.Errorf("booted kernel %s, want %s", m[1], set.HostKernel.Release)
	}
	for _, bad := range []string{"RACKTEST FAILED", "Kernel panic"} {
		if err := srv.Console.NotSeen(bad); err != nil {
			t.Error(err)
		}
	}
	// The banner is printed after httpd listens, so one request suffices.
	body, err := srv.Get(ctx, 8080, "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(body)) != "token=abc123" {
		t.Errorf("forwarded port served %q, want token=abc123", body)
	}
	// The monitor answers: Diagnose samples the CPU's registers and
	// shows the instructions at its RIP (a kernel address: 0xffff...).
	diag := srv.Diagnose(ctx)
	t.Logf("Diagnose:\n%s", diag)
	if !strings.Contains(diag, "sample 2:") || !regexpMust(`CPU 0 at RIP:\n0xffff[0-9a-f]{12}:`).MatchString(diag) {
		t.Errorf("Diagnose shows no CPU's registers and instructions:\n%s", diag)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("QEMU still running after Stop")
	}
}

// regexpMust compiles a pattern for a test.
func regexpMust(p string) *regexp.Regexp { return regexp.MustCompile(p) }

// TestSegmentConnectsServers boots two servers on one rack segment and
// checks that one reaches the other over it.
func TestSegmentConnectsServers(t *testing.T) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ov := overlay(t, dir)
	seg := NewSegment(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := func(name, cmdline string) *Server {
		srv, err := Start(ctx, Options{
			Name: name, Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath(), ov},
			Append: "console=ttyS0 " + cmdline, MemoryMiB: 512, CPUs: 1, LogDir: dir, Segment: seg,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop() })
		return srv
	}
	a := start("seg-a", "racktest.seg=192.168.77.1")
	b := start("seg-b", "racktest.seg=192.168.77.2 racktest.peer=192.168.77.1")
	if err := a.Console.Expect(ctx, "RACKTEST READY"); err != nil {
		t.Fatal(err)
	}
	m, err := b.Console.ExpectRegexp(ctx, regexpMust(`RACKTEST PEER (OK|UNREACHABLE) `))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "OK" {
		t.Fatalf("seg-b could not reach seg-a over the segment %s", seg.Group)
	}
}
