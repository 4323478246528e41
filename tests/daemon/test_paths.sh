#!/bin/sh
# The installed man pages and seq2seqd.conf name the directories this build's
# seq2seqd uses (they are written for /usr/local and rewritten at build time
# with S2S_SUBST_PATHS: a --prefix=/usr build must not say /usr/local). TAP.
builddir=${S2S_BUILDDIR:-$(pwd)}
help=$("$builddir/seq2seqd" --help) || { echo "1..1"; echo "not ok 1 - seq2seqd --help failed"; exit 1; }
conf=$(printf '%s\n' "$help" | sed -n 's/.*--config=FILE .*(default \([^ ]*\) if it exists).*/\1/p')
data=$(printf '%s\n' "$help" | sed -n 's/.*--data_dir .*(default "\([^"]*\)").*/\1/p')
n=0
fail=0
check() { # description, command...
	n=$((n + 1))
	desc=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fail=1; fi
}
echo "1..6"
check "seq2seqd --help names its config file ($conf) and data_dir ($data)" test -n "$conf" -a -n "$data"
check "seq2seqd(8) FILES names $conf" grep -q -F "$conf" "$builddir/docs/man/gen/seq2seqd.8"
check "seq2seqd(8) names $data/models/" grep -q -F "$data/models/" "$builddir/docs/man/gen/seq2seqd.8"
check "seq2seqd.conf(5) SYNOPSIS names $conf" grep -q -F "$conf" "$builddir/docs/man/gen/seq2seqd.conf.5"
check "the installed seq2seqd.conf's data_dir example is $data" grep -q -F "#data_dir = $data" "$builddir/etc/gen/seq2seqd.conf"
check "no /usr/local left where the build's prefix is not /usr/local" \
	sh -c "case '$conf' in /usr/local/*) exit 0;; esac; ! grep -q /usr/local '$builddir/docs/man/gen/seq2seqd.8' '$builddir/docs/man/gen/seq2seqd.conf.5' '$builddir/etc/gen/seq2seqd.conf'"
exit $fail
