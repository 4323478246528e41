"""tap.py - the TAP runner shared by the standard-library Python tests.

One Tap object numbers the tests it runs and prints `ok N - name` or
`not ok N - name` with the exception as `# ` diagnostics, so any raised
exception is a failure and the run goes on to the next test. The caller
prints the plan (`1..N`) and exits non-zero when `failed` is not 0.
"""

import sys


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def run(self, name, fn):
        """Runs fn(); returns True when it did not raise."""
        self.n += 1
        try:
            fn()
            print("ok %d - %s" % (self.n, name))
            return True
        except Exception as e:  # noqa: BLE001 - any failure is a test failure
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                print("# " + line)
            return False
        finally:
            sys.stdout.flush()


def collector():
    """(tests, t): `@t("name")` appends (name, function) to the list `tests`,
    so a file's tests run in the order they are written."""
    tests = []

    def t(name):
        def deco(fn):
            tests.append((name, fn))
            return fn
        return deco
    return tests, t
