#!/usr/bin/env bash
# bench/bench_informer.sh - the pods informer's sync against a curl LIST, and its memory.
#
# Why: at start Kloompas waits for its pods informer to sync, and then keeps that
# cache for the life of the process; on a big cluster both must stay small. This
# starts a fresh local control plane, fills it with N realistic pods (~8.5 KB each
# as the apiserver returns them, statuses written by the kubelet simulator;
# bench/make_pods.py, 64 concurrent creators), then runs, interleaved, ROUNDS rounds
# of:
#   curl      the paginated LIST of the same pods (bench/lib.sh: limit=500,
#             continue tokens by grep/sed), the baseline;
#   informer  build-release/bench/bench_informer: sync time, heap per pod, interned
#             strings, RSS.
# Targets (the issue): sync within 1.3x curl, heap <= 400 bytes/pod, RSS <= 32 MiB.
# The cluster is removed at the end (down.sh --clean), whatever happens.
#
#   bench/bench_informer.sh [N] [ROUNDS]      N defaults to 50000, ROUNDS to 3
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

N=${1:-50000}
ROUNDS=${2:-3}
BENCH=$ROOT/build-release/bench/bench_informer

bench_build_release bench/bench_informer
bench_cluster_up
t0=$SECONDS
bench_make_pods "$N"
[[ -z ${BENCH_REUSE:-} ]] && bench_log "$N pods created and running in $((SECONDS - t0)) s"

bytes=$(bench_curl_list /api/v1/pods)
avg=$((bytes / N))
echo "pods: $N, one LIST: $bytes bytes, $avg bytes/pod"
if ((avg < 7500 || avg > 9500)); then
	bench_log "average pod size $avg is not ~8.5 KB: the figures would not compare"
	exit 1
fi

# RESULT key=value ... -> the value of key
field() {
	tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}

curl_s=() sync_s=() per_pod=() arena_pod=() rss=() hwm=()
bench_time bench_curl_list /api/v1/pods >/dev/null # warm-up, not reported
for ((r = 1; r <= ROUNDS; r++)); do
	c=$(bench_time bench_curl_list /api/v1/pods)
	out=$("$BENCH" --kubeconfig "$KUBECONFIG" 2>"$SHM_DIR/informer.err") ||
		{ cat "$SHM_DIR/informer.err" >&2; exit 1; }
	res=$(grep '^RESULT' <<<"$out")
	objs=$(field "$res" objects)
	[[ $objs == "$N" ]] || { bench_log "informer synced $objs pods, expected $N"; exit 1; }
	curl_s+=("$c") sync_s+=("$(field "$res" sync_s)") per_pod+=("$(field "$res" heap_per_object)")
	arena_pod+=("$(field "$res" uordblks_per_object)")
	rss+=("$(field "$res" rss_kib)") hwm+=("$(field "$res" hwm_kib)")
	echo "round $r: curl $c s, informer sync ${sync_s[-1]} s, heap ${per_pod[-1]} B/pod," \
		"RSS ${rss[-1]} KiB (HWM ${hwm[-1]} KiB)"
	if ((r == ROUNDS)); then
		echo "last round in full:"
		grep -v '^RESULT' <<<"$out" | sed 's/^/  /'
	fi
done

mc=$(bench_median "${curl_s[@]}")
ms=$(bench_median "${sync_s[@]}")
mp=$(bench_median "${per_pod[@]}")
ma=$(bench_median "${arena_pod[@]}")
mr=$(bench_median "${rss[@]}")
mh=$(bench_median "${hwm[@]}")
echo "median curl LIST:     $mc s"
echo "median informer sync: $ms s"
echo "ratio sync/curl:      $(bench_div "$ms" "$mc" 1 2) (target <= 1.3)"
echo "heap per pod:         $mp bytes with mmap()ed blocks, $ma in uordblks alone" \
	"(target <= 400)"
echo "RSS after sync:       $(bench_div "$mr" 1024 1 1) MiB, peak $(bench_div "$mh" 1024 1 1) MiB" \
	"(target <= 32 MiB)"
