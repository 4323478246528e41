#!/usr/bin/env python3
"""The soak test (soak.py) for 30 seconds, as TAP, in `make check`
(SOAK_CHECK_SECONDS=N for another length; `make soak` runs the long one).
In the --enable-sanitizers build this puts the daemon through 30 s of mixed
load, reloads and disconnects under ASan, whose leak check runs when the
daemon exits at the end."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["SOAK_SECONDS"] = os.environ.get("SOAK_CHECK_SECONDS") or "30"
import soak  # noqa: E402

sys.exit(soak.main(["--tap"]))
