package racktest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/appliance/supervisor"
	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/cloudimage"
	"github.com/ironvisor/ironvisor/build/rack"
)

// debianDeadline bounds the whole Debian scenario: the appliance's boot,
// the image's upload and conversion, two boots of the guest with
// cloud-init under nested TCG, and a graceful stop.
const debianDeadline = 25 * time.Minute

// apiQuietLimit is how long the appliance's API may leave every request
// unanswered, while the test waits for the guest, before the test calls
// the rack server frozen. A busy appliance answers an instance GET within
// seconds even while a guest boots.
const apiQuietLimit = 3 * time.Minute

// guestQuietLimit is how long the guest's console may stay silent, while
// the guest does not answer SSH, before the boot counts as lost. Under
// nested TCG a Debian guest hangs in some boots (issue 16: QEMU's guests
// too, at the same rate); a boot that goes on prints every few seconds
// until sshd is up (systemd's progress, cloud-init's lines).
const guestQuietLimit = 4 * time.Minute

// maxLostBoots is how many lost boots the test power-cycles (a forced
// stop and a start through the API) and logs before it fails on the next.
const maxLostBoots = 1

// debianRootGiB is the launch's root size: larger than the image's 2 GiB
// disk, so the guest's cloud-init must grow its partition and file system.
const debianRootGiB = 4

// debianSSHPort is the appliance's uplink port forwarded to the guest's
// tcp/22, and the rack server's port forwarded from the test's localhost.
const debianSSHPort = 2222

// debianUserData is the launch's #cloud-config: a file written, and a
// command that prints a marker with the hostname it ran under.
const debianUserData = `#cloud-config
write_files:
  - path: /var/lib/ironvisor-test/written
    content: "written by cloud-init from user-data\n"
runcmd:
  - echo "IRONVISOR-RUNCMD-MARKER host=$(hostname)"
`

// debianImage returns the stock Debian 12 cloud image of build/cloudimage,
// building it (as root, with debootstrap; some minutes, cached in
// .cache/images) when `make test` has not.
func debianImage(t *testing.T, set *artefacts.Set) cloudimage.Image {
	t.Helper()
	dir := filepath.Join(filepath.Dir(set.Dir), "images", "debian-12-cloud")
	if img, ok := cloudimage.Cached(dir); ok {
		return img
	}
	if os.Geteuid() != 0 {
		t.Skipf("SKIP: no Debian cloud image in %s and not root to build it (ivbuild cloudimage -dir %s)", dir, dir)
	}
	start := time.Now()
	img, err := cloudimage.Build(context.Background(), cloudimage.Options{Dir: dir, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the Debian cloud image in %v", time.Since(start).Round(time.Second))
	return img
}

// TestApplianceDebianCloudImage is the end-to-end path, as a user
// takes it: an appliance on a rack server (2 CPUs, 2 GiB, a btrfs data
// disk) imports the stock Debian 12 cloud image (build/cloudimage: Debian's
// packages, stock cloud-init, as a compressed qcow2) by upload; a tenant
// launches it (small) with a key pair, a #cloud-config user data and a
// root larger than the image, into a network whose security group opens
// tcp/22, and forwards the uplink's port 2222 to it. From this test
// process, outside the appliance (the rack server's forwarded port, then
// the appliance's forward), SSH with that key as the image's default user
// finds: cloud-init done, the file written and the marker printed, a root
// file system of the launch's size, the instance ID as hostname, and the
// instance's identity in the SMBIOS tables. The API's stop is graceful
// and comes from the VMM's ACPI power button: the guest's journal of that
// boot shows the kernel's "Power Button" on the DSDT's PNP0C0C device,
// systemd-logind watching it and its "Power key pressed", and a shutdown
// in order (the VMM no longer types the i8042's Power key, the only other
// source of that key). It ends within debianStopBound, and, after
// a start, the file is still there and the host key the same. A `sudo
// reboot` in the guest leaves the instance running and reachable over SSH
// in a new boot (the journal of the boot before shows systemd's reboot in
// order).
func TestApplianceDebianCloudImage(t *testing.T) {
	set := artefactsOrSkip(t)
	img := debianImage(t, set)
	tmp := t.TempDir()
	data := dataDisk(t, tmp, "btrfs", 12<<30)
	ctx, cancel := context.WithTimeout(context.Background(), debianDeadline)
	defer cancel()
	t0 := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%6.1fs] %s", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	srv, err := rack.Start(ctx, rack.Options{
		Name: "debian", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
		Append:    "console=ttyS0 ironvisor.hostname=rack-debian ironvisor.data=LABEL=ivdata",
		MemoryMiB: 2048, CPUs: 2, LogDir: tmp, ForwardPorts: []int{8080, debianSSHPort},
		Extra: []string{"-drive", "file=" + data + ",if=virtio,format=raw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	t.Cleanup(func() {
		// A failure late in the test (a guest that never comes back) may
		// be the rack server's own freeze: show what the appliance's
		// console said last and how long it has been quiet.
		if t.Failed() {
			t.Logf("the rack server's console, quiet for %v, ends:\n%s", srv.Console.Idle().Round(time.Second), srv.Console.Tail(60))
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t.Logf("the rack server's CPUs (QEMU monitor):\n%s", srv.Diagnose(dctx))
		}
	})
	if _, err := srv.Console.ExpectRegexp(ctx, readyLine); err != nil {
		t.Fatalf("no banner: %v\n%s", err, srv.Console.Tail(40))
	}
	step("appliance READY")
	if err := srv.Console.NotSeen("FAILED"); err != nil {
		t.Fatalf("%v\n%s", err, srv.Console.Tail(30))
	}
	if err := srv.Console.Seen("(btrfs, LABEL=ivdata"); err != nil {
		t.Errorf("the data disk is not the btrfs one: %v", err)
	}
	admin, _ := connect(t, srv)

	var image struct {
		ID   string `json:"id"`
		Disk *struct {
			Size int64 `json:"size"`
		} `json:"disk"`
		Boot json.RawMessage `json:"boot"`
	}
	if err := uploadDisk(ctx, admin, "debian-12", img.Qcow2, &image); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(img.Qcow2)
	step("imported %s (%d MiB qcow2) as %s: boot %s", img.Qcow2, st.Size()>>20, image.ID, image.Boot)

	var tenant struct{ ID, Token string }
	if err := admin.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "debian"}, &tenant); err != nil {
		t.Fatal(err)
	}
	user := *admin
	user.Token = tenant.Token
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/networks", map[string]string{"name": "lan", "cidr": "10.79.0.0/24"}},
		{"/v1/security-groups", map[string]any{"name": "ssh", "ingress": []map[string]any{
			{"proto": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}}}},
		{"/v1/key-pairs", map[string]string{"name": "laptop", "public_key": string(ssh.MarshalAuthorizedKey(sshPub))}},
	} {
		if err := user.SendJSON(ctx, "POST", c.path, c.body, nil); err != nil {
			t.Fatal(err)
		}
	}
	var launched []instance
	err = user.SendJSON(ctx, "POST", "/v1/instances", map[string]any{
		"image": "debian-12", "type": "small", "network": "lan", "security_groups": []string{"ssh"},
		"key_name": "laptop", "user_data": []byte(debianUserData), "root_size_gib": debianRootGiB,
	}, &launched)
	if err != nil || len(launched) != 1 {
		t.Fatalf("launch: %+v, %v", launched, err)
	}
	id := launched[0].ID
	launchedAt := time.Now()
	if err := user.SendJSON(ctx, "POST", "/v1/port-forwards", map[string]any{
		"instance": id, "proto": "tcp", "public_port": debianSSHPort, "port": 22}, nil); err != nil {
		t.Fatal(err)
	}
	waitInstance(ctx, t, &user, id, "running")
	step("%s running (%v after launch)", id, time.Since(launchedAt).Round(time.Millisecond))

	g := &guestSSH{t: t, srv: srv, api: &user, id: id, signer: signer}
	c := g.dial(ctx)
	step("%s: SSH (as debian, from outside the appliance) after %v from launch", id, time.Since(launchedAt).Round(time.Second))
	status := g.run(ctx, c, "cloud-init status --wait --long")
	step("%s: cloud-init after %v from launch:\n%s", id, time.Since(launchedAt).Round(time.Second), status)
	if !strings.Contains(status, "status: done") {
		t.Errorf("cloud-init status: %s", status)
	}
	if !strings.Contains(status, "DataSourceEc2") {
		t.Errorf("cloud-init did not use its EC2 datasource: %s", status)
	}
	const written = "written by cloud-init from user-data"
	if got := g.run(ctx, c, "cat /var/lib/ironvisor-test/written"); strings.TrimSpace(got) != written {
		t.Errorf("the user data's file holds %q, want %q", got, written)
	}
	if got := g.run(ctx, c, "grep IRONVISOR-RUNCMD-MARKER /var/log/cloud-init-output.log"); !strings.Contains(got, "IRONVISOR-RUNCMD-MARKER host="+id) {
		t.Errorf("the user data's command printed %q, want its marker with host=%s", got, id)
	}
	if got := strings.TrimSpace(g.run(ctx, c, "hostname")); got != id {
		t.Errorf("hostname %q, want the instance ID %s", got, id)
	}
	size := g.run(ctx, c, "df -B1 --output=size / | tail -n 1")
	if n, err := strconv.ParseInt(strings.TrimSpace(size), 10, 64); err != nil || n < (debianRootGiB-1)<<30 || n > debianRootGiB<<30 {
		t.Errorf("root file system size %q: want about %d GiB (the launch's root_size_gib; the image's is 2)", size, debianRootGiB)
	} else {
		step("%s: root file system %.2f GiB", id, float64(n)/(1<<30))
	}
	wantUUID := supervisor.SMBIOSUUID(id)
	smbios := g.run(ctx, c, "sudo cat /sys/class/dmi/id/product_uuid /sys/class/dmi/id/product_serial /sys/class/dmi/id/chassis_asset_tag")
	if f := strings.Fields(smbios); len(f) != 3 || !strings.EqualFold(f[0], wantUUID) || !strings.EqualFold(f[1], wantUUID) || f[2] != id {
		t.Errorf("SMBIOS uuid, serial, asset tag = %q; want %s, %s, %s", smbios, wantUUID, wantUUID, id)
	}
	bootID := strings.TrimSpace(g.run(ctx, c, "cat /proc/sys/kernel/random/boot_id"))
	hostKey := g.hostKey
	c.Close()

	start := time.Now()
	var in instance
	if err := user.SendJSON(ctx, "POST", "/v1/instances/"+id+"/stop", map[string]any{"timeout_seconds": 180}, &in); err != nil {
		t.Fatal(err)
	}
	if in.State != "stopped" {
		in = waitInstance(ctx, t, &user, id, "stopped")
	}
	took := time.Since(start)
	step("%s: the API's stop took %v (%s)", id, took.Round(time.Millisecond), in.Reason)
	if took > debianStopBound {
		t.Errorf("the API's graceful stop took %v, more than %v of its 180 s timeout: the guest did not end its VM when it shut down", took.Round(time.Second), debianStopBound)
	}
	if cons, err := guestConsole(ctx, &user, id); err == nil {
		t.Logf("%s: the console's end after the stop:\n%s", id, lastLines(cons, 25))
	}
	start = time.Now()
	if err := user.SendJSON(ctx, "POST", "/v1/instances/"+id+"/start", nil, &in); err != nil {
		t.Fatal(err)
	}
	waitInstance(ctx, t, &user, id, "running")
	c = g.dial(ctx)
	step("%s: SSH again %v after start", id, time.Since(start).Round(time.Second))
	// The boot that the API stopped, by its ID: a lost boot power-cycled
	// since then would shift "-b -1".
	stopped := journalBoot(bootID)
	if g.hostKey != hostKey {
		t.Errorf("the host key changed across stop and start")
	}
	if got := strings.TrimSpace(g.run(ctx, c, "cat /proc/sys/kernel/random/boot_id")); got == bootID {
		t.Errorf("boot_id %s unchanged: the guest did not boot again", got)
	}
	if got := g.run(ctx, c, "cat /var/lib/ironvisor-test/written"); strings.TrimSpace(got) != written {
		t.Errorf("after stop and start the file holds %q, want %q", got, written)
	}
	journal := g.run(ctx, c, "sudo journalctl "+stopped+" --no-pager -o short-monotonic | tail -n 25")
	logind := g.run(ctx, c, "sudo journalctl "+stopped+" --no-pager -o cat -u systemd-logind")
	journalOK := true
	if !logindWatchesButton.MatchString(logind) || !strings.Contains(logind, "Power key pressed") {
		t.Errorf("systemd-logind did not watch the ACPI power button or never saw the stop's press of it:\n%s", logind)
		journalOK = false
	} else {
		step("%s: systemd-logind in the stopped boot:\n%s", id, logind)
	}
	if kern := g.run(ctx, c, "sudo journalctl "+stopped+" --no-pager -o cat -k | grep 'Power Button'"); !kernelButton.MatchString(kern) {
		t.Errorf("the kernel made no Power Button input device of the DSDT's PNP0C0C:\n%s", kern)
	}
	if !cleanShutdown.MatchString(journal) || !strings.Contains(journal, "Journal stopped") {
		t.Errorf("the journal of the stopped boot shows no clean shutdown; its end:\n%s", journal)
		journalOK = false
	} else {
		step("%s: the stopped boot's journal ends with a clean shutdown:\n%s", id, journal)
	}
	if !journalOK {
		// In some runs a boot's journal ends soon after journald's
		// flush to /var (170 s before the boot did), although the
		// console showed an orderly shutdown and a file written later
		// survived: show the journal's files and journald's own
		// account of both boots.
		t.Logf("the guest's journal files and journald's messages:\n%s", g.run(ctx, c, journalDiagnostics))
	}
	bootID = strings.TrimSpace(g.run(ctx, c, "cat /proc/sys/kernel/random/boot_id"))
	start = time.Now()
	if s, err := c.NewSession(); err == nil {
		s.Start("sudo reboot") // the session ends with the guest's sshd
	}
	c.Close()
	in = waitReason(ctx, t, &user, id, "rebooted by the guest")
	rebooted := journalBoot(bootID)
	c, bootID = g.rebooted(ctx, bootID)
	step("%s: running again (%s) and SSH %v after `sudo reboot` in the guest", id, in.Reason, time.Since(start).Round(time.Second))
	if journal := g.run(ctx, c, "sudo journalctl "+rebooted+" --no-pager -o cat | tail -n 40"); !orderlyReboot.MatchString(journal) || !strings.Contains(journal, "Journal stopped") {
		t.Errorf("`sudo reboot` was not in order: the journal of the boot before shows no orderly reboot; its end:\n%s", journal)
		t.Logf("the guest's journal files and journald's messages:\n%s", g.run(ctx, c, journalDiagnostics))
	}
	c.Close()
	// The API's graceful reboot (the power button, as the stop above,
	// then a new VMM) is the same guest path as the stop; its control op
	// and orchestration have their own tests. A fourth boot of the guest
	// here would add about 100 s to every run.
	if err := user.SendJSON(ctx, "DELETE", "/v1/instances/"+id, nil, &in); err != nil {
		t.Fatal(err)
	}
	step("%s: terminated", id)
}

// journalBoot returns journalctl's argument for the boot whose
// /proc/sys/kernel/random/boot_id is id: journalctl (252) takes the ID
// only without its dashes.
func journalBoot(id string) string { return "-b " + strings.ReplaceAll(id, "-", "") }

// journalDiagnostics shows, in the guest, the boots the journal knows,
// its files, journald's and the file systems' messages of the boot before
// and this one, the result of verifying the files, and for each system
// journal its header, its last extents (unwritten ones are flagged) and
// whether the shutdown's messages are in its bytes at all.
const journalDiagnostics = `exec 2>&1
sudo journalctl --list-boots --no-pager
sudo ls -la --full-time /var/log/journal/*/
for b in -1 0; do
	echo "== boot $b: journald, file systems, clock"
	sudo journalctl -b $b --no-pager -o short-monotonic -t systemd-journald -t kernel -t systemd-timesyncd -t chronyd |
		grep -iE 'journal|ext4|vda|fsck|time|clock|rotat' | tail -n 40
	echo "== boot $b: entries $(sudo journalctl -b $b --no-pager -q | wc -l), last:"
	sudo journalctl -b $b --no-pager -o short-monotonic -n 3
done
echo "== the stops' and shutdowns' entries of all boots, read without a boot filter:"
sudo journalctl --no-pager -o short-monotonic | grep -E 'Power key pressed|Journal stopped|Reached target (reboot|poweroff).target'
sudo journalctl --verify --no-pager | tail -n 20
for f in /var/log/journal/*/system*.journal*; do
	echo "== $f"
	sudo journalctl --header --file="$f" --no-pager | grep -E 'State|Entries|Tail|Head|Arena|Boot ID|size'
	sudo filefrag -v "$f" | tail -n 8
	echo "strings of the stop and the shutdown: $(sudo grep -a -c -e 'Power key pressed' -e 'Journal stopped' -e 'reboot.target' "$f")"
done
true`

// debianStopBound is the most the API's graceful stop of the Debian
// guest may take in the rack (nested KVM in TCG), well under the 180 s
// timeout the test gives it: it used to take all of it, the guest
// rebooting (the stop's Ctrl-Alt-Del won over the Power key) into a reset
// the VMM did not see.
const debianStopBound = 90 * time.Second

// waitReason polls instance id until its reason is want while it runs; a
// stopped or terminated instance fails at once.
func waitReason(ctx context.Context, t *testing.T, a *rack.API, id, want string) instance {
	t.Helper()
	for {
		var in instance
		if err := a.GetJSON(ctx, "/v1/instances/"+id, &in); err != nil {
			t.Fatal(err)
		}
		if in.State == "running" && in.Reason == want {
			return in
		}
		if in.State == "stopped" || in.State == "terminated" {
			t.Fatalf("instance %s is %s (%s), want running (%s)", id, in.State, in.Reason, want)
		}
		if err := pause(ctx); err != nil {
			t.Fatalf("instance %s is %s (%s), want running (%s): %v", id, in.State, in.Reason, want, err)
		}
	}
}

// rebooted connects to the guest after a reboot, retrying until its
// boot_id differs from before (an SSH session can still reach the old
// boot while it shuts down), and returns the client and the new boot_id.
func (g *guestSSH) rebooted(ctx context.Context, before string) (*ssh.Client, string) {
	g.t.Helper()
	for {
		c := g.dial(ctx)
		id := strings.TrimSpace(g.run(ctx, c, "cat /proc/sys/kernel/random/boot_id"))
		if id != before {
			return c, id
		}
		c.Close()
		if err := pause(ctx); err != nil {
			g.t.Fatalf("%s: still boot %s after the reboot: %v", g.id, before, err)
		}
	}
}

// cleanShutdown is what systemd logs when it shuts the system down in
// order; the test also wants systemd-logind's "Power key pressed", the
// request the API's graceful stop makes first.
var cleanShutdown = regexp.MustCompile(`Reached target .*(System Shutdown|System Power Off|System Reboot)|systemd-shutdown\[1\]`)

// logindWatchesButton is systemd-logind (252) taking the ACPI power
// button's input device, which drivers/acpi/button.c names "Power Button"
// (the i8042 keyboard is "AT Translated Set 2 keyboard").
var logindWatchesButton = regexp.MustCompile(`Watching system buttons on /dev/input/event\d+ \(Power Button\)`)

// kernelButton is the input device the kernel's button driver makes of the
// DSDT's PNP0C0C device (\_SB_.PWRB).
var kernelButton = regexp.MustCompile(`input: Power Button as /devices/LNXSYSTM:00/LNXSYBUS:00/PNP0C0C:00/input/input\d+`)

// orderlyReboot is what systemd logs when it reboots in order
// ("Reached target reboot.target - System Reboot.").
var orderlyReboot = regexp.MustCompile(`Reached target .*System Reboot`)

// uploadDisk uploads the disk image at path as the image name (POST
// /v1/images, multipart, streamed from the file) and decodes the answer
// into out.
func uploadDisk(ctx context.Context, a *rack.API, name, path string, out any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("name", name)
		if err == nil {
			var w io.Writer
			if w, err = mw.CreateFormFile("disk", filepath.Base(path)); err == nil {
				_, err = io.Copy(w, f)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	body, err := a.Do(ctx, "POST", "/v1/images", mw.FormDataContentType(), pr)
	pr.Close()
	if err != nil {
		return err
	}
	return json.Unmarshal(body, out)
}

// guestSSH reaches the guest's sshd as the image's default user, through
// the rack server's forwarded port and the appliance's port forward.
type guestSSH struct {
	t       *testing.T
	srv     *rack.Server
	api     *rack.API
	id      string
	signer  ssh.Signer
	hostKey string
	// lost counts the boots lost and power-cycled (maxLostBoots).
	lost int
}

// powerCycle ends a lost boot: it logs the console's end, stops the
// instance by force and starts it again.
func (g *guestSSH) powerCycle(ctx context.Context, quiet time.Duration) {
	g.t.Helper()
	g.lost++
	cons, _ := guestConsole(ctx, g.api, g.id)
	g.t.Logf("%s: LOST BOOT %d of at most %d: no SSH and a console quiet for %v (issue 16's nested hang); power-cycling it. The console's end:\n%s",
		g.id, g.lost, maxLostBoots, quiet.Round(time.Second), lastLines(cons, 15))
	var in instance
	if err := g.api.SendJSON(ctx, "POST", "/v1/instances/"+g.id+"/stop", map[string]any{"force": true}, &in); err != nil {
		g.t.Fatal(err)
	}
	waitInstance(ctx, g.t, g.api, g.id, "stopped")
	if err := g.api.SendJSON(ctx, "POST", "/v1/instances/"+g.id+"/start", nil, &in); err != nil {
		g.t.Fatal(err)
	}
	waitInstance(ctx, g.t, g.api, g.id, "running")
}

// dial connects, retrying until ctx ends (the guest boots, cloud-init
// installs the key and sshd starts meanwhile); a failure shows the
// instance's console.
func (g *guestSSH) dial(ctx context.Context) *ssh.Client {
	g.t.Helper()
	cfg := &ssh.ClientConfig{
		User: "debian", Auth: []ssh.AuthMethod{ssh.PublicKeys(g.signer)}, Timeout: 30 * time.Second,
		// The host key is whatever the guest made at its first boot: it
		// is recorded, and must stay the same across stop and start.
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			g.hostKey = ssh.FingerprintSHA256(key)
			return nil
		},
	}
	var last error
	answered, checked, printed := time.Now(), time.Now(), time.Now()
	var consoleAt int64
	for {
		c, err := ssh.Dial("tcp", g.srv.Addr(debianSSHPort), cfg)
		if err == nil {
			return c
		}
		last = err
		// While the guest is unreachable, check now and then that the
		// appliance still answers: a rack server that froze (one of its
		// CPUs halted for good, seen under nested TCG) would otherwise
		// hold the test to its deadline and say nothing about where.
		// And that the guest still prints: one whose console is quiet
		// too long is lost, power-cycled at most maxLostBoots times.
		if time.Since(checked) > 20*time.Second {
			checked = time.Now()
			hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			var in instance
			if g.api.GetJSON(hctx, "/v1/instances/"+g.id, &in) == nil {
				answered = time.Now()
			}
			var cons struct {
				NextOffset int64 `json:"next_offset"`
			}
			if g.api.GetJSON(hctx, fmt.Sprintf("/v1/instances/%s/console?offset=%d", g.id, consoleAt), &cons) == nil && cons.NextOffset != consoleAt {
				consoleAt, printed = cons.NextOffset, time.Now()
			}
			cancel()
			if quiet := time.Since(answered); quiet > apiQuietLimit {
				g.t.Fatalf("%s: no SSH through the forward (%v), and the appliance's API has not answered for %v: the rack server froze",
					g.id, last, quiet.Round(time.Second))
			}
			if quiet := time.Since(printed); quiet > guestQuietLimit && in.State == "running" && g.lost < maxLostBoots {
				g.powerCycle(ctx, quiet)
				printed, consoleAt = time.Now(), 0
			}
		}
		if pause(ctx) != nil {
			break
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, cerr := guestConsole(cctx, g.api, g.id)
	var in instance
	ierr := g.api.GetJSON(cctx, "/v1/instances/"+g.id, &in)
	g.t.Fatalf("%s: no SSH through the forward: %v\nthe instance: %+v (%v)\nthe guest's console (%v):\n%s",
		g.id, last, in, ierr, cerr, lastLines(cons, 60))
	return nil
}

// run runs cmd in a new session and returns its standard output; a
// failure fails the test, showing both outputs. Standard error is only
// logged.
func (g *guestSSH) run(ctx context.Context, c *ssh.Client, cmd string) string {
	g.t.Helper()
	s, err := c.NewSession()
	if err != nil {
		g.t.Fatalf("ssh session: %v", err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var stderr strings.Builder
	s.Stderr = &stderr
	out, err := s.Output(cmd)
	if err != nil {
		g.t.Fatalf("ssh %q: %v\n%s%s", cmd, err, out, stderr.String())
	}
	if stderr.Len() > 0 {
		g.t.Logf("ssh %q: stderr: %s", cmd, stderr.String())
	}
	return string(out)
}
