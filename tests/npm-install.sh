# npm-install.sh - sourced (not run) by the test scripts that need npm
# packages pinned in a package.json and package-lock.json beside them
# (tests/dashboard/test_dashboard.sh, tests/kubernetes/test_manifests.sh).
# They install into the build tree, so the source tree stays untouched and
# may be read-only. The caller defines unable MESSAGE (skip, or fail under CI).

# npm_installed DIR NPMDIR PACKAGE: true when NPMDIR holds an install of
# DIR/package-lock.json as it is now, PACKAGE included.
npm_installed() {
	[ -f "$2/installed.lock" ] && cmp -s "$1/package-lock.json" "$2/installed.lock" &&
		[ -f "$2/node_modules/$3/package.json" ]
}

# npm_install DIR NPMDIR WHAT: `npm ci` of DIR's package.json and lock file
# into a fresh NPMDIR (WHAT names the packages in messages); unable when it
# fails.
npm_install() {
	rm -rf "$2"
	mkdir -p "$2" || unable "cannot create $2"
	# cat, not cp: the copies stay writable when the source tree is read-only.
	cat "$1/package.json" >"$2/package.json"
	cat "$1/package-lock.json" >"$2/package-lock.json"
	echo "# npm ci --prefix $2 ($3)"
	if ! npm ci --prefix "$2" --no-audit --no-fund --ignore-scripts >"$2/npm.log" 2>&1; then
		sed 's/^/# /' "$2/npm.log" | tail -n 20
		unable "npm ci could not install $3 (offline?); log in $2/npm.log"
	fi
	cat "$1/package-lock.json" >"$2/installed.lock"
}
