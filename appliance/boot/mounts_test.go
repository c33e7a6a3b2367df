package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountAllUnderRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting filesystems needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() {
		for i := len(Mounts) - 1; i >= 0; i-- {
			unix.Unmount(filepath.Join(root, Mounts[i].Target), unix.MNT_DETACH)
		}
	})
	if err := MountAll(root, Mounts, t.Logf); err != nil {
		t.Fatalf("MountAll: %v", err)
	}
	for _, p := range []string{"proc/self/stat", "sys/kernel", "dev/null", "dev/pts/ptmx", "sys/fs/cgroup/cgroup.controllers"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("after MountAll: %v", err)
		}
	}
	for _, m := range Mounts {
		if !isMountPoint(filepath.Join(root, m.Target)) {
			t.Errorf("%s is not a mount point", m.Target)
		}
	}
	var logs []string
	if err := MountAll(root, Mounts, func(f string, a ...any) { logs = append(logs, f) }); err != nil {
		t.Fatalf("second MountAll: %v", err)
	}
	if len(logs) != len(Mounts) || !strings.Contains(logs[0], "already mounted") {
		t.Errorf("second MountAll logged %q, want every mount already mounted", logs)
	}
}

func TestMountAllReportsEveryFailure(t *testing.T) {
	root := t.TempDir()
	bad := []Mount{{"none", "/a", "nosuchfs", 0, ""}, {"none", "/b", "nosuchfs", 0, ""}}
	err := MountAll(root, bad, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "/a") || !strings.Contains(err.Error(), "/b") {
		t.Errorf("MountAll of unknown filesystems: %v", err)
	}
}
