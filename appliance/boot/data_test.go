package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/config"
)

// mkfsImage makes a file system image of the given type and label with the
// system's mkfs, and returns its path and UUID.
func mkfsImage(t *testing.T, dir, name, fsType, label string) (string, string) {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs." + fsType)
	if err != nil {
		t.Skipf("SKIP: mkfs.%s not installed (make deps installs e2fsprogs and btrfs-progs)", fsType)
	}
	img := filepath.Join(dir, name)
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(128 << 20); err != nil { // btrfs needs more than 100 MiB
		t.Fatal(err)
	}
	f.Close()
	args := []string{"-q", "-L", label, img}
	if fsType == "btrfs" {
		args = []string{"-q", "-f", "-L", label, img}
	}
	if out, err := exec.Command(mkfs, args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.%s: %v\n%s", fsType, err, out)
	}
	out, err := exec.Command("blkid", "-o", "value", "-s", "UUID", img).Output()
	if err != nil {
		t.Skipf("SKIP: blkid (util-linux) cannot read %s: %v", img, err)
	}
	return img, strings.TrimSpace(string(out))
}

// TestFindDataByLabelAndUUID lays out a fake /sys/class/block and /dev with
// real ext4 and btrfs images and an empty disk, and finds each by label,
// UUID and path; the UUIDs are checked against blkid's.
func TestFindDataByLabelAndUUID(t *testing.T) {
	dir := t.TempDir()
	place := dataPlace{SysBlock: filepath.Join(dir, "sys"), Dev: filepath.Join(dir, "dev")}
	for _, d := range []string{place.SysBlock, place.Dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ext4, ext4UUID := mkfsImage(t, place.Dev, "vda", "ext4", "ivdata")
	btrfs, btrfsUUID := mkfsImage(t, place.Dev, "vdb", "btrfs", "ivbtrfs")
	if err := os.WriteFile(filepath.Join(place.Dev, "vdc"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"vda", "vdb", "vdc", "sr0"} { // sr0 has no node: skipped
		if err := os.Mkdir(filepath.Join(place.SysBlock, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		source, dev, fsType string
	}{
		{"LABEL=ivdata", ext4, "ext4"},
		{"UUID=" + strings.ToUpper(ext4UUID), ext4, "ext4"},
		{"LABEL=ivbtrfs", btrfs, "btrfs"},
		{"UUID=" + btrfsUUID, btrfs, "btrfs"},
		{btrfs, btrfs, "btrfs"},
	} {
		kind, value, err := config.ParseData(tc.source)
		if tc.source == btrfs { // a path outside /dev: findData takes it as it is
			kind, value, err = config.DataKindDevice, btrfs, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		dev, fs, err := findData(place, kind, value)
		if err != nil {
			t.Errorf("%s: %v", tc.source, err)
			continue
		}
		if dev != tc.dev || fs.Type != tc.fsType {
			t.Errorf("%s: found %s (%+v), want %s (%s)", tc.source, dev, fs, tc.dev, tc.fsType)
		}
	}
	if _, _, err := findData(place, config.DataKindLabel, "nope"); err == nil || !strings.Contains(err.Error(), "no ext4 or btrfs file system with LABEL=nope among 4 block devices") {
		t.Errorf("missing label: %v", err)
	}
	if _, err := probeFS(filepath.Join(place.Dev, "vdc")); err == nil {
		t.Error("an empty disk was recognised as a file system")
	}
	// The same label twice is refused rather than guessed.
	if err := os.Link(ext4, filepath.Join(place.Dev, "vdd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(place.SysBlock, "vdd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := findData(place, config.DataKindLabel, "ivdata"); err == nil || !strings.Contains(err.Error(), "is on 2 devices") {
		t.Errorf("duplicate label: %v", err)
	}
}

// TestMountDataFallsBackToTmpfs mounts the data file system in a private
// mount namespace: a missing label is reported and the state goes to a
// tmpfs; a real ext4 image on a loop device is mounted by its label.
func TestMountDataFallsBackToTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to mount")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("SKIP: losetup (util-linux) not installed")
	}
	// The mounts happen in a child: unshare(CLONE_NEWNS) would leak into
	// the test process's other threads.
	if os.Getenv("IRONVISOR_DATA_CHILD") == "" {
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0], "-test.run", "^TestMountDataFallsBackToTmpfs$", "-test.v")
		cmd.Env = append(os.Environ(), "IRONVISOR_DATA_CHILD=1")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestMountDataFallsBackToTmpfs") {
			t.Fatalf("child failed: %v", err)
		}
		return
	}
	root := t.TempDir()
	place := dataPlace{SysBlock: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev"), Wait: time.Second}
	os.MkdirAll(place.SysBlock, 0o755)
	os.MkdirAll(place.Dev, 0o755)
	logf := func(f string, a ...any) { t.Logf(f, a...) }

	t.Cleanup(func() {
		unix.Unmount(filepath.Join(root, "a", DataDir), unix.MNT_DETACH)
		unix.Unmount(filepath.Join(root, "b", DataDir), unix.MNT_DETACH)
	})
	d, err := mountData(filepath.Join(root, "a"), "LABEL=nowhere", place, nil, logf)
	if err == nil || !strings.Contains(err.Error(), "keeping the state in RAM") || d.Persistent || d.Source != "tmpfs" {
		t.Fatalf("missing label: %+v, %v", d, err)
	}

	img, _ := mkfsImage(t, t.TempDir(), "data.img", "ext4", "ivtest")
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("SKIP: no loop device: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", loop).Run()
	if err := os.Symlink(loop, filepath.Join(place.Dev, "loopX")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(place.SysBlock, "loopX"), 0o755)
	target := filepath.Join(root, "b")
	d, err = mountData(target, "LABEL=ivtest", place, nil, logf)
	if err != nil || !d.Persistent || !strings.Contains(d.Source, "(ext4, LABEL=ivtest") {
		t.Fatalf("ext4 by label: %+v, %v", d, err)
	}
	if err := os.WriteFile(filepath.Join(target, DataDir, "probe"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(target, DataDir))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode: %v, %v", st.Mode(), err)
	}
}

// TestDataModulesAreInTheImage checks that the modules the data step loads
// early are among LateModules, which a test keeps in step with the
// initramfs.
func TestDataModulesAreInTheImage(t *testing.T) {
	late := map[string]bool{}
	for _, m := range LateModules {
		late[m] = true
	}
	for _, m := range dataModules {
		if !late[m] {
			t.Errorf("data module %s is not in LateModules (so not in the image)", m)
		}
	}
}
