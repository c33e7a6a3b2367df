#!/usr/bin/env bash
# kvmflip.sh prints the "## make run reliability: the host probe's VM
# freezes an unpinned server" section of docs/benchmarks.md: it runs
# BenchmarkKVMFlip (issue 18's experiment: the server of `make run` creates
# and closes VMs as the appliance's host probe does, rounds alternating
# without and with a kvm.Pin) and formats its rows. `make bench` merges the
# section. IRONVISOR_FLIP_ROUNDS, IRONVISOR_FLIP_ROUND and
# IRONVISOR_FLIP_QUIET (see the benchmark) size the run.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
rounds=${IRONVISOR_FLIP_ROUNDS:-3}
budget=${IRONVISOR_FLIP_ROUND:-4m}
export IRONVISOR_FLIP_ROUNDS=$rounds IRONVISOR_FLIP_ROUND=$budget
vmm_bench KVMFlip 90m
frozen=$(grep -c 'FROZEN after' <<<"$out" || true)
int3=$(awk '/FROZEN after/{if(b)n++; b=0} /asm_exc_int3|__schedule\+0x2ab/{b=1} END{if(b)n++; print n+0}' <<<"$out")
cat <<MD
## make run reliability: the host probe's VM freezes an unpinned server

Command: \`make bench\` (runs \`build/bench/kvmflip.sh\`, which runs
\`go test -run XXX -bench KVMFlip -benchtime 1x ./build/racktest\` with
IRONVISOR_FLIP_ROUNDS=$rounds IRONVISOR_FLIP_ROUND=$budget), $(date -u +%Y-%m-%d),
commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), on the shared 2-core host.

Issue 18's experiment. The server of \`make run\` (QEMU TCG, \`-cpu
EPYC,+svm\`, 2 vCPUs, 2 GiB, the Debian host kernel, \`tsc=reliable\`)
boots a busybox /init that loads kvm_amd and runs \`build/rack/kvmflip
-what=probe -churn\`: it calls \`kvm.Probe\` (the appliance's host probe:
open /dev/kvm, create a VM, close it) in a loop, printing a heartbeat per
VM, while two threads bounce a byte through pipes so that both CPUs keep
switching tasks. Rounds alternate without and with a \`kvm.Pin\` held;
a round ends after $budget, or as frozen when no heartbeat comes for 60 s.

| variant | each VM | rounds | VMs created | frozen rounds | VMs before each freeze |
|---|---|---|---|---|---|
$rows

Where the frozen servers' vCPUs were (QEMU's gdb stub, named with the
server's kallsyms): in $int3 of the $frozen frozen rounds a vCPU was in
\`asm_exc_int3\` or at \`__schedule+0x2ab\` (the preempt notifier's static
branch, which memory already holds as a NOP again): the text_poke_bp loop
of \`vmm/kvm/pin.go\`. BenchmarkKVMFlip's log has each report.
MD
