#!/usr/bin/env bash
# vmm-l2boot.sh prints the "## VMM: Linux boots that reach /init in the
# rack" section of docs/benchmarks.md: it runs BenchmarkL2BootReliability
# (one L1 server boots the Debian cloud kernel 20 times under `ironvisor vmm
# run` and 20 times under QEMU microvm, alternating) and formats its rows.
# `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench L2BootReliability 60m
cat <<MD
## VMM: Linux boots that reach /init in the rack

Command: \`make bench\` (runs \`build/bench/vmm-l2boot.sh\`, which runs
\`go test -run XXX -bench L2BootReliability -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd, pinned
by kvmpin, \`tsc=reliable\`) boots the Debian cloud kernel (2 vCPUs,
256 MiB, busybox initrd that powers off at once) alternately under each
VMM, with a 120 s deadline per boot. A boot fails when the guest never
prints its /init marker (it triple-faults, panics or hangs first).

| VMM | boots | no /init | per hundred |
|---|---|---|---|
$rows

A failed boot is logged with its exit code. The rack tests do not retry
such a boot: it fails the test with its console and, for a triple fault,
the register report of \`ironvisor vmm run\`.
MD
