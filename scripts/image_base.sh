#!/usr/bin/env bash
# scripts/image_base.sh - makes the build stage's base image, localhost/debian:12, for
# machines that reach no container registry, only a Debian archive.
#
# deploy/Dockerfile starts FROM ${BUILD_IMAGE} (debian:12 by default, from a registry).
# Here that image is made instead: debootstrap --variant=minbase of bookworm from the
# mirror the machine's own apt sources name (so no other host is contacted), then
# unpacked into an empty buildah container and committed as localhost/debian:12. The
# image gets the same apt sources as the official one (bookworm, -updates, -security).
#
# Both steps happen once per machine: the debootstrap result is kept as a tarball, and
# the image in a buildah store of our own (the machine's /etc/containers and
# /var/lib/containers are left alone). The store's storage.conf is written here, so
# scripts/image.sh uses the same store by setting CONTAINERS_STORAGE_CONF to it:
#   overlay driver when the kernel allows it here, else vfs (set once, when created).
#
# Usage: image_base.sh        progress on stderr, the image name on stdout
# Env:   KLOOMPAS_CACHE       cache root (default /var/cache/kloompas):
#          image-base/debian-12-minbase.tar   the debootstrap result (116 MB)
#          image/storage.conf, image/root/    the buildah store (runroot /run/kloompas-image)
# Needs root; installs buildah and debootstrap if they are missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

CACHE=${KLOOMPAS_CACHE:-/var/cache/kloompas}
BASE_NAME=localhost/debian:12
SUITE=bookworm
BASE_TAR=$CACHE/image-base/debian-12-minbase.tar
STORE=$CACHE/image
RUNROOT=/run/kloompas-image

log() {
	printf 'image_base.sh: %s\n' "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, and buildah's store under $CACHE)"

need_pkgs=()
command -v buildah >/dev/null 2>&1 || need_pkgs+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if ((${#need_pkgs[@]})); then
	log "installing: ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi

# --- the buildah store ------------------------------------------------------------

mkdir -p "$STORE/root" "$RUNROOT"
if [[ ! -f $STORE/storage.conf ]]; then
	driver=vfs
	if grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null; then
		# the store's own folder must accept an overlay mount (not so on some overlay roots)
		t=$(mktemp -d "$STORE/.probe.XXXXXX")
		mkdir "$t/l" "$t/u" "$t/w" "$t/m"
		if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" \
			2>/dev/null; then
			umount "$t/m"
			driver=overlay
		fi
		rm -rf "$t"
	fi
	log "new buildah store $STORE/root, driver $driver"
	cat >"$STORE/storage.conf.tmp" <<EOF
# written by scripts/image_base.sh: kloompas's own image store
[storage]
driver = "$driver"
graphroot = "$STORE/root"
runroot = "$RUNROOT"
EOF
	mv "$STORE/storage.conf.tmp" "$STORE/storage.conf"
fi
export CONTAINERS_STORAGE_CONF=$STORE/storage.conf

# The overlay driver bind-mounts its folder onto itself and leaves it so; undo that
# when no layer is mounted under it any more (no other build is running).
release_store() {
	local home=$STORE/root/overlay
	if mountpoint -q "$home" && ! grep -q " $home/[^ ]*/merged " /proc/self/mountinfo; then
		umount "$home" 2>/dev/null || true
	fi
}
trap release_store EXIT

if buildah inspect --type image "$BASE_NAME" >/dev/null 2>&1; then
	printf '%s\n' "$BASE_NAME"
	exit 0
fi

# --- the mirror -------------------------------------------------------------------


# --- debootstrap, once ------------------------------------------------------------

if [[ ! -f $BASE_TAR ]]; then
	read -r mirror signed_by < <(bash "$here/debian_mirror.sh" "$SUITE") ||
		die "no deb line for $SUITE in /etc/apt/sources.list{,.d/}"
	[[ -n $mirror ]] || die "no deb line for $SUITE in /etc/apt/sources.list{,.d/}"
	security=
	read -r security _ < <(bash "$here/debian_mirror.sh" "$SUITE-security") || true
	log "debootstrap --variant=minbase $SUITE from $mirror (signed-by: $signed_by)"

	keyring=()
	[[ $signed_by != - && -f $signed_by ]] && keyring=(--keyring="$signed_by")
	work=$CACHE/image-base/rootfs.tmp
	rm -rf "$work"
	mkdir -p "$work"
	debootstrap --variant=minbase "${keyring[@]}" "$SUITE" "$work" "$mirror" >&2 ||
		die "debootstrap failed (log: $work/debootstrap/debootstrap.log)"

	# What the official image has: its apt sources, no package files or lists, no host
	# files (the container engine provides resolv.conf, hosts and hostname), empty /dev.
	{
		printf 'deb %s %s %s-updates main\n' "$mirror" "$SUITE" "$SUITE"
		[[ -z $security ]] || printf 'deb %s %s-security main\n' "$security" "$SUITE"
	} >"$work/etc/apt/sources.list"
	rm -rf "${work:?}"/var/cache/apt/archives/*.deb "${work:?}"/var/lib/apt/lists/* \
		"${work:?}"/var/log/*.log "${work:?}"/var/log/apt/* "${work:?}"/tmp/* "${work:?}"/dev/*
	rm -f "$work/etc/resolv.conf" "$work/etc/hostname"

	tar -C "$work" --numeric-owner -cf "$BASE_TAR.tmp" .
	mv "$BASE_TAR.tmp" "$BASE_TAR"
	rm -rf "$work"
	log "kept $BASE_TAR ($(du -m "$BASE_TAR" | cut -f1) MB)"
fi

# --- the image --------------------------------------------------------------------

log "importing $BASE_TAR as $BASE_NAME"
buildah rm kloompas-base-import >/dev/null 2>&1 || true # left by a killed run
ctr=$(buildah from --name kloompas-base-import scratch)
mnt=
cleanup() {
	[[ -z $mnt ]] || buildah umount "$ctr" >/dev/null 2>&1 || true
	buildah rm "$ctr" >/dev/null 2>&1 || true
	release_store
}
trap cleanup EXIT
mnt=$(buildah mount "$ctr")
tar -C "$mnt" --numeric-owner -xpf "$BASE_TAR"
buildah umount "$ctr" >/dev/null
mnt=
buildah config --os linux --arch "$(dpkg --print-architecture)" \
	--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--cmd bash "$ctr"
buildah commit --quiet "$ctr" "$BASE_NAME" >/dev/null
printf '%s\n' "$BASE_NAME"
