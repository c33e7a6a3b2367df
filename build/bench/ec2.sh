#!/usr/bin/env bash
# ec2.sh prints the "## EC2 endpoint: overhead against /v1" section of
# docs/benchmarks.md: BenchmarkEC2Overhead (issue 17) times
# DescribeInstances of 100 instances through the AWS SDK for Go v2 against
# GET /v1/instances through the typed apiv1 client, and RunInstances
# against POST /v1/instances, alternating in one run; and
# BenchmarkEC2DescribeHandler, the same DescribeInstances and GET on the
# handler alone (no socket, no client). `make bench` merges the section.
set -euo pipefail
GO=${GO:-go}
out=$("$GO" test -count=1 -run '^$' -bench 'BenchmarkEC2(Overhead|DescribeHandler)' -benchtime 500x -benchmem ./appliance/controlplane 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkEC2Overhead' <<<"$out")
m() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) printf "%.2f", $(i-1)}' <<<"$line"; }
# h SUB METRIC: a metric of BenchmarkEC2DescribeHandler/SUB.
h() { awk -v s="BenchmarkEC2DescribeHandler/$1-" -v m="$2" 'index($1, s) == 1 {for (i = 2; i <= NF; i++) if ($i == m) print $(i-1)}' <<<"$out"; }
hms() { awk -v n="$(h "$1" ns/op)" 'BEGIN {printf "%.2f", n / 1e6}'; }
hratio=$(awk -v a="$(h ec2 ns/op)" -v b="$(h v1 ns/op)" 'BEGIN {printf "%.2f", a / b}')
kb() { awk -v n="$1" 'BEGIN {printf "%d", n / 1000}'; }

cat <<MD
## EC2 endpoint: overhead against /v1

Command: \`make bench\` (runs \`build/bench/ec2.sh\`: \`go test -run '^\$'
-bench 'BenchmarkEC2(Overhead|DescribeHandler)' -benchtime 500x -benchmem
./appliance/controlplane\`), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), on the shared 2-core host. One client at a time;
each round makes the EC2 call and its /v1 peer, alternating which goes
first; each is timed from the call to its decoded answer (the SDK's
XML, the typed client's JSON). Service mode without a hypervisor
(launches stay pending). Target (issue 17): EC2 at most 1.2x /v1.

| call | EC2 (SDK) p50 | p99 | /v1 (apiv1 client) p50 | p99 | ratio p50 | ratio p99 |
|---|---|---|---|---|---|---|
| DescribeInstances, 100 instances / \`GET /v1/instances\` | $(m describe-ec2-p50-ms) ms | $(m describe-ec2-p99-ms) ms | $(m describe-v1-p50-ms) ms | $(m describe-v1-p99-ms) ms | $(m describe-p50-ratio) | $(m describe-p99-ratio) |
| RunInstances, 1 nano / \`POST /v1/instances\` | $(m run-ec2-p50-ms) ms | $(m run-ec2-p99-ms) ms | $(m launch-v1-p50-ms) ms | $(m launch-v1-p99-ms) ms | $(m run-p50-ratio) | $(m run-p99-ratio) |

The same calls as the appliance served them (a wrapper around its
handler times each request from entry to return, answer written; the
client's signing, XML or JSON decoding and retries are left out): the
compatibility layer's own cost.

| call, inside the appliance | EC2 p50 | p99 | /v1 p50 | p99 | ratio p50 | ratio p99 |
|---|---|---|---|---|---|---|
| DescribeInstances, 100 instances | $(m server-describe-ec2-p50-ms) ms | $(m server-describe-ec2-p99-ms) ms | $(m server-describe-v1-p50-ms) ms | $(m server-describe-v1-p99-ms) ms | $(m server-describe-p50-ratio) | $(m server-describe-p99-ratio) |
| the same, less the handler's waits in Write | $(m server-own-describe-ec2-p50-ms) ms | $(m server-own-describe-ec2-p99-ms) ms | $(m server-own-describe-v1-p50-ms) ms | $(m server-own-describe-v1-p99-ms) ms | $(m server-own-describe-p50-ratio) | $(m server-own-describe-p99-ratio) |
| RunInstances, 1 nano | $(m server-run-ec2-p50-ms) ms | $(m server-run-ec2-p99-ms) ms | $(m server-launch-v1-p50-ms) ms | $(m server-launch-v1-p99-ms) ms | $(m server-run-p50-ratio) | $(m server-run-p99-ratio) |

On the handler alone (\`BenchmarkEC2DescribeHandler\`: no socket, no
client; each EC2 request signed by the SDK's signer outside the timer):
DescribeInstances $(hms ec2) ms, $(kb "$(h ec2 B/op)") KB and $(h ec2 allocs/op) allocations a call,
against GET /v1/instances $(hms v1) ms, $(kb "$(h v1 B/op)") KB and $(h v1 allocs/op): $hratio.
The answers: $(kb "$(m describe-ec2-answer-bytes)") KB of XML against $(kb "$(m describe-v1-answer-bytes)") KB of JSON. An answer larger
than the loopback socket's buffers holds the handler in Write until the
client has read (for the SDK: decoded) most of it, so the first
DescribeInstances row includes some of the SDK's pace; the second leaves
those waits out and is the layer's own cost, which issue 17's 1.2x is
about.

Before and after the EC2 layer stopped allocating per answer (pooled
answer buffers, reservations pointing at their item, VPC, subnet and
group IDs hashed once per answer instead of once per instance; commit
6f2264f against main at 69465a5), both builds of the benchmarks run
alternately three times in one sitting on this host, 500 rounds each,
medians of the three:

| DescribeInstances, 100 instances, inside the appliance | before | after |
|---|---|---|
| EC2 p50 / /v1 p50, handler entry to return | 1.42 / 0.73 ms: 1.92 | 0.94 / 0.67 ms: 1.32 |
| the same, less the waits in Write | 0.96 / 0.64 ms: 1.49 | 0.55 / 0.62 ms: 0.91 |
| handler alone (2000 calls), allocated a call | 944 KB, 2279 allocations | 522 KB, 1866 allocations |

Profiling (\`-cpuprofile\` on the handler benchmark) found no N+1 over
the store (tags and public IPs are one read each, negligible here) and
SigV4 at about 35 us (the key's record, its AES-GCM opening, five
HMACs); most of both sides is the shared instance listing (decoding
100 records, about 0.4 ms). The instance XML is written by hand-made
encoders (\`frontend/ec2/fastxml.go\`, checked byte for byte against
encoding/xml by \`TestFastXMLMatchesEncodingXML\`; 0.16 ms against
1.63 ms with encoding/xml). What is left: through the SDK, its own XML
decoding (about 4.5 ms of the 6 ms), and inside the appliance the wait
for it to drain the 150 KB answer. RunInstances is at par inside the
appliance; through the SDK its fixed cost per call (about 0.2 ms:
signing, middleware) makes the difference.

The p99 columns are noise of the shared host, not the code: the same
build gave p99 ratios from 0.45 to 2.7 in the three runs above, with
p99s of 2 to 21 ms against p50s under 1 ms; five other sessions share
the two cores, and a request preempted once or caught by a collection
of the SDK's garbage lands there. (With 100 rounds, as this section
used before, "p99" was the largest of 100 samples.)
MD
