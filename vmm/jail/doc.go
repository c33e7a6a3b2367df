// Package jail starts a VMM as its own confined process and confines it from
// the inside, in the manner of Firecracker's jailer.
//
// The parent (the appliance) calls Start with a Spec. Start:
//
//   - creates the per-VM root directory StateDir/ID/root (empty on the host);
//   - creates the cgroup v2 leaf CgroupParent/ID, enabling the memory, cpu,
//     pids and io controllers on the way down when limits are asked for,
//     and writes memory.max, memory.swap.max=0, memory.oom.group=1,
//     cpu.max, pids.max (see PidsBudget), io.max (a line per disk: see
//     DiskDevice) and io.weight;
//   - re-executes the VMM binary (by default /proc/self/exe) with clone3
//     CLONE_INTO_CGROUP, so the child is inside its cgroup from its first
//     instruction, in fresh mount, PID, IPC, UTS and network namespaces,
//     with its uid, gid and empty supplementary groups already set by the
//     clone, and as ambient capabilities only the four Enter needs
//     (SYS_ADMIN, SYS_CHROOT, DAC_READ_SEARCH, SETPCAP; also the whole
//     bounding set), exec'd through an fd when the uid could not reach
//     the binary; a cgo binary (-race) instead starts as root from a
//     thread whose bounding set holds the five capabilities Enter needs
//     to drop root itself;
//   - passes the VMM's files in with a fixed fd numbering (see Files).
//
// The child calls Enter first thing in main (IsChild tells it that it is
// jailed). Enter, in this order:
//
//   - makes every mount private, mounts a small tmpfs on the root directory
//     and bind-mounts the allowed device nodes into it (by default /dev/null
//     and /dev/urandom; add /dev/kvm if the VMM is to open it by path);
//   - pivot_roots into it, detaches the old root and remounts the new root
//     read-only (nosuid, nodev, noexec); when / is the initramfs, which
//     pivot_root refuses, it moves the new root over /, then detaches
//     every other mount (the data file system that holds the jail
//     directories too) and chroots, as switch_root does, so that the VMM's
//     mount namespace holds nothing of the host but the rootfs under it;
//   - sets the hostname to the VM id;
//   - empties its bounding set and clears every capability of every
//     thread with one all-thread capset (one stop of the world; the uid,
//     gid and groups, set at the clone, are checked); in a cgo binary it
//     drops the whole bounding set, clears supplementary groups and sets
//     the real, effective and saved uid and gid to Spec.UID/GID, which
//     clears every remaining capability;
//   - sets no_new_privs and loads the seccomp allow-list on every thread at
//     once (SECCOMP_FILTER_FLAG_TSYNC), default action kill process. After
//     Enter returns, the VMM may only make the syscalls that
//     vmm/jail/seccompgen lists (its Syscalls): it must have read
//     everything from outside the root (files arrive as fds; see OpenFile
//     and FDArg for "fd:N" flag values). The BPF program is compiled ahead
//     of time by seccompgen (go generate) into seccomp_filter_amd64.go, so
//     no VMM start pays for the compiler or links its tables. ioctl is
//     allowed only with the requests seccompgen's Requests lists: KVM's
//     (from vmm/kvm) and the two tap requests a VMM makes, never one that
//     changes or attaches a network interface.
//
// Once the VMM has built its VM, it calls Seal, which stacks a stricter
// filter on the first: no KVM_CREATE_VM, KVM_CREATE_VCPU or new memory
// slot, and no further filter, for as long as the guest runs.
//
// Network namespace: the VMM gets a new, empty one. Tap fds are opened by the
// appliance in the host namespace and passed in; an open tap fd keeps
// working whatever namespace its holder is in, and the VMM can then reach no
// network by any other way.
//
// Enter must run before the binary does anything else that matters, and the
// ironvisor binary must dispatch a jailed child (IsChild) before its PID-1
// check: a jailed VMM is PID 1 of its own PID namespace.
//
// Use from the appliance:
//
//	ctl, _ := control.ListenFile(sock)          // host path, for the client
//	files := jail.Files{KVM: kvm, Control: ctl, Console: log, Disks: disks, Taps: taps}
//	cmd, err := jail.Start(jail.Spec{
//		ID: id, UID: uid, GID: gid,
//		MemoryMax: jail.MemoryBudget(ram), CPUs: float64(vcpus),
//		Files: files,
//		Args: []string{"vmm", "run", "--kvm", jail.FDArg(jail.FDKVM),
//			"--disk", jail.FDArg(files.DiskFD(0)) + ",ro", ...},
//	})
//	... cmd.Wait(); jail.Cleanup(spec)
//
// and in the VMM, first thing:
//
//	if jail.IsChild() {
//		files, err := jail.Enter() // then open "fd:N" flags with jail.OpenFile
//	}
//
// Cleanup removes a VM's cgroup (killing anything left in it) and root
// directory; it is idempotent, and List finds leftovers after an appliance
// restart.
package jail
