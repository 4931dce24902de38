#!/bin/sh
# test/fuzz/run.sh - builds the fuzz targets, replays the kept crashers, then fuzzes
# each target for a while over its seed corpus.
#
# Usage: test/fuzz/run.sh [SECONDS] [TARGET...]
#   SECONDS  fuzzing time per target (default 60); 0 only replays the regressions
#   TARGET   watch pb config kubeconfig http chatops interactive status exec (default: all)
#
# For each target:
#   1. every file of test/fuzz/regressions/TARGET/ runs once: the inputs that once
#      crashed it must not crash it again;
#   2. libFuzzer runs for SECONDS over test/fuzz/corpus/TARGET/ (the committed seeds,
#      read only) and build-fuzz/corpus/TARGET/ (what it finds, kept between runs).
# A crash, a leak, a UBSan report, a timeout or a broken invariant stops that target,
# leaves the input in build-fuzz/artifacts/TARGET/ and makes the script exit 1; to
# keep it as a regression, copy it into test/fuzz/regressions/TARGET/ with the fix.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${KL_FUZZ_BUILD:-$root/build-fuzz}
secs=${1:-60}
[ "$#" -gt 0 ] && shift
targets=${*:-watch pb config kubeconfig http chatops interactive status exec}

case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac

bins=""
for t in $targets; do
	bins="$bins fuzz_$t"
done
# shellcheck disable=SC2086
sh "$root/test/fuzz/build.sh" $bins >/dev/null || exit 2

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=""
summary=""
for t in $targets; do
	bin="$out/fuzz_$t"
	reg="$root/test/fuzz/regressions/$t"
	seeds="$root/test/fuzz/corpus/$t"
	work="$out/corpus/$t"
	art="$out/artifacts/$t"
	mkdir -p "$work" "$art"

	# 1. regressions: each file once
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
		n=$(ls -A "$reg" | wc -l)
		if "$bin" -runs=1 "$reg"/* >"$out/$t.replay.log" 2>&1; then
			echo "$t: $n regression input(s) pass"
		else
			echo "$t: REGRESSION: a kept crasher fails again (see $out/$t.replay.log)"
			tail -n 30 "$out/$t.replay.log"
			failed="$failed $t"
			continue
		fi
	fi
	[ "$secs" -eq 0 ] && continue

	# 2. fuzzing
	maxlen=""
	case $t in
	http) maxlen="-max_len=8192" ;;
	chatops | exec | status) maxlen="-max_len=4096" ;;
	esac
	log="$out/$t.fuzz.log"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
		$maxlen -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	summary="$summary
$t: ${last:-no stats} (average ${execs:-?} exec/s)"
	if [ "$rc" -ne 0 ]; then
		echo "$t: FAILED (exit $rc); input in $art/, log $log"
		grep -E 'ERROR|SUMMARY|fuzz invariant|runtime error' "$log" | head -n 5
		failed="$failed $t"
	else
		echo "$t: ok, $secs s: $last"
	fi
done

[ -n "$summary" ] && printf '%s\n' "$summary"
if [ -n "$failed" ]; then
	echo "failed:$failed"
	exit 1
fi
exit 0
