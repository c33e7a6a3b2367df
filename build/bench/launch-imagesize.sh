#!/usr/bin/env bash
# launch-imagesize.sh prints the "## Issue 12: launch to running against
# the image's size" section of docs/benchmarks.md: BenchmarkLaunchImageSize
# launches, through the real `ironvisor serve` on this host's KVM, nano
# instances of two images that differ only in their disk, BIG_MIB (default
# 10240) against SMALL_MIB (default 100), both full of non-zero data,
# LAUNCH_ROUNDS times (default 3) each, alternating, with serve's data
# directory on a loop-mounted btrfs, as on an appliance's own data disk
# (LAUNCH_DATA=host: the temporary folder's file system instead). `make
# bench` merges the section.
set -euo pipefail
GO=${GO:-go}
big=${BIG_MIB:-10240} small=${SMALL_MIB:-100} rounds=${LAUNCH_ROUNDS:-3} data=${LAUNCH_DATA:-btrfs}
out=$(IRONVISOR_LAUNCH_DATA=$data IRONVISOR_LAUNCH_BIG_MIB=$big IRONVISOR_LAUNCH_SMALL_MIB=$small IRONVISOR_LAUNCH_ROUNDS=$rounds \
	"$GO" test -count=1 -v -run '^$' -bench 'BenchmarkLaunchImageSize$' -benchtime 1x -timeout 60m ./appliance/service 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkLaunchImageSize' <<<"$out") || {
	echo "$out" >&2
	exit 1
}
# metric NAME prints the value reported before unit NAME.
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) print $(i-1)}' <<<"$line"; }
log=$(sed -n -e 's/.*launch_imagesize_bench_test.go:[0-9]*: //p' <<<"$out" | sed 's/^/    /')
if [ "$data" = host ]; then
	fs="$(stat -f -c %T "${TMPDIR:-/tmp}"), the test's temporary folder"
else
	fs="a loop-mounted btrfs image, as on an appliance's own data disk"
fi
cat <<MD
## Issue 12: launch to running against the image's size

Command: \`make bench\` (runs \`build/bench/launch-imagesize.sh\`, which runs
\`go test -run '^\$' -bench BenchmarkLaunchImageSize -benchtime 1x
./appliance/service\` with \`IRONVISOR_LAUNCH_DATA=$data IRONVISOR_LAUNCH_BIG_MIB=$big
IRONVISOR_LAUNCH_SMALL_MIB=$small IRONVISOR_LAUNCH_ROUNDS=$rounds\`),
$(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD), on the shared
2-core host (kernel $(uname -r), its /dev/kvm; the data directory on $fs).

The real \`ironvisor serve\` holds two images with the same tiny PVH
kernel and a raw disk of $big MiB and of $small MiB, each full of
non-zero pseudo-random data (a sparse copy can skip none of it). Each
round launches a nano instance of each with \`ironvisor ctl instances
launch --wait\` (timed from the command's start to its return with the
instance running: the API, the root volume made from the image's disk by
package volumes, the jailed VMM started) and terminates it, which deletes
its volume, before the next; $rounds rounds, alternating which goes
first. \`GET /v1/host\` reports how volumes are made on the data
directory (first log line). The target (issue 12) is at most 1.1x.

| image disk | median ms to running |
|---|---|
| $big MiB | $(printf '%.0f' "$(metric big-ms)") |
| $small MiB | $(printf '%.0f' "$(metric small-ms)") |
| ratio | $(printf '%.2f' "$(metric big/small)") |

Log:

$log
MD
