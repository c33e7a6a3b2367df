package acpi_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// powerButtonMarker is what the power button guest prints: how many
// ACPI0013 and PNP0C0C devices ACPI enumerated, whether a driver bound the
// GED's platform device (Linux's evged) and the button driver bound the
// button, how many GED interrupts Linux requested, and how many input
// devices are called "Power Button".
var powerButtonMarker = regexp.MustCompile(`IRONVISOR-PWRBTN ged=(\d+) pwrb=(\d+) gedbound=(\d+) buttonbound=(\d+) gedirq=(\d+) input=(\d+)`)

// powerButtonInit loads the button driver (a module in Debian's kernels,
// CONFIG_ACPI_BUTTON=m; the GED driver is built in) and reports what Linux
// made of the DSDT's power button.
const powerButtonInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
insmod /button.ko || echo INSMOD-FAILED
count() { ls -d "$@" 2>/dev/null | wc -l; }
ged=$(count /sys/bus/acpi/devices/ACPI0013:*)
pwrb=$(count /sys/bus/acpi/devices/PNP0C0C:*)
gedbound=$(count /sys/bus/acpi/devices/ACPI0013:*/physical_node/driver)
buttonbound=$(count /sys/bus/acpi/drivers/button/PNP0C0C:*)
gedirq=$(grep -c 'ACPI:Ged' /proc/interrupts)
input=$(grep -c '^N: Name="Power Button"' /proc/bus/input/devices)
grep -B1 -A8 'Power Button' /proc/bus/input/devices
grep 'ACPI:Ged' /proc/interrupts
echo "GED driver: $(readlink /sys/bus/acpi/devices/ACPI0013:00/physical_node/driver)"
echo "IRONVISOR-PWRBTN ged=$ged pwrb=$pwrb gedbound=$gedbound buttonbound=$buttonbound gedirq=$gedirq input=$input"
poweroff -f
`

// buttonModule returns the button driver of the kernel at kpath, from the
// kernel cache's layout (boot/vmlinuz-R next to lib/modules/R), or skips.
func buttonModule(t *testing.T, kpath string) []byte {
	t.Helper()
	release := strings.TrimPrefix(filepath.Base(kpath), "vmlinuz-")
	p := filepath.Join(filepath.Dir(kpath), "..", "lib", "modules", release, "kernel", "drivers", "acpi", "button.ko")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("SKIP: no button.ko next to %s (run `ivbuild kernels`): %v", kpath, err)
	}
	return b
}

// TestQEMUBindsPowerButton boots the Debian kernel on our tables with the
// button driver loaded and checks that Linux found the Generic Event
// Device and the power button in the DSDT, bound both (the GED requested
// its interrupt), and made the "Power Button" input device that udev tags
// power-switch for systemd-logind.
func TestQEMUBindsPowerButton(t *testing.T) {
	qemu, kpath, busybox := guestPrereqs(t)
	kernel, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	initrd := initrdWith(t, busybox, powerButtonInit, map[string][]byte{"button.ko": buttonModule(t, kpath)})
	dir := t.TempDir()
	loaders, entry := bootImages(t, dir, kernel, initrd, 2, nil)
	out, _ := qemuRun(t, qemu, dir, firmware(entry), loaders)
	m := powerButtonMarker.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no power button marker; console:\n%s", out)
	}
	for i, name := range []string{"ACPI0013 devices", "PNP0C0C devices", "GED bound", "button bound", "GED interrupts", `"Power Button" inputs`} {
		if string(m[i+1]) != "1" {
			t.Errorf("%s: %s, want 1", name, m[i+1])
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", out)
	}
}
