#!/usr/bin/env bash
# Installs the Debian 12 packages seq2seqd needs to build, test and run.
# Idempotent: packages already present are skipped. Needs root (or sudo).
# Usage: deps.sh [--with-torch]
set -euo pipefail

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
  libopenblas-dev libjansson-dev libmicrohttpd-dev libuv1-dev libsystemd-dev
  libcriterion-dev"
# clang + libclang-rt-14-dev: the libFuzzer harnesses (fuzz/, tests/fuzz/smoke.sh).
# python3-polib, gettext, translate-toolkit: `seq2seq po` and its tests
# (msgfmt -c), the held-out localisation evaluation (pofilter; docs/po.md).
# jq: the README's curl examples pipe into it.
# haproxy, nginx-light: tests/deploy runs the shipped deploy/ configurations;
# prometheus (with promtool): tests/prometheus (deploy/prometheus);
# yamllint: tests/kubernetes lints deploy/kubernetes/*.yaml.
TEST_PKGS="python3 curl jq systemd valgrind clang libclang-rt-14-dev
  python3-polib gettext translate-toolkit
  haproxy nginx-light prometheus yamllint"
# The dashboard's browser tests (tests/dashboard): node runs playwright-core
# (from npm) against Debian's chromium.
BROWSER_PKGS="nodejs npm chromium"
# PyTorch: the test suite's reference-module and training tests need it
# (scripts/test.sh passes --with-torch); serving does not. With it,
# `make check-torch` also re-checks the core against live PyTorch.
TORCH_PKGS=""
# yaml and sentencepiece: the importers read Joey NMT's config.yaml and
# SentencePiece .model files (docs/importing.md), and the tokenizer tests
# compare against sentencepiece itself. wrk, flask and waitress: `make
# bench-http` and its OpenNMT-py-style baseline (docs/benchmarks-http.md).
[ "${1:-}" = --with-torch ] && TORCH_PKGS="python3-torch python3-numpy python3-yaml python3-sentencepiece
  wrk python3-flask python3-waitress"
OPTIONAL_PKGS="$TORCH_PKGS ${S2S_EXTRA_PKGS:-}"

want=""
for p in $BUILD_PKGS $TEST_PKGS $BROWSER_PKGS $OPTIONAL_PKGS; do
	# A node from elsewhere (e.g. NodeSource, whose nodejs bundles npm and
	# conflicts with Debian's npm) will do: skip what is already on PATH.
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
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
