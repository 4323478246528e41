#!/bin/sh
# Offline validation of deploy/kubernetes/ (validate.mjs), as TAP, after a
# yamllint pass over the manifests.
#
# Needs yamllint (Debian), node (18 or later) and, the first time, npm:
# kubernetes-models and yaml, pinned in package-lock.json here, are installed
# with `npm ci` into $S2S_BUILDDIR/tests/kubernetes/npm (the source tree
# stays untouched) and reused while the lock file is unchanged. Without those
# tools the test is skipped, except where CI=true: there it fails.
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${S2S_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${S2S_BUILDDIR:-$(pwd)}
npmdir=$builddir/tests/kubernetes/npm
manifests=$srcdir/deploy/kubernetes
export S2S_SRCDIR="$srcdir" S2S_BUILDDIR="$builddir"

unable() {
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - Kubernetes manifest validation cannot run: $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

. "$here/../npm-install.sh"
installed=no
npm_installed "$here" "$npmdir" kubernetes-models && installed=yes
missing=""
command -v yamllint >/dev/null 2>&1 || missing="$missing yamllint"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
[ "$installed" = yes ] || command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] || unable "missing:$missing (bash scripts/deps.sh installs them)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 18 ] 2>/dev/null || unable "node $(node --version 2>/dev/null) is older than 18"

[ "$installed" = yes ] || npm_install "$here" "$npmdir" "kubernetes-models, yaml"

# yamllint: syntax, duplicate keys, indentation; its own TAP line, then the
# node validator numbers its tests after it.
yl=$(yamllint -f parsable -d '{extends: default, rules: {line-length: {max: 110}, document-start: disable}}' \
	"$manifests"/*.yaml 2>&1)
yl_rc=$?
out=$(S2S_K8S_NPM="$npmdir" node --no-warnings "$here/validate.mjs" "$manifests")
rc=$?
total=$(printf '%s\n' "$out" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p')
echo "1..$((${total:-1} + 1))"
if [ $yl_rc -eq 0 ]; then
	echo "ok 1 - yamllint deploy/kubernetes/*.yaml"
else
	printf '%s\n' "$yl" | sed 's/^/# /'
	echo "not ok 1 - yamllint deploy/kubernetes/*.yaml"
fi
if [ -n "$total" ]; then
	# The validator's tests, numbered after the yamllint one.
	printf '%s\n' "$out" | grep -v '^1\.\.' | awk '
		/^ok [0-9]+ / { $2 = $2 + 1 } /^not ok [0-9]+ / { $3 = $3 + 1 } { print }'
else
	printf '%s\n' "$out" | sed 's/^/# /'
	echo "not ok 2 - validate.mjs did not finish (exit $rc)"
fi
[ $yl_rc -eq 0 ] && [ $rc -eq 0 ] && [ -n "$total" ]
