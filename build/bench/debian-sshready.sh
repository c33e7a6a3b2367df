#!/usr/bin/env bash
# debian-sshready.sh prints the "## Issue 12: Debian launch to SSH-ready
# against QEMU" section of docs/benchmarks.md: it builds (or reuses) the
# Debian 12 cloud image with `ivbuild cloudimage`, then runs
# BenchmarkDebianSSHReady: in one L1 server, QEMU microvm boots the image
# SSH_ROUNDS times (default 3) with a NoCloud seed, then the L1 becomes
# the appliance, which launches it as often through its API; each is timed
# from its start to an SSH connection with the key from outside the L1.
# Each boot takes about a minute nested. `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
rounds=${SSH_ROUNDS:-3}
dir=${CLOUD_IMAGE_DIR:-.cache/images/debian-12-cloud}
if [ -z "${VMM_BENCH_FROM:-}" ]; then
	"${IVBUILD:-.cache/bin/ivbuild}" cloudimage -dir "$dir" >&2
fi
export IRONVISOR_CLOUD_IMAGE=$(realpath "$dir") IRONVISOR_SSH_ROUNDS=$rounds
vmm_bench DebianSSHReady "$((rounds * 20 + 40))m"
ratio=$(sed -n 's/^BenchmarkDebianSSHReady.* \([0-9.]*\) ironvisor\/qemu.*/\1/p' <<<"$out")
log=$(sed -n -e 's/.*debian_sshready_bench_test.go:[0-9]*: \(.* SSH-ready after .*\)/    \1/p' <<<"$out")
cat <<MD
## Issue 12: Debian launch to SSH-ready against QEMU

Command: \`make bench\` (runs \`build/bench/debian-sshready.sh\`, which runs
\`ivbuild cloudimage\` and \`go test -run XXX -bench DebianSSHReady
-benchtime 1x ./build/racktest\` with \`IRONVISOR_SSH_ROUNDS=$rounds\`),
$(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD), on the shared
2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd,
pinned by kvmpin). First QEMU microvm (\`-enable-kvm -cpu host\`, 1 vCPU,
512 MiB, virtio-mmio disk and user network) boots the Debian 12 image of
\`build/cloudimage\` with its own kernel and initrd, its disk as a
snapshot, and \`ds=nocloud-net;s=http://10.0.2.2:8000/\`: the NoCloud seed,
served over HTTP by the L1, carries the key and the same \`#cloud-config\`
user data; its guest's tcp/22 is forwarded. Then the L1 execs the
appliance (PID 1, btrfs data disk), which imports the image's qcow2 and
launches it as a \`small\` instance (1 vCPU, 512 MiB) with a key pair and
that user data, its tcp/22 behind a port forward. SSH-ready: an SSH
connection as \`debian\` with the key, from the benchmark process outside
the L1, succeeds (polled every 200 ms); timed from QEMU's trigger or from
the launch request. $rounds boots of each, QEMU's first (the L1 cannot
return from the appliance), so the sides do not alternate.

| side | boots | median s to SSH-ready | each |
|---|---|---|---|
$rows

Ratio of the medians, ironvisor / QEMU: $ratio (target below 1).

Log:

$log
MD
