#!/usr/bin/env bash
# launch-scale.sh prints the "## Control plane: launch cost against the
# number of instances" section of docs/benchmarks.md: BenchmarkLaunchOnHost
# launches one instance on stores holding 0, 1000 and 10000 instances, in
# turn, and reports each size's median against the empty store's.
# `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
out=$("$GO" test -count=1 -run '^$' -bench 'BenchmarkLaunchOnHost$' -benchtime 200x ./appliance/lifecycle 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkLaunchOnHost' <<<"$out") || {
	echo "$out" >&2
	exit 1
}
# metric NAME prints the value reported before unit NAME.
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) printf "%.3f", $(i-1)}' <<<"$line"; }
rows=""
for n in 0 1000 10000; do
	rows+="| $n | $(metric "ms-launch-$n") ms | $(metric "ratio-launch-$n") |"$'\n'
done
cat <<MD
## Control plane: launch cost against the number of instances

Command (\`make bench\` runs \`build/bench/launch-scale.sh\`):

    go test -count=1 -run '^\$' -bench 'BenchmarkLaunchOnHost\$' -benchtime 200x ./appliance/lifecycle

Measured $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD), test binary of
\`./appliance/lifecycle\`, on the shared 2-core development host (kernel
$(uname -r), load average $(cut -d' ' -f1 /proc/loadavg) at the end).

Three stores (bbolt, fsync'd) hold 0, 1000 and 10000 pending instances;
each round launches one nano instance on each in turn (rotating which goes
first): one write transaction with the capacity check. Medians of 200
rounds; the ratio is against the empty store in the same run.

| instances on the host | launch (median) | / empty store |
|---|---|---|
$rows
The capacity check reads totals the lifecycle manager maintains with
every write of an instance (computed by one scan at the first transaction
after start), instead of decoding every instance inside the launch's
write transaction. Before that change (the parent of the commit that
made it, fa6279e, same benchmark and host), the medians were 0.524,
2.830 and 26.27 ms: 5.40x and 50.1x the empty store's.
MD
