#!/usr/bin/env bash
# fuzz-all.sh runs every Fuzz target in the module briefly (FUZZTIME, default
# 3s each). Targets are found in the test files that `go list` names for
# each package (no test binary is built to list them), so a new FuzzXxx
# function is picked up without editing anything. FUZZJOBS targets run at
# once (default: the number of CPUs), each with one fuzzing worker: a
# target's build and start-up are mostly one thread, so one target alone
# leaves the other CPUs idle for half of its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
fuzztime=${FUZZTIME:-3s}
jobs=${FUZZJOBS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One line per target: "<package> <FuzzName>".
"$go" list -f '{{.ImportPath}}{{range .TestGoFiles}} {{$.Dir}}/{{.}}{{end}}{{range .XTestGoFiles}} {{$.Dir}}/{{.}}{{end}}' ./... |
	while read -r pkg files; do
		[ -n "$files" ] || continue
		# shellcheck disable=SC2086 # files is a list of paths without spaces
		{ grep -ho '^func Fuzz[A-Za-z0-9_]*(' $files || true; } | sed 's/^func //; s/($//' | sort -u | sed "s|^|$pkg |"
	done > "$work/targets"
total=$(wc -l < "$work/targets")
echo "fuzz: $total targets, $fuzztime each, $jobs at once"
[ "$total" -gt 0 ] || { echo "fuzz: no targets found"; exit 1; }
# fuzz_one PKG NAME runs one target and prints one line with its outcome
# (and its log when it fails). Go 1.26's fuzz coordinator can fail a clean
# run with a bare "context deadline exceeded" when -fuzztime ends while a
# worker is mid-call (golang/go#75804, fixed in Go 1.27). Such a run writes
# no failing input; it is retried, up to twice. A run that writes a failing
# input, or fails any other way, fails at once.
fuzz_one() {
	local pkg=$1 name=$2 log try
	log=$(mktemp -p "$FUZZ_WORK")
	for try in 1 2 3; do
		if "$FUZZ_GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZ_TIME" -parallel 1 "$pkg" > "$log" 2>&1; then
			echo "fuzz: ok $pkg $name"
			return 0
		fi
		if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
			break
		fi
		[ "$try" -lt 3 ] && echo "fuzz: $name: coordinator deadline race without a failing input (golang/go#75804), retry $try"
	done
	cat "$log"
	echo "fuzz: FAIL $pkg $name (a failing input, if any, is saved under the package's testdata/fuzz)"
	return 1
}
export -f fuzz_one
export FUZZ_GO="$go" FUZZ_TIME="$fuzztime" FUZZ_WORK="$work"
# xargs runs every target even after a failure, and exits non-zero if any
# failed; each target's lines come out together when it ends.
if ! xargs -P "$jobs" -L 1 bash -c 'fuzz_one "$0" "$1"' < "$work/targets"; then
	echo "fuzz: FAILED (see the FAIL lines above)"
	exit 1
fi
echo "fuzz: all $total targets passed"
