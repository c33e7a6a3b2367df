package racktest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/cloudimage"
	"github.com/ironvisor/ironvisor/build/guestinitrd"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// sshReadyRoundsDefault is how many boots of each side
// BenchmarkDebianSSHReady measures; IRONVISOR_SSH_ROUNDS overrides it.
const sshReadyRoundsDefault = 2

// sshReadyBoot bounds one launch to SSH-ready (a Debian boot with
// cloud-init under nested TCG takes about a minute).
const sshReadyBoot = 8 * time.Minute

// sshReadyGuestLines is how many last lines of the QEMU guest's serial
// console the L1 prints after each QEMU round.
const sshReadyGuestLines = 80

// sshReadyProbe runs in each guest over the first SSH connection that
// succeeds, after the time is taken: the guest's uptime (so launch to
// SSH-ready splits into the VMM's start and the guest's boot), systemd's
// split of the boot, and when each cloud-init stage started and finished
// in seconds since the guest's boot (from /run/cloud-init/status.json).
const sshReadyProbe = `cut -d' ' -f1 /proc/uptime; systemd-analyze time 2>&1 | head -n 1; python3 -c '
import json, time
up = float(open("/proc/uptime").read().split()[0]); boot = time.time() - up
v1 = json.load(open("/run/cloud-init/status.json"))["v1"]
print("datasource", v1.get("datasource"))
for k in ("init-local", "init", "modules-config", "modules-final"):
    st = v1.get(k) or {}
    f = lambda t: "-" if not t else "%.1f" % (t - boot)
    print("cloud-init", k, f(st.get("start")), f(st.get("finished")))
'`

// Ports of the L1 server forwarded from this process: the appliance's API,
// the L1's trigger for the QEMU side, QEMU's forward of its guest's
// tcp/22, and the first of the appliance's port forwards (one per round,
// so that no forward of a terminated instance is ever in the way).
const (
	sshReadyTrigger  = 9000
	sshReadyQEMUPort = 2300
	sshReadyIVPort   = 2400
)

// sshReadyInit is the L1 /init of BenchmarkDebianSSHReady, laid over the
// appliance's initramfs. First the QEMU side: it gives the uplink the
// address QEMU's user network forwards to, serves the NoCloud seed
// (/seed) on port 8000, and ROUNDS times waits for a connection on the
// trigger port, boots the image (its kernel and initrd in /img, its disk
// /dev/vdb as a snapshot) under QEMU microvm with its tcp/22 forwarded
// from the L1's QEMUPORT, waits for a second connection and kills it.
// QEMU's snapshot file goes to /tmp/qemu: QEMU 7.2 takes TMPDIR=/tmp to
// mean /var/tmp (block.c, create_tmp_file), which the L1 lacks. Should
// QEMU exit by itself, the L1 says SSHB-QEMU-GONE i at once.
// After each round it prints the guest's serial console (SSHB-GUEST i),
// QEMU's stderr (SSHB-QEMU-STDERR i) and the seed server's requests so
// far (SSHB-HTTPD i), which the benchmark shows when a round fails.
// Then it undoes the network and execs the appliance as PID 1.
//
// The seed is named by ds=nocloud-net: Debian 12's cloud-init (22.4)
// takes only a local seed (/ or file://) from ds=nocloud and gives it
// dsmode local, so ds=nocloud;s=http://... is refused in the local stage
// and, found again in the network stage, makes it exit "in local mode"
// without running its modules: no default user, no key
// (sources/DataSourceNoCloud.py and cmd/main.py in the image).
const sshReadyInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
for m in kvm_amd virtio_pci virtio_blk virtio_net; do modprobe $m || echo "L1-MODPROBE-FAILED $m"; done
` + gotest.PinKVM + `ip link set lo up
ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ip route add default via 10.0.2.2
httpd -f -v -p 8000 -h /seed 2>/tmp/httpd.log &
mkdir /tmp/qemu
echo "SSHB-READY $(ls /dev/kvm) $(ls /dev/vdb)"
for i in $(seq ROUNDS); do
	echo "SSHB-WAIT-START $i"
	nc -l -p TRIGGER >/dev/null
	TMPDIR=/tmp/qemu /usr/bin/qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m MEM -smp CPUS -nodefaults -no-user-config -display none -serial file:/tmp/q$i.log -no-reboot -L /usr/share/qemu -kernel /img/vmlinuz -initrd /img/initrd.img -drive id=d0,if=none,format=raw,file=/dev/vdb,snapshot=on -device virtio-blk-device,drive=d0 -netdev user,id=n0,hostfwd=tcp::QEMUPORT-:22 -device virtio-net-device,netdev=n0 -append "CMDLINE ds=nocloud-net;s=http://10.0.2.2:8000/" >/tmp/qe$i.log 2>&1 & pid=$!
	( while kill -0 $pid 2>/dev/null; do sleep 1; done; echo "SSHB-QEMU-GONE $i" ) & watch=$!
	echo "SSHB-QEMU-STARTED $i"
	nc -l -p TRIGGER >/dev/null
	kill $watch; kill -KILL $pid; wait $pid
	tail -n GUESTLINES /tmp/q$i.log | tr -d '\r' | sed "s/^/SSHB-GUEST $i /"
	tail -n 20 /tmp/qe$i.log | sed "s/^/SSHB-QEMU-STDERR $i /"
	tail -n 20 /tmp/httpd.log | sed "s/^/SSHB-HTTPD $i /"
	echo "SSHB-QEMU-STOPPED $i"
done
killall httpd
ip route flush dev eth0; ip addr flush dev eth0; ip link set eth0 down
umount /tmp
echo SSHB-APPLIANCE
exec /bin/ironvisor
`

// BenchmarkDebianSSHReady measures launch to SSH-ready of the stock
// Debian 12 cloud image (build/cloudimage) in one L1 server: the appliance
// (PID 1, a btrfs data disk) launching it as a small instance (1 vCPU,
// 512 MiB) with a key pair and a #cloud-config user data, through the
// API, reached over SSH through a port forward; against QEMU microvm in
// the same L1 booting the same kernel, initrd and disk with the same
// vCPUs and memory, the same key and user data from a NoCloud seed served
// over HTTP, reached through its user network's forward. SSH-ready is an
// SSH connection as the image's default user, with the key, from this
// process. The QEMU boots come first (the L1 then becomes the
// appliance), IRONVISOR_SSH_ROUNDS of each (default 2). It logs one
// ROW line per side and reports the medians (ironvisor-s, qemu-s) and
// their ratio.
func BenchmarkDebianSSHReady(b *testing.B) {
	for b.Loop() {
		sshReadyOnce(b)
	}
}

// sshReadyOnce runs one L1 server through both sides.
func sshReadyOnce(b *testing.B) {
	set := artefactsOrSkip(b)
	img := cachedCloudImage(b, set)
	rounds := sshReadyRoundsDefault
	if v, err := strconv.Atoi(os.Getenv("IRONVISOR_SSH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		b.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))

	tmp := b.TempDir()
	data := dataDisk(b, tmp, "btrfs", 12<<30)
	init := strings.NewReplacer("ROUNDS", strconv.Itoa(rounds), "TRIGGER", strconv.Itoa(sshReadyTrigger),
		"QEMUPORT", strconv.Itoa(sshReadyQEMUPort), "MEM", "512M", "CPUS", "1",
		"CMDLINE", cloudimage.Cmdline, "GUESTLINES", strconv.Itoa(sshReadyGuestLines)).Replace(sshReadyInit)
	extra := append(gotest.QEMUEntries(b),
		initramfs.HostFile("/img/vmlinuz", 0o644, img.Kernel),
		initramfs.HostFile("/img/initrd.img", 0o644, img.Initrd),
		initramfs.File("/seed/meta-data", 0o644, []byte("instance-id: qemu-peer\nlocal-hostname: qemu-peer\npublic-keys:\n  - "+authorized+"\n")),
		initramfs.File("/seed/user-data", 0o644, []byte(debianUserData)),
		initramfs.File("/seed/vendor-data", 0o644, nil))
	overlay := vmmOverlayModules(b, set, init, extra, sshReadyModules(b, set))
	forward := []int{8080, sshReadyTrigger, sshReadyQEMUPort}
	for i := range rounds {
		forward = append(forward, sshReadyIVPort+i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(2*rounds)*sshReadyBoot+20*time.Minute)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "sshready", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath(), overlay},
		Append:    "console=ttyS0 ironvisor.hostname=rack-sshready ironvisor.data=LABEL=ivdata",
		MemoryMiB: 2048, CPUs: 2, LogDir: tmp, ForwardPorts: forward,
		Extra: []string{"-drive", "file=" + data + ",if=virtio,format=raw",
			"-drive", "file=" + img.Disk + ",if=virtio,format=raw,snapshot=on"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.Console.Expect(ctx, "SSHB-READY /dev/kvm /dev/vdb"); err != nil {
		b.Fatalf("%v\n%s", err, srv.Console.Tail(30))
	}
	secs := map[string][]float64{}
	for i := 1; i <= rounds; i++ {
		secs["qemu"] = append(secs["qemu"], qemuSSHReady(ctx, b, srv, signer, i))
	}
	secs["ironvisor"] = applianceSSHReady(ctx, b, srv, img, authorized, signer, rounds)
	for _, name := range []string{"ironvisor", "qemu"} {
		b.Logf("ROW: | %s | %d | %.1f | %s |", name, len(secs[name]), median(secs[name]), joinSecs(secs[name]))
		b.ReportMetric(median(secs[name]), name+"-s")
	}
	b.ReportMetric(median(secs["ironvisor"])/median(secs["qemu"]), "ironvisor/qemu")
}

// sshReadyModules returns the modules of the L1 overlay: the virtio
// drivers its /init loads, and every module of the appliance's image that
// the host kernel has. The overlay's modules.dep replaces the image's, and
// the appliance, exec'd later, loads its modules (btrfs for the data disk,
// nf_tables, vhost_net) through it: with the overlay's few alone, the data
// disk fell back to a 1 GiB tmpfs and launches ran out of disk.
func sshReadyModules(t testing.TB, set *artefacts.Set) []string {
	_, missing, err := guestinitrd.Modules(set.HostKernel.ModulesDir(), set.HostKernel.Release, initramfs.DefaultModules)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"virtio_pci", "virtio_blk", "virtio_net"}
	for _, m := range initramfs.DefaultModules {
		if !slices.Contains(missing, m) {
			out = append(out, m)
		}
	}
	return out
}

// qemuSSHReady runs QEMU round i in the L1 and returns the seconds from
// its trigger to SSH-ready. When the guest does not get there it stops
// the round and fails with what the L1 printed of it: the guest's serial
// console, QEMU's stderr and the seed server's requests.
func qemuSSHReady(ctx context.Context, b *testing.B, srv *rack.Server, signer ssh.Signer, i int) float64 {
	if err := srv.Console.Expect(ctx, fmt.Sprintf("SSHB-WAIT-START %d", i)); err != nil {
		b.Fatalf("%v\n%s", err, srv.Console.Tail(30))
	}
	start := trigger(ctx, b, srv, fmt.Sprintf("SSHB-QEMU-STARTED %d", i))
	d, probe, err := sshReady(ctx, srv, sshReadyQEMUPort, signer, start, fmt.Sprintf("SSHB-QEMU-GONE %d", i))
	trigger(ctx, b, srv, fmt.Sprintf("SSHB-QEMU-STOPPED %d", i))
	if err != nil {
		b.Fatalf("qemu %d: %v\n%s", i, err, consoleLines(srv.Console.String(), fmt.Sprintf("SSHB-GUEST %d ", i),
			fmt.Sprintf("SSHB-QEMU-STDERR %d ", i), fmt.Sprintf("SSHB-HTTPD %d ", i)))
	}
	b.Logf("qemu %d: SSH-ready after %.1f s; in the guest: %s", i, d, probe)
	return d
}

// consoleLines returns the lines of console that start with one of the
// prefixes, in order.
func consoleLines(console string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(console, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(strings.TrimLeft(l, "\r"), p) {
				out = append(out, "  "+strings.TrimRight(l, "\r"))
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// trigger connects to the L1's trigger port until the console shows
// want, and returns when the connection that did it was made. A
// connection made before the L1 listens is closed by QEMU's user network
// without effect, so it is retried.
func trigger(ctx context.Context, b *testing.B, srv *rack.Server, want string) time.Time {
	for {
		at := time.Now()
		if c, err := net.DialTimeout("tcp", srv.Addr(sshReadyTrigger), 5*time.Second); err == nil {
			c.Close()
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := srv.Console.Expect(wctx, want)
		cancel()
		if err == nil {
			return at
		}
		if ctx.Err() != nil {
			b.Fatalf("no %q: %v\n%s", want, ctx.Err(), srv.Console.Tail(30))
		}
	}
}

// sshReady dials the L1's port until an SSH connection as the image's
// default user with signer succeeds, and returns the seconds since start
// and what sshReadyProbe printed in the guest (on one line), or the last
// dial error when sshReadyBoot passes first or, unless gone is empty, the
// L1's console shows gone (the VMM exited).
func sshReady(ctx context.Context, srv *rack.Server, port int, signer ssh.Signer, start time.Time, gone string) (float64, string, error) {
	cfg := &ssh.ClientConfig{User: "debian", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		Timeout: 10 * time.Second, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	dctx, cancel := context.WithTimeout(ctx, sshReadyBoot)
	defer cancel()
	var last error
	for dctx.Err() == nil {
		c, err := ssh.Dial("tcp", srv.Addr(port), cfg)
		if err == nil {
			d := time.Since(start).Seconds()
			probe := runProbe(c)
			c.Close()
			return d, probe, nil
		}
		last = err
		if gone != "" && strings.Contains(srv.Console.String(), gone) {
			return 0, "", fmt.Errorf("%s after %.1f s: %v", gone, time.Since(start).Seconds(), last)
		}
		if err := pause(dctx); err != nil {
			break
		}
	}
	return 0, "", fmt.Errorf("no SSH on port %d within %v: %v", port, sshReadyBoot, last)
}

// runProbe runs sshReadyProbe over c and returns its output on one line,
// or the error.
func runProbe(c *ssh.Client) string {
	sess, err := c.NewSession()
	if err != nil {
		return "probe: " + err.Error()
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(sshReadyProbe)
	s := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\n", " | ")), " ")
	if err != nil {
		s += " (probe: " + err.Error() + ")"
	}
	return s
}

// applianceSSHReady waits for the appliance, imports the image, and
// launches it rounds times as a small instance with the key and the user
// data, each reached through its own port forward; it returns the seconds
// from each launch request to SSH-ready.
func applianceSSHReady(ctx context.Context, b *testing.B, srv *rack.Server, img cloudimage.Image, authorized string, signer ssh.Signer, rounds int) []float64 {
	if _, err := srv.Console.ExpectRegexp(ctx, readyLine); err != nil {
		b.Fatalf("no appliance banner: %v\n%s", err, srv.Console.Tail(40))
	}
	banner, err := rack.ParseBanner(srv.Console.String())
	if err != nil {
		b.Fatal(err)
	}
	admin, err := srv.API(8080, banner.Fingerprint, banner.AdminToken)
	if err != nil {
		b.Fatal(err)
	}
	var image struct{ ID string }
	if err := uploadDisk(ctx, admin, "debian-12", img.Qcow2, &image); err != nil {
		b.Fatal(err)
	}
	var tenant struct{ Token string }
	if err := admin.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "sshready"}, &tenant); err != nil {
		b.Fatal(err)
	}
	user := *admin
	user.Token = tenant.Token
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/networks", map[string]string{"name": "lan", "cidr": "10.79.0.0/24"}},
		{"/v1/security-groups", map[string]any{"name": "ssh", "ingress": []map[string]any{
			{"proto": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}}}},
		{"/v1/key-pairs", map[string]string{"name": "bench", "public_key": authorized}},
	} {
		if err := user.SendJSON(ctx, "POST", c.path, c.body, nil); err != nil {
			b.Fatal(err)
		}
	}
	var out []float64
	for i := range rounds {
		var launched []instance
		start := time.Now()
		err := user.SendJSON(ctx, "POST", "/v1/instances", map[string]any{
			"image": "debian-12", "type": "small", "network": "lan", "security_groups": []string{"ssh"},
			"key_name": "bench", "user_data": []byte(debianUserData),
		}, &launched)
		if err != nil || len(launched) != 1 {
			b.Fatalf("launch: %+v, %v\n%s", launched, err, srv.Console.Tail(40))
		}
		id := launched[0].ID
		if err := user.SendJSON(ctx, "POST", "/v1/port-forwards", map[string]any{
			"instance": id, "proto": "tcp", "public_port": sshReadyIVPort + i, "port": 22}, nil); err != nil {
			b.Fatal(err)
		}
		d, probe, err := sshReady(ctx, srv, sshReadyIVPort+i, signer, start, "")
		if err != nil {
			var con struct{ Output string }
			cerr := user.SendJSON(ctx, "GET", fmt.Sprintf("/v1/instances/%s/console?max=%d", id, 1<<20), nil, &con)
			b.Fatalf("ironvisor %d: %s: %v\nits console (%v):\n%s\nL1:\n%s", i+1, id, err, cerr,
				lastLines(con.Output, sshReadyGuestLines), srv.Console.Tail(40))
		}
		b.Logf("ironvisor %d: %s SSH-ready after %.1f s; in the guest: %s", i+1, id, d, probe)
		out = append(out, d)
		var in instance
		if err := user.SendJSON(ctx, "DELETE", "/v1/instances/"+id, nil, &in); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// joinSecs lists xs with one decimal, comma-separated.
func joinSecs(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, ", ")
}

// cachedCloudImage returns the Debian cloud image in
// $IRONVISOR_CLOUD_IMAGE (default: images/debian-12-cloud beside the
// artefacts), skipping when `ivbuild cloudimage` has not built it.
func cachedCloudImage(t testing.TB, set *artefacts.Set) cloudimage.Image {
	t.Helper()
	dir := os.Getenv("IRONVISOR_CLOUD_IMAGE")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(set.Dir), "images", "debian-12-cloud")
	}
	img, ok := cloudimage.Cached(dir)
	if !ok {
		t.Skipf("SKIP: no cloud image in %s (run: ivbuild cloudimage -dir %s)", dir, dir)
	}
	return img
}

// dataDisk makes a sparse file system of size bytes labelled ivdata in
// dir with mkfs.FS (btrfs or ext4), an appliance's data disk, and returns
// its path.
func dataDisk(t testing.TB, dir, fs string, size int64) string {
	t.Helper()
	pkg := map[string]string{"btrfs": "btrfs-progs", "ext4": "e2fsprogs"}[fs]
	mkfs, err := exec.LookPath("mkfs." + fs)
	if err != nil {
		t.Fatalf("mkfs.%s not installed (make deps installs %s): %v", fs, pkg, err)
	}
	data := filepath.Join(dir, "data.img")
	if err := os.WriteFile(data, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(data, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-L", "ivdata", data).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.%s: %v\n%s", fs, err, out)
	}
	return data
}

// TestSSHReadyConsoleLines checks that a failed QEMU round shows its own
// guest, QEMU and seed server lines from the L1's console, whose lines
// may end in "\r", and no other round's.
func TestSSHReadyConsoleLines(t *testing.T) {
	console := "SSHB-GUEST 1 [    1.0] Linux\r\nSSHB-GUEST 2 other round\r\nnoise\n" +
		"SSHB-QEMU-STDERR 1 qemu: warning\r\nSSHB-HTTPD 1 10.0.2.15:40000: response:200\n"
	got := consoleLines(console, "SSHB-GUEST 1 ", "SSHB-QEMU-STDERR 1 ", "SSHB-HTTPD 1 ")
	want := "  SSHB-GUEST 1 [    1.0] Linux\n  SSHB-QEMU-STDERR 1 qemu: warning\n  SSHB-HTTPD 1 10.0.2.15:40000: response:200"
	if got != want {
		t.Errorf("consoleLines:\n%s\nwant:\n%s", got, want)
	}
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("lastLines = %q, want %q", got, "b\nc")
	}
	if got := lastLines("a", 5); got != "a" {
		t.Errorf("lastLines = %q, want %q", got, "a")
	}
}
