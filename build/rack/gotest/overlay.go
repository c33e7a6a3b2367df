package gotest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/initramfs"
)

// WriteOverlay writes the server's uncompressed initramfs to path: busybox,
// the test binary bin as /pkg.test, the modules of o.Modules (resolved in
// modulesDir, the host kernel's /lib/modules/RELEASE) with a modules.dep
// for busybox modprobe, the /init script and o.Files.
func WriteOverlay(path, modulesDir, release, bin string, o Options) error {
	o = o.withDefaults()
	load, entries, err := modules(modulesDir, release, o.Modules)
	if err != nil {
		return err
	}
	b := initramfs.New()
	err = b.Add(
		initramfs.Console(),
		initramfs.HostFile("/bin/busybox", 0o755, Busybox),
		initramfs.HostFile("/pkg.test", 0o755, bin),
		initramfs.File("/init", 0o755, []byte(InitScript(load, o.Run, o.Timeout))),
		initramfs.Dir("/proc", 0o755), initramfs.Dir("/sys", 0o755),
		initramfs.Dir("/dev", 0o755), initramfs.Dir("/tmp", 0o1777),
		initramfs.Dir("/run", 0o755),
	)
	if err == nil {
		err = b.Add(entries...)
	}
	if err == nil {
		err = b.Add(o.Files...)
	}
	if err != nil {
		return fmt.Errorf("rack go test overlay: %w", err)
	}
	if _, err := b.WriteFile(path, initramfs.None); err != nil {
		return fmt.Errorf("rack go test overlay: %w", err)
	}
	return nil
}

// modules resolves names with their dependencies and returns the names to
// modprobe (in order, built-in ones dropped) and the archive entries. A
// requested name that is neither a module nor built in is an error: the
// tests would skip or fail without it.
func modules(dir, release string, names []string) ([]string, []initramfs.Entry, error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	set, err := initramfs.ResolveModules(dir, names)
	if err != nil {
		return nil, nil, fmt.Errorf("rack go test modules: %w", err)
	}
	present := make(map[string]bool, len(set.Modules))
	for _, m := range set.Modules {
		present[m.Name] = true
	}
	builtin := make(map[string]bool, len(set.Builtin))
	for _, n := range set.Builtin {
		builtin[n] = true
	}
	// set.Missing also lists soft dependencies that are only aliases; only
	// the requested names must exist.
	var load, missing []string
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		switch {
		case present[n]:
			load = append(load, n)
		case !builtin[n]:
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("rack go test modules: %s neither modules nor built into %s", strings.Join(missing, ", "), release)
	}
	return load, set.Entries(release), nil
}

// InitScript returns the server's /init: with PATH=/bin:/usr/bin (busybox's
// links, and QEMUEntries' qemu-system-x86_64), mount the file systems the tests
// need, load the modules in order (a failure prints GOTEST-MODPROBE-FAILED
// and ends the run with exit code 125 before any test), run /pkg.test with
// -test.v, the -test.run expression run and a -test.timeout below the
// server timeout, print the exit marker, and power off.
func InitScript(load []string, run string, timeout time.Duration) string {
	var s strings.Builder
	s.WriteString(`#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
echo "GOTEST cgroup controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
status=0
`)
	for _, m := range load {
		fmt.Fprintf(&s, "modprobe %s || { echo \"GOTEST-MODPROBE-FAILED %s\"; status=125; }\n", m, m)
	}
	s.WriteString(PinKVM)
	args := fmt.Sprintf("-test.v -test.count=1 -test.timeout=%s", testTimeout(timeout))
	if run != "" {
		args += " -test.run " + shellQuote(run)
	}
	fmt.Fprintf(&s, `cd /tmp
echo %s
if [ $status = 0 ]; then /pkg.test %s 2>&1; status=$?; fi
echo "%s $status"
poweroff -f
`, markBegin, args, markExit)
	return s.String()
}

// testTimeout leaves the server a minute (or a tenth of a short timeout)
// to boot before the test binary's own timeout panics with a stack dump.
func testTimeout(server time.Duration) time.Duration {
	margin := time.Minute
	if server < 5*time.Minute {
		margin = server / 5
	}
	return (server - margin).Round(time.Second)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CheckPassed fails t unless the run exited 0, every test in names shows
// "--- PASS: name", and no test printed "SKIP:" (a skip in the rack means
// the rack lacks something the test needs, which is a defect).
func CheckPassed(t testing.TB, r *Result, names ...string) {
	t.Helper()
	if r.Exit != 0 {
		t.Errorf("tests failed in the rack (exit %d):\n%s", r.Exit, r.Output)
	}
	for _, n := range names {
		if !strings.Contains(r.Output, "--- PASS: "+n+" ") {
			t.Errorf("%q did not pass in the rack:\n%s", n, tail(r.Output, 80))
		}
	}
	for _, line := range strings.Split(r.Output, "\n") {
		if strings.Contains(line, "SKIP:") {
			t.Errorf("a test skipped in the rack: %s", strings.TrimSpace(line))
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
