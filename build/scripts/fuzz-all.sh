#!/usr/bin/env bash
# fuzz-all.sh runs every Fuzz target in the module briefly (FUZZTIME, default
# 3s each). Targets are discovered with `go test -list '^Fuzz' ./...`, so a
# new FuzzXxx function is picked up without editing anything.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
fuzztime=${FUZZTIME:-3s}
list=$(mktemp)
trap 'rm -f "$list"' EXIT
# Output: target names, then "ok <package> <time>" for each package.
"$go" test -list '^Fuzz' ./... | awk '
	/^Fuzz/ { names = names " " $1; next }
	/^ok/ { if (names != "") print $2 names; names = "" }
' > "$list"
total=$(awk '{ n += NF - 1 } END { print n + 0 }' "$list")
echo "fuzz: $total targets, $fuzztime each"
i=0
while read -r pkg names; do
	for name in $names; do
		i=$((i + 1))
		echo "fuzz [$i/$total] $pkg $name"
		"$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" > /tmp/fuzz.$$.log 2>&1 || {
			cat /tmp/fuzz.$$.log
			rm -f /tmp/fuzz.$$.log
			echo "fuzz: FAIL $pkg $name (the failing input is saved under the package's testdata/fuzz)"
			exit 1
		}
	done
done < "$list"
rm -f /tmp/fuzz.$$.log
echo "fuzz: all $total targets passed"
