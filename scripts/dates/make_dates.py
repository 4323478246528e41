#!/usr/bin/python3
"""Generate the free-form date corpus: many human date spellings -> ISO YYYY-MM-DD.

Deterministic (fixed seed): the same arguments always write the same files.

Reading rules, which every generated example obeys (and so does the model):
  * Slashes with the year last are US order:   3/7/98     -> 1998-03-07 (M/D/Y).
  * Dots with the year last are European order: 23.11.2026 -> 2026-11-23 (D.M.Y).
  * Dashes or slashes with a 4-digit year first are ISO order: 2026/11/23, 2026-11-23.
  * Two-digit years pivot at 50: 00-49 -> 2000-2049, 50-99 -> 1950-1999.
    (Two-digit years are only generated for 1950-2049, so they are never wrong.)
  * A weekday, when present, is the true weekday of the date.
  * Month names and weekdays may be full, 3-letter ("nov", "Nov.") or 4-letter
    "sept"; casing is lower, Title or UPPER (the model lowercases its input).
Years span 1900-2099.

Output: OUT/train.tsv, OUT/dev.tsv, OUT/test.tsv (source TAB target). Test and
dev sources never occur in train, and test never in dev.

Usage: /usr/bin/python3 scripts/dates/make_dates.py --out data/dates
"""

import argparse
import datetime
import os
import random
import sys

MONTHS = ["january", "february", "march", "april", "may", "june", "july",
	  "august", "september", "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FIRST = datetime.date(1900, 1, 1).toordinal()
LAST = datetime.date(2099, 12, 31).toordinal()


def ordinal(n):
	if 10 <= n % 100 <= 20:
		return "%dth" % n
	return "%d%s" % (n, {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


def month_name(rng, m):
	full = MONTHS[m - 1]
	r = rng.random()
	if r < 0.5:
		return full
	if m == 9 and r < 0.6:
		return "sept"
	short = full[:3]
	return short + "." if rng.random() < 0.3 else short


def weekday_name(rng, wd):
	full = WEEKDAYS[wd]
	return full if rng.random() < 0.6 else full[:3]


def year_str(rng, y, two_ok=True):
	if two_ok and 1950 <= y <= 2049 and rng.random() < 0.4:
		return "%02d" % (y % 100)
	return str(y)


def num(rng, n):
	"""Day or month number, zero-padded half the time."""
	return "%02d" % n if rng.random() < 0.5 else str(n)


def day_str(rng, d):
	return ordinal(d) if rng.random() < 0.5 else str(d)


# Each format takes (rng, date) and returns the spelling (before casing).
def f_iso(rng, t):
	return "%04d-%02d-%02d" % (t.year, t.month, t.day)


def f_ymd_slash(rng, t):
	return "%04d/%s/%s" % (t.year, num(rng, t.month), num(rng, t.day))


def f_us_slash(rng, t):
	return "%s/%s/%s" % (num(rng, t.month), num(rng, t.day), year_str(rng, t.year))


def f_eu_dots(rng, t):
	return "%s.%s.%s" % (num(rng, t.day), num(rng, t.month), year_str(rng, t.year))


def f_month_day_year(rng, t):
	sep = rng.choice([", ", " ", ","])
	return "%s %s%s%s" % (month_name(rng, t.month), day_str(rng, t.day), sep, t.year)


def f_day_month_year(rng, t):
	return "%s %s %s" % (day_str(rng, t.day), month_name(rng, t.month), t.year)


def f_day_month_year_dash(rng, t):
	return "%s-%s-%d" % (num(rng, t.day), MONTHS[t.month - 1][:3], t.year)


def f_the_of(rng, t):
	of = " of " if rng.random() < 0.8 else " "
	sep = ", " if rng.random() < 0.2 else " "
	return "the %s%s%s%s%d" % (ordinal(t.day), of, month_name(rng, t.month), sep, t.year)


def f_weekday(rng, t):
	wd = weekday_name(rng, t.weekday())
	inner = rng.choice([f_month_day_year, f_day_month_year, f_the_of])(rng, t)
	return wd + rng.choice([", ", " ", " the " if inner[0].isdigit() else " "]) + inner


FORMATS = [
	(f_iso, 1), (f_ymd_slash, 1), (f_us_slash, 3), (f_eu_dots, 3),
	(f_month_day_year, 3), (f_day_month_year, 3), (f_day_month_year_dash, 1),
	(f_the_of, 2), (f_weekday, 4),
]


def casing(rng, s):
	r = rng.random()
	if r < 0.6:
		return s
	if r < 0.85:
		return " ".join(w[:1].upper() + w[1:] for w in s.split(" "))
	return s.upper()


def example(rng):
	t = datetime.date.fromordinal(rng.randint(FIRST, LAST))
	funcs = [f for f, w in FORMATS for _ in range(w)]
	src = casing(rng, rng.choice(funcs)(rng, t))
	return src, t.isoformat()


def generate(n_train, n_dev, n_test, seed):
	"""Return (train, dev, test) lists of (src, tgt) with disjoint sources."""
	rng = random.Random(seed)
	seen = set()
	out = []
	for n in (n_test, n_dev, n_train):
		rows = []
		while len(rows) < n:
			src, tgt = example(rng)
			if src in seen:
				continue
			seen.add(src)
			rows.append((src, tgt))
		out.append(rows)
	test, dev, train = out
	return train, dev, test


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--out", default="data/dates")
	ap.add_argument("--train", type=int, default=60000)
	ap.add_argument("--dev", type=int, default=1000)
	ap.add_argument("--test", type=int, default=2000)
	ap.add_argument("--seed", type=int, default=20261123)
	args = ap.parse_args(argv)
	train, dev, test = generate(args.train, args.dev, args.test, args.seed)
	os.makedirs(args.out, exist_ok=True)
	for name, rows in (("train", train), ("dev", dev), ("test", test)):
		with open(os.path.join(args.out, name + ".tsv"), "w", encoding="utf-8") as f:
			for s, t in rows:
				f.write("%s\t%s\n" % (s, t))
	print("train %d  dev %d  test %d  -> %s" % (len(train), len(dev), len(test), args.out))
	return 0


if __name__ == "__main__":
	sys.exit(main())
