#!/usr/bin/env bash
# bench/bench_watchers.sh - crash loop to Slack latency and the CPU of a burst of pod updates
# through crash-watcher and notready-watcher, with N pods in kloompas' cache.
#
# Why: the issue asks for the time from a pod entering CrashLoopBackOff to its notification
# leaving (for: 0s) at 50,000 cached pods - target under 100 ms plus the log fetch - and for
# what a burst of 10,000 pod updates costs. The machine is shared, so every figure comes with
# a baseline from the same run: a curl LIST of all pods for the sync, the PATCH round trip and
# a Python watch for the crash event, a pods/log call alone for the log fetch, and the
# apiserver's own CPU for the burst.
#
# Design: this script builds the release kloompas, starts a fresh control plane in a temp dir
# (bench/lib.sh: up.sh, removed with down.sh --clean on any exit), has bench_watchers.py create
# the pods (annotated kloompas.io/sim: pending, so no simulator binds them: fast, and they stay
# unbound), times the curl LIST baseline, then runs bench_watchers.py measure, which starts the
# receiver, the kubelet simulator (for the measurement pods only) and kloompas, and prints the
# figures. bench/README-watchers.md explains the method and keeps the results.
#
# Usage: bench/bench_watchers.sh [N]     N pods (default 50000; 5000 for a quick run)
# Environment: BENCH_NAMESPACES (500), BENCH_REPS (10), BENCH_BURST (10000),
#   BENCH_CONTROL=0 (skip the second run with log_lines 0), BENCH_POKE_MS (5; 0 skips the
#   latency phases with kloompas' loop kept awake), BENCH_PERF=1 (perf-profile a second
#   burst), BENCH_LIST_RUNS (3), BENCH_RESULTS=DIR (logs and results.json; default a new
#   /tmp/kl-bench-watchers.*), and lib.sh's BENCH_KEEP=1 / BENCH_REUSE=DIR (then no pods are
#   made: DIR must hold the N pods of an earlier run, e.g. one kept with BENCH_KEEP=1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"

N=${1:-50000}
if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 500)); then
	echo "usage: bench/bench_watchers.sh [N]   (N pods, at least 500; default 50000)" >&2
	exit 2
fi
NAMESPACES=${BENCH_NAMESPACES:-500}
RESULTS=${BENCH_RESULTS:-$(mktemp -d /tmp/kl-bench-watchers.XXXXXX)}
mkdir -p "$RESULTS"
bench_log "building the release kloompas"
bench_build_release cmd/kloompas/kloompas
KLOOMPAS=$ROOT/build-release/cmd/kloompas/kloompas

bench_cluster_up

if [[ -z ${BENCH_REUSE:-} ]]; then
	bench_log "creating $N pending pods over $NAMESPACES namespaces"
	bench_step python3 "$ROOT/bench/bench_watchers.py" create --env "$BENCH_DIR/env" --pods "$N" \
		--namespaces "$NAMESPACES" >"$RESULTS/create.json"
fi

# Baseline for the sync: what the apiserver takes to serve every pod as kloompas lists them
# (pages of 500), to curl writing to tmpfs.
list_times=()
for ((i = 0; i < ${BENCH_LIST_RUNS:-3}; i++)); do
	t0=$EPOCHREALTIME
	bytes=$(bench_curl_list /api/v1/pods)
	t1=$EPOCHREALTIME
	list_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
done
list_s=$(bench_median "${list_times[@]}")
bench_log "curl LIST of all pods: ${list_times[*]} s (median $list_s s), $bytes bytes"

extra=()
[[ ${BENCH_CONTROL:-1} == 1 ]] && extra+=(--control)
[[ ${BENCH_PERF:-0} == 1 ]] && extra+=(--perf)
bench_step python3 "$ROOT/bench/bench_watchers.py" measure --env "$BENCH_DIR/env" --kloompas "$KLOOMPAS" \
	--results "$RESULTS" --pods "$N" --namespaces "$NAMESPACES" --reps "${BENCH_REPS:-10}" \
	--burst "${BENCH_BURST:-10000}" --poke-ms "${BENCH_POKE_MS:-5}" --list-baseline "$list_s" \
	--create-result "$RESULTS/create.json" \
	"${extra[@]}" >"$RESULTS/summary.txt"
echo "curl LIST runs: ${list_times[*]} s; $bytes bytes of JSON" >>"$RESULTS/summary.txt"
cat "$RESULTS/summary.txt"
bench_log "logs and results.json in $RESULTS"
