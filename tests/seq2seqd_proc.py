"""seq2seqd_proc.py - starts the built seq2seqd on a free loopback port for
the standard-library Python tests (tests/clients, tests/l10n), with the
built-in models of the source tree and no configuration file.
"""

import os
import socket
import subprocess
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(build, src, log, *args, timeout=30):
    """Runs BUILD/seq2seqd --data_dir=SRC plus `args`, output to the file `log`;
    returns (process, base URL) once /readyz answers 200, else raises (the
    process is killed). The caller stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [os.path.join(build, "seq2seqd"), "--data_dir=" + src, "--port=%d" % port,
         "--bind=127.0.0.1", "--config=/dev/null", "--drain_timeout_s=5"] + list(args),
        stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("seq2seqd exited with %s" % proc.returncode)
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("seq2seqd not ready after %d s" % timeout)
