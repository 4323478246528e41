#!/bin/sh
# smoke-test.sh - runs the image build-image.sh made, without podman or a
# registry: `buildah run --isolation chroot --network host` (works as root
# inside a container too), as the image's user, with its built-in models.
# Checks --version, /readyz, one translation (dates: 3/7/98 -> 1998-03-07),
# then a SIGTERM drain. Exit status 0 when all pass.
#
#   sh deploy/oci/smoke-test.sh IMAGE.oci.tar
# SC2086: BUILDAH_FLAGS is a list of words; SC2317: cleanup runs from trap.
# shellcheck disable=SC2086,SC2317
set -u
archive=${1:?usage: smoke-test.sh IMAGE.oci.tar}
F=${BUILDAH_FLAGS:---storage-driver vfs}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
ctr=$(buildah $F from --quiet "oci-archive:$archive" | tail -n 1) || exit 1
cleanup() { buildah $F rm "$ctr" >/dev/null 2>&1; rm -f "$log"; }
trap cleanup EXIT
fail=0
check() { # DESCRIPTION COMMAND...
	what=$1; shift
	if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fail=1; fi
}
check "seq2seqd --version in the image" sh -c "buildah $F run --isolation chroot '$ctr' -- /usr/sbin/seq2seqd --version | grep -q '^seq2seqd '"
check "runs as uid 65532" sh -c "buildah $F run --isolation chroot '$ctr' -- /usr/bin/id -u | grep -qx 65532"
buildah $F run --isolation chroot --network host "$ctr" -- \
	/usr/sbin/seq2seqd --bind=127.0.0.1 --port="$port" --drain_timeout_s=2 >"$log" 2>&1 &
i=0
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 150 ] || break
	sleep 0.2
done
check "/readyz answers 200" curl -sf "http://127.0.0.1:$port/readyz" -o /dev/null
check "translates 3/7/98 to 1998-03-07" sh -c "curl -sf http://127.0.0.1:$port/v1/translate \
	-H 'Content-Type: application/json' -d '{\"model\": \"dates\", \"sentences\": [\"3/7/98\"]}' |
	grep -q '\"text\":\"1998-03-07\"'"
# SIGTERM to the daemon itself (buildah's own process does not forward it).
pid=$(pgrep -u 65532 -f "seq2seqd --bind=127.0.0.1 --port=$port" | while read -r p; do
	[ "$(cat "/proc/$p/comm")" = seq2seqd ] && echo "$p"; done)
[ -n "$pid" ] && kill -TERM "$pid"
wait
check "drains and exits on SIGTERM" grep -q "drained, exiting" "$log"
[ $fail -eq 0 ] || sed 's/^/# /' "$log"
exit $fail
