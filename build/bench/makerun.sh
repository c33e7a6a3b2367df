#!/usr/bin/env bash
# makerun.sh prints the "## make run reliability" section of
# docs/benchmarks.md: the server of `make run` booted BENCH_RUNS times (30
# by default) in a row from a fresh state, each watched for stalls as
# `make run` watches it, each reaching its API.
set -euo pipefail
exec "${IVBUILD:-.cache/bin/ivbuild}" bench-run -n "${BENCH_RUNS:-30}"
