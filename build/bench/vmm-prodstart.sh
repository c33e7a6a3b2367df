#!/usr/bin/env bash
# vmm-prodstart.sh prints the "## VMM: production start path against the
# bare VMM and QEMU" section of docs/benchmarks.md: it runs
# BenchmarkVMMProductionStart (one L1 server starts the tiny PVH guest 11
# times on each path, rotating, timed by a Go benchmark inside L1) and
# formats its rows and stage split. `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench 'VMMProductionStart$' 30m
stages=$(sed -n 's/.*STAGES: /- /p' <<<"$out")
cat <<MD
## VMM: production start path against the bare VMM and QEMU

Command: \`make bench\` (runs \`build/bench/vmm-prodstart.sh\`, which runs
\`go test -run XXX -bench 'VMMProductionStart\$' -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), on the shared 2-core
host (kernel $(uname -r)).

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) runs
\`BenchmarkInL1ProductionStart\`, which starts the tiny PVH guest
(\`testutil.PVHHello\`, 128 MiB, 1 vCPU) 11 times on each path, rotating
which goes first, and times each from its start to the first byte of its
console file (inotify on the file; the O_TRUNC of the supervisor's open
does not count):

- jailed: \`supervisor.Start\` with the options the appliance uses
  (\`Unlimited\`, per-instance uid, \`/dev/kvm\`, control socket, console
  and kernel opened on the host and passed as fds), which runs
  \`jail.Start\`: cgroup leaf with memory, cpu and pids limits, clone into
  new mount, PID, IPC, UTS and network namespaces, then the VMM's
  \`jail.Enter\` (tmpfs root, ids and capabilities dropped, seccomp);
  the lean \`ironvisor-vmm\` built from the tree;
- bare: \`ironvisor-vmm run --kernel tiny.elf --mem 128M\`, forked and
  exec'd with its stdout on the console file;
- QEMU under the same isolation: \`qemu-system-x86_64 -M microvm\` as in
  the cold-start section, cloned into the same five new namespaces, into a
  cgroup leaf with the same memory.max, cpu.max and pids.max, in its own
  session, as an unprivileged uid and gid; it gets no jail root, no
  capability-bounding-set drop beyond the uid change, and no seccomp
  filter (QEMU's \`-sandbox\` is off), so it is, if anything, favoured;
- three splits of the bare VMM: in a new network namespace only, in the
  five namespaces, and in the five namespaces plus a limited cgroup leaf.

| path (median of 11) | first console byte | jailed / this (ratio of medians) | median of per-round ratios | runs (ms) |
|---|---|---|---|---|
$rows

Where the time goes: every ironvisor-vmm writes one line to its standard
error once its vCPUs are about to run, with CLOCK_MONOTONIC times of its
start stages (\`vmm/cli\`: init of the Go program, the steps of
\`jail.Enter\`, VM built, vCPUs started); the benchmark subtracts each from
the one before, and the first from the fork (for the jailed path: from the
call of \`supervisor.Start\`). Medians per stage:

$stages

MD
