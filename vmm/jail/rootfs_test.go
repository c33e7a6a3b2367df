package jail

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dataSource is the source name of the test's data file system.
const dataSource = "ironvisor-test-data"

// envRootfs names the host directory in which rootfsHelper builds its root.
const envRootfs = "JAIL_TEST_ROOTFS"

// TestJailOnInitramfsHidesDataFS starts a jail the way the appliance does
// on PID 1, where pivot_root fails with EINVAL: from a process whose root
// is not a mount point of its own (the initramfs case; rootfsHelper), with
// the jail state directory on a separate data file system that also holds
// another tenant's volume and the store. The jailed child must not see
// those files, and its mount namespace must not hold the data file system
// at all (looked at from outside, through nsenter, which lands at the
// namespace's real root, below the jail's chroot).
func TestJailOnInitramfsHidesDataFS(t *testing.T) {
	e := newEnv(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("SKIP: needs nsenter (util-linux)")
	}
	dir := t.TempDir()
	helper := exec.Command("/proc/self/exe", "-test.run=^$")
	helper.Env = append(os.Environ(), envRootfs+"="+dir, "JAIL_TEST_CGROUP="+e.cgParent)
	helper.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	helper.Stderr = &stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { helper.Process.Kill() })
	defer timer.Stop()
	pid, lines := 0, bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "blocking" {
		l := lines.Text()
		if v, ok := strings.CutPrefix(l, "pid "); ok {
			pid, _ = strconv.Atoi(v)
		} else if !strings.HasSuffix(l, "no such file or directory") {
			t.Errorf("jailed child: %s, want no such file", l)
		}
	}
	if pid == 0 {
		helper.Wait()
		t.Fatalf("helper did not start the jailed child: %s", stderr.String())
	}
	// Seen from its namespace's real root, the child's mount table must
	// not list the data file system, even overmounted.
	mounts, err := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--mount", "--",
		"cat", "/proc/self/mountinfo").CombinedOutput()
	syscall.Kill(pid, syscall.SIGKILL)
	if err != nil || !strings.Contains(string(mounts), " - ") {
		t.Fatalf("read the child's mount table: %v: %s (helper: %s)", err, mounts, stderr.String())
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, " "+dataSource+" ") {
			t.Errorf("the jailed child's mount namespace still holds the data file system: %s", l)
		}
	}
	if err := helper.Wait(); err != nil {
		t.Errorf("helper: %v: %s", err, stderr.String())
	}
}

// rootfsHelper runs in its own mount namespace, started by
// TestJailOnInitramfsHidesDataFS. It builds a root as an initramfs boot
// leaves it for pivot_root, which refuses it (EINVAL): a directory that is
// not a mount point, chrooted into, holding /proc, /sys, /dev and a data
// file system (tmpfs) at /data with the jail state directory in it. Then it
// starts a jailed "peek" child, prints its pid, and waits for it.
func rootfsHelper(dir string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	// The root is a mount (the rootfs is one), but its parent is shared
	// and out of the child's reach, which pivot_root refuses as it refuses
	// the rootfs, which has no parent.
	root := filepath.Join(dir, "newroot")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return err
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if err := unix.Mount("", root, "", unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
	}{
		{"proc", "proc", "proc", 0},
		{"/sys", "sys", "", unix.MS_BIND | unix.MS_REC},
		{"/dev", "dev", "", unix.MS_BIND | unix.MS_REC},
		{dataSource, "data", "tmpfs", 0},
	} {
		dst := filepath.Join(root, m.dst)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, dst, m.fstype, m.flags, ""); err != nil {
			return fmt.Errorf("mount %s: %w", dst, err)
		}
	}
	// A cgo (-race) test binary needs its ELF interpreter and libraries.
	for _, d := range []string{"/usr", "/lib", "/lib64"} {
		if err := mirror(d, filepath.Join(root, d)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "data/vmm/other"), 0o700); err != nil {
		return err
	}
	for _, f := range []string{"data/state.db", "data/admin.token", "data/vmm/other/volume"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("secret"), 0o644); err != nil {
			return err
		}
	}
	if err := unix.Chroot(root); err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	hold, never, err := os.Pipe()
	if err != nil {
		return err
	}
	defer never.Close()
	s := Spec{
		ID: "t-rootfs", UID: 65534, GID: 65534,
		StateDir: "/data/vmm/jail", CgroupParent: os.Getenv("JAIL_TEST_CGROUP"),
		Env:   []string{envMode + "=peek", "JAIL_TEST_PEEK=/data/state.db:/data/admin.token:/data/vmm/other/volume:/data"},
		Files: Files{Console: os.Stdout, Kernel: hold}, Stderr: os.Stderr,
	}
	cmd, err := Start(s)
	hold.Close()
	if err != nil {
		return err
	}
	fmt.Printf("pid %d\n", cmd.Process.Pid)
	cmd.Wait()
	return Cleanup(s)
}

// mirror makes dst what src is: the same symlink, or a bind mount of the
// directory. A missing src is left out.
func mirror(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return nil
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, "")
}
