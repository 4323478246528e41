#!/bin/sh
# Runs libFuzzer harnesses (docs/fuzzing.md); `make fuzz` and
# tests/fuzz/smoke.sh call it. Prints TAP: per harness, one test that replays
# every seed once (-runs=0) and one that fuzzes for FUZZ_SECONDS on a copy of
# the seed corpus, with libFuzzer's final stats (execs, execs/s, cov, ft,
# corpus). Exits non-zero when any harness crashed, leaked or tripped a
# sanitizer; reproducers are written to FUZZ_CRASH_DIR/<harness>-crash-*.
#
# Usage: run.sh HARNESS...   (api tokenizer checkpoint settings spans)
# Environment: FUZZ_SECONDS (60), FUZZ_BIN_DIR (where fuzz_<h> are),
# FUZZ_SRC_DIR (this folder: corpus/, dict/), FUZZ_WORK_DIR (scratch),
# FUZZ_CRASH_DIR. The grown corpus stays in FUZZ_WORK_DIR/<harness> until
# the next run (copy new inputs worth keeping into corpus/ by hand).
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-60}
bin=${FUZZ_BIN_DIR:-$here}
src=${FUZZ_SRC_DIR:-$here}
work=${FUZZ_WORK_DIR:-$bin/work}
crash=${FUZZ_CRASH_DIR:-$here/crashes}
# Leaks fail the run; a report names the first 30 frames.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:malloc_context_size=30}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

mkdir -p "$work" "$crash" || exit 1
echo "1..$(($# * 2))"
t=0
failed=0
for h in "$@"; do
	exe=$bin/fuzz_$h
	seeds=$src/corpus/$h
	dict=$src/dict/$h.dict
	log=$work/$h.log
	opts="-close_fd_mask=3 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$crash/$h-"
	[ -f "$dict" ] && opts="$opts -dict=$dict"

	t=$((t + 1))
	if "$exe" $opts -runs=0 "$seeds" >"$work/$h-seeds.log" 2>&1; then
		n=$(find "$seeds" -type f | wc -l)
		echo "ok $t - $h: $n seeds replayed"
	else
		failed=1
		echo "not ok $t - $h: a seed fails (log $work/$h-seeds.log)"
		sed 's/^/# /' "$work/$h-seeds.log" | tail -n 40
	fi

	t=$((t + 1))
	rm -rf "$work/$h"
	mkdir -p "$work/$h"
	cp "$seeds"/* "$work/$h"/
	if "$exe" $opts -max_total_time="$seconds" -print_final_stats=1 "$work/$h" >"$log" 2>&1; then
		res=ok
	else
		res="not ok"
		failed=1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
	last=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9]*[A-Za-z]*\).*/\1/p')
	echo "$res $t - $h: ${seconds} s, ${execs:-?} execs, ${rate:-?} execs/s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}, peak RSS ${rss:-?} MB"
	if [ "$res" != ok ]; then
		echo "# log: $log; reproducers: $crash/$h-*"
		grep -av '^#[0-9]' "$log" | sed 's/^/# /' | tail -n 60
	fi
done
exit $failed
