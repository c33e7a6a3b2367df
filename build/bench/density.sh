#!/usr/bin/env bash
# density.sh prints the "## Density: 50 idle tiny VMs against QEMU
# microvm" section of docs/benchmarks.md: it runs BenchmarkDensityInRack
# (TestDensityOnKVM in one L1 server: 50 idle tiny guests under the jailed
# lean ironvisor-vmm and 50 under QEMU microvm, in rotated rounds) and
# formats its per-VM figures. `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
out=$("$GO" test -count=1 -run '^$' -bench DensityInRack -benchtime 1x -timeout 30m ./appliance/service/racktest 2>&1) || {
	echo "$out" >&2
	exit 1
}
res=$(grep -E '^BenchmarkDensityInRack' <<<"$out")
# metric NAME prints the value reported before unit NAME.
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) printf "%.0f", $(i-1)}' <<<"$res"; }
mib() { awk -v k="$(metric "$1")" 'BEGIN { printf "%.2f", k / 1024 }'; }
ratio=$(awk '{for (i = 2; i <= NF; i++) if ($i == "iv/qemu") print $(i-1)}' <<<"$res")
rounds=$(grep -oE 'DENSITY round=[0-9]+ arm=[a-z]+ .*' <<<"$out" | sed 's/^/    /')
cat <<MD
## Density: 50 idle tiny VMs against QEMU microvm

Command: \`make bench\` (runs \`build/bench/density.sh\`, which runs
\`go test -run '^\$' -bench DensityInRack -benchtime 1x ./appliance/service/racktest\`),
$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), on the shared
2-core host (kernel $(uname -r)).

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) runs
\`TestDensityOnKVM\`: $(metric vms) idle tiny guests (\`testutil.PVHHello\`:
a line on COM1, then \`cli; hlt\`, so each vCPU stays in \`KVM_RUN\`), 1
vCPU and 64 MiB each, on each arm, in $(metric rounds) rounds that swap
which arm goes first:

- ironvisor: the jailed lean \`ironvisor-vmm\`, started one after another
  through \`appliance/supervisor\` with the service's options (per-instance
  uid, namespaces, tmpfs root, seccomp, cgroup leaf with the nano type's
  limits). Not through the API: its vCPU budget (at most 16 vCPUs per host
  CPU) admits 32 nano instances on this 2-CPU server, not 50; the API adds
  no process per VM;
- QEMU: \`qemu-system-x86_64 -M microvm -enable-kvm -cpu qemu64 -m 64M
  -smp 1 -nodefaults -no-user-config -display none -serial file:LOG
  -kernel tiny.elf\`, each cloned into a cgroup leaf of its own.

Once every guest has printed its line, each VM counts the PSS of every
process in its cgroup leaf (\`/proc/PID/smaps_rollup\`) plus the kernel
memory charged to that leaf (\`memory.stat\` \`kernel\`: slab, kernel
stacks, the process's page tables, KVM's MMU pages, vmalloc, per-CPU).
The guest's touched RAM is in the PSS (anonymous pages of the VMM).

| per VM (median round) | ironvisor | QEMU microvm |
|---|---|---|
| PSS | $(mib iv-pss-KiB) MiB | $(mib qemu-pss-KiB) MiB |
| kernel memory charged to the VM's cgroup | $(mib iv-kernel-KiB) MiB | $(mib qemu-kernel-KiB) MiB |
| **proportional memory** | **$(mib iv-KiB) MiB** | **$(mib qemu-KiB) MiB** |
| ironvisor / QEMU | **${ratio}** | |

Every round, with the parts of the kernel memory (KiB per VM, from the
leaves' \`memory.stat\`) and the growth of the kernel's own
\`/proc/meminfo\` lines (KernelStack, PageTables, SecPageTables,
SUnreclaim, Percpu, VmallocUsed) over the arm, per VM, as a cross-check:

$rounds

MD
