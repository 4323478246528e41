#!/usr/bin/python3
"""Run every tests/train/test_*.py with unittest and report in TAP.

Usage: /usr/bin/python3 tests/train/run_tap.py   (exit status 1 on any failure)
Tests that need torch are skipped (a TAP "# SKIP" line) when it is missing.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def flatten(suite):
	for t in suite:
		if isinstance(t, unittest.TestSuite):
			yield from flatten(t)
		else:
			yield t


class TapResult(unittest.TestResult):
	def __init__(self):
		super().__init__()
		self.lines = []

	def addSuccess(self, test):
		self.lines.append(("ok", test.id(), ""))

	def addFailure(self, test, err):
		super().addFailure(test, err)
		self.lines.append(("not ok", test.id(), self._exc_info_to_string(err, test)))

	def addError(self, test, err):
		super().addError(test, err)
		self.lines.append(("not ok", test.id(), self._exc_info_to_string(err, test)))

	def addSkip(self, test, reason):
		self.lines.append(("ok", test.id(), "# SKIP " + reason))


def main():
	sys.path.insert(0, HERE)
	suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
	tests = list(flatten(suite))
	print("1..%d" % len(tests))
	res = TapResult()
	suite.run(res)  # the suite, not test by test, so class fixtures run
	for i, (status, name, extra) in enumerate(res.lines, 1):
		if extra.startswith("# SKIP"):
			print("%s %d - %s %s" % (status, i, name, extra))
		else:
			print("%s %d - %s" % (status, i, name))
			for line in extra.splitlines():
				print("# " + line)
	return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
	sys.exit(main())
