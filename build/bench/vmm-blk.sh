#!/usr/bin/env bash
# vmm-blk.sh prints the "## VMM: virtio-blk throughput against QEMU"
# section of docs/benchmarks.md: it runs BenchmarkVMMBlockVersusQEMU (one
# L1 server boots the Debian cloud kernel 7 times under `ironvisor vmm run`
# and 7 times under QEMU microvm, alternating; each guest writes then reads
# its virtio-blk disk with O_DIRECT) and formats its rows. `make bench`
# merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench VMMBlockVersusQEMU 70m
stalls=$(sed -n 's/.*STALLS: //p' <<<"$out")
cat <<MD
## VMM: virtio-blk throughput against QEMU

Command: \`make bench\` (runs \`build/bench/vmm-blk.sh\`, which runs
\`go test -run XXX -bench VMMBlockVersusQEMU -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), on the shared 2-core host.

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) runs
this package's test binary (\`BenchmarkInL1Block\`), which boots the Debian
cloud kernel (1 vCPU, 256 MiB) with a busybox initrd 7 times under each
VMM, alternating which goes first. The guest loads virtio_mmio and
virtio_blk, then runs \`dd if=/dev/zero of=/dev/vda bs=1M count=128
oflag=direct\` and \`dd if=/dev/vda of=/dev/null bs=1M count=128
iflag=direct\`, each timed with the guest's \`/proc/uptime\`. The disk is the
same fully allocated 128 MiB raw file in L1's tmpfs for both:

- ironvisor: \`--disk FILE\` (preadv/pwritev on the file through the host
  page cache, flush advertised and served with fdatasync);
- QEMU: \`-drive id=d0,if=none,format=raw,cache=writeback,aio=threads,file=FILE
  -device virtio-blk-device,drive=d0\` on \`-M microvm -enable-kvm -cpu host\`,
  the same semantics (\`cache=none\` needs O_DIRECT, which tmpfs on this
  6.1 kernel refuses, and would not match ironvisor's buffered I/O anyway).

| MB/s (10^6 bytes/s), median of the completed runs | ironvisor | QEMU microvm | ratio of medians | median of per-round ratios | ironvisor runs | QEMU runs |
|---|---|---|---|---|---|---|
$rows

Boots that did not reach the guest's /init within 90 s (the intermittent
stall of the cloud kernel under nested TCG) were killed and retried, up to
3 boots per VMM and round: $stalls.

The file lives in L1's RAM, so this measures each VMM's virtio-blk path
(notifications, exits and copies under nested TCG), not a disk. Other
engineers' rack runs share the 2 host cores, so single runs vary by up to
2x; the per-round ratio compares the two runs made back to back.
MD
