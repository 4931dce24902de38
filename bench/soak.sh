#!/usr/bin/env bash
# bench/soak.sh - MINUTES of churn on N pods with the apiserver restarted every 5 minutes:
# kloompas' RSS must stay flat, its file descriptors must not grow, and the caches must
# equal a fresh LIST at the end.
#
# Why: the issue asks for a soak run by hand, not in CI, with the figures in the closing
# note: RSS over the first and last 5 minutes, fds at start and end, the cache against a
# fresh LIST. A leak of a few bytes per event, a socket kept per reconnect or a cache that
# drifts over relists shows only after many events and restarts.
#
# Design: this script builds the release kloompas and klinform in its own build dir
# (build-soak, made if missing), starts a fresh control plane in a temp dir and the kubelet
# simulator (bench/lib.sh: removed with down.sh --clean on any exit), fills it with N
# realistic pods over N/200 namespaces (bench/make_pods.py; bound to the simulated node,
# Running with statuses, so status changes come from the simulator as from a kubelet),
# then runs bench/soak.py, which starts kloompas (crash-watcher, notready-watcher, a local
# receiver playing Slack) and klinform, churns, restarts the apiserver, samples, compares
# and decides. bench/README-soak.md explains the method and keeps the figures.
#
# Usage: bench/soak.sh [MINUTES] [PODS]        defaults 30 and 20000 (~45-60 min in all)
#        bench/soak.sh 4 2000                  a quick run (restarts every minute then)
# Environment: SOAK_RESULTS=DIR (default a new /tmp/kl-soak.*), SOAK_RATE (25 churn operations/s),
#   SOAK_RESTART_EVERY (seconds; 300, or 60 for runs under 15 minutes), SOAK_WINDOW (5
#   minutes, at most MINUTES/3), SOAK_RSS_BOUND_MIB (2), SOAK_NAMESPACES (PODS/200, at
#   least 4), and lib.sh's BENCH_KEEP=1 / BENCH_REUSE=DIR (a cluster holding the same
#   make_pods pods, e.g. kept by an earlier run: no pods are made).
# Exit status: 0 every check held, 1 a check failed, 2 the run broke.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

MINUTES=${1:-30}
PODS=${2:-20000}
if ! [[ $MINUTES =~ ^[0-9]+$ && $PODS =~ ^[0-9]+$ ]] || ((MINUTES < 3 || PODS < 200)); then
	echo "usage: bench/soak.sh [MINUTES] [PODS]   (at least 3 minutes and 200 pods)" >&2
	exit 2
fi
NAMESPACES=${SOAK_NAMESPACES:-$((PODS / 200 > 4 ? PODS / 200 : 4))}
if ((MINUTES < 15)); then
	RESTART_EVERY=${SOAK_RESTART_EVERY:-60}
else
	RESTART_EVERY=${SOAK_RESTART_EVERY:-300}
fi
RESULTS=${SOAK_RESULTS:-$(mktemp -d /tmp/kl-soak.XXXXXX)}
mkdir -p "$RESULTS"
BUILD=$ROOT/build-soak

# The Python of a step (soak.py stops kloompas and klinform itself; setpriv's parent-death
# signal is the backstop), then lib.sh's cleanup: the simulator and the cluster.
# shellcheck disable=SC2317 # run by the EXIT trap
soak_cleanup() {
	local rc=$?

	bench_stop_step
	if [[ -n $BENCH_DIR && -d $BENCH_DIR ]]; then
		for f in kube-apiserver etcd kube-controller-manager; do
			[[ -f $BENCH_DIR/$f.log ]] && tail -n 300 "$BENCH_DIR/$f.log" >"$RESULTS/$f.log.tail"
		done
		[[ -f $BENCH_DIR/sim.log ]] && tail -n 2000 "$BENCH_DIR/sim.log" >"$RESULTS/sim.log.tail"
	fi
	(exit "$rc")
	bench_cleanup
}

bench_log "building kloompas and klinform (release) in $BUILD"
if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" -Dbuildtype=release -De2e=false >&2
fi
ninja -C "$BUILD" cmd/kloompas/kloompas test/klinform >&2
# what was built: others may be editing the tree
{ git -C "$ROOT" rev-parse HEAD; git -C "$ROOT" status --short -- '*.c' '*.h' '*.build'; } \
	>"$RESULTS/source.txt" 2>&1 || true

bench_cluster_up
trap soak_cleanup EXIT
t0=$SECONDS
if [[ -z ${BENCH_REUSE:-} ]]; then
	bench_start_sim
	bench_log "creating $PODS pods over $NAMESPACES namespaces (make_pods.py)"
	bench_step python3 "$ROOT/bench/make_pods.py" --env "$BENCH_DIR/env" --pods "$PODS" \
		--namespaces "$NAMESPACES" --concurrency 64 >"$RESULTS/make_pods.out" 2>"$RESULTS/make_pods.log"
	bench_log "$PODS pods running after $((SECONDS - t0)) s"
else
	pid=$(cat "$BENCH_DIR/bench-sim.pid" 2>/dev/null || true)
	if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
		bench_start_sim # the earlier run's simulator is gone: this one takes the node over
	fi
fi

bench_log "soak: $MINUTES min, results in $RESULTS"
rc=0
bench_step python3 "$ROOT/bench/soak.py" --env "$BENCH_DIR/env" --kloompas "$BUILD/cmd/kloompas/kloompas" \
	--klinform "$BUILD/test/klinform" --results "$RESULTS" --minutes "$MINUTES" --pods "$PODS" \
	--namespaces "$NAMESPACES" --rate "${SOAK_RATE:-25}" --restart-every "$RESTART_EVERY" \
	--window "${SOAK_WINDOW:-5}" --rss-bound-mib "${SOAK_RSS_BOUND_MIB:-2}" 2>"$RESULTS/soak.log" || rc=$?
bench_log "results: $RESULTS/summary.txt, $RESULTS/results.json (exit $rc)"
exit "$rc"
