#!/usr/bin/env bash
# scripts/image.sh - builds the kloompas image from deploy/Dockerfile with buildah, on a
# Debian 12 machine that reaches Debian's archive but no container registry.
#
# The Dockerfile is the one users build with docker; only its build stage's base
# differs: BUILD_IMAGE=localhost/debian:12, made from Debian's archive by
# scripts/image_base.sh (once per machine), and --pull=never so no registry is asked.
# The RUN steps use the host's network for apt-get only. Images live in kloompas's own
# buildah store under the cache (see image_base.sh); intermediate layers are kept
# (--layers), so a rebuild with an unchanged tree is a cache hit, and a source change
# reruns only the build from the COPY on (apt-get install stays cached).
#
# The image is named localhost/NAME:VERSION (the version from meson.build): a name
# with a registry host, so that containerd keeps it as is when it imports the archive
# written by --save (a bare kloompas:0.1.0 would become docker.io/library/...).
#
# Usage: image.sh [--save FILE]   progress on stderr, the image name on stdout
#   --save FILE   also write the image as a docker-archive tar, for
#                 `ctr -n k8s.io images import FILE` (or `docker load -i FILE`)
# Env:   KLOOMPAS_CACHE           cache root (default /var/cache/kloompas)
#        KLOOMPAS_IMAGE           image name (default localhost/kloompas:VERSION)
# Needs root; installs buildah and debootstrap if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${KLOOMPAS_CACHE:-/var/cache/kloompas}

log() {
	printf 'image.sh: %s\n' "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

usage() {
	printf 'usage: %s [--save FILE]\n' "$0" >&2
	exit 2
}

save=
while (($#)); do
	case $1 in
	--save)
		(($# >= 2)) || usage
		save=$2
		shift 2
		;;
	--save=*)
		save=${1#--save=}
		shift
		;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
[[ -z $save || -d $(dirname -- "$save") ]] || die "--save: no folder $(dirname -- "$save")"

version=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" meson.build | head -n 1)
[[ -n $version ]] || die "no version: in meson.build"
name=${KLOOMPAS_IMAGE:-localhost/kloompas:$version}

# the base image and the store (image_base.sh installs buildah if needed)
base=$(scripts/image_base.sh)
export CONTAINERS_STORAGE_CONF=$CACHE/image/storage.conf

# The overlay driver bind-mounts its folder onto itself and leaves it so; undo that
# when no layer is mounted under it any more (no other build is running).
release_store() {
	local home=$CACHE/image/root/overlay
	if mountpoint -q "$home" && ! grep -q " $home/[^ ]*/merged " /proc/self/mountinfo; then
		umount "$home" 2>/dev/null || true
	fi
}
trap release_store EXIT

old=$(buildah images --quiet --no-trunc "$name" 2>/dev/null | head -n 1) || true
log "building $name from deploy/Dockerfile (BUILD_IMAGE=$base)"
start=$SECONDS
# chroot isolation: RUN steps need no runtime namespaces here, and use the host network
buildah build \
	--isolation chroot --network host --pull=never --layers --force-rm \
	--build-arg BUILD_IMAGE="$base" \
	--ignorefile deploy/Dockerfile.dockerignore \
	-f deploy/Dockerfile -t "$name" . >&2
log "built $name in $((SECONDS - start)) s"

# the image this tag named before, now unnamed (not the layer cache: only this one)
new=$(buildah images --quiet --no-trunc "$name" | head -n 1)
if [[ -n $old && $old != "$new" ]]; then
	buildah rmi "$old" >/dev/null 2>&1 || true
fi

if [[ -n $save ]]; then
	rm -f -- "$save"
	buildah push --quiet "$name" "docker-archive:$save:$name" >&2
	log "saved $save ($(du -m -- "$save" | cut -f1) MB)"
fi
printf '%s\n' "$name"
