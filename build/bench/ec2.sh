#!/usr/bin/env bash
# ec2.sh prints the "## EC2 endpoint: overhead against /v1" section of
# docs/benchmarks.md: BenchmarkEC2Overhead (issue 17) times
# DescribeInstances of 100 instances through the AWS SDK for Go v2 against
# GET /v1/instances through the typed apiv1 client, and RunInstances
# against POST /v1/instances, alternating in one run. `make bench` merges
# the section.
set -euo pipefail
GO=${GO:-go}
out=$("$GO" test -count=1 -run '^$' -bench BenchmarkEC2Overhead -benchtime 100x ./appliance/controlplane 2>&1) || {
	echo "$out" >&2
	exit 1
}
line=$(grep -E '^BenchmarkEC2Overhead' <<<"$out")
m() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) printf "%.2f", $(i-1)}' <<<"$line"; }

cat <<MD
## EC2 endpoint: overhead against /v1

Command: \`make bench\` (runs \`build/bench/ec2.sh\`: \`go test -run '^\$'
-bench BenchmarkEC2Overhead -benchtime 100x ./appliance/controlplane\`),
$(date -u +%Y-%m-%d), on the shared 2-core host. One client at a time;
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
| RunInstances, 1 nano | $(m server-run-ec2-p50-ms) ms | $(m server-run-ec2-p99-ms) ms | $(m server-launch-v1-p50-ms) ms | $(m server-launch-v1-p99-ms) ms | $(m server-run-p50-ratio) | $(m server-run-p99-ratio) |

The instance answers are written by hand-made encoders
(\`frontend/ec2/fastxml.go\`, checked byte for byte against encoding/xml
by \`TestFastXMLMatchesEncodingXML\`): \`go test -run '^\$' -bench
DescribeInstancesXML -benchmem ./appliance/frontend/ec2\` gave 1.63 ms,
529 KB and 224 allocations for 100 instances with encoding/xml against
0.16 ms, 238 KB and 1 allocation (2026-12-07); before them the layer's
DescribeInstances was 2.97x /v1 inside the appliance (2.34 against
0.79 ms, same benchmark, 500 rounds). What is left: the SigV4 check, the
tags and public IPs of the view, and 150 KB of XML against /v1's JSON;
through the SDK, its own XML decoding (about 4.5 ms of the 6 to 7 ms).
Launches got cheaper on both sides when the quota check stopped
decoding every instance (\`launch-scale.sh\`), so the SDK's fixed
cost per call (about 0.2 ms: signing, middleware) weighs more in the
RunInstances ratio than before.
MD
