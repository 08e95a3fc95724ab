#!/bin/sh
# fuzz.sh - run libFuzzer targets for a bounded time each, then print a
# table: executions and crashes per target.
#   scripts/fuzz.sh SECONDS build-fuzz/fuzz_NAME...
# Each target grows its corpus in build-fuzz/corpus-NAME from the seeds
# in fuzz/corpus/NAME; a crashing input is kept as
# build-fuzz/crash-NAME-* and its log as build-fuzz/NAME.log. A crash
# stops its own target only. Exit status 1 when any target crashed.
secs="${1:?usage: fuzz.sh SECONDS TARGET...}"
shift
dir=build-fuzz
summary="$dir/fuzz-summary.txt"
: >"$summary"
bad=0
for bin in "$@"; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	mkdir -p "$dir/corpus-$short" "fuzz/corpus/$short"
	before=$(ls "$dir" | grep -c "^crash-$short-" || true)
	echo "== $name (${secs}s)"
	"$bin" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$dir/crash-$short-" \
		"$dir/corpus-$short" "fuzz/corpus/$short" >"$dir/$short.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		"$dir/$short.log" | tail -1)
	after=$(ls "$dir" | grep -c "^crash-$short-" || true)
	crashes=$((after - before))
	status=ok
	if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
		status="crash (exit $rc, see $dir/$short.log)"
		[ "$crashes" = 0 ] && crashes=1
		bad=1
	fi
	printf '%-16s %12s %8s  %s\n' "$short" "${execs:-?}" "$crashes" \
		"$status" >>"$summary"
	tail -n 3 "$dir/$short.log"
done
echo
printf '%-16s %12s %8s  %s\n' TARGET EXECUTIONS CRASHES STATUS
cat "$summary"
exit $bad
