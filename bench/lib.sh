# bench/lib.sh - shared steps of the cluster benchmarks (sourced, not run).
# shellcheck shell=bash
#
# Why: bench_list.sh and bench_informer.sh both need a fresh local control plane
# filled with realistic pods, the same curl baseline and the same statistics; they
# must also leave nothing behind (cluster, simulator, temp files) whatever happens,
# so the cleanup lives here once, on an EXIT trap.
#
# Uses: ROOT (the source tree), set by the caller before sourcing.
# Environment, for working on the benchmarks themselves (filling 50,000 pods takes
# a quarter of an hour):
#   BENCH_KEEP=1      leave the cluster and its kubelet simulator running at the
#                     end (DIR and the simulator's pid are printed);
#   BENCH_REUSE=DIR   measure a cluster left so, already holding the N pods: no
#                     up.sh, no pods made, and DIR is left as it was.
# Stop such a cluster with kill $(cat DIR/bench-sim.pid); test/cluster/down.sh DIR --clean.
#
# The simulator runs until the end of the measurement: it is the node's kubelet,
# and without its heartbeat the node goes NotReady within a minute; the
# controller-manager then marks every pod not ready (a status write per pod, at
# its 20 QPS, during the measurement) and after 5 minutes starts evicting them.

BENCH_DIR=""
BENCH_OWNED=0 # 1 when this run started BENCH_DIR and must remove it
SIM_PID=""
SHM_DIR=""

BENCH_STEP_PID="" # the step running in the background (bench_step), if any

# Runs "$@" in the background and waits for it, so that a signal to the script runs the
# cleanup at once instead of after the step; returns the step's status.
bench_step() {
	local rc=0

	"$@" &
	BENCH_STEP_PID=$!
	wait "$BENCH_STEP_PID" || rc=$?
	BENCH_STEP_PID=""
	return "$rc"
}

# Stops a step still running (SIGTERM, then waits for it); nothing when none is.
bench_stop_step() {
	if [[ -n $BENCH_STEP_PID ]] && kill -0 "$BENCH_STEP_PID" 2>/dev/null; then
		kill -TERM "$BENCH_STEP_PID" 2>/dev/null || true
		wait "$BENCH_STEP_PID" 2>/dev/null || true
	fi
	BENCH_STEP_PID=""
}

bench_log() {
	echo "$(basename "$0"): $*" >&2
}

bench_cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	bench_stop_step
	if ((BENCH_OWNED)) && [[ ${BENCH_KEEP:-0} == 1 ]]; then
		[[ -n $SIM_PID ]] && echo "$SIM_PID" >"$BENCH_DIR/bench-sim.pid"
		bench_log "cluster left running; to stop it:" \
			"${SIM_PID:+kill $SIM_PID; }test/cluster/down.sh $BENCH_DIR --clean"
	elif ((BENCH_OWNED)) && [[ -d $BENCH_DIR ]]; then
		bench_stop_sim
		"$ROOT/test/cluster/down.sh" "$BENCH_DIR" --clean >/dev/null 2>&1 ||
			bench_log "down.sh failed for $BENCH_DIR"
	else
		bench_stop_sim
	fi
	[[ -n $SHM_DIR ]] && rm -rf "$SHM_DIR"
	exit "$rc"
}

# A fresh cluster in a temp dir (or BENCH_REUSE's); exports its env (APISERVER_URL,
# CA_FILE, ...).
bench_cluster_up() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	SHM_DIR=$(mktemp -d /dev/shm/kl-bench.XXXXXX)
	if [[ -n ${BENCH_REUSE:-} ]]; then
		BENCH_DIR=$BENCH_REUSE
		bench_log "reusing the cluster in $BENCH_DIR"
	else
		BENCH_DIR=$(mktemp -d /tmp/kl-bench.XXXXXX)
		BENCH_OWNED=1
		bench_log "starting a cluster in $BENCH_DIR"
		"$ROOT/test/cluster/up.sh" "$BENCH_DIR" >"$BENCH_DIR/up.out" 2>&1 ||
			{ cat "$BENCH_DIR/up.out" >&2; return 1; }
	fi
	set -a
	# shellcheck disable=SC1091
	. "$BENCH_DIR/env"
	set +a
}

bench_start_sim() {
	python3 "$ROOT/test/cluster/kubelet_sim.py" --env "$BENCH_DIR/env" >"$BENCH_DIR/sim.log" 2>&1 &
	SIM_PID=$!
}

bench_stop_sim() {
	if [[ -n $SIM_PID ]]; then
		kill -TERM "$SIM_PID" 2>/dev/null || true
		wait "$SIM_PID" 2>/dev/null || true
		SIM_PID=""
	fi
}

# N realistic pods (bench/make_pods.py), the simulator writing their statuses; it
# stays up (see the top of this file). Nothing with BENCH_REUSE.
bench_make_pods() {
	local n=$1 pid

	if [[ -n ${BENCH_REUSE:-} ]]; then
		pid=$(cat "$BENCH_DIR/bench-sim.pid" 2>/dev/null || true)
		if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
			bench_log "warning: no kubelet simulator runs for $BENCH_DIR: its pods may be" \
				"marked NotReady or evicted by now"
		fi
		return 0
	fi
	bench_start_sim
	python3 "$ROOT/bench/make_pods.py" --env "$BENCH_DIR/env" --pods "$n" --concurrency 64 >&2
}

# Release build (a separate build dir) of the targets given, e.g. test/klctl.
bench_build_release() {
	local b=$ROOT/build-release

	if [[ ! -f $b/build.ninja ]]; then
		meson setup "$b" "$ROOT" -Dbuildtype=release -De2e=false >&2
	fi
	ninja -C "$b" "$@" >&2
}

# The curl baseline: a paginated LIST of PATH (limit BENCH_LIMIT, 500) following continue
# tokens, each page read to a file on tmpfs and its token taken from the page's
# head with grep/sed. Not "curl" as the user agent: the apiserver pretty-prints
# JSON for that. Prints the total bytes on stdout.
bench_curl_list() {
	local path=$1 cont="" page="$SHM_DIR/page" total=0 size url

	while :; do
		url="$APISERVER_URL$path?limit=${BENCH_LIMIT:-500}"
		[[ -n $cont ]] && url="$url&continue=$cont"
		curl -sS --fail -A kloompas-bench --cacert "$CA_FILE" --cert "$ADMIN_CERT" \
			--key "$ADMIN_KEY" -o "$page" "$url" || return 1
		size=$(stat -c %s "$page")
		total=$((total + size))
		# the token is base64: only '=' and '+' '/' need escaping in a query
		cont=$(head -c 2048 "$page" | grep -o '"continue":"[^"]*"' | head -n 1 |
			sed -e 's/^"continue":"//' -e 's/"$//' -e 's/+/%2B/g' -e 's,/,%2F,g' -e 's/=/%3D/g')
		[[ -z $cont ]] && break
	done
	rm -f "$page"
	echo "$total"
}

# Wall seconds of a command (its output discarded) -> stdout.
bench_time() {
	local t0 t1

	t0=$EPOCHREALTIME
	"$@" >/dev/null || return 1
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# Median of the numbers given as arguments.
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# A / B / SCALE printed with DIGITS decimals: bench_div BYTES SECONDS 1e6 0 -> MB/s.
bench_div() {
	awk -v a="$1" -v b="$2" -v s="$3" -v d="$4" 'BEGIN { printf "%.*f\n", d, a / b / s }'
}
