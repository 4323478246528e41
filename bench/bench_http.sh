#!/bin/sh
# bench/bench_http.sh [SRCDIR [BUILDDIR]] - the daemon's load benchmark.
#
# Prints one table: the in-process core throughput at batch 64
# (seq2seq-translate --batch 64) and, for batching = step and = request
# (the daemon restarted for each), HTTP throughput and p50/p99 latency with
# 1, 16 and 64 concurrent connections, each sending single-sentence
# POST /v1/translate requests (wrk + bench/http_translate.lua). Same model,
# same sentences of mixed lengths everywhere. Then the two ratios issue 3
# targets: HTTP@64 / in-process@64 >= 0.8 and step / request >= 1.3.
#
# Loopback only, bounded: about 6 x BENCH_SECONDS plus a few seconds.
# Environment: BENCH_SECONDS (per wrk run, default 10), BENCH_MODEL (default
# SRCDIR/models/dates.safetensors), BENCH_SENTENCES (a file of source lines
# for another model, e.g. bench/ui-sentences.txt with models/en-fr), BENCH_CONNS (default "1 16 64"),
# BENCH_MODES (default "step request"), BENCH_WORKERS (daemon workers,
# default: the daemon's default), BENCH_DAEMON_ARGS (more daemon flags).
set -eu
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
build=$(cd "${2:-.}" && pwd)
secs=${BENCH_SECONDS:-10}
model=${BENCH_MODEL:-$src/models/dates.safetensors}
conns=${BENCH_CONNS:-1 16 64}
modes=${BENCH_MODES:-step request}
daemon=$build/seq2seqd
cli=$build/seq2seq-translate

for tool in wrk curl; do
	command -v $tool >/dev/null 2>&1 ||
		{ echo "bench_http.sh: needs $tool (apt-get install -y $tool)" >&2; exit 1; }
done
for bin in "$daemon" "$cli"; do
	[ -x "$bin" ] || { echo "bench_http.sh: $bin not built (run make)" >&2; exit 1; }
done
[ -r "$model" ] || { echo "bench_http.sh: no model $model" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Mixed lengths: 6 to 41 source characters (the dates model tokenizes by
# character), every format family of models/dates.md, plus the built-in
# examples.
sent=$tmp/sentences.txt
if [ -n "${BENCH_SENTENCES:-}" ]; then
	grep -v '^$' "$BENCH_SENTENCES" > "$sent" ||
		{ echo "bench_http.sh: no sentences in $BENCH_SENTENCES" >&2; exit 1; }
else
{
	grep -v '^$' "$src/models/dates.examples" 2>/dev/null || true
	cat <<'LIST'
3/7/98
1/1/00
7.5.61
2026-1-5
12/31/1999
23.11.2026
5-jan-2003
1999/12/31
march 3, 2021
9 sept 1999
the 1st of may 2000
Sat 14 Feb 2026
SEPT. 9, 1999
tuesday 4 july 1876
december 25, 1987
the 2nd of february 1950
friday, 13 october 2017
monday, march 1st 2021
wednesday, the 23rd of november 2026
saturday, the 31st of december 2039
THURSDAY, THE 22ND OF SEPTEMBER 2061
sunday, the 30th of november 2098
6/6/44
the 4th of july 1976
LIST
} > "$sent"
fi
nsent=$(wc -l < "$sent")

now() { date +%s.%N; }

# In-process core at batch 64: two input sizes, so model loading and process
# start cancel out: rate = (n2 - n1) / (t2 - t1).
inproc() {
	n1=$1 n2=$2
	for n in $n1 $n2; do
		awk -v n="$n" '{ s[NR] = $0 } END { for (i = 0; i < n; i++) print s[i % NR + 1] }' \
			"$sent" > "$tmp/in$n.txt"
	done
	t0=$(now); "$cli" -m "$model" --batch 64 < "$tmp/in$n1.txt" > "$tmp/out$n1.txt"; t1=$(now)
	"$cli" -m "$model" --batch 64 < "$tmp/in$n2.txt" > "$tmp/out$n2.txt"; t2=$(now)
	[ "$(wc -l < "$tmp/out$n2.txt")" -eq "$n2" ] ||
		{ echo "bench_http.sh: seq2seq-translate gave a wrong line count" >&2; exit 1; }
	awk -v n1="$n1" -v n2="$n2" -v a="$t0" -v b="$t1" -v c="$t2" \
		'BEGIN { printf "%.1f\n", (n2 - n1) / ((c - b) - (b - a)) }'
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_daemon() {
	port=$(free_port)
	# shellcheck disable=SC2086
	"$daemon" --bind=127.0.0.1 --port="$port" --model "dates=$model" \
		--batching="$1" --access_log=false --log_level=warning \
		${BENCH_WORKERS:+--workers=$BENCH_WORKERS} ${BENCH_DAEMON_ARGS:-} \
		2> "$tmp/daemon-$1.log" &
	pid=$!
	tries=0
	until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "bench_http.sh: seq2seqd did not become ready:" >&2
			cat "$tmp/daemon-$1.log" >&2; exit 1
		fi
		sleep 0.1
	done
	# one real request, checked, before timing anything: the dates model must
	# answer correctly; any other must answer with a non-empty translation
	if [ -z "${BENCH_SENTENCES:-}" ]; then probe='3/7/98' want='*1998-03-07*'
	else probe=$(head -n 1 "$sent") want='*"text":"[!"]*'; fi
	body=$(curl -fs -H 'Content-Type: application/json' \
		-d "{\"sentences\": [\"$probe\"]}" "http://127.0.0.1:$port/v1/translate") ||
		{ echo "bench_http.sh: translate failed" >&2; exit 1; }
	# shellcheck disable=SC2254
	case $body in $want) ;; *) echo "bench_http.sh: unexpected answer: $body" >&2; exit 1 ;; esac
}

stop_daemon() {
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

echo "== bench_http: model $model, $nsent sentences of $(awk '{ print length }' "$sent" | sort -n | sed -n '1p;$p' | paste -sd- -) characters, ${secs}s per run, $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "== in-process: seq2seq-translate --batch 64"
core=$(inproc 640 6400)

results=$tmp/results.txt
: > "$results"
for mode in $modes; do
	echo "== seq2seqd --batching=$mode"
	start_daemon "$mode"
	for c in $conns; do
		t=$(( c < 2 ? c : 2 ))
		wrk -t"$t" -c"$c" -d"${secs}s" --timeout 10s -s "$src/bench/http_translate.lua" \
			"http://127.0.0.1:$port/v1/translate" -- "$sent" > "$tmp/wrk.txt" 2>&1 ||
			{ cat "$tmp/wrk.txt" >&2; exit 1; }
		line=$(grep '^BENCH ' "$tmp/wrk.txt") ||
			{ cat "$tmp/wrk.txt" >&2; exit 1; }
		echo "$mode $c $line" >> "$results"
	done
	stop_daemon
done

echo
awk -v core="$core" '
function kv(s, k,   a) { match(s, k "=[0-9.]+"); return substr(s, RSTART + length(k) + 1, RLENGTH - length(k) - 1) }
{
	mode = $1; c = $2
	rate = kv($0, "requests") / (kv($0, "duration_us") / 1e6)
	err = kv($0, "non2xx") + kv($0, "connect") + kv($0, "read") + kv($0, "write") + kv($0, "timeout")
	printf "%-28s %6d %12.1f %10.2f %10.2f %7d\n", "HTTP batching=" mode, c, rate, kv($0, "p50_us") / 1000, kv($0, "p99_us") / 1000, err
	r[mode, c] = rate
}
BEGIN {
	printf "%-28s %6s %12s %10s %10s %7s\n", "what", "conns", "sentences/s", "p50 ms", "p99 ms", "errors"
	printf "%-28s %6s %12.1f %10s %10s %7s\n", "in-process --batch 64", "-", core, "-", "-", "-"
}
END {
	print ""
	if ((("step", 64) in r) && core > 0)
		printf "HTTP(step)@64 / in-process@64 = %.2f  (target >= 0.80: %s)\n", r["step", 64] / core, (r["step", 64] / core >= 0.8) ? "met" : "NOT met"
	split("1 16 64", cs, " ")
	for (i = 1; i <= 3; i++) if ((("step", cs[i]) in r) && (("request", cs[i]) in r) && r["request", cs[i]] > 0)
		printf "step / request @%-2s         = %.2f  (target >= 1.30: %s)\n", cs[i], r["step", cs[i]] / r["request", cs[i]], (r["step", cs[i]] / r["request", cs[i]] >= 1.3) ? "met" : "NOT met"
}' "$results"
