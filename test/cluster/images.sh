#!/usr/bin/env bash
# Container images for the real node of up.sh --real-node, made on this
# machine: no registry is ever asked.
#
#   localhost/kloompas/pause:3.4   the pod sandbox: build/pause/linux/pause.c of
#                                  the Kubernetes tree that build.sh extracted,
#                                  compiled static (gcc -static -Os)
#   localhost/kloompas/busybox:1   Debian's busybox-static with a symlink per
#                                  applet (sh, echo, sleep, cat, nc, ...) for
#                                  test workloads
#
# Design: each image is a docker-archive tar (manifest.json, config json, one
# uncompressed layer tar) assembled by hand with python3's tarfile. That is a
# few KB of code, takes well under a second and needs no image tool: buildah
# would need its own storage root, the vfs driver and a registry-free base, and
# is slower. Files get mtime 0 and root ownership, so the same inputs give the
# same bytes and layer digest. Tars are cached under
# ${KLOOMPAS_CACHE:-/var/cache/kloompas}/images, named by a hash of their inputs.
#
# Usage: images.sh build            print the two tar paths, building if needed
#        images.sh import SOCKET    build if needed, import both into the
#                                   containerd at SOCKET (namespace k8s.io)
set -euo pipefail

CACHE=${KLOOMPAS_CACHE:-/var/cache/kloompas}
IMGDIR=$CACHE/images
PAUSE_REF=localhost/kloompas/pause:3.4
BUSYBOX_REF=localhost/kloompas/busybox:1
# Bump when the layout of the tars changes, so cached ones are rebuilt.
FORMAT=1

log() {
	printf 'images.sh: %s\n' "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

need_pkgs=()
for p in gcc libc6-dev busybox-static python3 containerd; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		need_pkgs+=("$p")
	fi
done
if ((${#need_pkgs[@]})); then
	log "installing: ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi

# Print pause.c of the Kubernetes tree: the extracted source, else the orig
# tarball that build.sh keeps next to it.
pause_source() {
	local top f
	for top in "$CACHE"/k8s-*/; do
		f=$top/src/build/pause/linux/pause.c
		if [[ -f $f ]]; then
			cat "$f"
			return 0
		fi
	done
	for f in "$CACHE"/k8s-*/kubernetes_*.orig.tar.gz "$CACHE"/k8s-*/dl/kubernetes_*.orig.tar.gz; do
		[[ -f $f ]] || continue
		tar -xzOf "$f" --wildcards '*/build/pause/linux/pause.c' 2>/dev/null && return 0
	done
	return 1
}

# mkarchive OUT REF ARCHIVE-SPEC-JSON: write the docker-archive tar OUT.
mkarchive() {
	python3 - "$@" <<'EOF'
import hashlib, io, json, os, sys, tarfile

out, ref, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def info(name, **kw):
    ti = tarfile.TarInfo(name)
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti

# The one layer: folders, files copied from the host, symlinks.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for d, mode in spec.get("dirs", []):
        t.addfile(info(d, type=tarfile.DIRTYPE, mode=int(mode, 8)))
    for dst, src in spec.get("files", []):
        with open(src, "rb") as f:
            data = f.read()
        t.addfile(info(dst, size=len(data), mode=0o755), io.BytesIO(data))
    for name, target in spec.get("links", []):
        t.addfile(info(name, type=tarfile.SYMTYPE, linkname=target, mode=0o777))
layer = buf.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()

epoch = "1970-01-01T00:00:00Z"
config = json.dumps({
    "architecture": spec["arch"],
    "os": "linux",
    "created": epoch,
    "config": spec["config"],
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": epoch, "created_by": "test/cluster/images.sh"}],
}, sort_keys=True).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
layer_name = diff_id[7:] + "/layer.tar"
manifest = json.dumps([{"Config": config_name, "RepoTags": [ref],
                        "Layers": [layer_name]}]).encode()

tmp = out + ".tmp"
with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as t:
    t.addfile(info(diff_id[7:] + "/", type=tarfile.DIRTYPE, mode=0o755))
    for name, data in ((layer_name, layer), (config_name, config),
                       ("manifest.json", manifest)):
        t.addfile(info(name, size=len(data), mode=0o644), io.BytesIO(data))
os.rename(tmp, out)
EOF
}

arch=$(dpkg --print-architecture)

build_pause() {
	local src key out work
	src=$(pause_source) || die "pause.c not found under $CACHE/k8s-*/: run test/cluster/build.sh"
	key=$( (
		printf 'format %s\n' "$FORMAT"
		gcc --version | head -n 1
		printf '%s\n' "$src"
	) | sha256sum | cut -c1-16)
	out=$IMGDIR/pause-3.4-$key.tar
	if [[ ! -f $out ]]; then
		log "building $PAUSE_REF"
		work=$(mktemp -d)
		printf '%s\n' "$src" >"$work/pause.c"
		gcc -static -Os -Wall -DVERSION=v3.4-kloompas -o "$work/pause" "$work/pause.c" ||
			{ rm -rf "$work"; die "compiling pause.c failed"; }
		strip "$work/pause"
		mkarchive "$out" "$PAUSE_REF" "$(python3 -c '
import json, sys
print(json.dumps({"arch": sys.argv[1], "files": [["pause", sys.argv[2]]],
                  "config": {"Entrypoint": ["/pause"]}}))' "$arch" "$work/pause")"
		rm -rf "$work"
	fi
	printf '%s\n' "$out"
}

build_busybox() {
	local bb=/bin/busybox key out
	[[ -x $bb ]] || die "$bb missing (busybox-static)"
	key=$( (
		printf 'format %s\n' "$FORMAT"
		sha256sum <"$bb"
	) | sha256sum | cut -c1-16)
	out=$IMGDIR/busybox-1-$key.tar
	if [[ ! -f $out ]]; then
		log "building $BUSYBOX_REF"
		mkarchive "$out" "$BUSYBOX_REF" "$("$bb" --list | python3 -c '
import json, sys
applets = sorted(set(sys.stdin.read().split()) - {"busybox"})
print(json.dumps({
    "arch": sys.argv[1],
    "dirs": [[d, "0755"] for d in ("bin", "etc", "proc", "sys", "dev", "root", "var")]
            + [["tmp", "1777"]],
    "files": [["bin/busybox", sys.argv[2]]],
    "links": [["bin/" + a, "busybox"] for a in applets],
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
}))' "$arch" "$bb")"
	fi
	printf '%s\n' "$out"
}

mkdir -p "$IMGDIR"
case ${1:-} in
build)
	build_pause
	build_busybox
	;;
import)
	sock=${2:?usage: images.sh import SOCKET}
	pause=$(build_pause)
	busybox=$(build_busybox)
	for tar in "$pause" "$busybox"; do
		log "importing $(basename "$tar")"
		ctr -a "$sock" -n k8s.io images import "$tar" >&2 ||
			die "ctr images import $tar failed"
	done
	;;
*)
	die "usage: images.sh build | images.sh import SOCKET"
	;;
esac
