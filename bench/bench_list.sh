#!/usr/bin/env bash
# bench/bench_list.sh - a paginated pod LIST through kubeclient against curl.
#
# Why: the informers' first LIST of a big cluster is the longest thing Kloompas
# waits for at start; it should cost little more than moving the bytes. This
# starts a fresh local control plane (test/cluster/up.sh), fills it with N
# realistic pods (~8.5 KB each as the apiserver returns them, statuses written by
# the kubelet simulator; bench/make_pods.py), then times, interleaved, ROUNDS
# rounds of:
#   curl   the same LIST with curl, page by page (limit=500, continue tokens taken
#          from each page's head with grep/sed), one curl process per page;
#   klctl  build-release/test/klctl list /api/v1/pods --limit 500 (kubeclient:
#          libcurl on the uv loop, each item decoded and handed over).
# and prints the medians and the ratio klctl/curl (issue target: <= 1.3). The
# cluster is removed at the end (down.sh --clean), whatever happens.
#
#   bench/bench_list.sh [N] [ROUNDS]      N defaults to 10000, ROUNDS to 5
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

N=${1:-10000}
ROUNDS=${2:-5}
KLCTL=$ROOT/build-release/test/klctl

bench_build_release test/klctl
bench_cluster_up
t0=$SECONDS
bench_make_pods "$N"
[[ -z ${BENCH_REUSE:-} ]] && bench_log "$N pods created and running in $((SECONDS - t0)) s"

# One LIST's bytes / N: the pods must be the ~8.5 KB the benchmark is about.
bytes=$(bench_curl_list /api/v1/pods)
items=$("$KLCTL" --kubeconfig "$KUBECONFIG" list /api/v1/pods --limit 500 |
	sed -n 's/^LIST items=\([0-9]*\).*/\1/p')
[[ $items == "$N" ]] || { bench_log "klctl listed $items pods, expected $N"; exit 1; }
avg=$((bytes / N))
echo "pods: $N, one LIST: $bytes bytes, $avg bytes/pod, $(((N + 499) / 500)) pages"
if ((avg < 7500 || avg > 9500)); then
	bench_log "average pod size $avg is not ~8.5 KB: the figures would not compare"
	exit 1
fi

# klctl's CPU time (user+sys) goes to $SHM_DIR/cpu
klctl_list() {
	/usr/bin/time -f '%U %S' -o "$SHM_DIR/cpu" \
		"$KLCTL" --kubeconfig "$KUBECONFIG" list /api/v1/pods --limit 500
}

curl_s=() klctl_s=() klctl_cpu=()
# one unreported round of each first: etcd and the page cache warm up
bench_time bench_curl_list /api/v1/pods >/dev/null
bench_time klctl_list >/dev/null
for ((r = 1; r <= ROUNDS; r++)); do
	c=$(bench_time bench_curl_list /api/v1/pods)
	k=$(bench_time klctl_list)
	curl_s+=("$c") klctl_s+=("$k")
	klctl_cpu+=("$(awk '{ printf "%.3f", $1 + $2 }' "$SHM_DIR/cpu")")
	echo "round $r: curl $c s, klctl $k s"
done

mc=$(bench_median "${curl_s[@]}")
mk=$(bench_median "${klctl_s[@]}")
mcpu=$(bench_median "${klctl_cpu[@]}")
echo "median curl:  $mc s ($(bench_div "$bytes" "$mc" 1e6 0) MB/s)"
echo "median klctl: $mk s ($(bench_div "$bytes" "$mk" 1e6 0) MB/s; CPU user+sys $mcpu s)"
echo "ratio klctl/curl: $(bench_div "$mk" "$mc" 1 2) (target <= 1.3)"
