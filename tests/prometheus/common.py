"""common.py - what the two Prometheus tests (test_promtool.py,
test_prometheus_live.py) share: the source and build paths, eq(), stopping
a process, and main() (skip without the Prometheus tool or the daemon, run
the tests in a temporary directory, print the plan).
"""

import os
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.environ.get("S2S_SRCDIR", "."))
BUILD = os.path.abspath(os.environ.get("S2S_BUILDDIR", "."))
DEPLOY = os.path.join(SRC, "deploy", "prometheus")
sys.path.insert(0, os.path.join(SRC, "tests"))
from tap import Tap  # noqa: E402


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def stop(proc, timeout=15):
    """SIGTERM, then SIGKILL when proc has not exited after timeout s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(tool, name, tests, prefix):
    """Skips (fails where CI=true) when the Prometheus tool `name` (its path
    `tool`) is missing; skips without a built seq2seqd; else runs
    tests(tmp, tap) and returns the exit status."""
    if not tool:
        if os.environ.get("CI") == "true":
            print("1..1\nnot ok 1 - %s installed (apt-get install prometheus)" % name)
            return 1
        print("1..0 # SKIP %s not installed (apt-get install prometheus)" % name)
        return 0
    if not os.path.exists(os.path.join(BUILD, "seq2seqd")):
        print("1..0 # SKIP seq2seqd not built")
        return 0
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        tests(tmp, tap)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0
