#!/bin/sh
# build-image.sh - an OCI image of seq2seqd built from Debian packages,
# without pulling any base image:
#
#   1. seq2seqd is configured for /usr (--prefix=/usr --sysconfdir=/etc),
#      built and installed with `make install DESTDIR=STAGE`;
#   2. mmdebstrap makes a Debian 12 (bookworm) root file system of the
#      "essential" variant (libc, coreutils for the preStop sleep, dash; no
#      apt, no package manager state needed at run time) plus the daemon's
#      runtime libraries, and copies STAGE into it, adds user 65532
#      (seq2seqd) and drops documentation;
#   3. buildah turns that tree into an image FROM scratch (one layer) with
#      the entrypoint, user, port and labels, committed to an OCI archive.
#
#   sh deploy/oci/build-image.sh [OUTDIR]      (as root; default OUTDIR: ./image)
#
# Output: OUTDIR/seq2seqd-VERSION.oci.tar (load it: `podman load -i ...`, or
# `skopeo copy oci-archive:... docker://REGISTRY/seq2seqd:VERSION`), and
# OUTDIR/rootfs/ (the tree, for a quick `chroot OUTDIR/rootfs
# /usr/sbin/seq2seqd --version`).
# Knobs: S2S_IMAGE_MIRROR (default http://deb.debian.org/debian),
# S2S_IMAGE_BUILDDIR (an existing build configured with --prefix=/usr
# --sysconfdir=/etc, to skip step 1's configure), S2S_IMAGE_TAG
# (default localhost/seq2seqd:VERSION), BUILDAH_FLAGS (default:
# --storage-driver vfs, which works inside containers too).
# Needs: mmdebstrap, buildah (Debian 12 packages), the build dependencies.
# SC2016: mmdebstrap's hooks get their tree as "$1", expanded by the hook's
# own shell, hence single quotes; SC2086: BUILDAH_FLAGS is a list of words.
# shellcheck disable=SC2016,SC2086
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-image}" && cd "${1:-image}" && pwd)
mirror=${S2S_IMAGE_MIRROR:-http://deb.debian.org/debian}
buildah_flags=${BUILDAH_FLAGS:---storage-driver vfs}
# The runtime libraries of the daemon (ldd build/seq2seqd; their own
# dependencies come along). libopenblas0 picks the pthread variant.
runtime_pkgs=libopenblas0,libjansson4,libmicrohttpd12,libuv1,libsystemd0
# mmdebstrap installs usrmerge (and with it perl, ~50 MB) to satisfy
# init-system-helpers; usr-is-merged satisfies it too, so the hook below
# purges usrmerge and the perl it brought (perl-base, essential, stays).
runtime_pkgs=$runtime_pkgs,usr-is-merged
perl_pkgs="usrmerge perl libperl5.36 perl-modules-5.36 libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl libgdbm-compat4 libgdbm6"
uid=65532

# 1. build and stage the daemon for /usr
build=${S2S_IMAGE_BUILDDIR:-$out/build}
if [ -z "${S2S_IMAGE_BUILDDIR:-}" ]; then
	mkdir -p "$build"
	[ -f "$src/configure" ] || (cd "$src" && autoreconf -fi)
	(cd "$build" && "$src/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
		--with-systemdsystemunitdir=/usr/lib/systemd/system >configure.log)
fi
make -C "$build" -j"$(nproc)" >"$out/make.log"
rm -rf "$out/stage"
make -C "$build" install DESTDIR="$out/stage" >>"$out/make.log"
version=$("$out/stage/usr/sbin/seq2seqd" --version | awk '{ print $2 }')
tag=${S2S_IMAGE_TAG:-localhost/seq2seqd:$version}

# 2. the root file system: Debian packages plus the staged install. The
# hooks run outside the tree with $1 = the tree.
rm -rf "$out/rootfs"
mmdebstrap --variant=essential --include="$runtime_pkgs" \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook="chroot \"\$1\" dpkg --purge $perl_pkgs" \
	--customize-hook="cp -a '$out/stage/.' \"\$1/\"" \
	--customize-hook='rm -rf "$1/usr/share/man" "$1/usr/share/doc" "$1/usr/lib/systemd/system/seq2seqd"* "$1/usr/include"' \
	--customize-hook="echo 'seq2seqd:x:$uid:$uid:seq2seqd:/nonexistent:/usr/sbin/nologin' >>\"\$1/etc/passwd\"" \
	--customize-hook="echo 'seq2seqd:x:$uid:' >>\"\$1/etc/group\"" \
	--customize-hook='mkdir -p "$1/etc/seq2seqd" "$1/models"' \
	--customize-hook='rm -rf "$1/var/cache/apt"/* "$1/var/lib/apt/lists"/* "$1/var/log"/*' \
	bookworm "$out/rootfs" "$mirror" >"$out/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$out/mmdebstrap.log"; exit 1; }

# 3. the image, FROM scratch
ctr=$(buildah $buildah_flags from scratch)
trap 'buildah $buildah_flags rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah $buildah_flags copy "$ctr" "$out/rootfs" / >/dev/null
# CMD binds every address, as a container must; Kubernetes' args (and
# `podman run IMAGE --flag...`) replace it, and the ConfigMap's bind applies.
buildah $buildah_flags config \
	--entrypoint '["/usr/sbin/seq2seqd"]' \
	--cmd '--bind=0.0.0.0' \
	--user "$uid:$uid" \
	--port 8080/tcp \
	--workingdir / \
	--env OPENBLAS_NUM_THREADS=1 \
	--label org.opencontainers.image.title=seq2seqd \
	--label org.opencontainers.image.description="seq2seqd Seq2Seq-with-attention translation server" \
	--label org.opencontainers.image.version="$version" \
	--label org.opencontainers.image.base.name="debian:bookworm (mmdebstrap, essential)" \
	"$ctr"
# --disable-compression=false: gzip the layer (buildah stores it
# uncompressed by default), as registries and runtimes expect.
rm -f "$out/seq2seqd-$version.oci.tar"
buildah $buildah_flags commit --format oci --disable-compression=false "$ctr" "oci-archive:$out/seq2seqd-$version.oci.tar:$tag" >/dev/null
echo "image: $out/seq2seqd-$version.oci.tar ($tag), $(du -h "$out/seq2seqd-$version.oci.tar" | cut -f1); rootfs $(du -sh "$out/rootfs" | cut -f1)"
