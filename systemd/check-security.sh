#!/bin/sh
# TAP: the hardened unit's systemd-analyze exposure must be at most 1.5.
# Where systemd-analyze is missing this is a SKIP, never a pass.
unit=${S2S_BUILDDIR:-.}/systemd/seq2seqd.service
echo "1..1"
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "ok 1 # SKIP systemd-analyze not installed"
	exit 0
fi
out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 1.5) }'; then
	echo "ok 1 - seq2seqd.service exposure $level <= 1.5"
else
	printf '%s\n' "$out" | sed 's/^/# /'
	echo "not ok 1 - seq2seqd.service exposure '${level:-unknown}' > 1.5"
fi
