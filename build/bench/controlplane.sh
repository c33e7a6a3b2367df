#!/usr/bin/env bash
# controlplane.sh prints the "## Control plane: API latency and store writes"
# section of docs/benchmarks.md: API latency (BenchmarkAPILatency, service
# mode without a hypervisor), one durable store write (BenchmarkDurablePut),
# and the launch rate and most instances at once of nano tiny-guest
# instances on real KVM in the rack (BenchmarkLaunchRateInRack, which runs
# TestLaunchRateOnKVM in an L1 server). `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
run() {
	local out
	out=$("$GO" test -count=1 -run '^$' "$@" 2>&1) || {
		echo "$out" >&2
		exit 1
	}
	echo "$out"
}
# metric LINE NAME prints the value reported before unit NAME on LINE.
metric() { awk -v m="$2" '{for (i = 2; i <= NF; i++) if ($i == m) print $(i-1)}' <<<"$1"; }
# ms LINE NAME prints that value with one decimal.
ms() { printf '%.1f' "$(metric "$1" "$2")"; }
# count LINE NAME prints that value as a whole number (go test prints
# every metric as a float: 2.000).
count() { printf '%.0f' "$(metric "$1" "$2")"; }

api=$(run -bench BenchmarkAPILatency -benchtime 1000x ./appliance/controlplane | grep -E '^BenchmarkAPILatency')
put=$(run -bench BenchmarkDurablePut -benchtime 300x ./appliance/store | grep -E '^BenchmarkDurablePut')
rate=$(run -bench LaunchRateInRack -benchtime 1x -timeout 30m ./appliance/service/racktest | grep -E '^BenchmarkLaunchRateInRack')
put_ms=$(awk '{for (i = 2; i <= NF; i++) if ($i == "ns/op") printf "%.2f", $(i-1) / 1e6}' <<<"$put")
cpus=$(count "$rate" cpus)
lps=$(metric "$rate" launches/s)
per_cpu=$(awk -v r="$lps" -v c="$cpus" 'BEGIN { printf "%.2f", r / c }')

cat <<MD
## Control plane: API latency and store writes

Command: \`make bench\` (runs \`build/bench/controlplane.sh\`), $(date -u +%Y-%m-%d),
on the shared 2-core host.

API latency: \`go test -run '^\$' -bench BenchmarkAPILatency -benchtime 1000x
./appliance/controlplane\`, service mode without a hypervisor (launches stay
pending), 50 concurrent clients:

| request | p50 | p99 |
|---|---|---|
| launch (\`POST /v1/instances\`, one nano instance) | $(metric "$api" launch-p50-ms) ms | $(metric "$api" launch-p99-ms) ms |
| describe (\`GET /v1/instances/{id}\`) | $(metric "$api" describe-p50-ms) ms | $(metric "$api" describe-p99-ms) ms |

Launches are serialised by bbolt's one writer and its fsync. One
acknowledged store write (\`go test -run '^\$' -bench BenchmarkDurablePut
-benchtime 300x ./appliance/store\`): ${put_ms} ms.

Launch rate on real KVM: \`go test -run '^\$' -bench LaunchRateInRack
-benchtime 1x ./appliance/service/racktest\` runs TestLaunchRateOnKVM in one
L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, ${cpus} vCPUs, 1 GiB, kvm_amd), so
every guest runs under nested virtualisation on emulated CPUs. Nano
instances (1 vCPU, 64 MiB) of a tiny PVH guest that prints a line and
halts, through the real \`ironvisor serve\` binary and its API, each in its
own jailed VMM (the lean \`ironvisor-vmm\`; on 2026-11-28, when VMMs ran the
whole appliance binary, the same run gave 3.87 launches/s and 322 ms p50):

| figure | value |
|---|---|
| nano instances running at once | $(count "$rate" max-running) (the next launch: InsufficientCapacity, vCPU budget = ${cpus} CPUs, no overcommit; \`--cpu-overcommit\` raises it) |
| sustained launch rate to running ($(count "$rate" workers) workers, each: launch, wait for running, terminate; median of $(count "$rate" rounds) rounds, $(count "$rate" launches) launches in $(metric "$rate" s) s in all) | ${lps} /s (${per_cpu} per L1 vCPU per second) |
| launch (\`POST\` sent) to running (first \`GET\` showing it, polled every 5 ms), p50 | $(metric "$rate" p50-ms) ms |
| launch to running, p99 | $(metric "$rate" p99-ms) ms |
| where a boot's time goes, on the server (means from \`ironvisor_boot_stage_seconds\` in \`/metrics\`) | waiting for the instance $(ms "$rate" queue-ms) ms, run spec $(ms "$rate" prepare-ms) ms, VMM start (jail, exec, KVM setup, control socket) $(ms "$rate" vmm-ms) ms, storing running $(ms "$rate" commit-ms) ms |

### Launch rate through the API against the raw rate (issue 14, goal 5)

The same run has a raw arm: in every round, after or before the API arm
(the order swaps each round), as many workers start the same nano VMMs
through an \`appliance/supervisor\` of their own, with the options the
service's runner uses (the lean \`ironvisor-vmm\` beside
\`/bin/ironvisor\`, the same jail and cgroup, per-instance uid, 1 vCPU,
64 MiB, the same tiny guest), each: \`Start\` (it returns when the VMM's
control socket answers, which is what the service calls running), forced
\`Stop\`, \`Forget\`. Target: the API costs at most 1.2x the raw rate.

| figure | API | raw | raw / API |
|---|---|---|---|
| launch rate to running, median of $(count "$rate" rounds) rounds | ${lps} /s | $(metric "$rate" raw-launches/s) /s | **$(metric "$rate" raw/api)** (median of per-round ratios $(metric "$rate" raw/api-rounds)) |
| launch to running, p50 / p99 | $(metric "$rate" p50-ms) / $(metric "$rate" p99-ms) ms | $(metric "$rate" raw-p50-ms) / $(metric "$rate" raw-p99-ms) ms | |
| one launch to running, mean | $(metric "$rate" api-up-ms) ms | $(metric "$rate" raw-up-ms) ms | |
| its terminate (API) or forced stop and forget (raw), mean | $(metric "$rate" api-down-ms) ms | $(metric "$rate" raw-down-ms) ms | |

Where the API's extra time goes: the server's own stages (above) are the
wait for the instance's boot worker, the run spec, the VMM start (the same
\`supervisor.Start\` as the raw arm) and the store write of running; the
rest of launch to running is the \`POST\` (one durable store write), and
the 5 ms polling of \`GET\` until it shows running.

Anchor and target (issue 5): Firecracker's about 5 launches per core per
second; at least that, with launch to running below 50 ms at p50 for the
tiny guest. Under nested TCG the absolute figures say little about bare
metal: every VMM start (exec of the static binary, jail, KVM setup, the
guest's entry) runs on emulated CPUs.
MD
