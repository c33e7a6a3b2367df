#!/usr/bin/env bash
# rack-pxe.sh prints the "## Rack bootstrap: a sibling's PXE boot" section
# of docs/benchmarks.md: it runs BenchmarkRackPXEBoot (a bootstrap server
# with ironvisor.rack=on, and a diskless sibling on its rack segment booted
# alternately over the network from it and from -kernel) and formats its
# rows. `make bench` merges the section.
set -euo pipefail
. "$(dirname "$0")/vmm-bench.bash"
vmm_bench RackPXEBoot 60m
cat <<MD
## Rack bootstrap: a sibling's PXE boot

Command: \`make bench\` (runs \`build/bench/rack-pxe.sh\`, which runs
\`go test -run XXX -bench RackPXEBoot -benchtime 1x ./build/racktest\`),
$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), on the shared 2-core host.

A bootstrap server (QEMU TCG, 1 vCPU, 1 GiB, direct kernel boot,
\`ironvisor.rack=on\`) serves a rack segment (QEMU socket multicast). A
diskless sibling (1 vCPU, 1 GiB, its only NIC on that segment) boots
alternately (IRONVISOR_RACK_ROUNDS rounds, default 2) by PXE (SeaBIOS, the
NIC's iPXE ROM, the bootstrap server's DHCP, its iPXE script and its own
kernel and initramfs over HTTP) and from \`-kernel\`/\`-initrd\` with the
same command line. Both get their address by DHCP from the bootstrap
server. Time is from QEMU's start to the sibling's \`IRONVISOR READY\`.

| sibling boot | boots | median to READY | each |
|---|---|---|---|
$rows

The PXE boot carries the initramfs uncompressed (the bootstrap server packs
it again from its root file system), over an emulated NIC.
MD
