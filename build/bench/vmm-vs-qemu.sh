#!/usr/bin/env bash
# vmm-vs-qemu.sh prints the "## VMM: Linux boot against QEMU" section of
# docs/benchmarks.md: it runs BenchmarkVMMVersusQEMU (one L1
# server boots the Debian cloud kernel to poweroff three times under
# `ironvisor vmm run` and three times under QEMU microvm, alternating) and
# formats the medians and the single runs. `make bench` merges the section.
set -euo pipefail
out=$(${GO:-go} test -count=1 -v -run XXX -bench VMMVersusQEMU -benchtime 1x -timeout 30m ./build/racktest 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkVMMVersusQEMU' <<<"$out")
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) print $(i-1)}' <<<"$line"; }
runs() { sed -nE "s/.*$1: wall \[([^]]*)\] s, peak RSS \[([^]]*)\] MiB.*/\\$2/p" <<<"$out" | awk '{for (i = 1; i <= NF; i++) printf "%s%.2f", (i > 1 ? ", " : ""), $i}'; }
cat <<MD
## VMM: Linux boot against QEMU

Command: \`make bench\` (runs \`build/bench/vmm-vs-qemu.sh\`, which runs
\`go test -run XXX -bench VMMVersusQEMU -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) boots
the Debian cloud kernel with a busybox initrd whose /init powers off at once
(\`benchoff\`), 128 MiB, 1 vCPU, console on ttyS0 with \`quiet\`, three times
under each VMM, alternating:

- \`ironvisor vmm run\` (built from the tree; bzImage 64-bit entry, ACPI
  tables, virtio-mmio rng);
- \`qemu-system-x86_64 -M microvm -enable-kvm -cpu host\` (qboot firmware,
  its own ACPI), binary and libraries copied into L1 with \`ldd\`.

Wall time is exec to process exit (L1 \`/proc/uptime\`); peak RSS is busybox
\`time -v\`'s maximum RSS divided by 4 (busybox converts ru_maxrss as if it
were pages: a 100 MiB \`dd\` shows 414912 KiB under busybox, 104164 KiB under
GNU time). Nested TCG makes absolute times far larger than on bare metal;
the ratio is what matters.

| VMM | boot to poweroff (median) | runs (s) | peak RSS (median) | runs (MiB) |
|---|---|---|---|---|
| ironvisor | $(metric ironvisor-boot-s) s | $(runs ironvisor 1) | $(metric ironvisor-rss-MiB) MiB | $(runs ironvisor 2) |
| QEMU microvm | $(metric qemu-boot-s) s | $(runs qemu 1) | $(metric qemu-rss-MiB) MiB | $(runs qemu 2) |

Both RSS figures include the guest RAM the guest touched (up to 128 MiB);
the VMM's own overhead is the rest.
MD
