#!/usr/bin/env bash
# Runs a process of the real node (see node.sh) in DIR's cgroup and, for
# containerd, first sets up the private mount namespace it was started in
# (unshare -m --propagation private). The kubelet joins that namespace later
# with nsenter and runs this with "join".
#
# Design: the mounts live only in this namespace, which ends with its last
# process; they never show on the machine and need no unmounting. The
# kubelet's fixed paths become folders of DIR/node/fs. A path missing on the
# machine needs a folder to mount on: it is created with a marker file
# .kloompas-mountpoint, which down.sh (node_down.sh) looks for to remove it
# once no mount namespace uses it. The sysctls the kubelet writes are bind-mounted
# copies, so its writes never reach the machine. The process is exec'd, so
# its pid stays the one up.sh recorded.
#
# Usage: node_ns.sh DIR mount|join COMMAND...
set -euo pipefail

DIR=$1
mode=$2
shift 2
nd=$DIR/node

# Join DIR's node/ cgroup in every hierarchy node.sh made it in.
cg=$(<"$nd/cgroup")
while read -r h; do
	echo $$ >"$h$cg/node/cgroup.procs"
done <"$nd/cgroup-hierarchies"

if [[ $mode == mount ]]; then
	# In a namespace of our own with private propagation, or not at all.
	[[ $(readlink /proc/$$/ns/mnt) != "$(readlink /proc/1/ns/mnt)" ]] || {
		echo "node_ns.sh: not in a private mount namespace" >&2
		exit 1
	}
	# Container root filesystems of other tools (buildah, podman) were copied
	# into this namespace: let go of them, else they stay busy while we run.
	awk '$3 == "overlay" { print $2 }' /proc/self/mounts | tac | while read -r m; do
		umount -l "$(printf '%b' "$m")" 2>/dev/null || true
	done
	for spec in var-lib-kubelet:/var/lib/kubelet var-log-pods:/var/log/pods \
		var-log-containers:/var/log/containers var-lib-cni:/var/lib/cni \
		run-containerd:/run/containerd; do
		src=$nd/fs/${spec%%:*}
		dst=${spec#*:}
		mkdir -p "$src"
		if [[ ! -e $dst ]]; then
			mkdir -p "$dst"
			: >"$dst/.kloompas-mountpoint"
		fi
		mount --bind "$src" "$dst"
	done
	mkdir -p "$nd/sysctl"
	for f in kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys \
		kernel/keys/root_maxbytes vm/overcommit_memory vm/panic_on_oom \
		net/ipv4/ip_forward net/ipv6/conf/all/forwarding; do
		[[ -e /proc/sys/$f ]] || continue
		copy=$nd/sysctl/${f//\//.}
		cat "/proc/sys/$f" >"$copy"
		mount --bind "$copy" "/proc/sys/$f"
	done
fi

exec "$@"
