#!/usr/bin/env bash
# update.sh prints the "## Self-update downtime" section of
# docs/benchmarks.md: it runs the rack test TestUEFIDiskUpdatesWithRollback
# (one OVMF server boots the UEFI disk, updates itself to a good build and
# then to a broken one that rolls back) and formats the figures it logs,
# next to the same server's cold boot in the same run. `make bench` merges
# the section.
set -euo pipefail
go=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$go" test -count=1 -run '^TestUEFIDiskUpdatesWithRollback$' -v -timeout 40m ./build/racktest > "$log" 2>&1 || {
	tail -60 "$log" >&2
	exit 1
}
line=$(grep -o 'update-bench: .*' "$log" | tail -1)
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
cold=$(val cold_boot_s) req=$(val request_to_down_s) down=$(val api_down_up_s) inst=$(val down_to_instance_s) rb=$(val rollback_s)
sick=$(val unhealthy_rollback_s)
ratio=$(awk -v a="$down" -v b="$cold" 'BEGIN { printf "%.2f", a / b }')
cat <<MD
## Self-update downtime

Command: \`make bench\` (runs \`build/bench/update.sh\`, which runs
\`go test -run TestUEFIDiskUpdatesWithRollback -v ./build/racktest\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One rack server (QEMU TCG, OVMF, 1 vCPU, 1 GiB) boots the UEFI disk
(systemd-boot, slot A) with one running instance (a tiny guest that
halts, so it ignores the ACPI power button and its graceful stop runs the
full 10 s grace), then installs a good build through
\`POST /v1/host/update\` (uploaded, 3 tries): the box stops the instance,
reboots into slot B, starts the instance again and blesses the slot. The
peer is the same server's first cold boot (QEMU start to \`IRONVISOR
READY\`, which also grows and formats the data partition), in the same run. Then a build whose PID 1 serves but never becomes
healthy (a test hook, 1 try, a 15 s deadline) and a broken build (its
kernel panics, 1 try) each roll back by themselves.

| phase | seconds |
|---|---|
| cold boot, QEMU start to API ready (peer) | $cold |
| update request to API down (install, instance's graceful stop, shutdown) | $req |
| API down to API up (reboot through firmware, loader and boot) | $down |
| API down to blessed, instance running again | $inst |
| unhealthy update: request to back on the previous slot, instance running | $sick |
| broken update: request to back on the previous slot, instance running | $rb |

API down to up is ${ratio}x the cold boot: the update's reboot is a cold
boot of the new slot (firmware, systemd-boot, kernel, PID 1), with the
data file system already made.
MD
