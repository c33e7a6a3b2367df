#!/usr/bin/env bash
# step.sh LABEL COMMAND [ARGS...] runs COMMAND, saying first what it does
# and then how long it took, so that a first `make run` or `make test` on a
# fresh machine reads as a list of timed steps. It exits with COMMAND's
# status.
set -uo pipefail
label=$1
shift
echo "==> $label ..."
start=$(date +%s%N)
"$@"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$rc" -eq 0 ]; then
	printf '==> %s: done in %d.%01ds\n' "$label" $((ms / 1000)) $((ms % 1000 / 100))
else
	printf '==> %s: FAILED (exit %d) after %d.%01ds\n' "$label" "$rc" $((ms / 1000)) $((ms % 1000 / 100))
fi
exit "$rc"
