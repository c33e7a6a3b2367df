#!/usr/bin/env bash
# powerloss.sh prints the "## Power loss: 50 cuts during writes" section
# of docs/benchmarks.md: issue 10's power-loss test (TestPowerLoss in
# build/racktest) with POWER_CUTS cuts (50 by default; `make test` runs 3).
# The appliance boots in the virtual rack on an ext4 data disk, clients
# write through its API, and QEMU is killed at a random point with the
# host's page cache of the disk dropped; after each cut every
# acknowledged change must be there. `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
cuts=${POWER_CUTS:-50}
out=$(IRONVISOR_POWER_CUTS=$cuts "$GO" test -count=1 -run '^TestPowerLoss$' -v -timeout 60m ./build/racktest 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^POWERLOSS ' <<<"$out")
# field NAME prints the value of NAME=value on the POWERLOSS line.
field() { tr ' ' '\n' <<<"$line" | sed -n "s/^$1=//p"; }
commit=$(git rev-parse --short HEAD)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)

cat <<MD
## Power loss: 50 cuts during writes

Command: \`make bench\` (runs \`build/bench/powerloss.sh\`, which runs
\`IRONVISOR_POWER_CUTS=${cuts} go test -count=1 -run '^TestPowerLoss\$' -v
./build/racktest\`), $(date -u +%Y-%m-%d), commit ${commit}, the appliance
image (\`make initramfs\`) built from that commit, $("$GO" env GOVERSION),
on the shared $(nproc)-core host (${cpu}, Linux $(uname -r)); the
appliance in a rack server (QEMU TCG, 1 vCPU, 1 GiB) on a 512 MiB ext4
data disk (virtio-blk, raw image, QEMU's default writeback cache).

Each cut: three clients write through the API (the admin creates tenants
and uploads images of a tiny kernel and a 512 KiB initrd; a tenant launches
a nano instance and terminates it), for a random time of up to 3 s;
then QEMU is killed and the host's page cache of the disk image dropped
(\`posix_fadvise DONTNEED\`). The appliance boots again on the same disk
and must show no new admin token, no failed boot step and every change
it acknowledged before any cut.

| cuts | all acknowledged changes kept | tenants | images | launches | terminations | boot to READY, median / max | total |
|---|---|---|---|---|---|---|---|
| $(field cuts) | yes, after every cut | $(field tenants) | $(field images) | $(field launches) | $(field terminations) | $(field boot-median-s) s / $(field boot-max-s) s | $(field seconds) s |

Seed $(field seed) (the cut points); the counts are acknowledged changes
over the whole run. What a cut loses: everything the guest had not yet
handed to QEMU (its page cache, ext4's uncommitted journal, bbolt's
unflushed pages). What it does not model: a disk's volatile write cache.
A write QEMU had issued to the host file survives even without the
guest's flush (dropping the page cache writes dirty pages back), so a
store that forgot an fsync after a write QEMU had already passed on
would not be caught here (\`TestEveryRenameIsDurable\` holds every
rename to an fsync of its directory; nothing here checks the order of
the other fsyncs).
MD
