#!/usr/bin/env python3
"""Black-box tests of seq2seqd's HTTP layer under hostile or unlucky clients
(issue 9): connection limits that never stop accepting, per-IP limits, slow
clients, half-close, request smuggling, request-line and header checks,
Content-Type and Expect, and what /metrics counts. Real sockets against the
real daemon on 127.0.0.1; Python 3 stdlib only; prints TAP.

Run against an older binary (S2S_BUILDDIR=...), options it does not know are
dropped (a note says which), so every test exercises the old behaviour and
fails for the reason it names rather than at startup.
"""
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (BINARY, TMP, Daemon, check, dashboard_data_dir, fixture_path,  # noqa: E402
                         free_port, MODEL_A, report, test)

LONG = {"max_len_a": 100, "max_len_b": 200, "max_length": 200}  # model a: 200 steps, never </s>
_known = None


def known_options():
    global _known
    if _known is None:
        out = subprocess.run([BINARY, "--help"], capture_output=True, text=True).stdout
        _known = set(re.findall(r"--([a-z_0-9]+)", out))
    return _known


def known(args):
    """The options this binary knows (others dropped, with a note)."""
    keep = []
    for a in args:
        name = a[2:].split("=", 1)[0]
        if name in known_options():
            keep.append(a)
        else:
            print("# note: %s does not know --%s; running without it" % (BINARY, name))
    return keep


def daemon(*args, **kw):
    """A Daemon with the options this binary knows."""
    keep = known(args)
    kw.setdefault("models", {"a": fixture_path(MODEL_A, ".safetensors")})
    return Daemon(*keep, **kw)


def connect(d, timeout=5, source=None):
    """A connection to the daemon, from `source` (another loopback address) if given."""
    return socket.create_connection(("127.0.0.1", d.port), timeout=timeout,
                                    source_address=(source, 0) if source else None)


def read_all(s, timeout=5):
    """Everything until the peer closes (or `timeout`); a reset ends it too."""
    s.settimeout(timeout)
    data = b""
    end = time.time() + timeout
    while time.time() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_response(s, timeout=5):
    """One HTTP response: (status, headers dict lowercased, body bytes)."""
    s.settimeout(timeout)
    data = b""
    end = time.time() + timeout
    while b"\r\n\r\n" not in data and time.time() < end:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    if b"\r\n\r\n" not in data:
        raise AssertionError("no complete response head: %r" % data[:200])
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n and time.time() < end:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def raw(d, data, timeout=5):
    """Sends `data` on a new connection and returns the first response."""
    s = connect(d, timeout)
    try:
        s.sendall(data)
        return read_response(s, timeout)
    finally:
        s.close()


def json_error(body):
    j = json.loads(body)
    return j["error"]["code"]


def served_within(d, seconds, source=None):
    """Time for a fresh client to get /healthz answered, or an AssertionError."""
    t0 = time.time()
    try:
        s = connect(d, seconds, source)
    except OSError as e:
        raise AssertionError("a new client could not connect within %g s (%r)" % (seconds, e))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, body = read_response(s, seconds)
    except (socket.timeout, OSError) as e:
        raise AssertionError("a new client was not served within %g s (%r)" % (seconds, e))
    finally:
        s.close()
    check(st == 200 and json.loads(body) == {"status": "ok"}, "healthz: %s %r" % (st, body))
    return time.time() - t0


def requests_with_status(d, status):
    """seq2seqd_http_requests_total summed over routes for one status."""
    _, _, data = d.get("/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in data.decode().splitlines()
               if l.startswith("seq2seqd_http_requests_total{") and 'status="%d"' % status in l)


def daemon_fds(d):
    return len(os.listdir("/proc/%d/fd" % d.proc.pid))


def close_wait(port):
    """Sockets of the daemon's port in CLOSE-WAIT (state 08 in /proc/net/tcp*)."""
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if int(parts[1].split(":")[1], 16) == port and parts[3] == "08":
                        n += 1
        except OSError:
            pass
    return n


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# ---------------------------------------------------------------- accepting

@test("max_connections = 4, idle_timeout_s = 2: after 4 idle connections time out the daemon still accepts")
def t_never_stop_accepting():
    d = daemon("--max_connections=4", "--idle_timeout_s=2")
    try:
        for rnd in range(2):
            idle = [connect(d) for _ in range(4)]
            time.sleep(3)
            served_within(d, 5)
            for s in idle:
                s.close()
        # at the limit with 4 idle connections still open, a new client reclaims one
        idle = [connect(d) for _ in range(4)]
        time.sleep(0.3)
        took = served_within(d, 1.5)
        print("# new client served in %.3f s with 4/4 connections idle" % took)
        for s in idle:
            s.close()
    finally:
        d.stop()


@test("max_connections_per_ip = 3: the 4th connection from one address is closed at once and counted")
def t_per_ip():
    d = daemon("--max_connections_per_ip=3")
    try:
        time.sleep(0.3)  # the start-up probe's connection closes
        keep = [connect(d) for _ in range(3)]
        for s in keep:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            check(read_response(s)[0] == 200, "a connection within the limit was not served")
        s = connect(d)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.time()
        got = read_all(s, 3)
        check(got == b"" and time.time() - t0 < 2.5, "over the limit: %r after %.1f s" % (got[:60], time.time() - t0))
        s.close()
        keep.pop().close()
        time.sleep(0.3)
        served_within(d, 3)
        for s in keep:
            s.close()
        time.sleep(0.3)
        check(d.metric('seq2seqd_http_connections_dropped_total{reason="per_ip_limit"}') >= 1, "not counted")
    finally:
        d.stop()


def slowloris(d, n, trickle_stop):
    """n connections that send half a request's headers, then one byte every 0.5 s."""
    socks = []
    for _ in range(n):
        try:
            s = connect(d, 2)
            s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nX-a: ")
            socks.append(s)
        except OSError:
            socks.append(None)

    def trickle():
        while not trickle_stop.is_set():
            for s in socks:
                if s is not None:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass
            trickle_stop.wait(0.5)
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    return socks, t


@test("300 slowloris connections: a new client is served within 3 s (per-IP limit off, and on with the client at another address); header_timeout_s closes them with 408")
def t_slowloris():
    raise_nofile(4096)
    for per_ip, source in (("--max_connections_per_ip=0", None), ("--max_connections_per_ip=128", "127.0.0.2")):
        d = daemon(per_ip, "--header_timeout_s=3")
        stop = threading.Event()
        socks = []
        try:
            socks, _ = slowloris(d, 300, stop)
            time.sleep(0.5)
            took = served_within(d, 3, source)
            print("# %s: new client served in %.3f s beside 300 slowloris connections" % (per_ip, took))
            time.sleep(4)  # past header_timeout_s
            answered = sum(1 for s in socks if s is not None and read_all(s, 0.02).startswith(b"HTTP/1.1 408"))
            stop.set()
            fds = daemon_fds(d)
            print("# %d of 300 got a 408; daemon fds %d" % (answered, fds))
            check(fds < 64, "daemon holds %d descriptors after header_timeout_s" % fds)
            check(answered >= 1, "no slowloris connection got a 408")
            check(d.metric('seq2seqd_http_connections_dropped_total{reason="header_timeout"}') >= 1,
                  "header timeouts not counted")
            served_within(d, 3, source)
        finally:
            stop.set()
            for s in socks:
                if s is not None:
                    s.close()
            d.stop()


@test("a body trickled past body_timeout_s is cut with 408 JSON")
def t_body_timeout():
    d = daemon("--body_timeout_s=2", "--idle_timeout_s=30")
    try:
        s = connect(d)
        s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{")
        t0 = time.time()
        got = b""
        while time.time() - t0 < 6:
            try:
                s.send(b" ")
            except OSError:
                break
            got += read_all(s, 0.4)
            if got:
                break
        took = time.time() - t0
        check(got.startswith(b"HTTP/1.1 408"), "after %.1f s: %r" % (took, got[:80]))
        check(took < 4.5, "cut after %.1f s, body_timeout_s = 2" % took)
        body = got.split(b"\r\n\r\n", 1)[1]
        check(json_error(body) == "request_timeout", body)
        s.close()
        check(requests_with_status(d, 408) >= 1, "408 not counted")
    finally:
        d.stop()


@test("2,000 idle connections: a new client is served within 5 s and the daemon's descriptors stay bounded")
def t_idle_connections():
    n = min(2000, raise_nofile(4096) - 200)
    if n < 2000:
        print("# RLIMIT_NOFILE hard limit allows only %d idle connections" % n)
    d = daemon("--max_connections_per_ip=0")
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", d.port))
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(1)
        took = served_within(d, 5)
        fds = daemon_fds(d)
        print("# %d idle connections: new client served in %.3f s; daemon fds %d" % (n, took, fds))
        check(fds < 256 + 64 + 64 + 32, "daemon holds %d descriptors (max_connections 256)" % fds)
        took = served_within(d, 5)
    finally:
        for s in socks:
            s.close()
        d.stop()


@test("connections that send half their headers and close do not linger in CLOSE-WAIT")
def t_no_close_wait():
    d = daemon()
    try:
        base = daemon_fds(d)
        for _ in range(50):
            s = connect(d)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-half: ")
            s.close()
        end = time.time() + 3
        while time.time() < end and (close_wait(d.port) or daemon_fds(d) > base):
            time.sleep(0.1)
        check(close_wait(d.port) == 0, "%d sockets in CLOSE-WAIT 3 s later" % close_wait(d.port))
        check(daemon_fds(d) <= base, "daemon fds %d, %d before" % (daemon_fds(d), base))
    finally:
        d.stop()


def daemon_with_nofile(limit, *args):
    """A Daemon started under RLIMIT_NOFILE = limit (soft and hard)."""
    d = Daemon.__new__(Daemon)
    d.port = free_port()
    cmd = [BINARY, "--port", str(d.port), "--config", "/dev/null", "--model",
           "a=" + fixture_path(MODEL_A, ".safetensors")] + known(args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQ2SEQD_") and k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC", "JOURNAL_STREAM")}
    d.log = open(os.path.join(TMP, "daemon-%d.log" % d.port), "w+")
    d.proc = subprocess.Popen(cmd, env=env, stdout=d.log, stderr=d.log,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
    d.wait_ready()
    return d


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@test("RLIMIT_NOFILE 200: max_connections is capped with a warning; 150 idle connections neither starve a client nor spin the loop")
def t_nofile_cap():
    d = daemon_with_nofile(200, "--max_connections_per_ip=0")
    socks = []
    try:
        log = d.logtext()
        check("exceeds what RLIMIT_NOFILE" in log, "no warning about the descriptor limit: %s" % log[-300:])
        socks = [connect(d) for _ in range(150)]
        time.sleep(0.5)
        served_within(d, 3)
        c0 = cpu_seconds(d.proc.pid)
        time.sleep(2)
        busy = cpu_seconds(d.proc.pid) - c0
        check(busy < 0.5, "the daemon used %.2f s of CPU in 2 s with 150 idle connections" % busy)
        check(daemon_fds(d) <= 200, "daemon fds %d" % daemon_fds(d))
        served_within(d, 3)
    finally:
        for s in socks:
            s.close()
        d.stop()


# ---------------------------------------------------------------- half-close

def translate_request(text="the cat sat", **opts):
    o = dict(LONG, deadline_ms=0)
    o.update(opts)
    body = json.dumps({"model": "a", "text": text, "options": o}).encode()
    return (b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


@test("half-close: shutdown(SHUT_WR) after the request still gets the answer; cancel_on_eof restores cancel-on-FIN")
def t_half_close():
    d = daemon("--debug_step_delay_ms=5", "--workers=1")
    e = daemon("--debug_step_delay_ms=5", "--workers=1", "--cancel_on_eof=true")
    try:
        s = connect(d, 15)
        s.sendall(translate_request())
        time.sleep(0.2)
        s.shutdown(socket.SHUT_WR)
        st, _, body = read_response(s, 15)
        s.close()
        check(st == 200 and json.loads(body)["results"][0]["hypotheses"], "after half-close: %s %r" % (st, body[:100]))
        before = e.metric('seq2seqd_cancellations_total{reason="disconnect"}')
        s = connect(e, 15)
        s.sendall(translate_request())
        time.sleep(0.2)
        s.shutdown(socket.SHUT_WR)
        got = read_all(s, 5)
        s.close()
        check(got == b"", "cancel_on_eof = true answered after a FIN: %r" % got[:60])
        end = time.time() + 5
        while time.time() < end and e.metric('seq2seqd_cancellations_total{reason="disconnect"}') <= before:
            time.sleep(0.05)
        check(e.metric('seq2seqd_cancellations_total{reason="disconnect"}') > before, "not cancelled")
    finally:
        d.stop()
        e.stop()


# ---------------------------------------------------------------- smuggling

def expect_400_and_close(d, req):
    """Sends raw request bytes; the answer must be 400 bad_request with
    Connection: close, and nothing may follow it (no second request parsed
    from what the first one smuggled)."""
    s = connect(d)
    s.sendall(req)
    st, h, b = read_response(s)
    rest = read_all(s, 2)
    s.close()
    check(st == 400 and json_error(b) == "bad_request", "%s %r" % (st, b[:100]))
    check(h.get("connection", "").lower() == "close", "no Connection: close: %s" % h)
    check(rest == b"", "something after the 400 (the connection stayed open): %r" % rest[:100])


@test("two Content-Length headers: 400 bad_request and the connection closes")
def t_two_content_lengths(d):
    body = b'{"text": "a"}'
    req = (b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body) + 40)) + body + \
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    expect_400_and_close(d, req)


@test("Content-Length with Transfer-Encoding: chunked: 400 bad_request and Connection: close (RFC 9112 6.3)")
def t_cl_and_te(d):
    req = (b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"d\r\n{\"text\": \"a\"}\r\n0\r\n\r\n")
    expect_400_and_close(d, req)


# ---------------------------------------------------------------- request line and headers

@test("HTTP/1.1 without Host: 400 bad_request (HTTP/1.0 without Host is fine)")
def t_host(d):
    st, _, b = raw(d, b"GET /healthz HTTP/1.1\r\n\r\n")
    check(st == 400 and json_error(b) == "bad_request", "%s %r" % (st, b[:100]))
    st, _, b = raw(d, b"GET /healthz HTTP/1.0\r\n\r\n")
    check(st == 200, "HTTP/1.0: %s" % st)


@test("URLs: a 300-character model name is 404 model_not_found on GET and /reload; beyond 8 KiB 414 uri_too_long JSON")
def t_long_urls(d):
    name = "m" * 300
    st, _, j = d.json("GET", "/v1/models/" + name)
    check(st == 404 and j["error"]["code"] == "model_not_found", "%s %s" % (st, j))
    st, _, j = d.json("POST", "/v1/models/%s/reload" % name, headers={"X-API-Key": "k"})
    check(st == 404 and j["error"]["code"] == "model_not_found", "reload: %s %s" % (st, j))
    st, h, b = raw(d, b"GET /v1/models/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    check(st == 414 and json_error(b) == "uri_too_long", "%s %r" % (st, b[:100]))
    check(h.get("content-type", "").startswith("application/json"), h)


@test("%00 in a path does not cut it: /dashboard/app.js%00.png is 404, not app.js")
def t_nul_in_path():
    d = daemon("--data_dir=" + dashboard_data_dir())
    try:
        st, _, _ = d.get("/dashboard/app.js")
        check(st == 200, "the dashboard is not served: %s" % st)
        st, _, b = d.get("/dashboard/app.js%00.png")
        check(st == 404 and json_error(b) == "not_found", "%s %r" % (st, b[:80]))
    finally:
        d.stop()


@test("%0a and other control bytes in a path cannot forge access-log lines")
def t_log_injection(d):
    d.get("/nope%0aaccess%20id=FORGED%20method=GET%20status=200%0d%0a")
    d.get("/healthz")  # flushes the line above
    time.sleep(0.1)
    lines = [l for l in d.logtext().splitlines() if "FORGED" in l]
    check(lines, "the request was not logged")
    for l in lines:
        check(re.match(r"^\S+ info: access id=[0-9a-f]{16} ", l), "forged or broken log line: %r" % l)
        check("\\x0a" in l, "newline not escaped: %r" % l)


# ---------------------------------------------------------------- Content-Type and Expect

@test("Content-Type: charset other than utf-8 and junk after the media type are 415; utf-8 variants pass")
def t_content_type(d):
    body = json.dumps({"text": "a"})
    for ct in ("application/json; charset=iso-8859-1", "application/json garbage", "application/json; x",
               "application/jsonx", "application/json; charset=utf-16", "application/json; charset=\"latin1\""):
        st, _, j = d.json("POST", "/v1/translate", body, headers={"Content-Type": ct})
        check(st == 415 and j["error"]["code"] == "unsupported_media_type", "%r: %s %s" % (ct, st, j))
    for ct in ("application/json", "application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\"",
               "application/json ; charset=utf-8", "application/json;", "application/json; a=b; charset=utf-8"):
        st, _, j = d.json("POST", "/v1/translate", body, headers={"Content-Type": ct})
        check(st == 200, "%r: %s %s" % (ct, st, j))


@test("Expect: unknown value is 417; 100-continue gets 413/415 instead of 100 Continue when the headers decide")
def t_expect(d):
    st, _, j = d.json("POST", "/v1/translate", json.dumps({"text": "a"}),
                      headers={"Content-Type": "application/json", "Expect": "something-else"})
    check(st == 417 and j["error"]["code"] == "expectation_failed", "%s %s" % (st, j))
    # 413: the declared body is over max_body_bytes (4096 on this daemon)
    s = connect(d)
    s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
    st, h, b = read_response(s)
    s.close()
    check(st == 413 and json_error(b) == "payload_too_large", "%s %r" % (st, b[:80]))
    check(h.get("connection", "").lower() == "close", h)
    s = connect(d)
    s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
              b"Content-Length: 13\r\nExpect: 100-continue\r\n\r\n")
    st, h, b = read_response(s)
    s.close()
    check(st == 415 and json_error(b) == "unsupported_media_type", "%s %r" % (st, b[:80]))
    # a good request still gets 100 Continue, then its answer
    body = b'{"text": "a"}'
    s = connect(d)
    s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
    s.settimeout(5)
    first = s.recv(4096)
    check(first.startswith(b"HTTP/1.1 100"), "no 100 Continue: %r" % first[:60])
    s.sendall(body)
    st, _, b = read_response(s)
    s.close()
    check(st == 200, "after 100 Continue: %s %r" % (st, b[:80]))


# ---------------------------------------------------------------- metrics

@test("metrics: answers libmicrohttpd generates (400, 431, 505) are counted under route=none; 499 is counted")
def t_metrics_every_answer():
    d = daemon("--debug_step_delay_ms=10", "--workers=1")
    try:
        st, _, _ = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        check(st == 400, "malformed header line: %s" % st)
        st, _, _ = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-big: " + b"a" * 70000 + b"\r\n\r\n")
        check(st == 431, "70 kB header: %s" % st)
        st, _, b = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-big: " + b"a" * 20000 + b"\r\n\r\n")
        check(st == 431 and json_error(b) == "headers_too_large", "20 kB header (ours): %s %r" % (st, b[:80]))
        st, _, _ = raw(d, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
        check(st == 505, "HTTP/2.0 request line: %s" % st)
        # a client that resets during a slow translation: 499
        s = connect(d)
        s.sendall(translate_request())
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        time.sleep(0.5)
        want = {'route="none",status="400"': 1, 'route="none",status="431"': 1, 'route="none",status="505"': 1,
                'route="/v1/translate",status="499"': 1, 'route="/healthz",status="431"': 1}
        for labels, n in want.items():
            got = d.metric('seq2seqd_http_requests_total{%s}' % labels)
            check(got >= n, "requests_total{%s} = %s" % (labels, got))
    finally:
        d.stop()


def main():
    if not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP %s not built" % BINARY)
        return 0
    t_never_stop_accepting()
    t_per_ip()
    t_half_close()
    d = daemon("--admin_key=k", "--max_body_bytes=4096")
    try:
        for t in (t_two_content_lengths, t_cl_and_te, t_host, t_long_urls, t_log_injection, t_content_type, t_expect):
            t(d)
    finally:
        d.stop()
    t_nul_in_path()
    t_metrics_every_answer()
    t_no_close_wait()
    t_body_timeout()
    t_slowloris()
    t_idle_connections()
    t_nofile_cap()
    return report()


if __name__ == "__main__":
    sys.exit(main())
