#!/usr/bin/env bash
# vmm-coldstart.sh prints the "## VMM: tiny-guest cold start and memory
# against QEMU" section of docs/benchmarks.md: it runs
# BenchmarkVMMColdStartVersusQEMU (one L1 server boots a tiny PVH guest 15
# times under `ironvisor vmm run` and 15 times under QEMU microvm,
# alternating, timed by a Go benchmark inside L1) and formats its rows.
# `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench VMMColdStartVersusQEMU 30m
# With IRONVISOR_BENCH_VMM_ONLY=PATH the benchmark also runs that binary.
only=$(sed -n 's/.*VMM-ONLY: //p' <<<"$out")
cat <<MD
## VMM: tiny-guest cold start and memory against QEMU

Command: \`make bench\` (runs \`build/bench/vmm-coldstart.sh\`, which runs
\`go test -run XXX -bench VMMColdStartVersusQEMU -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) runs
this package's test binary (\`BenchmarkInL1ColdStart\`), which boots the
project's tiny PVH guest (\`testutil.PVHHello\`: prints a 16-byte marker on
COM1, then \`cli; hlt\`) 15 times under each VMM, alternating which goes
first:

- \`ironvisor vmm run --kernel tiny.elf --mem 128M\` (built from the tree,
  as \`make build\` does);
- \`qemu-system-x86_64 -M microvm -enable-kvm -cpu qemu64 -m 128M -nodefaults
  -no-user-config -display none -serial stdio -kernel tiny.elf\` (qboot,
  then QEMU's pvh.bin option ROM), binary and libraries copied into L1.

Each VMM is forked with its stdout on a pipe. Wall time runs from just
before the exec to the read of the first byte (Go's monotonic clock). CPU
time is the sum over the VMM's threads of \`/proc/PID/task/*/schedstat\`
(nanoseconds on a CPU) read right after that byte. Memory is read from
\`/proc/PID/smaps\` once the marker line is complete and the guest halts:
total Rss minus the Rss of the anonymous 128 MiB guest-RAM mapping (shared
libraries and the binary's own pages count as the VMM's).

| measure (median of 15) | ironvisor | QEMU microvm | ratio of medians | median of per-round ratios | ironvisor runs | QEMU runs |
|---|---|---|---|---|---|---|
$rows

Nested TCG makes absolute times much larger than on bare metal (every
KVM exit of L2 is emulated by L1 under TCG), and exec and dynamic linking
inside L1 are slow too, so the ratio is the figure to compare with the
target (at most 0.15 of QEMU). Memory figures are not distorted by the
nesting.
MD
