#!/usr/bin/env bash
# Stop the real node of up.sh --real-node in DIR and take back every change it
# made to the machine: the kubelet, the pods' processes, containerd and its
# shims, the cgroups, the bridge and the mount points it had to create.
# down.sh runs it before stopping the control plane; it does nothing for a DIR
# without a node.
#
# Design: processes are stopped by pid only. The kubelet and containerd by
# their pid files, checked against /proc/PID/cmdline naming DIR; the pods and
# shims by the pids listed in DIR's own cgroup (/kloompas-<id>), where the
# kubelet put the pods and containerd was started (shims inherit it). Pods go
# first with SIGKILL (the kubelet is already gone, nobody restarts them), then
# containerd, then the shims. When the last process of the node's mount
# namespace is gone, its mounts (bind mounts, sysctl copies, rootfs overlays,
# secret tmpfs, netns) go with it and the pods' network namespaces and veths
# are freed by the kernel. The bridge is deleted last.
#
# Usage: node_down.sh DIR
set -euo pipefail

log() {
	printf 'node_down.sh: %s\n' "$*" >&2
}

DIR=$(cd "${1:?usage: node_down.sh DIR}" && pwd)
nd=$DIR/node
[[ -f $nd/cgroup ]] || exit 0
cg=$(<"$nd/cgroup")
bridge=$(cat "$nd/bridge" 2>/dev/null || true)
# Every hierarchy mounted now, not only those node.sh listed.
mapfile -t hierarchies < <(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts)

# shellcheck source=ours.sh
. "$(dirname "${BASH_SOURCE[0]}")/ours.sh"

alive() {
	[[ -r /proc/$1/stat ]] && [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# stop NAME SECONDS: SIGTERM, SIGKILL after SECONDS.
stop() {
	local pid i
	pid=$(ours "$1") || { rm -f "$DIR/$1.pid"; return 0; }
	log "stopping $1 (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < $2 * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		log "$1 (pid $pid) still running after $2 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/$1.pid"
}

# Print the pids in cgroup $cg/$1 and below, in every hierarchy.
cgroup_pids() {
	local h
	for h in "${hierarchies[@]}"; do
		[[ -d $h$cg$1 ]] || continue
		find "$h$cg$1" -name cgroup.procs -exec cat {} + 2>/dev/null
	done | sort -un
}

# kill_cgroup SUBPATH WHAT: SIGKILL every process in it until it is empty.
kill_cgroup() {
	local pids i
	for ((i = 0; i < 100; i++)); do
		mapfile -t pids < <(cgroup_pids "$1")
		((${#pids[@]})) || return 0
		((i)) || log "killing ${#pids[@]} $2 process(es) in cgroup $cg$1"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 0.1
	done
	log "warning: cgroup $cg$1 still has processes: ${pids[*]}"
}

# restart.sh leaves strace's pid in kubelet.pid (KL_NODE_STRACE=1): signal the
# kubelet itself, strace's child, and strace after it.
if pid=$(ours kubelet) && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == strace\ * ]]; then
	# shellcheck disable=SC2013 # pids separated by spaces
	for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
		if tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null | grep -qE '^[^ ]*/kubelet '; then
			printf '%s\n' "$pid" >"$DIR/kubelet-strace.pid"
			printf '%s\n' "$child" >"$DIR/kubelet.pid"
		fi
	done
fi
stop kubelet 10
stop kubelet-strace 2
kill_cgroup /kubepods pod
stop containerd 5
kill_cgroup "" "shim and leftover"

# The namespace ends with its last process; zombies do not hold it.
if [[ -f $nd/mntns ]]; then
	left=$(python3 - "$(<"$nd/mntns")" <<'EOF'
import os, sys, time
for _ in range(50):
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") != sys.argv[1]:
                continue
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    left.append(pid)
        except OSError:
            pass
    if not left:
        break
    time.sleep(0.1)
print(" ".join(left))
EOF
)
	[[ -z $left ]] || log "warning: processes still in the node's mount namespace: $left"
	rm -f "$nd/mntns"
fi

# Cgroups, deepest first.
for h in "${hierarchies[@]}"; do
	[[ -d $h$cg ]] || continue
	find "$h$cg" -depth -type d -exec rmdir {} + 2>/dev/null ||
		log "warning: could not remove all of $h$cg"
done

if [[ -n $bridge ]] && ip link show "$bridge" >/dev/null 2>&1; then
	# veths of pods whose namespace is gone are gone; delete any other port.
	for port in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
		ip link delete "$port" 2>/dev/null || true
	done
	log "deleting bridge $bridge"
	ip link delete "$bridge" type bridge
fi

# Mount points node_ns.sh created: remove them when no mount namespace mounts
# on them any more (another node of another DIR may still use them).
for dst in /var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /run/containerd; do
	[[ -f $dst/.kloompas-mountpoint ]] || continue
	[[ $(find "$dst" -mindepth 1 -maxdepth 1 | wc -l) == 1 ]] || continue
	# grep -q: 0 on a match even when a process vanished meanwhile (the
	# removal would detach the mount from that other namespace).
	if grep -qsE "^[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ $dst " /proc/[0-9]*/mountinfo; then
		continue
	fi
	rm -f "$dst/.kloompas-mountpoint"
	rmdir "$dst" 2>/dev/null || true
done
