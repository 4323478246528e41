#!/bin/sh
# CI smoke run of the libFuzzer harnesses (docs/fuzzing.md), as TAP: builds
# them (make fuzz-build, clang -fsanitize=fuzzer,address,undefined), replays
# every seed of fuzz/corpus once and fuzzes each harness for
# S2S_FUZZ_SMOKE_SECONDS (default 20). Any crash, leak or sanitizer report
# fails it; reproducers go to $S2S_BUILDDIR/fuzz/crashes.
#
# Without clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev)
# the test is skipped, except where CI=true: there it fails.
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${S2S_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${S2S_BUILDDIR:-$(pwd)}
cc=${FUZZ_CC:-clang}

unable() {
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - fuzz smoke run cannot run: $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

command -v "$cc" >/dev/null 2>&1 || unable "no $cc (bash scripts/deps.sh installs clang)"
probe=$(mktemp -d) || unable "mktemp failed"
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	>"$probe/p.c"
"$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1 ||
	unable "$cc cannot build a libFuzzer program (libclang-rt-14-dev missing?)"

# The build tree's Makefile knows the flags; a clean environment keeps the
# parent make's jobserver and flags out of it.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$builddir" FUZZ_CC="$cc" \
	fuzz-build >"$probe/build.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - make fuzz-build failed"
	sed 's/^/# /' "$probe/build.log" | tail -n 40
	exit 1
fi
start=$(date +%s)
FUZZ_SECONDS=${S2S_FUZZ_SMOKE_SECONDS:-20} FUZZ_BIN_DIR="$builddir/fuzz" \
	FUZZ_SRC_DIR="$srcdir/fuzz" FUZZ_WORK_DIR="$builddir/fuzz/work" \
	FUZZ_CRASH_DIR="$builddir/fuzz/crashes" \
	sh "$srcdir/fuzz/run.sh" api tokenizer checkpoint settings spans
rc=$?
echo "# fuzzing took $(($(date +%s) - start)) s"
exit $rc
