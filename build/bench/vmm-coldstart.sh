#!/usr/bin/env bash
# vmm-coldstart.sh prints the "## VMM: tiny-guest cold start and memory
# against QEMU" section of docs/benchmarks.md: it runs
# BenchmarkVMMColdStartVersusQEMU (one L1 server boots a tiny PVH guest 15
# times under the lean ironvisor-vmm, 15 times under QEMU microvm and 15
# times under `ironvisor vmm run`, rotating, timed by a Go benchmark inside
# L1) and formats its rows.
# `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench VMMColdStartVersusQEMU 30m
# The same rounds boot the guest with the whole appliance binary too.
full=$(sed -n 's/.*APPLIANCE-BINARY: //p' <<<"$out")
cat <<MD
## VMM: tiny-guest cold start and memory against QEMU

Command: \`make bench\` (runs \`build/bench/vmm-coldstart.sh\`, which runs
\`go test -run XXX -bench VMMColdStartVersusQEMU -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) runs
this package's test binary (\`BenchmarkInL1ColdStart\`), which boots the
project's tiny PVH guest (\`testutil.PVHHello\`: prints "TINY" and a newline
on COM1, then \`cli; hlt\`) 15 times under each VMM, rotating which goes
first:

- \`ironvisor-vmm run --kernel tiny.elf --mem 128M\`, the lean VMM binary
  that the appliance runs for each instance (built from the tree, as
  \`make build\` does);
- \`qemu-system-x86_64 -M microvm -enable-kvm -cpu qemu64 -m 128M -nodefaults
  -no-user-config -display none -serial stdio -kernel tiny.elf\` (qboot,
  then QEMU's pvh.bin option ROM), binary and libraries copied into L1.

Each VMM is forked with its stdout on a pipe. Wall time runs from just
before the exec to the read of the first byte (Go's monotonic clock);
ironvisor's serial device writes whole lines, so its first byte leaves
after the guest's fifth OUT, QEMU's after the first. CPU time is the sum
over the VMM's live threads of \`/proc/PID/task/*/schedstat\` (nanoseconds
on a CPU), read right after that byte. Memory is read from
\`/proc/PID/smaps\` after the marker line, once the guest has idled for 1 s:
total Rss minus the Rss of the anonymous 128 MiB guest-RAM mapping; the
binary's own file pages and shared libraries count as the VMM's.

| measure (median of 15) | ironvisor | QEMU microvm | ratio of medians | median of per-round ratios | ironvisor runs | QEMU runs |
|---|---|---|---|---|---|---|
$rows

Nested TCG makes absolute times 10-50 times what they would be on bare
metal: CPU time is about the wall time for both, i.e. the start is the
VMM's own user-space and KVM-ioctl work, emulated by TCG (for QEMU, exec
and dynamic linking of ~50 libraries among the rest). The ratio moves with
the host's load: with the appliance binary it was 0.24, 0.20 and 0.14 in
three runs on 2026-11-28 (QEMU's median 1.4 to 2.8 s). Compare ratios with the targets (time at most 0.15 of
QEMU; memory at most 5 MiB and below QEMU); memory is not distorted by the
nesting. Two runs of five that day froze their L1: once with kernel
soft-lockup reports on both L1 vCPUs (one in a starting VMM process) after
47 starts, on which the benchmark fails at once; once silently (L1 vCPUs
busy, no console output) after 24 starts, which ends at the 15-minute
timeout. Run it again then.

Where ironvisor's memory goes: the file pages of the 5.3 MB ironvisor-vmm
that the start touches (page cache, shared by every VMM of a host, but
counted in each one's RSS), and the anonymous part (Go heap, stacks), which
is what each VM adds. The same rounds also booted the guest with
\`ironvisor vmm run\`, the same VMM code inside the 19.6 MB appliance
binary, whose every package initialiser (Prometheus and protobuf
registration, net/http, nftables...) runs for \`vmm run\` too: $full. That
difference is why the appliance runs the lean binary
(\`supervisor.DefaultBinary\`). Both VMMs run with
\`GODEBUG=disablethp=1\`, the environment the appliance's supervisor gives
every VMM (\`supervisor.VMMEnv\`; QEMU ignores it): without it transparent
huge pages (\`always\` in Debian's kernel) round the Go heap up in 2 MiB
steps (ironvisor measured 16.2 MiB on 2026-11-28; QEMU shows the same
steps, 7.6, 9.6, 12.7 MiB). The runtime reads the setting only at start,
so the binary cannot set it for itself. The VMM's seccomp program is
compiled ahead of time (\`vmm/jail/seccompgen\`), and no regexp is
compiled at start, so the lean binary's initialisers allocate about 9 KB.

MD
