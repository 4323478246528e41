#!/bin/sh
# Real-browser tests of the dashboard (test_dashboard.mjs, or the .mjs file
# named in S2S_DASHBOARD_TEST: test_dashboard_firsthour.sh runs the second
# one this way), as TAP.
#
# Needs node (18 or later), Debian's chromium and, the first time, npm:
# playwright-core, pinned in package-lock.json here, is installed with
# `npm ci` into $S2S_BUILDDIR/tests/dashboard/npm (the source tree stays
# untouched, so it may be read-only) and reused while the lock file is
# unchanged. Without those tools the test is skipped, except where CI=true:
# there it fails.
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${S2S_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${S2S_BUILDDIR:-$(pwd)}
npmdir=$builddir/tests/dashboard/npm
export S2S_SRCDIR="$srcdir" S2S_BUILDDIR="$builddir"

. "$here/../npm-install.sh"

# Cannot run: fail under CI, skip elsewhere.
unable() {
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - dashboard browser tests cannot run: $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

chromium=${S2S_CHROMIUM:-}
if [ -z "$chromium" ]; then
	if [ -x /usr/bin/chromium ]; then chromium=/usr/bin/chromium; else chromium=$(command -v chromium || true); fi
fi
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
[ -n "$chromium" ] && [ -x "$chromium" ] || missing="$missing chromium"
script=$here/${S2S_DASHBOARD_TEST:-test_dashboard.mjs}
[ -f "$script" ] || { echo "1..1"; echo "not ok 1 - no test file $script"; exit 1; }
# Both dashboard tests install into the same folder and make check may run
# them at once: the check and the install below are done under a lock.
mkdir -p "$builddir/tests/dashboard" || unable "cannot create $builddir/tests/dashboard"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$builddir/tests/dashboard/npm.lock"
	flock 9
fi
installed=no
npm_installed "$here" "$npmdir" playwright-core && installed=yes
[ "$installed" = yes ] || command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] || unable "missing:$missing (bash scripts/deps.sh installs them)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 18 ] 2>/dev/null || unable "node $(node --version 2>/dev/null) is older than 18"

[ "$installed" = yes ] || npm_install "$here" "$npmdir" playwright-core
exec 9>&-

export S2S_CHROMIUM="$chromium" S2S_PLAYWRIGHT="$npmdir/node_modules/playwright-core"
# --no-warnings: node 18 calls fetch experimental on stderr, which the TAP
# driver would mix into the report.
exec node --no-warnings "$script"
