#!/usr/bin/env bash
# vmm-cloudboot.sh prints the "## VMM: a stock Debian cloud image boots to
# login: in the rack" section of docs/benchmarks.md: it builds (or reuses)
# the Debian 12 cloud image with `ivbuild cloudimage`, then runs
# BenchmarkCloudImageBoots: one L1 server boots the image's own kernel and
# initrd with its disk CLOUD_BOOTS times (default 50) under `ironvisor vmm
# run` and as often under QEMU microvm, alternating, each to login:. 50 of
# each take well over an hour nested; CLOUD_BOOTS=5 gives a quick look.
# `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
boots=${CLOUD_BOOTS:-50}
dir=${CLOUD_IMAGE_DIR:-.cache/images/debian-12-cloud}
if [ -z "${VMM_BENCH_FROM:-}" ]; then
	"${IVBUILD:-.cache/bin/ivbuild}" cloudimage -dir "$dir" >&2
fi
export IRONVISOR_CLOUD_IMAGE=$(realpath "$dir") IRONVISOR_CLOUD_BOOTS=$boots
vmm_bench CloudImageBoots "$((boots * 20 + 30))m"
failures=$(grep -c 'CLOUDFAIL' <<<"$out" || true)
cat <<MD
## VMM: a stock Debian cloud image boots to login: in the rack

Command: \`make bench\` (runs \`build/bench/vmm-cloudboot.sh\`, which runs
\`ivbuild cloudimage\` and \`go test -run XXX -bench CloudImageBoots
-benchtime 1x ./build/racktest\` with \`IRONVISOR_CLOUD_BOOTS=$boots\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd,
pinned by kvmpin) boots a Debian 12 image in the layout of Debian's
genericcloud image (\`build/cloudimage\`: debootstrap with systemd,
cloud-init, openssh-server, linux-image-cloud-amd64; GPT, ext4 root
labelled \`root\`), with its own kernel and initrd, \`$(sed -n 's/^const Cmdline = "\(.*\)"$/\1/p' build/cloudimage/cloudimage.go)\`,
768 MiB and 2 vCPUs, alternately under each VMM, until the serial console
shows \`login:\` (480 s deadline). The disk is the L1's \`/dev/vda\`, a
snapshot of the image.

| VMM | boots | no login: | median seconds to login: |
|---|---|---|---|
$rows

A failed boot is logged by the benchmark with its console's last lines
and the VMM's stderr ($failures such lines in this run), which for
ironvisor includes the register report of a triple fault.
MD
