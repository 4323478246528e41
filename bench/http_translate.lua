-- bench/http_translate.lua - wrk script for bench/bench_http.sh.
-- Each request POSTs ONE sentence to /v1/translate ({"sentences": [s]});
-- the sentences come from the file named by the first script argument
-- (wrk ... -s http_translate.lua URL -- FILE [MODEL [ROUTE]]), one per line,
-- and every connection walks the list from its own offset so lengths stay
-- mixed. ROUTE "opennmt" POSTs [{"src": s, "id": 0}] to /translator/translate
-- instead: seq2seqd's OpenNMT-py-compatible route, which the OpenNMT-py-style
-- Flask server of bench/flask_server.py also answers, so one script drives both.
-- done() prints one machine-readable line, "BENCH key=value ...", that
-- bench_http.sh parses (latencies in microseconds).

local threads = {}
local counter = 0

function setup(thread)
	thread:set("tid", counter)
	counter = counter + 1
	table.insert(threads, thread)
end

local function json_string(s)
	s = s:gsub('[%c"\\]', function(c)
		if c == '"' then return '\\"' end
		if c == "\\" then return "\\\\" end
		return string.format("\\u%04x", c:byte())
	end)
	return '"' .. s .. '"'
end

local reqs = {}
local i = 0

function init(args)
	local file = args[1] or error("usage: -- SENTENCE_FILE [MODEL]")
	local model = args[2]
	local opennmt = args[3] == "opennmt"
	local headers = { ["Content-Type"] = "application/json" }
	for line in io.lines(file) do
		if line ~= "" then
			local body, path
			if opennmt then
				path = "/translator/translate"
				body = '[{"src": ' .. json_string(line) .. ', "id": 0}]'
			else
				path = "/v1/translate"
				body = '{"sentences": [' .. json_string(line) .. ']'
				if model and model ~= "" then
					body = body .. ', "model": ' .. json_string(model)
				end
				body = body .. '}'
			end
			table.insert(reqs, wrk.format("POST", path, headers, body))
		end
	end
	if #reqs == 0 then error(file .. ": no sentences") end
	-- a different start per thread (tid) so threads do not move in lockstep
	i = ((tid or 0) * 7) % #reqs
end

function request()
	i = i % #reqs + 1
	return reqs[i]
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.0f " ..
		"non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, latency:percentile(50),
		latency:percentile(99), latency.mean, e.status, e.connect, e.read,
		e.write, e.timeout))
end
