#!/bin/sh
# bench/bench_http.sh [SRCDIR [BUILDDIR]] - the daemon's load benchmark.
#
# Prints one table: the in-process core throughput at batch 64
# (seq2seq-translate --batch 64) and, for batching = step and = request
# (the daemon restarted for each), HTTP throughput and p50/p99 latency with
# 1, 16 and 64 concurrent connections, each sending single-sentence
# POST /v1/translate requests (wrk + bench/http_translate.lua), with the CPU
# the server and wrk itself used (wrk shares the machine's cores). Then what
# users would run instead: the same checkpoint behind bench/flask_server.py
# (Flask + waitress + the PyTorch reference, one translation at a time, as
# OpenNMT-py's REST server does), driven through the OpenNMT-py route that
# both it and seq2seqd answer. Same model, same sentences everywhere. Then the
# ratios issue 11 targets: HTTP@64 / in-process@64 >= 0.9, step / request
# >= 1.3 and step p99 <= request p99, seq2seqd / Flask.
#
# Loopback only, bounded: about 12 x BENCH_SECONDS plus model loading.
# Environment: BENCH_SECONDS (per wrk run, default 10), BENCH_MODEL (default
# SRCDIR/models/dates.safetensors), BENCH_SENTENCES (a file of source lines
# for another model, e.g. bench/ui-sentences.txt or bench/longtail-sentences.txt
# with models/en-fr), BENCH_CONNS (default "1 16 64"),
# BENCH_MODES (default "step request"), BENCH_WORKERS (daemon workers,
# default: the daemon's default), BENCH_DAEMON_ARGS (more daemon flags),
# BENCH_FLASK (1: the Flask baseline, 0: not; default: when /usr/bin/python3
# has flask, waitress and torch), BENCH_SCALING=1 (instead of all that: step
# batching at BENCH_SCALING_CONNS (default 64) connections for workers x
# BLAS threads in BENCH_GRID, default "1x1 2x1 1x2 2x2", as a table of
# throughput and per-core rates).
set -eu
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
build=$(cd "${2:-.}" && pwd)
secs=${BENCH_SECONDS:-10}
model=${BENCH_MODEL:-$src/models/dates.safetensors}
conns=${BENCH_CONNS:-1 16 64}
modes=${BENCH_MODES:-step request}
grid=${BENCH_GRID:-1x1 2x1 1x2 2x2}
py=/usr/bin/python3
if [ -z "${BENCH_FLASK:-}" ]; then
	if "$py" -c 'import flask, waitress, torch' 2>/dev/null; then BENCH_FLASK=1; else BENCH_FLASK=0; fi
fi
[ "${BENCH_SCALING:-0}" = 1 ] && BENCH_FLASK=0
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

# start_daemon MODE [FLAGS...]
start_daemon() {
	port=$(free_port)
	mode=$1
	shift
	# shellcheck disable=SC2086
	"$daemon" --bind=127.0.0.1 --port="$port" --model "dates=$model" \
		--batching="$mode" --access_log=false --log_level=warning \
		${BENCH_WORKERS:+--workers=$BENCH_WORKERS} ${BENCH_DAEMON_ARGS:-} "$@" \
		2> "$tmp/daemon-$mode.log" &
	pid=$!
	tries=0
	until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "bench_http.sh: seq2seqd did not become ready:" >&2
			cat "$tmp/daemon-$mode.log" >&2; exit 1
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

# Clock ticks (utime + stime) of every thread of process $1 so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run_wrk WHAT CONNS URL ROUTE: one wrk run against the server $pid; appends
# "WHAT CONNS BENCH ... srv_cpu=% wrk_cpu=%" to $results. wrk's own CPU is
# read from the cutime/cstime of the shell that waited for it.
run_wrk() {
	t=$(( $2 < 2 ? $2 : 2 ))
	s0=$(ticks "$pid")
	w=$(sh -c 'wrk "$@" > "'"$tmp/wrk.txt"'" 2>&1; echo "rc=$?"; cat /proc/$$/stat' wrk \
		-t"$t" -c"$2" -d"${secs}s" --timeout 10s -s "$src/bench/http_translate.lua" "$3" -- "$sent" "" "$4")
	s1=$(ticks "$pid")
	case $w in rc=0*) ;; *) cat "$tmp/wrk.txt" >&2; exit 1 ;; esac
	line=$(grep '^BENCH ' "$tmp/wrk.txt") || { cat "$tmp/wrk.txt" >&2; exit 1; }
	wt=$(echo "$w" | sed -n 2p | awk '{ print $16 + $17 }')
	hz=$(getconf CLK_TCK)
	echo "$1 $2 $line srv_cpu=$(( (s1 - s0) * 100 / hz / secs )) wrk_cpu=$(( wt * 100 / hz / secs ))" >> "$results"
}

start_flask() {
	port=$(free_port)
	OMP_WAIT_POLICY=PASSIVE "$py" "$src/bench/flask_server.py" "$model" "$port" 2> "$tmp/flask.log" &
	pid=$!
	tries=0
	until curl -fs "http://127.0.0.1:$port/translator/health" >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ $tries -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "bench_http.sh: the Flask server did not start:" >&2
			cat "$tmp/flask.log" >&2; exit 1
		fi
		sleep 0.1
	done
}

# The same source through seq2seqd's and Flask's OpenNMT-py route: the same translation.
opennmt_probe() {
	probe=$(head -n 1 "$sent" | sed 's/\\/\\\\/g; s/"/\\"/g')
	curl -fs -H 'Content-Type: application/json' -d "[{\"src\": \"$probe\", \"id\": 0}]" \
		"http://127.0.0.1:$port/translator/translate" | sed 's/.*"tgt": *\("[^"]*"\).*/\1/'
}

echo "== bench_http: model $model, $nsent sentences of $(awk '{ print length }' "$sent" | sort -n | sed -n '1p;$p' | paste -sd- -) characters, ${secs}s per run, $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg)"
results=$tmp/results.txt
: > "$results"

if [ "${BENCH_SCALING:-0}" = 1 ]; then
	for wb in $grid; do
		w=${wb%x*} b=${wb#*x}
		echo "== seq2seqd --batching=step --workers=$w --blas_threads=$b"
		start_daemon step --workers="$w" --blas_threads="$b"
		run_wrk "$wb" "${BENCH_SCALING_CONNS:-64}" "http://127.0.0.1:$port/v1/translate" v1
		stop_daemon
	done
	echo
	awk -v cpus="$(nproc)" '
	function kv(s, k) { match(s, k "=[0-9.]+"); return substr(s, RSTART + length(k) + 1, RLENGTH - length(k) - 1) }
	BEGIN { printf "%-18s %12s %10s %10s %9s %9s %16s\n", "workers x threads", "sentences/s", "p50 ms", "p99 ms", "srv cpu%", "wrk cpu%", "per server core" }
	{
		rate = kv($0, "requests") / (kv($0, "duration_us") / 1e6); cpu = kv($0, "srv_cpu")
		printf "%-18s %12.1f %10.2f %10.2f %9d %9d %16.1f\n", $1, rate, kv($0, "p50_us") / 1000, kv($0, "p99_us") / 1000, cpu, kv($0, "wrk_cpu"), (cpu > 0 ? rate / (cpu / 100) : 0)
	}' "$results"
	exit 0
fi

echo "== in-process: seq2seq-translate --batch 64"
core=$(inproc 640 6400)

for mode in $modes; do
	echo "== seq2seqd --batching=$mode"
	start_daemon "$mode"
	for c in $conns; do
		run_wrk "seq2seqd:$mode" "$c" "http://127.0.0.1:$port/v1/translate" v1
	done
	if [ "$BENCH_FLASK" = 1 ] && [ "$mode" = step ]; then
		onmt_want=$(opennmt_probe)
		for c in $conns; do
			run_wrk "seq2seqd:opennmt" "$c" "http://127.0.0.1:$port/translator/translate" opennmt
		done
	fi
	stop_daemon
done
if [ "$BENCH_FLASK" = 1 ]; then
	echo "== Flask + waitress + PyTorch reference (bench/flask_server.py)"
	start_flask
	got=$(opennmt_probe)
	[ -z "${onmt_want:-}" ] || [ "$got" = "$onmt_want" ] ||
		{ echo "bench_http.sh: Flask translates differently: $got, seq2seqd $onmt_want" >&2; exit 1; }
	for c in $conns; do
		run_wrk "flask" "$c" "http://127.0.0.1:$port/translator/translate" opennmt
	done
	stop_daemon
fi

echo
awk -v core="$core" '
function kv(s, k) { match(s, k "=[0-9.]+"); return substr(s, RSTART + length(k) + 1, RLENGTH - length(k) - 1) }
function verdict(ok) { return ok ? "met" : "NOT met" }
{
	what = $1; c = $2
	rate = kv($0, "requests") / (kv($0, "duration_us") / 1e6)
	err = kv($0, "non2xx") + kv($0, "connect") + kv($0, "read") + kv($0, "write") + kv($0, "timeout")
	label = what == "flask" ? "Flask+waitress (OpenNMT route)" : what == "seq2seqd:opennmt" ? "seq2seqd OpenNMT route" : "HTTP batching=" substr(what, 10)
	printf "%-30s %5d %12.1f %9.2f %9.2f %6d %8d %8d\n", label, c, rate, kv($0, "p50_us") / 1000, kv($0, "p99_us") / 1000, err, kv($0, "srv_cpu"), kv($0, "wrk_cpu")
	r[what, c] = rate; p99[what, c] = kv($0, "p99_us") / 1000; seen[c] = 1
}
BEGIN {
	printf "%-30s %5s %12s %9s %9s %6s %8s %8s\n", "what", "conns", "sentences/s", "p50 ms", "p99 ms", "errors", "srv cpu%", "wrk cpu%"
	printf "%-30s %5s %12.1f %9s %9s %6s %8s %8s\n", "in-process --batch 64", "-", core, "-", "-", "-", "-", "-"
}
END {
	print ""
	if ((("seq2seqd:step", 64) in r) && core > 0)
		printf "HTTP(step)@64 / in-process@64 = %.2f  (target >= 0.90: %s)\n", r["seq2seqd:step", 64] / core, verdict(r["seq2seqd:step", 64] / core >= 0.9)
	n = split("1 16 64 4 8 32 128 256", cs, " ")
	for (i = 1; i <= n; i++) {
		c = cs[i]
		if (!(c in seen)) continue
		if ((("seq2seqd:step", c) in r) && (("seq2seqd:request", c) in r) && r["seq2seqd:request", c] > 0) {
			x = r["seq2seqd:step", c] / r["seq2seqd:request", c]
			printf "step / request @%-3s         = %.2f  (target >= 1.30: %s); p99 %.1f vs %.1f ms (target step <= request: %s)\n", c, x, verdict(x >= 1.3), p99["seq2seqd:step", c], p99["seq2seqd:request", c], verdict(p99["seq2seqd:step", c] <= p99["seq2seqd:request", c])
		}
		if ((("seq2seqd:opennmt", c) in r) && (("flask", c) in r) && r["flask", c] > 0)
			printf "seq2seqd / Flask @%-3s        = %.1f  (OpenNMT-py route, both; Flask p99 %.1f ms)\n", c, r["seq2seqd:opennmt", c] / r["flask", c], p99["flask", c]
	}
}' "$results"
