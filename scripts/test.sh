#!/usr/bin/env bash
# The whole test suite, from a fresh clone of a fresh Debian 12 machine:
#   bash scripts/test.sh
# installs what is missing, builds with warnings as errors, runs `make check`
# (Criterion over TAP), and prints one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

bash scripts/deps.sh --with-torch
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
if [ ! -f Makefile ]; then
	"$top/configure" --enable-werror
fi
make -j"$(nproc)"
rc=0
make -j"$(nproc)" check || rc=$?
# The core suite once more under valgrind (memory errors and definite leaks
# fail it). It takes ~11 minutes on 2 idle cores (10.5 min, all clean, on
# 2026-12-01), so it runs only when
# S2S_VALGRIND=1 (not yet in CI: see the closing note of the first session).
vg=0
if [ "$rc" -eq 0 ] && [ "${S2S_VALGRIND:-0}" = 1 ]; then
	make check-valgrind || vg=1
fi

# One closing line that every reader understands.
pass=$(awk '/^# PASS:/ {print $3}' test-suite.log 2>/dev/null || echo 0)
fail=$(awk '/^# FAIL:/ {print $3}' test-suite.log 2>/dev/null || echo 0)
errs=$(awk '/^# ERROR:/ {print $3}' test-suite.log 2>/dev/null || echo 0)
if [ "$rc" -ne 0 ]; then
	cat test-suite.log || true
fi
[ "$vg" -eq 0 ] || echo "valgrind pass FAILED (see build/valgrind-*.log)"
echo "tests: ${pass:-0} passed, $(( ${fail:-0} + ${errs:-0} + vg )) failed"
[ "$rc" -ne 0 ] && exit "$rc"
exit "$vg"
