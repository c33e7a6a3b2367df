package racktest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/cloudimage"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// cloudBootsDefault is how many boots of each VMM BenchmarkCloudImageBoots
// alternates; IRONVISOR_CLOUD_BOOTS overrides it.
const cloudBootsDefault = 50

// cloudBootDeadline bounds one boot to login: inside the L1 (seconds). A
// stock image reaches it in about 40 s nested.
const cloudBootDeadline = 480

// cloudBootInit is the L1 /init of BenchmarkCloudImageBoots. The image's
// disk is the L1's /dev/vda (a QEMU snapshot drive, so the cached image is
// never written); the image's kernel and initrd are in /img. It boots the
// image BOOTS times under each VMM, alternating, 768 MiB and 2 vCPUs, with
// the image's own kernel, initrd and root=LABEL=root, until the serial
// console shows "login:", the VMM exits, the guest panics or the deadline
// passes, and prints one CLOUDBOOT line per boot. A boot that failed is followed by its
// console's last lines and the VMM's stderr (the crash report), each line
// prefixed "CLOUDFAIL"; a boot that hung also gets each VMM thread's state
// and kernel stack (CLOUDHUNG) and, in that stderr, Go's SIGQUIT dump of
// its goroutines. With TRACE=1 (IRONVISOR_CLOUD_TRACE) it also
// prints, at login:, the VMM process's CPU ticks and its VM's KVM statistics
// from debugfs (CLOUDSTAT), and every boot's whole console (CLOUDCON).
const cloudBootInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
[ TRACE = 0 ] || mount -t debugfs debugfs /sys/kernel/debug
for m in kvm_amd virtio_pci virtio_blk; do modprobe $m || echo "L1-MODPROBE-FAILED $m"; done
` + gotest.PinKVM + `echo "L1-READY $(ls /dev/kvm) $(ls /dev/vda)"
CMD="` + cloudimage.Cmdline + ` APPEND"
boot() {
	name=$1; shift
	: > /tmp/c.log; : > /tmp/e.log
	old=$(ls -d /sys/kernel/debug/kvm/*-* 2>/dev/null)
	l1=$(head -1 /proc/stat | tr -s ' ' ,)
	t0=$(cut -d' ' -f1 /proc/uptime)
	"$@" >/dev/null 2>/tmp/e.log & pid=$!
	ok=0; i=0
	while [ $i -lt DEADLINE ]; do
		if grep -q 'login:' /tmp/c.log; then ok=1; break; fi
		kill -0 $pid 2>/dev/null || break
		grep -q 'end Kernel panic' /tmp/c.log && break
		sleep 1; i=$((i+1))
	done
	t1=$(cut -d' ' -f1 /proc/uptime)
	if [ TRACE = 1 ]; then
		st="cpu=$(cut -d' ' -f14,15 /proc/$pid/stat 2>/dev/null | tr ' ' ,) l1before=$l1 l1after=$(head -1 /proc/stat | tr -s ' ' ,)"
		# The VM's folder is named after the creating thread, not the
		# process: take the one that appeared during this boot.
		for d in /sys/kernel/debug/kvm/*-*; do
			case " $old " in *" $d "*) continue;; esac
			for f in $d/*; do [ -f $f ] && st="$st ${f##*/}=$(cat $f)"; done
		done
		echo "CLOUDSTAT $name $st"
	fi
	if [ $ok = 0 ] && kill -0 $pid 2>/dev/null; then
		# A boot that hung: where is each of the VMM's threads, in the
		# kernel (KVM_RUN, a futex, a read) or in user space, and what
		# are its goroutines doing (Go's SIGQUIT dump, on stderr)?
		# On which L1 CPU each thread last ran, and whether each L1 CPU
		# still takes interrupts at all (its local timer count moves in
		# 3 s even when idle): a vCPU thread queued on an L1 CPU that
		# halted for good never runs.
		for task in /proc/$pid/task/*; do
			echo "CLOUDHUNG thread ${task##*/} $(cut -d' ' -f2,3 $task/stat 2>/dev/null) cpu=$(cut -d' ' -f39 $task/stat 2>/dev/null) wchan=$(cat $task/wchan 2>/dev/null)"
			sed "s/^/CLOUDHUNG   /" $task/stack 2>/dev/null
		done
		grep -E '^ *(LOC|RES|CAL):' /proc/interrupts | sed "s/^/CLOUDHUNG before /"; sleep 3
		grep -E '^ *(LOC|RES|CAL):' /proc/interrupts | sed "s/^/CLOUDHUNG after /"
		kill -QUIT $pid 2>/dev/null; sleep 2
	fi
	kill -KILL $pid 2>/dev/null; wait $pid; rc=$?
	[ TRACE = 0 ] || sed "s/^/CLOUDCON $name /" /tmp/c.log
	echo "CLOUDBOOT $name ok=$ok rc=$rc t0=$t0 t1=$t1 lines=$(wc -l < /tmp/c.log)"
	if [ $ok = 0 ]; then { tail -n 60 /tmp/c.log; tail -n 500 /tmp/e.log; } | sed "s/^/CLOUDFAIL /"; fi
}
for i in $(seq BOOTS); do
	boot ironvisor /bin/ironvisor vmm run --kernel /img/vmlinuz --initrd /img/initrd.img --mem 768M --cpus 2 --disk /dev/vda --console-log /tmp/c.log --cmdline "$CMD"
	[ -z "IVENV" ] || boot ironvisor-env env IVENV /bin/ironvisor vmm run --kernel /img/vmlinuz --initrd /img/initrd.img --mem 768M --cpus 2 --disk /dev/vda --console-log /tmp/c.log --cmdline "$CMD"
	for alt in ALTS; do
		boot $alt /bin/$alt vmm run --kernel /img/vmlinuz --initrd /img/initrd.img --mem 768M --cpus 2 --disk /dev/vda --console-log /tmp/c.log --cmdline "$CMD"
	done
	[ QEMUON = 0 ] || boot qemu /usr/bin/qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 768M -smp 2 -nodefaults -no-user-config -display none -serial file:/tmp/c.log -no-reboot -L /usr/share/qemu -kernel /img/vmlinuz -initrd /img/initrd.img -drive id=d0,if=none,format=raw,file=/dev/vda -device virtio-blk-device,drive=d0 -append "$CMD"
done
echo L1-DONE
poweroff -f
`

// cloudBootLine is one boot's outcome.
var cloudBootLine = regexp.MustCompile(`CLOUDBOOT (\S+) ok=(\d) rc=(\d+) t0=([0-9.]+) t1=([0-9.]+) lines=(\d+)\r?\n`)

// BenchmarkCloudImageBoots measures how reliably a stock Debian 12 cloud
// image (build/cloudimage: its own kernel and initrd, systemd, cloud-init)
// boots to login: in the virtual rack, under ironvisor and under QEMU
// microvm in the same L1 server, alternating. IRONVISOR_CLOUD_IMAGE names
// the image's folder (`ivbuild cloudimage` builds it; default
// .cache/images/debian-12-cloud); IRONVISOR_CLOUD_BOOTS the boots of each
// VMM (default 50); IRONVISOR_CLOUD_DEADLINE the seconds a boot may take
// to login: (default 480); IRONVISOR_CLOUD_APPEND is added to both VMMs' kernel
// command line (for experiments such as noxsave); IRONVISOR_CLOUD_TRACE
// names a file that gets the L1's whole console, with each boot's console
// and statistics (see cloudBootInit); IRONVISOR_CLOUD_ENV (NAME=VALUE ...)
// adds a third boot to each round, row ironvisor-env: ironvisor run with
// that environment; IRONVISOR_CLOUD_ALT (NAME=PATH ...) adds a boot to each
// round for every other ironvisor binary named (row NAME: another commit's
// build, for bisecting a crash); IRONVISOR_CLOUD_QEMU=0 leaves QEMU out;
// IRONVISOR_CLOUD_ACCEL sets the L1's -accel (such as tcg,thread=single,
// one host thread for all the L1's CPUs) and IRONVISOR_CLOUD_L1CPUS its
// number of CPUs (default 2).
// Every failed boot is logged with its console tail and the VMM's stderr.
func BenchmarkCloudImageBoots(b *testing.B) {
	for b.Loop() {
		cloudBootsOnce(b)
	}
}

// cloudBootsOnce runs one L1 server with the alternating boots.
func cloudBootsOnce(b *testing.B) {
	set := artefactsOrSkip(b)
	img := cachedCloudImage(b, set)
	boots := cloudBootsDefault
	if v, err := strconv.Atoi(os.Getenv("IRONVISOR_CLOUD_BOOTS")); err == nil && v > 0 {
		boots = v
	}
	trace := os.Getenv("IRONVISOR_CLOUD_TRACE")
	alts, altEntries := cloudBootAlts(b)
	qemu := os.Getenv("IRONVISOR_CLOUD_QEMU") != "0"
	deadline := cloudBootDeadline
	if v, err := strconv.Atoi(os.Getenv("IRONVISOR_CLOUD_DEADLINE")); err == nil && v > 0 {
		deadline = v
	}
	init := strings.NewReplacer("ALTS", strings.Join(alts, " "), "QEMUON", strconv.Itoa(boolInt(qemu)), "BOOTS", strconv.Itoa(boots), "DEADLINE", strconv.Itoa(deadline),
		"APPEND", os.Getenv("IRONVISOR_CLOUD_APPEND"), "TRACE", strconv.Itoa(min(len(trace), 1)),
		"IVENV", os.Getenv("IRONVISOR_CLOUD_ENV")).Replace(cloudBootInit)
	l1CPUs := 2
	if v, err := strconv.Atoi(os.Getenv("IRONVISOR_CLOUD_L1CPUS")); err == nil && v > 0 {
		l1CPUs = v
	}
	tmp := b.TempDir()
	extra := append(gotest.QEMUEntries(b),
		initramfs.HostFile("/img/vmlinuz", 0o644, img.Kernel),
		initramfs.HostFile("/img/initrd.img", 0o644, img.Initrd))
	extra = append(extra, altEntries...)
	overlay := vmmOverlayModules(b, set, init, extra, []string{"virtio_pci", "virtio_blk"})
	// The artefacts' ironvisor may predate the tree: a later archive with a
	// fresh build overrides /bin/ironvisor.
	fresh := filepath.Join(tmp, "ironvisor.gz")
	buildArchive(b, fresh, []initramfs.Entry{initramfs.HostFile("/bin/ironvisor", 0o755, buildCommand(b, tmp, "ironvisor"))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(2*boots*(deadline+60))*time.Second+10*time.Minute)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "cloudboot", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{overlay, fresh},
		Append: "console=ttyS0 quiet panic=-1", MemoryMiB: 2048, CPUs: l1CPUs, LogDir: tmp,
		Accel: os.Getenv("IRONVISOR_CLOUD_ACCEL"),
		Extra: []string{"-drive", "file=" + img.Disk + ",format=raw,if=virtio,snapshot=on"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.Console.Expect(ctx, "L1-READY /dev/kvm /dev/vda"); err != nil {
		b.Fatalf("%v\n%s", err, srv.Console.Tail(30))
	}
	n, failed, secs := map[string]int{}, map[string]int{}, map[string][]float64{}
	rounds := 1 + boolInt(qemu) + len(alts)
	if os.Getenv("IRONVISOR_CLOUD_ENV") != "" {
		rounds++
	}
	for range rounds * boots {
		m, err := srv.Console.ExpectRegexp(ctx, cloudBootLine)
		if err != nil {
			b.Fatalf("%v\n%s", err, srv.Console.Tail(60))
		}
		name := m[1]
		n[name]++
		t0, _ := strconv.ParseFloat(m[4], 64)
		t1, _ := strconv.ParseFloat(m[5], 64)
		if m[2] != "1" {
			failed[name]++
			b.Logf("%s boot %d: no login: after %.0f s (exit %s, %s console lines); the L1's CPUs now:\n%s",
				name, n[name], t1-t0, m[3], m[6], srv.Diagnose(ctx))
			continue
		}
		secs[name] = append(secs[name], t1-t0)
	}
	if trace != "" {
		if err := os.WriteFile(trace, []byte(srv.Console.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
	for _, line := range strings.Split(srv.Console.String(), "\n") {
		if strings.HasPrefix(line, "CLOUDFAIL ") {
			b.Log(strings.TrimRight(line, "\r"))
		}
	}
	for _, name := range append([]string{"ironvisor", "ironvisor-env"}, append(alts, "qemu")...) {
		if n[name] == 0 && name != "ironvisor" {
			continue
		}
		med := 0.0
		if len(secs[name]) > 0 {
			med = median(secs[name])
		}
		b.Logf("ROW: | %s | %d | %d | %.1f |", name, n[name], failed[name], med)
		b.ReportMetric(float64(failed[name]), name+"-failed")
	}
}

// cloudBootAlts reads IRONVISOR_CLOUD_ALT (NAME=PATH ...): the names of the
// other ironvisor binaries to boot each round, and their archive entries
// (/bin/NAME). A name must be a plain word that names no other row.
func cloudBootAlts(b *testing.B) ([]string, []initramfs.Entry) {
	var names []string
	var entries []initramfs.Entry
	for _, f := range strings.Fields(os.Getenv("IRONVISOR_CLOUD_ALT")) {
		name, path, ok := strings.Cut(f, "=")
		if !ok || !cloudAltName.MatchString(name) || name == "ironvisor" || name == "ironvisor-env" || name == "qemu" || path == "" {
			b.Fatalf("IRONVISOR_CLOUD_ALT: %q is not NAME=PATH with NAME a word other than ironvisor, ironvisor-env and qemu", f)
		}
		if _, err := os.Stat(path); err != nil {
			b.Fatalf("IRONVISOR_CLOUD_ALT: %v", err)
		}
		names = append(names, name)
		entries = append(entries, initramfs.HostFile("/bin/"+name, 0o755, path))
	}
	return names, entries
}

// cloudAltName is what an IRONVISOR_CLOUD_ALT name may be.
var cloudAltName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
