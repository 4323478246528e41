#!/bin/sh
# Runs one test (the rest of the command line) in a --enable-sanitizers build
# and fails it if any process it started wrote an ASan, LeakSanitizer or
# UBSan report. Criterion runs each test in a forked child and ignores that
# child's exit status once the test has passed, so a leak found at the
# child's exit would otherwise pass silently; the daemon tests' children
# (seq2seqd, seq2seq-translate) are covered the same way.
#
# Every sanitized process writes its report to log_path.PID in a directory of
# its own for this test; the reports are printed as TAP comments, copied to
# $S2S_BUILDDIR/sanitizer-logs/NAME/, and the test ends with "Bail out!" and
# exit status 1, which automake's TAP driver counts as an ERROR.
for last; do :; done
name=$(basename "$last")
d=$(mktemp -d "${TMPDIR:-/tmp}/s2s-san.XXXXXX") || exit 99
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$d/asan"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$d/ubsan"
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}log_path=$d/lsan"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
"$@"
rc=$?
reports=$(find "$d" -type f -size +0 | sort)
if [ -n "$reports" ]; then
	keep=${S2S_BUILDDIR:-.}/sanitizer-logs/$name
	rm -rf "$keep" && mkdir -p "$keep" && cp $reports "$keep/"
	for f in $reports; do
		echo "# ==== $(basename "$f")"
		sed -n '1,60s/^/# /p' "$f"
	done
	echo "Bail out! sanitizer report(s) from $(echo $reports | wc -w) process(es), kept in $keep"
	rm -rf "$d"
	exit 1
fi
rm -rf "$d"
exit $rc
