#!/usr/bin/env bash
# Import docker-archive (or OCI) image tars into the containerd of the real
# node that up.sh DIR --real-node started, for pods with imagePullPolicy: Never
# (the node pulls nothing). Used by the e2e tests for the Kloompas image, and by
# up.sh for the tars listed in KL_NODE_IMAGES.
#
# Design: ctr talks to the node's own socket in DIR/node, namespace k8s.io
# (the one the kubelet's CRI uses); containerd unpacks the layers at once, so
# a pod can start from the image right away. Image GC is off on that node
# (thresholds 100/99), so imported images stay until down.sh --clean.
#
# Usage: node_import.sh DIR TAR...
set -euo pipefail

die() {
	printf 'node_import.sh: error: %s\n' "$*" >&2
	exit 1
}

(($# >= 2)) || die "usage: node_import.sh DIR TAR..."
DIR=$(cd "$1" && pwd) || die "no folder $1"
shift
sock=$DIR/node/containerd.sock
[[ -S $sock ]] || die "$sock: no containerd socket (was DIR started with up.sh --real-node?)"
for tar in "$@"; do
	[[ -f $tar ]] || die "$tar: no such file"
	printf 'node_import.sh: importing %s\n' "$tar" >&2
	ctr -a "$sock" -n k8s.io images import "$tar" >&2 || die "ctr images import $tar failed"
done
