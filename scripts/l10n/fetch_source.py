#!/usr/bin/python3
"""Fetch a Debian source package's files (its .pot and .po catalogs) at
test or evaluation time; nothing fetched is committed.

No deb-src line is needed: the binary package's .deb URL (`apt-get download
--print-uris`) gives the mirror and pool directory, `apt-cache show` gives
the source name and version, and the source's .dsc sits in the same pool
directory. The .dsc's Checksums-Sha256 are verified for every file fetched.
Everything is cached under CACHE/src/NAME_VERSION/ (the tarballs) and
CACHE/src/NAME_VERSION/x/ (the extracted members).

  /usr/bin/python3 scripts/l10n/fetch_source.py [--cache DIR] BINPKG GLOB...
prints the extracted paths matching the member GLOBs (fnmatch on the path
inside the tarball, e.g. '*/po/dpkg.pot' '*/po/fr.po').

Exit status 1 with a message on stderr when anything cannot be fetched.
"""

import argparse
import fnmatch
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import urllib.request

DEFAULT_CACHE = "/var/tmp/s2s-l10n"


class FetchError(Exception):
	pass


def _run(cmd):
	r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
			   universal_newlines=True)
	if r.returncode != 0:
		raise FetchError("%s: %s" % (" ".join(cmd), r.stderr.strip() or r.returncode))
	return r.stdout


def source_of(binpkg):
	"""(source name, source version without epoch, pool URL directory)."""
	show = _run(["apt-cache", "show", "--no-all-versions", binpkg])
	if not show.strip():
		raise FetchError("apt-cache knows no package %r (apt-get update?)" % binpkg)
	fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", show.split("\n\n")[0], re.M))
	name, version = binpkg, fields.get("Version", "")
	m = re.match(r"(\S+)(?: \((\S+)\))?", fields.get("Source", ""))
	if m and m.group(1):
		name = m.group(1)
		if m.group(2):
			version = m.group(2)
	version = version.split(":", 1)[-1]
	uris = _run(["apt-get", "download", "--print-uris", binpkg])
	m = re.search(r"'([a-z]+://[^']+/)[^/']+\.deb'", uris)
	if not m:
		raise FetchError("no .deb URL for %s from apt-get --print-uris" % binpkg)
	return name, version, m.group(1)


def download(url, dest, sha256=None):
	if os.path.isfile(dest) and (sha256 is None or _sha256(dest) == sha256):
		return dest
	tmp = dest + ".part"
	try:
		with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
			while True:
				b = r.read(1 << 16)
				if not b:
					break
				f.write(b)
	except OSError as e:
		raise FetchError("cannot download %s: %s" % (url, e)) from e
	if sha256 is not None and _sha256(tmp) != sha256:
		os.unlink(tmp)
		raise FetchError("%s: sha256 differs from the .dsc's" % url)
	os.replace(tmp, dest)
	return dest


def _sha256(path):
	h = hashlib.sha256()
	with open(path, "rb") as f:
		for b in iter(lambda: f.read(1 << 16), b""):
			h.update(b)
	return h.hexdigest()


def dsc_files(text):
	"""{file name: sha256} from a .dsc's Checksums-Sha256 field."""
	m = re.search(r"^Checksums-Sha256:\n((?: .*\n)+)", text, re.M)
	if not m:
		raise FetchError(".dsc has no Checksums-Sha256")
	out = {}
	for ln in m.group(1).splitlines():
		sha, _, name = ln.split()
		out[name] = sha
	return out


def fetch_source(binpkg, cache=DEFAULT_CACHE):
	"""Downloads the source package of ``binpkg``; returns (dir, tarballs)."""
	name, version, pool = source_of(binpkg)
	d = os.path.join(cache, "src", "%s_%s" % (name, version))
	os.makedirs(d, exist_ok=True)
	dsc = download(pool + "%s_%s.dsc" % (name, version),
		       os.path.join(d, "%s_%s.dsc" % (name, version)))
	with open(dsc, encoding="utf-8", errors="replace") as f:
		files = dsc_files(f.read())
	tars = []
	for fn, sha in sorted(files.items()):
		if re.search(r"\.tar\.(?:gz|xz|bz2|lzma|zst)$", fn) and ".debian.tar." not in fn:
			tars.append(download(pool + fn, os.path.join(d, fn), sha))
	if not tars:
		raise FetchError("%s_%s.dsc names no source tarball" % (name, version))
	return d, tars


def extract(d, tars, globs):
	"""Extracts the members matching any glob into d/x/; returns their
	paths (sorted)."""
	xdir = os.path.join(d, "x")
	out = []
	for t in tars:
		try:
			with tarfile.open(t) as tf:
				for m in tf:
					if not m.isfile() or not any(fnmatch.fnmatch(m.name, g) for g in globs):
						continue
					dest = os.path.join(xdir, m.name)
					if os.path.normpath(dest).startswith(os.path.normpath(xdir) + os.sep):
						if not os.path.isfile(dest):
							tf.extract(m, xdir, set_attrs=False)
						out.append(dest)
		except (tarfile.TarError, OSError) as e:
			raise FetchError("%s: %s" % (t, e)) from e
	return sorted(out)


def fetch(binpkg, globs, cache=DEFAULT_CACHE):
	"""The extracted files of ``binpkg``'s source matching ``globs``."""
	d, tars = fetch_source(binpkg, cache)
	return extract(d, tars, globs)


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--cache", default=DEFAULT_CACHE)
	ap.add_argument("package")
	ap.add_argument("globs", nargs="+")
	a = ap.parse_args(argv)
	try:
		for p in fetch(a.package, a.globs, a.cache):
			print(p)
	except FetchError as e:
		print("fetch_source: %s" % e, file=sys.stderr)
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main())
