#!/bin/sh
# measure.sh - the figures behind deploy/kubernetes/deployment.yaml's
# resources: the daemon's memory (VmRSS, VmHWM from /proc/PID/status) and
# CPU with the built-in models, idle and under load.
#
#   sh deploy/kubernetes/measure.sh SRCDIR BUILDDIR [SECONDS]
#
# Starts BUILDDIR/seq2seqd with both built-in models (data_dir SRCDIR/models)
# and the default 2 workers x 64 rows, then drives it with wrk (2 threads, 64
# connections each): en-fr greedy on the long-tail sentences, en-fr beam 8
# with 16-sentence requests (the biggest decoder batches: 64 rows per
# worker), and dates. Prints one line per phase. Needs wrk, curl and
# python3 (for a free port; MEASURE_PORT=N to choose one).
set -eu
src=${1:?usage: measure.sh SRCDIR BUILDDIR [SECONDS]}
build=${2:?usage: measure.sh SRCDIR BUILDDIR [SECONDS]}
secs=${3:-10}
port=${MEASURE_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
tmp=$(mktemp -d)
"$build/seq2seqd" --config=/dev/null --data_dir="$src" --port="$port" --bind=127.0.0.1 \
	--access_log=false --log_level=warning --max_beam=8 >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
url=http://127.0.0.1:$port
i=0
until curl -sf "$url/readyz" >/dev/null 2>&1; do
	kill -0 $pid 2>/dev/null || { cat "$tmp/log"; exit 1; }
	i=$((i + 1)); [ $i -lt 300 ] || { cat "$tmp/log"; exit 1; }
	sleep 0.1
done

kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" /proc/$pid/status; }
ticks() { awk '{ print $14 + $15 }' /proc/$pid/stat; }
hz=$(getconf CLK_TCK)
report() { # PHASE SECONDS TICKS_BEFORE
	t=$(ticks)
	echo "$1: VmRSS $(($(kb VmRSS) / 1024)) MiB, VmHWM $(($(kb VmHWM) / 1024)) MiB, threads $(sed -n 's/^Threads:[[:space:]]*//p' /proc/$pid/status), cpu $(awk -v d=$((t - $3)) -v s="$2" -v hz="$hz" 'BEGIN { printf "%.0f%%", 100 * d / hz / s }')"
}

t0=$(ticks); sleep 2; report "idle (2 models loaded)" 2 "$t0"

# wrk script: POST the body in $BODY_FILE, or one line of $LINES per request.
cat >"$tmp/post.lua" <<'LUA'
local reqs, i = {}, 0
function init(args)
	local model, beam, per = args[1], tonumber(args[3]), tonumber(args[4])
	local lines = {}
	for l in io.lines(args[2]) do if l ~= "" then lines[#lines + 1] = l:gsub('[\\"]', '\\%0') end end
	for k = 1, #lines do
		local s = {}
		for j = 0, per - 1 do s[#s + 1] = '"' .. lines[(k + j - 1) % #lines + 1] .. '"' end
		reqs[#reqs + 1] = wrk.format("POST", "/v1/translate", { ["Content-Type"] = "application/json" },
			'{"model":"' .. model .. '","sentences":[' .. table.concat(s, ",") ..
			'],"options":{"beam_size":' .. beam .. '}}')
	end
end
function request() i = i % #reqs + 1; return reqs[i] end
LUA
load() { # PHASE MODEL SENTENCES BEAM PER_REQUEST
	t0=$(ticks)
	wrk -t2 -c64 -d"${secs}s" --timeout 30s -s "$tmp/post.lua" "$url" -- "$2" "$3" "$4" "$5" >"$tmp/wrk" 2>&1
	report "$1" "$secs" "$t0"
	sed -n 's/^[[:space:]]*\(Requests\/sec:.*\)/    wrk \1/p; s/^[[:space:]]*\(Non-2xx.*\)/    wrk \1/p' "$tmp/wrk"
}
load "en-fr greedy, long tail, 1 sentence/request" en-fr "$src/bench/longtail-sentences.txt" 1 1
load "en-fr beam 8, 16 sentences/request" en-fr "$src/bench/longtail-sentences.txt" 8 16
load "dates greedy, 1 sentence/request" dates "$src/models/dates.examples" 1 1
t0=$(ticks); sleep 2; report "idle again" 2 "$t0"
