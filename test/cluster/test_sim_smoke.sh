#!/usr/bin/env bash
# test/cluster/test_sim_smoke.sh - a manual end-to-end check of the kubelet simulator
# (kubelet_sim.py) and the test client (kube.py) against a real control plane. Not run
# by CI: it starts its own cluster (about 12 s) and takes about half a minute more.
#
# Why this file: the simulator replaces a kubelet for every e2e test, so when one of
# them misbehaves this shows at once whether the simulator still does its job:
# nodes register Ready, pods get bound and realistic statuses, crash loops count
# restarts, `kubectl logs` reaches the simulator through the apiserver's pods/log
# proxy, annotation changes re-apply, and terminating pods really go away.
#
# Usage: test/cluster/test_sim_smoke.sh      (KEEP=1 keeps the cluster and prints its DIR)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d /tmp/kl-sim-smoke.XXXXXX)
sim_pid=
ns=smoke
node=kl-node-1
interval=2

cleanup() {
	local rc=$?
	if [[ -n $sim_pid ]]; then
		kill -TERM "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	if ((rc != 0)); then
		echo "--- last simulator log lines ($dir/sim.log):" >&2
		tail -n 30 "$dir/sim.log" >&2 || true
	fi
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "KEEP=1: cluster left running in $dir (stop: $here/down.sh $dir --clean)" >&2
	else
		bash "$here/down.sh" "$dir" --clean >/dev/null 2>&1 || true
	fi
	if ((rc == 0)); then
		echo "SMOKE OK"
	else
		echo "SMOKE FAILED (exit $rc)" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# check WHAT EXPECTED ACTUAL
check() {
	[[ $3 == "$2" ]] || fail "$1: expected '$2', got '$3'"
	echo "ok: $1 = $3"
}
# check_match WHAT REGEX ACTUAL
check_match() {
	[[ $3 =~ $2 ]] || fail "$1: '$3' does not match /$2/"
	echo "ok: $1 =~ /$2/"
}
# until_ok SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
until_ok() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "$what: not after $secs s"
		sleep 0.25
	done
}

step "control plane (up.sh $dir)"
bash "$here/up.sh" "$dir" 2>&1 | tail -n 1
k() { kubectl --kubeconfig "$dir/kubeconfig" "$@"; }
jp() { k -n "$ns" get "$1" -o "jsonpath=$2"; }

step "kubelet simulator (node $node, crash-loop restarts every ${interval}s)"
python3 "$here/kubelet_sim.py" --env "$dir/env" --node "$node" --interval "$interval" -v \
	>"$dir/sim.log" 2>&1 &
sim_pid=$!
until_ok 30 "node $node registered" k get node "$node"
k wait --for=condition=Ready "node/$node" --timeout=30s

step "namespace $ns: pod web (ready), pod app-crash (crashloop:137), deployment api (3 replicas)"
PYTHONPATH=$here python3 - "$dir" "$ns" <<'EOF'
import sys
from kube import Kube
k = Kube(sys.argv[1])
ns = sys.argv[2]
k.create_namespace(ns, labels={"kloompas.io/test": "smoke"})
k.create_pod(ns, "web", labels={"app": "web"})
k.create_pod(ns, "app-crash", annotations={"kloompas.io/sim": "crashloop:137"})
k.create_deployment(ns, "api", replicas=3)
print("created with kube.py")
EOF
k -n "$ns" wait --for=condition=Ready pod/web --timeout=30s
k -n "$ns" rollout status deploy/api --timeout=60s
crashlooping() { [[ $(jp pod/app-crash '{.status.containerStatuses[0].state.waiting.reason}') == CrashLoopBackOff ]]; }
until_ok 30 "app-crash in CrashLoopBackOff" crashlooping

step "kubectl get pods -o wide"
k -n "$ns" get pods -o wide
step "kubectl get nodes -o wide"
k get nodes -o wide

step "node"
check "node Ready" True "$(k get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')"
check "node InternalIP" 127.0.0.1 "$(k get node "$node" -o 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}')"
check "node pods capacity (10000, canonical form)" 10k "$(k get node "$node" -o 'jsonpath={.status.capacity.pods}')"
check "node taints" "" "$(k get node "$node" -o 'jsonpath={.spec.taints}')"

step "pod web (ready)"
check "web phase" Running "$(jp pod/web '{.status.phase}')"
check "web Ready" True "$(jp pod/web '{.status.conditions[?(@.type=="Ready")].status}')"
check "web nodeName" "$node" "$(jp pod/web '{.spec.nodeName}')"
check "web hostIP" 127.0.0.1 "$(jp pod/web '{.status.hostIP}')"
check_match "web podIP" '^10\.[0-9]+\.[0-9]+\.[0-9]+$' "$(jp pod/web '{.status.podIP}')"
check_match "web containerID" '^containerd://[0-9a-f]{64}$' "$(jp pod/web '{.status.containerStatuses[0].containerID}')"
check "web restartCount" 0 "$(jp pod/web '{.status.containerStatuses[0].restartCount}')"

step "pod app-crash (crashloop:137)"
check "app-crash phase" Running "$(jp pod/app-crash '{.status.phase}')"
check "app-crash Ready" False "$(jp pod/app-crash '{.status.conditions[?(@.type=="Ready")].status}')"
check "app-crash waiting reason" CrashLoopBackOff "$(jp pod/app-crash '{.status.containerStatuses[0].state.waiting.reason}')"
check_match "app-crash waiting message" '^back-off [0-9ms]+ restarting failed container=app pod=app-crash_smoke\(' \
	"$(jp pod/app-crash '{.status.containerStatuses[0].state.waiting.message}')"
check "app-crash last exitCode" 137 "$(jp pod/app-crash '{.status.containerStatuses[0].lastState.terminated.exitCode}')"
check "app-crash last reason" Error "$(jp pod/app-crash '{.status.containerStatuses[0].lastState.terminated.reason}')"
r1=$(jp pod/app-crash '{.status.containerStatuses[0].restartCount}')
sleep $((2 * interval + 1))
r2=$(jp pod/app-crash '{.status.containerStatuses[0].restartCount}')
((r2 >= r1 + 2)) || fail "restartCount did not grow by one every ${interval}s: $r1 then $r2"
echo "ok: restartCount grew from $r1 to $r2 in $((2 * interval + 1)) s"

step "kubectl logs --previous app-crash (apiserver -> pods/log proxy -> simulator)"
logs=$(k -n "$ns" logs --previous app-crash)
printf '%s\n' "$logs"
check_match "previous log names the pod" 'starting app pod=app-crash container=app restartCount=[0-9]+' "$logs"
check_match "previous log has the panic" 'panic: exit 137' "$logs"
grep -q 'GET /containerLogs/smoke/app-crash/app?previous=true -> 200' "$dir/sim.log" ||
	fail "the simulator did not serve the previous log"
echo "ok: the simulator served /containerLogs/smoke/app-crash/app?previous=true"
check "logs --tail=1" "panic: exit 137" "$(k -n "$ns" logs --previous --tail=1 app-crash)"
if out=$(k -n "$ns" logs --previous web 2>&1); then
	fail "logs --previous of web should fail, got: $out"
fi
check_match "logs --previous web" 'BadRequest.*previous terminated container "app" in pod "web" not found' "$out"
check_match "logs web" 'ready to serve requests' "$(k -n "$ns" logs web)"

step "crashloop -> ready by annotation"
k -n "$ns" annotate pod app-crash kloompas.io/sim=ready --overwrite
k -n "$ns" wait --for=condition=Ready pod/app-crash --timeout=20s
check "app-crash running" true "$(jp pod/app-crash '{.status.containerStatuses[0].started}')"
check "app-crash keeps its last crash" 137 "$(jp pod/app-crash '{.status.containerStatuses[0].lastState.terminated.exitCode}')"

step "kubectl scale deploy/api --replicas=1: 2 pods must go"
before=$(k -n "$ns" get pods -l app=api -o name | sort)
echo "$before"
k -n "$ns" scale deploy/api --replicas=1
one_api_pod() { (($(k -n "$ns" get pods -l app=api -o name | wc -l) == 1)); }
until_ok 30 "api down to 1 pod" one_api_pod
after=$(k -n "$ns" get pods -l app=api -o name)
gone=$(comm -23 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | wc -l)
check "api pods deleted" 2 "$gone"
check "api readyReplicas" 1 "$(jp deploy/api '{.status.readyReplicas}')"
k -n "$ns" get pods -o wide

step "simulator log summary"
echo "log requests served: $(grep -c 'GET /containerLogs' "$dir/sim.log")"
echo "pods bound: $(grep -c ': bound to ' "$dir/sim.log")"
echo "pods deleted after termination: $(grep -c ': deleted (terminated)' "$dir/sim.log")"
