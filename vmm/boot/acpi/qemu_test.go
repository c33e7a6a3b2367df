package acpi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// This test boots a real Debian kernel with exactly what vmm/boot and
// vmm/boot/acpi put in guest memory, without KVM: QEMU's TCG microvm runs a
// small firmware that does what the VMM does with KVM_SET_SREGS (enter long
// mode with the boot page tables and GDT, RSI = zero page, jump to the
// 64-bit entry). QEMU's own ACPI is off, so the guest sees only our tables.
// An isa-debug-exit device on SleepControlPort turns the guest's ACPI
// poweroff write (0x34) into QEMU exit status (0x34<<1)|1 = 105.

const (
	guestRAM     = 256 << 20
	poweroffExit = acpiPoweroffValue<<1 | 1
	// acpiPoweroffValue is SLP_TYP 5 << 2 | SLP_EN.
	acpiPoweroffValue = 0x34
	bootMarker        = "IRONVISOR-BOOT-OK"
)

// firmware returns a 64 KiB BIOS image (QEMU maps it to end at 4 GiB; the
// CPU starts at 0xfffffff0 in real mode). The code enters long mode directly
// from real mode: lgdt (the boot GDT at boot.GDTAddr), CR4.PAE, CR3 = the
// boot PML4, EFER.LME, CR0.PE|PG; then a far jump to the 64-bit code
// selector, data selectors, RSI = zero page, RSP = boot stack, jmp entry.
func firmware(entry uint32) []byte {
	const base = 0xffff0000 // CS base at reset
	bios := bytes.Repeat([]byte{0xf4}, 0x10000)
	le := binary.LittleEndian
	code16 := []byte{
		0xfa,                                     // cli
		0x66, 0x2e, 0x0f, 0x01, 0x16, 0x00, 0xf1, // o32 lgdt cs:[0xf100]
		0x66, 0xb8, 0x20, 0x00, 0x00, 0x00, // mov eax, CR4.PAE
		0x0f, 0x22, 0xe0, // mov cr4, eax
		0x66, 0xb8, 0, 0, 0, 0, // mov eax, PML4 (patched)
		0x0f, 0x22, 0xd8, // mov cr3, eax
		0x66, 0xb9, 0x80, 0x00, 0x00, 0xc0, // mov ecx, IA32_EFER
		0x0f, 0x32, // rdmsr
		0x66, 0x0d, 0x00, 0x01, 0x00, 0x00, // or eax, EFER.LME
		0x0f, 0x30, // wrmsr
		0x66, 0xb8, 0x31, 0x00, 0x00, 0x80, // mov eax, PG|NE|ET|PE
		0x0f, 0x22, 0xc0, // mov cr0, eax
		0x66, 0xea, 0, 0, 0, 0, boot.SelectorCode, 0x00, // jmp far 0x10:code64 (patched)
	}
	le.PutUint32(code16[19:], boot.PML4Addr) // immediate of the second mov eax
	le.PutUint32(code16[len(code16)-6:], base+0xf200)
	copy(bios[0xf000:], code16)
	gdtr := le.AppendUint16(nil, 5*8-1)
	copy(bios[0xf100:], le.AppendUint32(gdtr, boot.GDTAddr))
	code64 := []byte{
		0x66, 0xb8, boot.SelectorData, 0x00, // mov ax, data selector
		0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x8e, 0xe0, 0x8e, 0xe8, // mov ds/es/ss/fs/gs, ax
		0xbe, 0, 0, 0, 0, // mov esi, zero page (patched)
		0xbc, 0, 0, 0, 0, // mov esp, boot stack (patched)
		0xb8, 0, 0, 0, 0, // mov eax, entry (patched)
		0xff, 0xe0, // jmp rax
	}
	le.PutUint32(code64[15:], boot.ZeroPage)
	le.PutUint32(code64[20:], boot.BootStack)
	le.PutUint32(code64[25:], entry)
	copy(bios[0xf200:], code64)
	// Reset vector at 0xfff0: jmp near 0xf000.
	copy(bios[0xfff0:], []byte{0xe9, 0x0d, 0xf0})
	return bios
}

// testInitrd is a newc archive with a static busybox and an /init that
// prints the CPU count and the virtio-mmio devices ACPI enumerated, then
// powers off.
func testInitrd(t *testing.T, busybox []byte) []byte {
	t.Helper()
	return initrdWith(t, busybox, `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
cpus=$(/bin/busybox grep -c ^processor /proc/cpuinfo)
lnro=$(/bin/busybox ls -d /sys/bus/acpi/devices/LNRO0005:* | /bin/busybox wc -l)
/bin/busybox echo "`+bootMarker+` cpus=$cpus lnro=$lnro"
/bin/busybox poweroff -f
`, nil)
}

// initrdWith is a newc archive with a static busybox, /init script and
// the files (name: contents) in its root.
func initrdWith(t *testing.T, busybox []byte, script string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	recs := []cpio.Record{
		cpio.Directory("bin", 0o755), cpio.Directory("proc", 0o755), cpio.Directory("sys", 0o755),
		cpio.Directory("dev", 0o755),
		cpio.StaticRecord(busybox, cpio.Info{Name: "bin/busybox", Mode: cpio.S_IFREG | 0o755}),
		cpio.StaticFile("init", script, 0o755),
	}
	for name, b := range files {
		recs = append(recs, cpio.StaticRecord(b, cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o644}))
	}
	for _, r := range append(recs, cpio.TrailerRecord) {
		if err := w.WriteRecord(cpio.MakeReproducible(r)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// bootImages loads kernel and initrd into a guest-sized buffer with
// boot.LoadLinux and acpi.Build, lets mutate (if not nil) change the result,
// and returns the QEMU loader arguments for every range that was written,
// plus the entry point.
func bootImages(t *testing.T, dir string, kernel, initrd []byte, cpus int, mutate func(ram []byte)) ([]string, uint32) {
	t.Helper()
	ram := make([]byte, guestRAM)
	mem := memory.FromBytes(ram)
	// Under TCG there is no kvmclock and microvm has no port 0x61 to gate
	// the PIT, so the kernel cannot measure the TSC; tell it a frequency.
	entry, err := boot.LoadLinux(mem, kernel, initrd, "console=ttyS0 panic=-1 tsc_early_khz=2000000")
	if err != nil {
		t.Fatal(err)
	}
	var devs []acpi.MMIODevice
	for i := range 3 {
		base, gsi := boot.VirtioMMIODevice(i)
		devs = append(devs, acpi.MMIODevice{Base: base, Size: boot.VirtioMMIOSize, GSI: gsi})
	}
	if err := acpi.Build(mem, acpi.Config{CPUs: cpus, Devices: devs}); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(ram)
	}
	h, err := boot.ParseSetupHeader(kernel)
	if err != nil {
		t.Fatal(err)
	}
	load := entry.RIP - 0x200
	rd := uint64(binary.LittleEndian.Uint32(ram[boot.ZeroPage+0x218:]))
	var args []string
	for i, r := range []boot.Range{
		{Start: 0, End: boot.ACPIEnd},
		{Start: boot.RSDPAddr, End: boot.RSDPAddr + 36},
		{Start: load, End: load + uint64(h.KernelFileSize)},
		{Start: rd, End: rd + uint64(len(initrd))},
	} {
		p := filepath.Join(dir, "blob"+string(rune('0'+i)))
		if err := os.WriteFile(p, ram[r.Start:r.End], 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-device", "loader,file="+p+",addr="+hex(r.Start)+",force-raw=on")
	}
	return args, uint32(entry.RIP)
}

// hex formats an address for QEMU's command line.
func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// findKernel returns $IRONVISOR_TEST_BZIMAGE, else the Debian cloud kernel
// in the repository's kernel cache (.cache/kernels, filled by ivbuild), else
// any cached kernel, else one from /boot, else "".
func findKernel() string {
	if p := os.Getenv("IRONVISOR_TEST_BZIMAGE"); p != "" {
		return p
	}
	for _, g := range []string{"../../../.cache/kernels/*cloud*/boot/vmlinuz-*", "../../../.cache/kernels/*/boot/vmlinuz-*", "/boot/vmlinuz-*"} {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	return ""
}

// guestPrereqs returns QEMU, a kernel and busybox, or skips.
func guestPrereqs(t *testing.T) (qemu, kernel string, busybox []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: boots a kernel under TCG (slow); not in -short")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("SKIP: qemu-system-x86_64 not installed")
	}
	if kernel = findKernel(); kernel == "" {
		t.Skip("SKIP: no kernel (set IRONVISOR_TEST_BZIMAGE, run `ivbuild kernels`, or install one in /boot)")
	}
	if busybox, err = os.ReadFile("/bin/busybox"); err != nil {
		t.Skip("SKIP: no static /bin/busybox (apt-get install busybox-static)")
	}
	return qemu, kernel, busybox
}

// lastWords is what Linux prints just before powering off, or halting when
// it cannot power off.
var lastWords = regexp.MustCompile(`reboot: (Power down|System halted)`)

// console collects QEMU's output and signals when the guest kernel has
// printed its last words.
type console struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	down chan struct{} // closed once lastWords appears
}

// Write appends to the buffer; safe for concurrent use.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := lastWords.Match(c.buf.Bytes())
	c.buf.Write(p)
	if !seen && lastWords.Match(c.buf.Bytes()) {
		close(c.down)
	}
	return len(p), nil
}

// bytes returns a copy of the output so far.
func (c *console) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// qemuRun boots QEMU's TCG microvm with 2 vCPUs, firmware fw and the loader
// blobs. It returns the console and QEMU's exit status, or -1 if QEMU was
// still running 5 s after the guest's last words (its poweroff did not
// reach the sleep control register) or at the deadline.
func qemuRun(t *testing.T, qemu, dir string, fw []byte, loaders []string) ([]byte, int) {
	t.Helper()
	bios := filepath.Join(dir, "bios.bin")
	if err := os.WriteFile(bios, fw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{
		"-M", "microvm,acpi=off,pic=off,rtc=off,isa-serial=on,x-option-roms=off,auto-kernel-cmdline=off",
		"-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "256M",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-bios", bios,
		"-device", "isa-debug-exit,iobase=" + hex(acpi.SleepControlPort) + ",iosize=1",
	}, loaders...)
	if log := os.Getenv("IRONVISOR_QEMU_LOG"); log != "" {
		args = append(args, "-d", "int,cpu_reset,guest_errors", "-D", log)
	}
	con := &console{down: make(chan struct{})}
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdout, cmd.Stderr = con, con
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-con.down:
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			err = errors.New("still running after the guest's last words")
		}
	}
	var ee *exec.ExitError
	code := -1
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		code = ee.ExitCode()
	}
	t.Logf("QEMU exit %d (%v)", code, err)
	out := con.bytes()
	if testing.Verbose() {
		t.Logf("console:\n%s", out)
	}
	return out, code
}

// checkMarker checks the guest's marker: 2 CPUs and wantDevs virtio-mmio
// devices enumerated through ACPI.
func checkMarker(t *testing.T, out []byte, wantDevs int) {
	t.Helper()
	m := regexp.MustCompile(bootMarker + ` cpus=(\d+) lnro=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no boot marker; console:\n%s", out)
	}
	if string(m[1]) != "2" || string(m[2]) != strconv.Itoa(wantDevs) {
		t.Errorf("guest saw %s CPUs and %s virtio-mmio devices, want 2 and %d", m[1], m[2], wantDevs)
	}
}

// runGuest boots the guest, checks its marker and that it powered off
// through the ACPI sleep control register.
func runGuest(t *testing.T, qemu, dir string, fw []byte, loaders []string, wantDevs int) {
	t.Helper()
	out, code := qemuRun(t, qemu, dir, fw, loaders)
	checkMarker(t, out, wantDevs)
	if code != poweroffExit {
		t.Errorf("QEMU exit status %d, want %d (ACPI S5 write of %#x to port %#x); console:\n%s",
			code, poweroffExit, acpiPoweroffValue, acpi.SleepControlPort, out)
	}
}

func TestQEMUBootsDebianKernelWithOurTables(t *testing.T) {
	qemu, kpath, busybox := guestPrereqs(t)
	kernel, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s", kpath)
	dir := t.TempDir()
	loaders, entry := bootImages(t, dir, kernel, testInitrd(t, busybox), 2, nil)
	runGuest(t, qemu, dir, firmware(entry), loaders, 3)
}

// TestQEMUNoPoweroffWithoutSleepControlRegister is the negative twin: with
// the FADT's sleep control register removed (checksum fixed), Linux must
// not offer S5, and the same guest's poweroff must not reach port 0x600.
func TestQEMUNoPoweroffWithoutSleepControlRegister(t *testing.T) {
	qemu, kpath, busybox := guestPrereqs(t)
	kernel, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	loaders, entry := bootImages(t, dir, kernel, testInitrd(t, busybox), 2, func(ram []byte) {
		le := binary.LittleEndian
		xsdt := le.Uint64(ram[boot.RSDPAddr+24:])
		fadt := ram[le.Uint64(ram[xsdt+36:]):]
		fadt = fadt[:le.Uint32(fadt[4:])]
		clear(fadt[244:256]) // SLEEP_CONTROL_REG
		fadt[9] = 0
		var sum byte
		for _, b := range fadt {
			sum += b
		}
		fadt[9] = -sum
	})
	out, code := qemuRun(t, qemu, dir, firmware(entry), loaders)
	checkMarker(t, out, 3)
	if code == poweroffExit {
		t.Error("guest powered off through port 0x600 without a sleep control register")
	}
	if bytes.Contains(out, []byte("supports S0 S5")) {
		t.Error("Linux offers S5 without a sleep control register")
	}
}
