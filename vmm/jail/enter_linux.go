package jail

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Enter confines the calling process, which Start created, and returns the
// files it was given. It must be the first thing a jailed child does (see
// the package documentation for the steps). On error the process is in an
// unknown, partly confined state and must exit.
func Enter() (Files, error) {
	return enter(nil)
}

// enter is Enter with a hook that runs after the privilege drop and before
// seccomp; tests use it to observe the confined process.
func enter(beforeSeccomp func(Files)) (Files, error) {
	// Per-thread steps (the bounding-set fallback, no_new_privs) and the
	// hook run on one thread.
	defer lockThread()()
	cfg, err := readConfig()
	if err != nil {
		return Files{}, err
	}
	if os.Getpid() != 1 {
		return Files{}, fmt.Errorf("jail %s: not PID 1 of a new PID namespace (pid %d)", cfg.ID, os.Getpid())
	}
	parentStages = cfg.Stages
	markStage("config")
	if err := pivot(cfg); err != nil {
		return Files{}, fmt.Errorf("jail %s: %w", cfg.ID, err)
	}
	markStage("root")
	if err := unix.Sethostname([]byte(cfg.ID)); err != nil {
		return Files{}, fmt.Errorf("jail %s: set hostname: %w", cfg.ID, err)
	}
	drop := dropPrivileges
	if cfg.Creds {
		drop = dropCapabilities
	}
	if err := drop(cfg.UID, cfg.GID); err != nil {
		return Files{}, fmt.Errorf("jail %s: %w", cfg.ID, err)
	}
	if cfg.ExeFD != 0 {
		unix.Close(cfg.ExeFD)
	}
	markStage("ids")
	files := cfg.Layout.files()
	if beforeSeccomp != nil {
		beforeSeccomp(files)
	}
	if err := LoadSeccomp(); err != nil {
		return Files{}, fmt.Errorf("jail %s: %w", cfg.ID, err)
	}
	markStage("seccomp")
	entered.Store(true)
	return files, nil
}

// pivot builds the new root on a tmpfs at cfg.Root, moves into it and
// detaches everything else.
func pivot(cfg childConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV)
	if err := unix.Mount("tmpfs", cfg.Root, "tmpfs", flags, "size=256k,nr_inodes=64,mode=0755"); err != nil {
		return fmt.Errorf("mount root tmpfs on %s: %w", cfg.Root, err)
	}
	for _, dev := range cfg.Devices {
		if err := bindDevice(cfg.Root, dev); err != nil {
			return err
		}
	}
	if err := switchRoot(cfg.Root); err != nil {
		return err
	}
	ro := uintptr(unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY) | flags
	if err := unix.Mount("", "/", "", ro, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	return nil
}

// switchRoot makes root the process's root directory: pivot_root, with the
// old root detached. When / is the initramfs (rootfs), which pivot_root
// refuses (EINVAL), moveRoot does it instead.
func switchRoot(root string) error {
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return fmt.Errorf("create old-root mount point: %w", err)
	}
	err := unix.PivotRoot(root, old)
	if err == unix.EINVAL {
		os.Remove(old)
		return moveRoot(root)
	}
	if err != nil {
		return fmt.Errorf("pivot_root to %s: %w", root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return fmt.Errorf("remove old-root mount point: %w", err)
	}
	return nil
}

// moveRoot is switchRoot's fallback on the rootfs, done as switch_root
// does it, but leaving no other mount behind:
//
//   - it moves root over / first, so that root no longer hangs below any
//     other mount (on the appliance it lives on the data file system);
//   - it then detaches every other mount, the former ancestors of root
//     too; their paths still resolve, because the process's root directory
//     is still the rootfs's, which the move covered but did not replace;
//   - and only then chroots into the moved root.
//
// What is left in the mount namespace is the rootfs itself, under the new
// root, unreachable without CAP_SYS_CHROOT and CAP_SYS_ADMIN, which Enter
// drops next.
func moveRoot(root string) error {
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir to %s: %w", root, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s over /: %w", root, err)
	}
	// Deepest first, so children go before their parents.
	for i := len(mounts) - 1; i >= 0; i-- {
		m := mounts[i]
		// root and what is mounted in it moved with it.
		if m == "/" || m == root || strings.HasPrefix(m, root+"/") {
			continue
		}
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("detach %s: %w", m, err)
		}
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to %s: %w", root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	return nil
}

// bindDevice bind-mounts the host device node dev at the same path under
// root.
func bindDevice(root, dev string) error {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return fmt.Errorf("device %s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("device %s: not a character device", dev)
	}
	target := filepath.Join(root, dev)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("device %s: %w", dev, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("device %s: %w", dev, err)
	}
	f.Close()
	if err := unix.Mount(dev, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind device %s: %w", dev, err)
	}
	return nil
}

// dropPrivileges empties the capability bounding set, then clears
// supplementary groups and sets all uids and gids, which (all uids being
// non-zero) clears the permitted, effective and ambient capabilities. The
// syscall package applies setgroups/setresgid/setresuid to every thread.
func dropPrivileges(uid, gid uint32) error {
	if err := dropBoundingSet(); err != nil {
		return err
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("clear supplementary groups: %w", err)
	}
	if err := syscall.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("set gid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("set uid %d: %w", uid, err)
	}
	return nil
}

// dropCapabilities is dropPrivileges for a VMM whose ids the clone set
// (childConfig.Creds): it checks the ids, empties the calling thread's
// bounding set and clears the capabilities of every thread with a single
// all-thread capset, one stop of the world instead of eight.
//
// The other threads keep ambientCaps in their bounding sets. That grants
// nothing: the bounding set only limits what execve can gain, execve is
// outside the seccomp allow-list, no_new_privs is set, and no thread
// holds a capability.
func dropCapabilities(uid, gid uint32) error {
	ru, eu, su := unix.Getresuid()
	rg, eg, sg := unix.Getresgid()
	if ru != int(uid) || eu != int(uid) || su != int(uid) || rg != int(gid) || eg != int(gid) || sg != int(gid) {
		return fmt.Errorf("started as uids %d/%d/%d gids %d/%d/%d, want %d:%d", ru, eu, su, rg, eg, sg, uid, gid)
	}
	if groups, err := unix.Getgroups(); err != nil || len(groups) != 0 {
		return fmt.Errorf("started with supplementary groups %v (%v), want none", groups, err)
	}
	for c := uintptr(0); c <= 63; c++ {
		_, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
		if e == unix.EINVAL {
			break // past CAP_LAST_CAP
		}
		if e != 0 {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	if err := clearCapsAllThreads(); err != nil {
		return fmt.Errorf("clear capabilities: %w", err)
	}
	return nil
}

// dropBoundingSet empties the capability bounding set of every thread
// (PR_CAPBSET_DROP is per thread). Start leaves only enterCaps in it, so
// this stops the world a handful of times, not once per capability.
//
// A binary with cgo (or a -race build) cannot run a syscall on all threads;
// there the set is emptied on the calling thread only, and the other
// threads keep enterCaps in theirs. That grants nothing: the bounding set
// only limits what execve can gain, execve is outside the seccomp
// allow-list, no_new_privs is set, and after the uid change no thread holds
// a capability.
func dropBoundingSet() error {
	all := true
	for c := uintptr(0); c <= 63; c++ {
		in, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, c, 0)
		if e == unix.EINVAL {
			return nil // past CAP_LAST_CAP
		}
		if e != 0 {
			return fmt.Errorf("read capability %d in the bounding set: %w", c, e)
		}
		if in == 0 {
			continue
		}
		if all {
			_, _, e = syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
			all = e != unix.ENOTSUP
		}
		if !all {
			_, _, e = syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
		}
		if e != 0 {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	return nil
}

// lockThread pins the goroutine to its thread for calls with per-thread
// effect; the returned function undoes it.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
