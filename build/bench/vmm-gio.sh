#!/usr/bin/env bash
# vmm-gio.sh prints the "## VMM: guest I/O against QEMU (vhost=off)"
# section of docs/benchmarks.md: it runs BenchmarkVMMGuestIOVersusQEMU (one
# L1 server boots the Debian cloud kernel under ironvisor-vmm and under
# QEMU microvm, alternating, on the same tap and raw file; each guest runs
# build/rack/guestio: 4 KiB random O_DIRECT reads at depth 16, TCP both
# ways and a one-byte TCP ping-pong) and formats its rows.
# IRONVISOR_GIO_ROUNDS=N sets the boots per VMM (default 3). `make bench`
# merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench VMMGuestIOVersusQEMU 70m
stalls=$(sed -n 's/.*STALLS: //p' <<<"$out")
cat <<MD
## VMM: guest I/O against QEMU (vhost=off)

Command: \`make bench\` (runs \`build/bench/vmm-gio.sh\`, which runs
\`go test -run XXX -bench VMMGuestIOVersusQEMU -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), on the shared
2-core host ($(uname -r)).

One L1 server (QEMU TCG, \`-cpu EPYC,+svm\`, 2 vCPUs, 2 GiB, kvm_amd) runs
this package's test binary (\`BenchmarkInL1GuestIO\`), which boots the
Debian cloud kernel (1 vCPU, 256 MiB) with a busybox initrd and the static
\`guestio\` command (build/rack/guestio) under each VMM, alternating which
goes first. Both get the same 128 MiB raw file in L1's tmpfs as their
virtio-blk disk and the same persistent tap (vnet header) as their
virtio-net NIC; the L1 side of the tap (10.0.2.1) is the guestio peer
(sink, source, echo) in the test binary:

- ironvisor: \`ironvisor-vmm run --disk FILE --tap giotap0,mac=...\`;
- QEMU: \`-M microvm -enable-kvm -cpu host\`, \`-drive
  id=d0,if=none,format=raw,cache=writeback,aio=threads,file=FILE -device
  virtio-blk-device,drive=d0 -netdev
  tap,id=n0,ifname=giotap0,script=no,downscript=no,vhost=off -device
  virtio-net-device,netdev=n0,mac=...\`.

Each test runs 10 s in the guest: 16 goroutines each doing
\`pread(O_DIRECT)\` of a random aligned 4 KiB block (every block checked
against its index), TCP writes of 128 KiB to the peer (bytes the peer
counted over the time to its count), TCP reads from the peer, and a
one-byte write/read ping-pong with TCP_NODELAY (round-trip percentiles).

| median of the completed runs | ironvisor | QEMU microvm | ironvisor relative to QEMU (ratio of medians; for latency QEMU/ironvisor, above 1 is better) | median of per-round ratios | ironvisor runs | QEMU runs |
|---|---|---|---|---|---|---|
$rows

Boots that did not reach the guest's /init within 90 s were killed and
retried, up to 3 boots per VMM and round: $stalls.

Everything runs under nested TCG on a shared 2-core host: the absolute
figures are far below real hardware, and single runs vary by up to 2x; the
per-round ratio compares two runs made back to back.
MD
