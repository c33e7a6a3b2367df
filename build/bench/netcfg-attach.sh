#!/usr/bin/env bash
# netcfg-attach.sh prints the "## netcfg: one NIC attach against the
# host's size" section of docs/benchmarks.md: BenchmarkAttach (as root,
# in throwaway network namespaces) attaches and detaches one NIC on hosts
# with 0, 10, 100 and 200 NICs, through the per-NIC path (AttachNIC,
# DetachNIC) and through a full Reconcile, rotating between the hosts in
# each round.
# `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
out=$("$GO" test -count=1 -run '^$' -bench 'BenchmarkAttach$' -benchtime 15x ./netcfg 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkAttach' <<<"$out") || {
	echo "$out" >&2
	exit 1
}
# metric NAME prints the value reported before unit NAME.
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) printf "%.2f", $(i-1)}' <<<"$line"; }
rows=""
for n in 0 10 100 200; do
	ratio=$(metric "ratio-attach-$n")
	rratio=$(metric "ratio-reconcile-attach-$n")
	rows+="| $n | $(metric "ms-attach-$n") ms | $(metric "ms-detach-$n") ms | ${ratio:-1} |"
	rows+=" $(metric "ms-reconcile-attach-$n") ms | $(metric "ms-reconcile-detach-$n") ms | ${rratio:-1} |"$'\n'
done
cat <<MD
## netcfg: one NIC attach against the host's size

Command (as root; \`make bench\` runs \`build/bench/netcfg-attach.sh\`):

    go test -count=1 -run '^\$' -bench 'BenchmarkAttach\$' -benchtime 15x ./netcfg

Measured $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD), test binary of
\`./netcfg\`, on the shared 2-core development host (kernel $(uname -r), load
average $(cut -d' ' -f1 /proc/loadavg) at the end).

Four hosts (network namespaces) are set up side by side with 0, 10, 100
and 200 attached NICs (the \`BenchmarkReconcile\` state: one network, each
NIC with its own group of 5 ingress rules plus a shared group with one
egress rule). Each round visits every host in turn and attaches one more
NIC with its own group, then detaches it, twice: through the per-NIC path
that the orchestrator takes (\`AttachNIC\`: tap created, the NIC's rules
added; \`DetachNIC\`: tap deleted, its rules removed) and through a full
\`Reconcile\` with and without the NIC (what start-up and repair use).
Medians of 15 rounds; the ratios are the attach at N NICs over the
attach on the empty host, from the same rounds (issue 14's goal: at most
1.2 at 200).

| NICs already attached | per-NIC attach | per-NIC detach | per-NIC attach ratio to 0 NICs | Reconcile attach | Reconcile detach | Reconcile attach ratio |
|---|---|---|---|---|---|---|
${rows}
The per-NIC path validates the NIC against per-MAC, per-address and
per-interface maps of the State that the last \`Reconcile\` converged,
updates an order-independent digest of the NICs for the ruleset's
fingerprint, looks its bridge and tap up in the link mirror, and changes
the rules in one transaction of the NIC's own set and map elements (and
its combo chains when its list of groups is new or goes away): nothing in
it walks the other NICs. What still grows with the host is in the
kernel, split by a throwaway probe (not kept; the same steps as
\`AttachNIC\`, timed one by one, means of 20 attaches on each of eight
hosts per size in three runs the same day, one 8.6 ms tap left out):
the rules' transaction took 0.29-0.62 ms on the empty host and
0.54-0.86 ms at 200 NICs, and the tap (created, put on the bridge, set
up) 0.46-0.68 ms and 0.56-0.92 ms; the rest (generation check, link
notifications) stays under 0.1 ms. The transaction grows because adding
a jump verdict (the NIC's element of the ingress and egress verdict
maps, its combo chains' jumps) makes nf_tables validate the whole inet
table at commit, every chain reachable from its base chains, which is
proportional to the NICs and their groups' rules: one element added to
a plain set commits in about 20 us on both hosts, one verdict-map
element in 26-120 us on the empty host and 170-190 us at 200 NICs. The
tap grows with the bridge's ports (the bridge recomputes its features,
MTU and port states over all its ports when one joins or comes up).
Meeting 1.2x would need the per-NIC transaction to carry no jump: a data
map from the NIC's address to its list of groups' number, and one
verdict map from that number to the combo chain, changed only when a
list of groups is new (it would not help the benchmark's state, where
every NIC has a group of its own), or bridges with fewer ports (one per
network is the design). Detach is dominated by the kernel's deletion of
the tap (about 15-18 ms on any host).
MD
