#!/usr/bin/env bash
# Installs the Debian 12 packages seq2seqd needs to build, test and run.
# Idempotent: packages already present are skipped. Needs root (or sudo).
set -euo pipefail

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
  libopenblas-dev libjansson-dev libmicrohttpd-dev libuv1-dev libsystemd-dev
  libcriterion-dev"
TEST_PKGS="python3 curl systemd valgrind"
# PyTorch is optional: with it, `make check-torch` re-checks the core live.
OPTIONAL_PKGS="${S2S_EXTRA_PKGS:-}"

want=""
for p in $BUILD_PKGS $TEST_PKGS $OPTIONAL_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || want="$want $p"
done
if [ -z "$want" ]; then
	echo "deps: all packages present"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing$want"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $want
