#!/bin/sh
# bench/callgrind_http.sh [SRCDIR [BUILDDIR]] - instructions the daemon's loop
# thread spends per HTTP request, counted by callgrind (deterministic, so it
# can compare two builds on a busy machine where timings cannot).
#
# Starts seq2seqd under valgrind --tool=callgrind (instrumentation off while the
# model loads), turns it on once /readyz answers, drives it with wrk
# for CG_SECONDS (default 40) at CG_CONNS connections (default 16), stops it
# and prints the loop thread's instructions per request and its top functions
# (inclusive), from the thread-1 profile. Needs valgrind, wrk and curl.
# Environment: CG_MODEL (default SRCDIR/models/dates.safetensors), CG_SENTENCES
# (default: the dates sentences of bench_http.sh), CG_DAEMON_ARGS, CG_OUT (keep
# the profile files in this directory).
set -eu
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
build=$(cd "${2:-.}" && pwd)
secs=${CG_SECONDS:-40}
conns=${CG_CONNS:-16}
model=${CG_MODEL:-$src/models/dates.safetensors}
for tool in valgrind callgrind_control callgrind_annotate wrk curl; do
	command -v $tool >/dev/null 2>&1 ||
		{ echo "callgrind_http.sh: needs $tool" >&2; exit 1; }
done
out=${CG_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cg-http.XXXXXX")}
mkdir -p "$out"
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	[ -n "${CG_OUT:-}" ] || rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
sent=${CG_SENTENCES:-$out/sentences.txt}
[ -n "${CG_SENTENCES:-}" ] || sed -n '/^LIST$/,/^LIST$/p' "$src/bench/bench_http.sh" | grep -v '^LIST' > "$sent"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no --fair-sched=yes \
	--callgrind-out-file="$out/cg.out" "$build/seq2seqd" --bind=127.0.0.1 --port="$port" \
	--model "m=$model" --access_log=false --log_level=warning ${CG_DAEMON_ARGS:-} 2> "$out/daemon.log" &
pid=$!
tries=0
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
	tries=$((tries + 1))
	[ $tries -le 600 ] && kill -0 "$pid" 2>/dev/null ||
		{ echo "callgrind_http.sh: seq2seqd did not start" >&2; cat "$out/daemon.log" >&2; exit 1; }
	sleep 0.2
done
callgrind_control -i on "$pid" >/dev/null
wrk -t2 -c"$conns" -d"${secs}s" --timeout 120s -s "$src/bench/http_translate.lua" \
	"http://127.0.0.1:$port/v1/translate" -- "$sent" > "$out/wrk.txt" 2>&1
callgrind_control -i off "$pid" >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
reqs=$(sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p' "$out/wrk.txt")
[ "${reqs:-0}" -gt 0 ] || { echo "callgrind_http.sh: no requests answered" >&2; cat "$out/wrk.txt" >&2; exit 1; }
f=$(ls "$out"/cg.out*-01 | head -n 1)
total=$(callgrind_annotate "$f" | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
echo "== loop thread: $reqs requests, $total instructions, $((total / reqs)) per request (model $(basename "$model"), $conns connections)"
callgrind_annotate --inclusive=yes "$f" | sed -n '/^Ir/,$p' | grep -v '^-' | sed -n '3,40p' |
	awk -v n="$reqs" '{ x = $1; gsub(",", "", x); printf "%10d/req  %s\n", x / n, $0 }'
