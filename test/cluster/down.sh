#!/usr/bin/env bash
# Stop the control plane that up.sh started in DIR, by the pids it recorded.
#
# Design: only processes whose pid file is in DIR and whose command line names
# DIR are signalled, so a reused pid or another cluster is never touched.
# SIGTERM first, SIGKILL after a short grace: kube-apiserver would otherwise
# wait up to 60 s for open watches to close. The controller-manager and the
# apiserver go first, etcd last. State is kept (up.sh DIR starts it again)
# unless --clean is given, which then removes DIR. The real node of
# up.sh --real-node (kubelet, pods, containerd, bridge, cgroups) is stopped
# first by node_down.sh, then kube-scheduler with the control plane.
#
# Usage: down.sh DIR [--clean]
set -euo pipefail

log() {
	printf 'down.sh: %s\n' "$*" >&2
}

clean=0
dir=
for a in "$@"; do
	case $a in
	--clean) clean=1 ;;
	-*)
		log "unknown option $a"
		exit 2
		;;
	*) dir=$a ;;
	esac
done
if [[ -z $dir ]]; then
	log "usage: down.sh DIR [--clean]"
	exit 2
fi
if [[ ! -d $dir ]]; then
	log "$dir: no such folder, nothing to stop"
	exit 0
fi
DIR=$(cd "$dir" && pwd)

# shellcheck source=ours.sh
. "$(dirname "${BASH_SOURCE[0]}")/ours.sh"

# stop NAME...: SIGTERM all, wait up to 5 s, SIGKILL the rest.
stop() {
	local name pid pids=() i
	for name in "$@"; do
		if pid=$(ours "$name"); then
			log "stopping $name (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	for ((i = 0; i < 50; i++)); do
		local alive=()
		for pid in "${pids[@]}"; do
			# A zombie has gone as far as we care.
			if [[ -r /proc/$pid/stat ]] && [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
				alive+=("$pid")
			fi
		done
		pids=("${alive[@]}")
		((${#pids[@]})) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		log "pid $pid still running after 5 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	done
	for name in "$@"; do
		rm -f "$DIR/$name.pid"
	done
}

if [[ -f $DIR/node/cgroup ]]; then
	bash "$(dirname "${BASH_SOURCE[0]}")/node_down.sh" "$DIR" || log "node_down.sh failed"
fi
stop kube-scheduler kube-controller-manager kube-apiserver
stop etcd

if ((clean)); then
	log "removing $DIR"
	rm -rf "$DIR"
fi
