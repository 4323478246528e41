#!/usr/bin/env bash
# Quickstart, on a fresh Debian 12 machine (root or sudo):
#   bash scripts/serve.sh
# installs what is missing, builds, and runs seq2seqd in the foreground
# serving the built-in models of models/ on 127.0.0.1:8080 (PORT=... to
# change). Ctrl-C drains and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
port=${PORT:-8080}

bash scripts/deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || "$top/configure"
make -j"$(nproc)"

cat <<MSG

seq2seqd is starting on 127.0.0.1:$port with the models in $top/models.
Dashboard: http://127.0.0.1:$port/   Try:
  curl -s 127.0.0.1:$port/v1/models
  curl -s 127.0.0.1:$port/v1/translate -H 'Content-Type: application/json' \\
       -d '{"model": "dates", "text": "the 23rd of november 2026", "options": {"attention": true}}'
  curl -s 127.0.0.1:$port/v1/translate -H 'Content-Type: application/json' \\
       -d '{"model": "en-fr", "text": "Delete the selected items", "options": {"beam_size": 5}}'

MSG
exec ./seq2seqd --data_dir="$top" --port="$port"
