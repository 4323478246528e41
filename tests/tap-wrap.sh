#!/bin/sh
# Runs one Criterion test program so that it speaks TAP to automake's driver.
# Criterion writes its TAP report to stderr with --tap=-; the driver merges it.
prog=$1
shift
exec "$prog" --tap=- --jobs=1 "$@"
