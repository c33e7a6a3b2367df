# vmm-bench.bash is sourced by the vmm-*.sh scripts (it is not a bench
# script itself: make bench runs only build/bench/*.sh). vmm_bench NAME
# TIMEOUT runs the racktest benchmark NAME once and sets $out to its output
# and $rows to its table rows (the text after "ROW: "); it exits 1 with the
# output on stderr when the benchmark fails or prints no row. With
# VMM_BENCH_LOG=FILE it tees the output to FILE; with VMM_BENCH_FROM=FILE it
# formats a saved output instead of running the benchmark.
vmm_bench() {
	if [ -n "${VMM_BENCH_FROM:-}" ]; then
		out=$(cat "$VMM_BENCH_FROM")
	else
		out=$(${GO:-go} test -count=1 -v -run XXX -bench "$1" -benchtime 1x -timeout "$2" ./build/racktest 2>&1) || {
			echo "$out" >&2
			exit 1
		}
	fi
	[ -z "${VMM_BENCH_LOG:-}" ] || echo "$out" >"$VMM_BENCH_LOG"
	rows=$(sed -n 's/.*ROW: //p' <<<"$out")
	[ -n "$rows" ] || {
		echo "$out" >&2
		exit 1
	}
}
