#!/usr/bin/env bash
# bench/bench_sync.sh - the pods informer's sync and churn against client-go's (issue 14).
#
# Why: the targets of issue 14 are ratios against client-go's shared informer with
# protobuf (what kube-controller-manager runs) and against the apiserver's own floor
# (one protobuf LIST from its watch cache), measured in the same run on this shared,
# noisy machine. This fills a bare etcd + kube-apiserver (the client-go reference
# tools of ../shared/anchor-clientgo: up.sh, anchor-loader) with PODS realistic pods
# (~8.5 KB of JSON each) and runs, interleaved, ROUNDS rounds of
#   client-go-json       anchor-watcher (SharedInformer, JSON)
#   client-go-protobuf   anchor-watcher -protobuf
#   rawlist-protobuf     anchor-rawlist -rv 0 -limit 0 -protobuf: one LIST from the
#                        watch cache, bytes thrown away (the floor)
#   rawlist-json         the same in JSON
#   curl-protobuf        the same protobuf LIST with curl (HTTP/2, -A kloompas-bench): the
#                        floor the issue names; Go's client reads faster than curl here
#   kloompas-json        build-release/bench/bench_informer --content-type json
#   kloompas-protobuf    build-release/bench/bench_informer --content-type protobuf
# (each round starts one further down this list, and even rounds go up it, so no
# variant always follows the same one), each measured for time to synced, its CPU
# (user+sys) and RSS at sync and peak, and kube-apiserver's CPU for that sync
# (utime+stime of /proc/PID/stat before the start and when the SYNC line appears;
# each starts once the apiserver is idle again). For curl and Kloompas the time of
# the first byte (the first pod in the cache) is shown too: the apiserver sends
# nothing until it has built the whole list. Then churn:
# anchor-loader -mode churn
# writes CHURN (10,000 or PODS, the fewer) pod statuses while anchor-watcher -protobuf
# and bench_informer --content-type protobuf both watch, each with -expect-updates,
# in the same run; both CPUs are reported. It ends with the medians and the ratios
# the issue names, each with pass/fail against its target.
#
#   bench/bench_sync.sh [PODS] [ROUNDS]       PODS defaults to 50000, ROUNDS to 3
#
# Environment:
#   BENCH_KEEP=1        leave the loaded cluster up at the end (the commands to measure
#                       it again and to stop it are printed)
#   BENCH_REUSE=DIR     measure the cluster left so in DIR (its ANC_DIR), already
#                       holding PODS pods: no up.sh, no loading, left running; one
#                       holding fewer is grown to PODS first (e.g. 50,000 to 150,000)
#   ANC_DIR             where up.sh keeps a new cluster (default /tmp/anc-bench);
#                       ports 2379, 2380 and 6443 must be free
#   ANCHOR_CLIENTGO     the reference tools' sources (default ../shared/anchor-clientgo
#                       of the project root, or of the worktree's parent)
#   ANCHOR_BIN          their binaries (default /tmp/anchor/bin; built when missing)
#   BENCH_CHURN         status updates in the churn phase (default 10000, at most PODS)
#   BENCH_PAUSE         seconds of rest before each measurement (default 2), after
#                       which it also waits for kube-apiserver to be idle
#   BENCH_NO_JSON=1     only the protobuf and curl variants (no JSON warm-up either):
#                       at 150,000 pods a 1.3 GB JSON LIST plus client-go's JSON
#                       informer need more memory than the machine has beside an
#                       apiserver of 12 GiB; no issue-14 target involves JSON
# A cluster this script started is stopped at the end (down.sh, by the PIDs up.sh
# recorded) unless BENCH_KEEP=1, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cd "$ROOT" # up.sh and build.sh run from the project root

N=${1:-50000}
ROUNDS=${2:-3}
CHURN=${BENCH_CHURN:-10000}
((CHURN > N)) && CHURN=$N
PAUSE=${BENCH_PAUSE:-2}
PORT=6443
URL=https://127.0.0.1:$PORT
TOKEN=admin-token
KL=$ROOT/build-release/bench/bench_informer
ABIN=${ANCHOR_BIN:-/tmp/anchor/bin}
TIMEOUT=900 # seconds a sync or the churn may take before the run fails
TICK=$(getconf CLK_TCK)

ANC_SRC=${ANCHOR_CLIENTGO:-}
if [[ -z $ANC_SRC ]]; then
	for d in "$ROOT/../shared/anchor-clientgo" "$ROOT/../../shared/anchor-clientgo"; do
		[[ -f $d/up.sh ]] && ANC_SRC=$(cd "$d" && pwd) && break
	done
fi
[[ -f ${ANC_SRC:-/nonexistent}/up.sh ]] ||
	{ bench_log "no anchor-clientgo tools found: set ANCHOR_CLIENTGO"; exit 1; }

OWNED=0   # 1 when this run started the cluster in ANC_DIR
WORK=""   # this run's logs
BG_PIDS=() # background measurement processes still running

sync_cleanup() {
	local rc=$? p

	trap - EXIT INT TERM
	bench_stop_step
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if ((OWNED)) && [[ ${BENCH_KEEP:-0} == 1 ]]; then
		bench_log "cluster left running: etcd pid $(cat "$ANC_DIR/etcd.pid")," \
			"kube-apiserver pid $(cat "$ANC_DIR/apiserver.pid"), $N pods, in $ANC_DIR"
		bench_log "measure it again: BENCH_REUSE=$ANC_DIR bench/bench_sync.sh $N $ROUNDS"
		bench_log "stop it: ANC_DIR=$ANC_DIR bash $ANC_SRC/down.sh"
	elif ((OWNED)); then
		ANC_DIR=$ANC_DIR bash "$ANC_SRC/down.sh" || bench_log "down.sh failed for $ANC_DIR"
	fi
	[[ -n $WORK ]] && rm -rf "$WORK"
	exit "$rc"
}
trap sync_cleanup EXIT
trap 'exit 130' INT TERM

# The kube-apiserver's CPU so far (utime+stime), in clock ticks. Its command name
# has no space, so the fields count from 1 as in proc(5).
api_ticks() {
	awk '{ print $14 + $15 }' "/proc/$API_PID/stat"
}

# Rests PAUSE seconds, then until kube-apiserver is idle (under 0.1 CPU s in a second;
# 30 s at most): a Go heap of gigabytes is still being collected after a big LIST,
# and that work would be charged to the next measurement.
api_quiesce() {
	local a0 a1 i

	sleep "$PAUSE"
	for ((i = 0; i < 30; i++)); do
		a0=$(api_ticks)
		sleep 1
		a1=$(api_ticks)
		((a1 - a0 < TICK / 10)) && return 0
	done
	bench_log "kube-apiserver still busy after 30 s; measuring anyway"
}

# KEY=value ... line -> the value of key
field() {
	tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}

port_in_use() {
	ss -Htln "sport = :$1" | grep -q .
}

# A fresh cluster holding N pods, or BENCH_REUSE's; sets ANC_DIR and API_PID.
cluster_up() {
	local t0 out=$WORK/loader.out have=0 mode

	if [[ -n ${BENCH_REUSE:-} ]]; then
		ANC_DIR=$BENCH_REUSE
		bench_log "reusing the cluster in $ANC_DIR"
		have=$(cat "$ANC_DIR/bench-pods" 2>/dev/null || echo -1)
		((have > 0 && have <= N)) ||
			{ bench_log "$ANC_DIR was not loaded with at most $N pods by bench_sync.sh"; exit 1; }
	else
		ANC_DIR=${ANC_DIR:-/tmp/anc-bench}
		for p in 2379 2380 "$PORT"; do
			port_in_use "$p" && { bench_log "port $p is in use: stop what uses it"; exit 1; }
		done
		[[ -e $ANC_DIR ]] && { bench_log "$ANC_DIR exists: remove it or set ANC_DIR"; exit 1; }
		OWNED=1
		bench_log "starting etcd + kube-apiserver in $ANC_DIR"
		bench_step env ANC_DIR="$ANC_DIR" bash "$ANC_SRC/up.sh" >&2
	fi
	export ANC_DIR
	API_PID=$(cat "$ANC_DIR/apiserver.pid")
	[[ $(cat "/proc/$API_PID/comm" 2>/dev/null) == kube-apiserver ]] ||
		{ bench_log "no kube-apiserver runs as pid $API_PID ($ANC_DIR)"; exit 1; }
	curl -sfk -H "Authorization: Bearer $TOKEN" "$URL/readyz" >/dev/null ||
		{ bench_log "kube-apiserver at $URL is not ready"; exit 1; }
	((have == N)) && return 0
	t0=$SECONDS
	for mode in setup create; do
		((have > 0)) && [[ $mode == setup ]] && continue
		bench_step "$ABIN/anchor-loader" -server "$URL" -token "$TOKEN" -mode "$mode" \
			-namespaces 200 -start "$have" -pods "$((N - have))" -workers 32 >"$out" 2>&1 ||
			true
		sed 's/^/  loader: /' "$out" >&2
		if ! grep -q 'failed=0' "$out" || grep -q 'failed=[1-9]' "$out"; then
			bench_log "anchor-loader -mode $mode failed"
			exit 1
		fi
	done
	echo "$N" >"$ANC_DIR/bench-pods"
	((have > 0)) || echo 0 >"$ANC_DIR/bench-churn-round" # a grown one keeps its rounds
	bench_log "$((N - have)) pods created and their statuses written in $((SECONDS - t0)) s"
	bench_log "the cluster now holds $N pods"
}

# The kubeconfig bench_informer reads: the anchor cluster's CA and its admin token.
write_kubeconfig() {
	cat >"$WORK/kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: anchor
		  cluster:
		    server: $URL
		    certificate-authority: $ANC_DIR/pki/ca.crt
		users:
		- name: admin
		  user:
		    token: $TOKEN
		contexts:
		- name: anchor
		  context:
		    cluster: anchor
		    user: admin
		current-context: anchor
	EOF
}

# waitfor LOG PATTERN PID: waits until LOG has a line matching PATTERN (0), PID ended
# first (1), or TIMEOUT passed (2). It looks 4 times a second: the processes time
# themselves (their SYNC line), and a faster poll (a grep and a sleep forked each
# time) took CPU from the measured client and the apiserver on this 2-core machine,
# which curl, waited for with `wait`, did not pay.
waitfor() {
	local log=$1 pat=$2 pid=$3 t0=$SECONDS

	while ! grep -q "$pat" "$log"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -q "$pat" "$log" && return 0
			return 1
		fi
		((SECONDS - t0 > TIMEOUT)) && return 2
		sleep 0.25
	done
}

# A waited-for process that did not get there: its output, and the run fails.
fail_step() {
	bench_log "$1 failed; its output:"
	cat "$2" "$2.err" >&2 || true
	exit 1
}

# measure VARIANT: one sync of VARIANT; sets LINE (its SYNC/RAWLIST line) and API (the
# apiserver's CPU seconds for it).
measure() {
	local v=$1 log=$WORK/$1.out a0 a1 pid cmd

	case $v in
	client-go-json) cmd=("$ABIN/anchor-watcher") ;;
	client-go-protobuf) cmd=("$ABIN/anchor-watcher" -protobuf) ;;
	rawlist-json) cmd=("$ABIN/anchor-rawlist" -rv 0 -limit 0) ;;
	rawlist-protobuf) cmd=("$ABIN/anchor-rawlist" -rv 0 -limit 0 -protobuf) ;;
	curl-protobuf)
		cmd=(curl -sS --http2 -A kloompas-bench --cacert "$ANC_DIR/pki/ca.crt"
			-H "Authorization: Bearer $TOKEN"
			-H "Accept: application/vnd.kubernetes.protobuf" -o /dev/null
			-w 'RAWLIST curl wall_s=%{time_total} first_byte_s=%{time_starttransfer} bytes=%{size_download}\n'
			"$URL/api/v1/pods?resourceVersion=0&limit=500")
		;;
	kloompas-json) cmd=("$KL" --kubeconfig "$WORK/kubeconfig" --content-type json) ;;
	kloompas-protobuf) cmd=("$KL" --kubeconfig "$WORK/kubeconfig" --content-type protobuf) ;;
	esac
	[[ $v == client-go-* || $v == rawlist-* ]] && cmd+=(-server "$URL" -token "$TOKEN")
	api_quiesce
	a0=$(api_ticks)
	"${cmd[@]}" >"$log" 2>"$log.err" &
	pid=$!
	BENCH_STEP_PID=$pid
	if [[ $v == rawlist-* || $v == curl-* ]]; then
		wait "$pid" || fail_step "$v" "$log"
	else
		waitfor "$log" '^SYNC ' "$pid" || fail_step "$v" "$log"
	fi
	a1=$(api_ticks)
	if [[ $v == client-go-* ]]; then
		waitfor "$log" '^SETTLED ' "$pid" || fail_step "$v" "$log"
		kill -TERM "$pid"
	fi
	wait "$pid" || [[ $v == client-go-* ]] || fail_step "$v" "$log"
	BENCH_STEP_PID=""
	LINE=$(grep -E '^(SYNC|RAWLIST) ' "$log")
	if [[ $v == client-go-* ]]; then
		LINE="$LINE $(grep '^SETTLED ' "$log" | cut -d' ' -f3-)"
	fi
	API=$(bench_div "$((a1 - a0))" "$TICK" 1 2)
}

bench_build_release bench/bench_informer
if [[ ! -x $ABIN/anchor-watcher || ! -x $ABIN/anchor-loader || ! -x $ABIN/anchor-rawlist ]]; then
	BIN=$ABIN sh "$ANC_SRC/build.sh" >&2
fi
WORK=$(mktemp -d /tmp/kl-bench-sync.XXXXXX)
cluster_up
write_kubeconfig

echo "bench_sync: $N pods, $ROUNDS rounds, $(date -u '+%Y-%m-%d %H:%M UTC')," \
	"commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"

VARIANTS=(client-go-json client-go-protobuf rawlist-protobuf rawlist-json curl-protobuf
	kloompas-json kloompas-protobuf)
NO_JSON=${BENCH_NO_JSON:-0}
((NO_JSON)) && VARIANTS=(client-go-protobuf rawlist-protobuf curl-protobuf kloompas-protobuf)
declare -A SYNC CPU RSS GC HWM APIC FIRST
for v in "${VARIANTS[@]}"; do
	SYNC[$v]="" CPU[$v]="" RSS[$v]="" GC[$v]="" HWM[$v]="" APIC[$v]="" FIRST[$v]=""
done

# The warm-up LIST (not reported) also checks that the pods are the issue's: ~8.5 KB of
# JSON each, ~6.1 KB of protobuf.
warm=rawlist-json lo=7500 hi=9500
((NO_JSON)) && warm=rawlist-protobuf lo=5400 hi=7000
measure "$warm"
wbytes=$(field "$LINE" bytes)
echo "warm-up LIST from the watch cache, ${warm#rawlist-}: $wbytes bytes ($((wbytes / N)) per pod)"
if ((wbytes / N < lo || wbytes / N > hi)); then
	bench_log "average ${warm#rawlist-} pod size $((wbytes / N)) is not within $lo-$hi bytes:" \
		"the figures would not compare"
	exit 1
fi
measure rawlist-protobuf
pbytes=$(field "$LINE" bytes)
echo "one LIST from the watch cache: protobuf $pbytes bytes ($((pbytes / N)) per pod)"

# Round r starts r-1 further down the list, and even rounds go up it: so no variant
# always follows the same one.
nv=${#VARIANTS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg)):"
	for ((k = 0; k < nv; k++)); do
		if ((r % 2)); then
			v=${VARIANTS[$(((k + r - 1) % nv))]}
		else
			v=${VARIANTS[$(((nv - 1 - k + r - 1) % nv))]}
		fi
		measure "$v"
		APIC[$v]+="$API "
		if [[ $v == rawlist-* || $v == curl-* ]]; then
			SYNC[$v]+="$(field "$LINE" wall_s) "
			printf '  %-19s %7.3f s  apiserver %6.2f CPU s  %s bytes' "$v" \
				"$(field "$LINE" wall_s)" "$API" "$(field "$LINE" bytes)"
			if [[ $v == curl-* ]]; then
				FIRST[$v]+="$(field "$LINE" first_byte_s) "
				printf '  first byte %.3f s' "$(field "$LINE" first_byte_s)"
			fi
			echo
			continue
		fi
		pods=$(field "$LINE" pods)
		[[ $pods == "$N" ]] || { bench_log "$v synced $pods pods, expected $N"; exit 1; }
		SYNC[$v]+="$(field "$LINE" hassynced_s) " CPU[$v]+="$(field "$LINE" cpu_s) "
		RSS[$v]+="$(field "$LINE" rss_mib) " HWM[$v]+="$(field "$LINE" hwm_mib) "
		[[ $v == client-go-* ]] && GC[$v]+="$(field "$LINE" rss_after_gc_mib) "
		printf '  %-19s %7.3f s  %6.2f CPU s  RSS %7.1f MiB  peak %7.1f MiB  apiserver %6.2f CPU s\n' \
			"$v" "$(field "$LINE" hassynced_s)" "$(field "$LINE" cpu_s)" \
			"$(field "$LINE" rss_mib)" "$(field "$LINE" hwm_mib)" "$API"
		if [[ $v == kloompas-* ]]; then
			FIRST[$v]+="$(field "$LINE" first_item_s) "
			printf '    first pod in the cache at %.3f s\n' "$(field "$LINE" first_item_s)"
		fi
	done
done

# Churn: both protobuf informers watch the same CHURN status updates.
round=$(($(cat "$ANC_DIR/bench-churn-round" 2>/dev/null || echo 0) + 1))
echo "$round" >"$ANC_DIR/bench-churn-round"
echo "churn: $CHURN status updates over $N pods (round $round, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$ABIN/anchor-watcher" -protobuf -expect-updates "$CHURN" -server "$URL" -token "$TOKEN" \
	>"$WORK/churn-cg.out" 2>"$WORK/churn-cg.out.err" &
cg_pid=$!
BG_PIDS+=("$cg_pid")
"$KL" --kubeconfig "$WORK/kubeconfig" --content-type protobuf --expect-updates "$CHURN" \
	>"$WORK/churn-kl.out" 2>"$WORK/churn-kl.out.err" &
kl_pid=$!
BG_PIDS+=("$kl_pid")
waitfor "$WORK/churn-cg.out" '^SETTLED ' "$cg_pid" || fail_step "churn client-go" "$WORK/churn-cg.out"
waitfor "$WORK/churn-kl.out" '^SYNC ' "$kl_pid" || fail_step "churn kloompas" "$WORK/churn-kl.out"
a0=$(api_ticks)
bench_step "$ABIN/anchor-loader" -server "$URL" -token "$TOKEN" -mode churn -namespaces 200 \
	-pods "$CHURN" -total "$N" -round "$round" -workers 32 >"$WORK/loader.out" 2>&1 || true
sed 's/^/  loader: /' "$WORK/loader.out"
grep -q 'failed=0' "$WORK/loader.out" || { bench_log "anchor-loader -mode churn failed"; exit 1; }
waitfor "$WORK/churn-cg.out" '^CHURN ' "$cg_pid" || fail_step "churn client-go" "$WORK/churn-cg.out"
waitfor "$WORK/churn-kl.out" '^CHURN ' "$kl_pid" || fail_step "churn kloompas" "$WORK/churn-kl.out"
a1=$(api_ticks)
kill -TERM "$cg_pid" 2>/dev/null || true
wait "$cg_pid" || true
wait "$kl_pid" || fail_step "churn kloompas" "$WORK/churn-kl.out"
BG_PIDS=()
cg_churn=$(grep '^CHURN ' "$WORK/churn-cg.out")
kl_churn=$(grep '^CHURN ' "$WORK/churn-kl.out")
for l in "client-go-protobuf $cg_churn" "kloompas-protobuf $kl_churn"; do
	printf '  %-19s %6.3f CPU s  %8.1f events/s  RSS %7.1f MiB\n' "${l%% *}" \
		"$(field "$l" cpu_s)" "$(field "$l" events_per_s)" "$(field "$l" rss_mib)"
done
echo "  apiserver: $(bench_div "$((a1 - a0))" "$TICK" 1 2) CPU s for the churn"

med() {
	# shellcheck disable=SC2086 # the lists are space-separated numbers
	[[ -n $1 ]] && bench_median $1 || echo "-"
}

echo
echo "medians of $ROUNDS rounds, $N pods (load now $(cut -d' ' -f1-3 /proc/loadavg)):"
printf '| %-19s | %8s | %6s | %10s | %10s | %10s | %11s |\n' variant "synced s" "CPU s" \
	"RSS MiB" "after GC" "peak MiB" "apiserver s"
printf '| %-19s | %8s | %6s | %10s | %10s | %10s | %11s |\n' --- --- --- --- --- --- ---
declare -A M
for v in "${VARIANTS[@]}"; do
	M[$v.sync]=$(med "${SYNC[$v]}") M[$v.cpu]=$(med "${CPU[$v]}")
	M[$v.rss]=$(med "${RSS[$v]}") M[$v.hwm]=$(med "${HWM[$v]}") M[$v.api]=$(med "${APIC[$v]}")
	printf '| %-19s | %8s | %6s | %10s | %10s | %10s | %11s |\n' "$v" "${M[$v.sync]}" \
		"${M[$v.cpu]}" "${M[$v.rss]}" "$(med "${GC[$v]}")" "${M[$v.hwm]}" "${M[$v.api]}"
done

# check NAME VALUE OP LIMIT: a line with the value, the target and pass/fail.
check() {
	local verdict

	verdict=$(awk -v a="$2" -v b="$4" -v op="$3" 'BEGIN {
		ok = (op == "<=") ? a <= b : a >= b; print ok ? "pass" : "FAIL" }')
	printf '  %-66s %8s  (target %s %s)  %s\n' "$1" "$2" "$3" "$4" "$verdict"
}

ratio() {
	bench_div "$1" "$2" 1 3
}

echo
echo "ratios (issue 14):"
check "sync: kloompas-protobuf / client-go-protobuf" \
	"$(ratio "${M[kloompas-protobuf.sync]}" "${M[client-go-protobuf.sync]}")" "<=" 0.7
check "sync: kloompas-protobuf / curl-protobuf (RV=0)" \
	"$(ratio "${M[kloompas-protobuf.sync]}" "${M[curl-protobuf.sync]}")" "<=" 1.25
# after the first byte: the median of each round's time to synced minus its first byte
after_first() {
	local d

	d=$(paste -d' ' <(tr ' ' '\n' <<<"${SYNC[$1]}") <(tr ' ' '\n' <<<"${FIRST[$1]}") |
		awk 'NF == 2 { printf "%.3f ", $1 - $2 }')
	med "$d"
}
echo "  after the first byte: kloompas-protobuf $(after_first kloompas-protobuf) s," \
	"curl-protobuf $(after_first curl-protobuf) s (medians; reported)"
echo "  sync: kloompas-protobuf / rawlist-protobuf (Go's client, RV=0)" \
	"$(ratio "${M[kloompas-protobuf.sync]}" "${M[rawlist-protobuf.sync]}") (reported)"
check "CPU to sync: kloompas-protobuf / client-go-protobuf" \
	"$(ratio "${M[kloompas-protobuf.cpu]}" "${M[client-go-protobuf.cpu]}")" "<=" 0.333
if ((N == 150000)); then
	check "RSS after sync, kloompas-protobuf (MiB)" "${M[kloompas-protobuf.rss]}" "<=" 48
else
	check "RSS after sync, kloompas-protobuf (MiB; the target is for 50,000 pods)" \
		"${M[kloompas-protobuf.rss]}" "<=" 28
	check "peak RSS, kloompas-protobuf (MiB; the target is for 50,000 pods)" \
		"${M[kloompas-protobuf.hwm]}" "<=" 32
fi
check "churn CPU: kloompas-protobuf / client-go-protobuf" \
	"$(ratio "$(field "$kl_churn" cpu_s)" "$(field "$cg_churn" cpu_s)")" "<=" 0.2
((NO_JSON)) && exit 0
echo "  apiserver CPU per sync, JSON / protobuf: client-go" \
	"$(ratio "${M[client-go-json.api]}" "${M[client-go-protobuf.api]}")," \
	"kloompas $(ratio "${M[kloompas-json.api]}" "${M[kloompas-protobuf.api]}")," \
	"rawlist $(ratio "${M[rawlist-json.api]}" "${M[rawlist-protobuf.api]}") (reported, no target)"
echo "  sync: kloompas-json / client-go-json" \
	"$(ratio "${M[kloompas-json.sync]}" "${M[client-go-json.sync]}") (reported)"
