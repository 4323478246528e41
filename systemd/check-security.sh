#!/bin/sh
# TAP: the shipped units are clean for `systemd-analyze verify`, and the
# hardened services' exposure (`systemd-analyze security --offline=yes`) is
# at most 1.5: seq2seqd.service and the template seq2seqd@.service,
# instantiated as seq2seqd@8081 (a template itself cannot be analysed).
# Then the template's command line is run as systemd would run instance 8081
# (%i = 8081) with --check-config, to show the documented design: the port
# comes from the instance name, a per-instance SEQ2SEQD_CONFIG and
# SEQ2SEQD_* variables apply.
# A last test feeds verify a unit with a broken line and expects it to be
# reported, so a verify that reports nothing proves something.
#
# Without systemd-analyze the tests are skipped, except where CI=true:
# there they fail.
builddir=${S2S_BUILDDIR:-.}
srcdir=${S2S_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - systemd-analyze not installed (Debian: systemd)"
		exit 1
	fi
	echo "1..0 # SKIP systemd-analyze not installed"
	exit 0
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The copies run the daemon just built: verify checks that ExecStart names an
# executable, and the configured sbindir holds none before make install.
# Instances are named as systemctl would: seq2seqd@8081.service.
place() { # SOURCE NAME
	sed "s|^ExecStart=[^ ]*/seq2seqd|ExecStart=$builddir/seq2seqd|" "$1" >"$tmp/$2"
}
place "$builddir/systemd/seq2seqd.service" seq2seqd.service
place "$srcdir/systemd/seq2seqd.socket" seq2seqd.socket
place "$builddir/systemd/seq2seqd@.service" seq2seqd@8081.service
place "$srcdir/systemd/seq2seqd@.socket" seq2seqd@8081.socket

echo "1..8"
n=0
result() { # OK? DESCRIPTION [OUTPUT]
	n=$((n + 1))
	if [ "$1" = yes ]; then
		echo "ok $n - $2"
	else
		[ -z "${3:-}" ] || printf '%s\n' "$3" | sed 's/^/# /'
		echo "not ok $n - $2"
	fi
}

# verify exits 0 even for lines it ignores ("Failed to parse ..., ignoring"),
# so any output at all counts as a failure. --man=no: the man pages named by
# Documentation= are not installed yet.
verify() { # UNIT...
	out=$(cd "$tmp" && systemd-analyze verify --man=no "$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then ok=yes; else ok=no; fi
}
for u in seq2seqd.service seq2seqd.socket seq2seqd@8081.service seq2seqd@8081.socket; do
	verify "$u"
	result $ok "systemd-analyze verify $u is clean" "$out"
done

exposure() { # UNIT
	out=$(systemd-analyze security --offline=yes "$tmp/$1" 2>&1)
	level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 1.5) }'; then ok=yes; else ok=no; fi
	result $ok "$1 exposure ${level:-unknown} <= 1.5" "$out"
}
exposure seq2seqd.service
exposure seq2seqd@8081.service

# Negative control: a misspelt value in an otherwise good instance.
sed 's/^ProtectSystem=strict/ProtectSystem=stritc/' "$tmp/seq2seqd@8081.service" >"$tmp/seq2seqd@9999.service"
verify seq2seqd@9999.service
if [ $ok = no ] && printf '%s\n' "$out" | grep -q 'ProtectSystem\|protect system'; then ok=yes; else ok=no; fi
result $ok "verify reports a broken unit (ProtectSystem=stritc)" "$out"

# The instance's command line, %i expanded as systemd does, with what a
# per-instance environment file would set.
printf 'max_rows = 32\nport = 9999\n' >"$tmp/instance.conf"
cmd=$(sed -n 's/^ExecStart=//p' "$tmp/seq2seqd@8081.service" | sed 's/%i/8081/g')
# shellcheck disable=SC2086 # the unit's command line, split as systemd splits it
out=$(env SEQ2SEQD_CONFIG="$tmp/instance.conf" SEQ2SEQD_WORKERS=3 $cmd --data_dir="$srcdir" --check-config 2>&1)
if printf '%s\n' "$out" | grep -qx 'port = 8081' && printf '%s\n' "$out" | grep -qx 'max_rows = 32' &&
	printf '%s\n' "$out" | grep -qx 'workers = 3'; then ok=yes; else ok=no; fi
result $ok "seq2seqd@8081: port 8081 from the instance, SEQ2SEQD_CONFIG and SEQ2SEQD_* from its environment" "$out"
