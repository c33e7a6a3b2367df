#!/usr/bin/env bash
# appliance-boot.sh prints the "## Appliance boot" section of
# docs/benchmarks.md. Every script in build/bench prints one "## " section
# on stdout; `make bench` runs each and merges it with `ivbuild docsection`.
set -euo pipefail
exec "${IVBUILD:-.cache/bin/ivbuild}" bench-boot -n "${BENCH_BOOTS:-3}"
