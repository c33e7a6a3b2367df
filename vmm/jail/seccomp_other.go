//go:build linux && !amd64

package jail

import "golang.org/x/sys/unix"

// The seccomp programs are generated for linux/amd64 only (seccompgen);
// elsewhere LoadSeccomp fails rather than run a VMM unfiltered.
var seccompProgram, seccompProgramLibc, sealedProgram []unix.SockFilter
