// Package supervisor runs each instance as its own jailed `ironvisor vmm
// run` process (vmm/jail) and drives it through its control socket
// (vmm/control).
//
// Start opens every file the VMM needs on the host — /dev/kvm, the control
// socket listener, the console log (truncated, so that log offsets equal the
// VMM's console offsets), kernel, initrd, the root volume and the taps — and
// passes them in with jail's fixed fd numbering, so the jailed VMM never
// opens a host path. It returns once the VMM answers on its control socket,
// or with the VMM's own error message if it exits first.
//
// VMM processes outlive the appliance: jail starts them in their own session
// (setsid) and nothing ties them to the supervisor (no Pdeathsig, standard
// streams go to a file, not a pipe). After an appliance restart, Reattach
// finds them again by their jail directory and cgroup, watches their exit
// through a pidfd (they are no longer our children), and cleans up leftovers
// whose process is gone.
//
// Per-instance files live in Options.StateDir:
//
//	jail/ID/root        the jail's root directory (vmm/jail)
//	vmm/ID/control.sock the control socket
//	vmm/ID/vmm.log      the VMM's stdout and stderr; its last line says how it ended
//	vmm/ID/meta.json    the console log path, kept after exit for Console,
//	                    and the uid and gid the VMM runs as (InstanceIDs)
//
// The VMM writes vmm.log itself, through the inherited descriptor. A guest
// can make it log, so its logger (package vmm/vmlog) rate-limits every
// kind of message and stops at 1 MiB with a note; only its exit line comes
// after. The console log is capped by the VMM too (--console-log-max).
//
// Each VMM runs under its own uid and gid, allocated from a range per
// instance and kept until Forget (InstanceIDs). Nothing is chowned to it:
// it reaches every file through an fd the supervisor opened, so a file
// owned by its uid would only widen what it could open by path.
//
// When a VMM ends, the supervisor removes its cgroup, jail root and socket,
// and calls Options.OnExit with a reason taken from the VMM's exit status
// and its last message (or, for an adopted VMM whose status cannot be
// collected, from that message alone).
package supervisor
