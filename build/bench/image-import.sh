#!/usr/bin/env bash
# image-import.sh prints the "## Issue 12: image import against qemu-img
# convert" section of docs/benchmarks.md: it builds (or reuses) the Debian
# 12 cloud image with `ivbuild cloudimage`, then runs
# BenchmarkImportVersusQemuImg, which imports its qcow2 through the image
# store's upload path (the one POST /v1/images takes) and converts the same
# file with `qemu-img convert -O raw` on the same disk, IMPORT_ROUNDS times
# (default 5) each, alternating. `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
rounds=${IMPORT_ROUNDS:-5}
dir=${CLOUD_IMAGE_DIR:-.cache/images/debian-12-cloud}
"${IVBUILD:-.cache/bin/ivbuild}" cloudimage -dir "$dir" >&2
qcow2=$(realpath "$dir/disk.qcow2")
out=$(IRONVISOR_CLOUD_QCOW2=$qcow2 IRONVISOR_IMPORT_ROUNDS=$rounds "$GO" test -count=1 -v -run '^$' \
	-bench 'BenchmarkImportVersusQemuImg$' -benchtime 1x -timeout 60m ./appliance/images 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkImportVersusQemuImg' <<<"$out") || {
	echo "$out" >&2
	exit 1
}
# metric NAME prints the value reported before unit NAME.
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) print $(i-1)}' <<<"$line"; }
# f2 X prints X with two decimals.
f2() { printf '%.2f' "$1"; }
# rate SECONDS prints the raw disk's MB (10^6 bytes) per second.
rate() { awk -v s="$1" -v m="$(metric raw-MB)" 'BEGIN { printf "%.0f", m / s }'; }
im=$(metric import-s) cv=$(metric convert-s) qm=$(metric qemu-img-s)
rounds_log=$(sed -n 's/.*import_bench_test.go:[0-9]*: round/round/p' <<<"$out" | sed 's/^/    /')
cat <<MD
## Issue 12: image import against qemu-img convert

Command: \`make bench\` (runs \`build/bench/image-import.sh\`, which runs
\`ivbuild cloudimage\` and \`go test -run '^\$' -bench
BenchmarkImportVersusQemuImg -benchtime 1x ./appliance/images\` with
\`IRONVISOR_IMPORT_ROUNDS=$rounds\`), $(date -u +%Y-%m-%d) at commit
$(git rev-parse --short HEAD), on the shared 2-core host (kernel $(uname -r),
$(qemu-img --version | head -1)).

The disk is the compressed qcow2 of the Debian 12 cloud image
(\`build/cloudimage\`, $(metric qcow2-MB) MB, $(metric raw-MB) MB raw). Each
round imports it through the image store's upload path, the one
\`POST /v1/images\` takes (\`Begin\`, \`Add\` of the disk: copied, SHA-256
and SHA-512; \`CommitDisk\`: the qcow2 converted by this project's reader
to a sparse raw file, hashed, synced; the kernel and initrd read from the
disk in the jailed boot reader), and converts the same file with
\`qemu-img convert -f qcow2 -O raw\` into the same directory, synced
before the clock stops; $rounds rounds, alternating which goes first, both
on the host's ext4 disk. The source stays in the page cache for both.

| | median seconds | raw MB/s | / qemu-img |
|---|---|---|---|
| import (upload path, whole) | $(f2 "$im") | $(rate "$im") | $(f2 "$(metric import/qemu-img)") |
| its convert phase alone | $(f2 "$cv") | $(rate "$cv") | $(f2 "$(metric convert/qemu-img)") |
| \`qemu-img convert -O raw\` | $(f2 "$qm") | $(rate "$qm") | 1.00 |

Rounds:

$rounds_log
MD
