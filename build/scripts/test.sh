#!/usr/bin/env bash
# test.sh is `make test` after the artefacts are built: format and vet
# checks, the fuzz targets, then every test (unit, privileged, virtual
# rack) with the race detector. It ends with a summary of the go test run
# and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
log=.cache/test.log
mkdir -p .cache

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need gofmt -w:"
	echo "$unformatted"
	exit 1
fi
echo "== go vet"
"$go" vet ./...
# Tests that need what this host lacks carry the rack tag and run in the rack.
"$go" vet -tags rack ./...
# The fairness run is a benchmark (make bench); vet it all the same.
"$go" vet -tags fairness ./appliance/service
echo "== fuzz targets"
bash build/scripts/fuzz-all.sh
echo "== go test -v -race ./...  (log: $log)"
status=0
"$go" test -v -race -count=1 -timeout "${TEST_TIMEOUT:-45m}" ./... 2>&1 | tee "$log" || status=$?
echo
echo "== summary (go test)"
grep -E '^(ok|FAIL|---|panic:)|^\s+--- (FAIL|SKIP)|SKIP:' "$log" | grep -vE '^\s*--- PASS' || true
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if [ "$status" -ne 0 ]; then
	# The failing tests again, last, so that a log cut in the middle still
	# names them (a rack test's inner tests are indented).
	# Each failure's own last lines too: CI shows only the head and the
	# tail of a long log, and the reason is in the middle.
	grep -nE '^\s*--- FAIL' "$log" | awk '{ l = $0; sub(/^[0-9]+:/, "", l) } !seen[l]++' | head -n 8 | while IFS=: read -r n line; do
		echo "---- the ${FAIL_CONTEXT:-25} lines before${line#*---}"
		from=$((n > ${FAIL_CONTEXT:-25} ? n - ${FAIL_CONTEXT:-25} : 1))
		sed -n "${from},$((n - 1))p" "$log" | cut -c1-400
	done
	echo "failed tests:"
	grep -E '^\s*--- FAIL' "$log" | sed -E 's/^\s*--- FAIL: /  /' || true
	echo "make test: FAILED (go test exit status $status)"
	echo "summary: $passed passed, $failed failed, $skipped skipped"
	exit "$status"
fi
echo "make test: PASS"
echo "summary: $passed passed, $failed failed, $skipped skipped"
