#!/usr/bin/env bash
# test/cluster/test_sim_smoke.sh - a manual end-to-end check of the kubelet simulator
# (kubelet_sim.py) and the test client (kube.py) against a real control plane. Not run
# by CI: it starts its own cluster (about 12 s) and takes about a minute more.
#
# Why this file: the simulator replaces a kubelet for every e2e test, so when one of
# them misbehaves this shows at once whether the simulator still does its job:
# nodes register Ready, pods get bound and realistic statuses, crash loops go as a
# kubelet writes them (running; terminated with lastState; restarted at once after
# the first exit; then terminated and CrashLoopBackOff with the kubelet's message and
# a doubling back-off; restartCount counted at each start; Ready only while running),
# oomkilled, imageneverpull and the steady backoff kind look right, `kubectl logs`
# reaches the simulator through the apiserver's pods/log proxy (and the previous log
# is refused in the gap after an exit, as a kubelet's is), annotation changes
# re-apply, and terminating pods really go away.
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

step "namespace $ns: pod web (ready), deployment api (3 replicas)"
PYTHONPATH=$here python3 - "$dir" "$ns" <<'EOF'
import sys
from kube import Kube
k = Kube(sys.argv[1])
ns = sys.argv[2]
k.create_namespace(ns, labels={"kloompas.io/test": "smoke"})
k.create_pod(ns, "web", labels={"app": "web"})
k.create_deployment(ns, "api", replicas=3)
print("created with kube.py")
EOF
k -n "$ns" wait --for=condition=Ready pod/web --timeout=30s
k -n "$ns" rollout status deploy/api --timeout=60s

# Every status the simulator writes for the crash pods, from a watch opened before they
# exist: the steps of a loop last 0.2-4.4 s, too short to poll with kubectl. The script
# prints what it saw and fails on the first step that is not what a kubelet writes.
step "crash pods, watched from creation: app-crash (crashloop:137, interval ${interval}s), app-oom (oomkilled, 1s), app-image (imageneverpull), app-held (backoff:3)"
PYTHONPATH=$here python3 - "$dir" "$ns" "$interval" <<'EOF'
import calendar, json, sys, threading, time
from kube import Kube

k = Kube(sys.argv[1])
ns, interval = sys.argv[2], float(sys.argv[3])
errors = []


def fail(msg):
    errors.append(msg)
    print(f"FAIL: {msg}", flush=True)


def expect(what, want, got):
    if got != want:
        fail(f"{what}: expected {want!r}, got {got!r}")


def secs(ts):
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


def moment(cs):
    """(running|terminated|waiting:REASON, restartCount) of a container status."""
    st = cs.get("state") or {}
    if "running" in st:
        m = "running"
    elif "terminated" in st:
        m = "terminated"
    else:
        m = "waiting:" + (st.get("waiting") or {}).get("reason", "?")
    return m, cs.get("restartCount")


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


seen = {}  # pod name -> [(t, pod)] for every change of its first container's status
stop = threading.Event()
rv = k.list("pods", ns=ns).resource_version
t_start = time.monotonic()
gap_logs = []


def watch():
    for typ, pod in k.watch("pods", ns=ns, resource_version=rv, timeout_seconds=120, stop=stop):
        if typ not in ("ADDED", "MODIFIED"):
            continue
        name = pod["metadata"]["name"]
        css = (pod.get("status") or {}).get("containerStatuses")
        if not name.startswith("app-") or not css:
            continue
        hist = seen.setdefault(name, [])
        if hist and hist[-1][1]["status"]["containerStatuses"][0] == css[0] and ready(hist[-1][1]) == ready(pod):
            continue
        hist.append((time.monotonic() - t_start, pod))
        cs = css[0]
        m, r = moment(cs)
        last = (cs.get("lastState") or {}).get("terminated") or {}
        print(f"  {hist[-1][0]:5.1f} s {name}: {m} restartCount={r} ready={ready(pod)} "
              f"lastState.exitCode={last.get('exitCode', '-')}", flush=True)
        # in the gap after exit n >= 2 the kubelet has removed the older container
        if name == "app-crash" and m == "terminated" and r >= 1 and len(gap_logs) < 1:
            base = f"/api/v1/namespaces/{ns}/pods/app-crash/log"
            prev = k.request("GET", base, query={"container": "app", "previous": "true"})
            cur = k.request("GET", base, query={"container": "app"})
            gap_logs.append((prev, cur))


th = threading.Thread(target=watch, daemon=True)
th.start()
time.sleep(0.5)  # the watch is open
k.create_pod(ns, "app-crash", annotations={"kloompas.io/sim": "crashloop:137"})
k.create_pod(ns, "app-oom", annotations={"kloompas.io/sim": "oomkilled", "kloompas.io/sim-restart-every": "1s"})
k.create_pod(ns, "app-image", annotations={"kloompas.io/sim": "imageneverpull"})
k.create_pod(ns, "app-held", annotations={"kloompas.io/sim": "backoff:3", "kloompas.io/sim-restart-every": "1s"})


def moments(name):
    return [moment(p["status"]["containerStatuses"][0]) for _, p in seen.get(name, [])]


# app-crash: through its second back-off and the restart after it (about 11 I)
want = [("running", 0), ("terminated", 0), ("running", 1), ("terminated", 1), ("waiting:CrashLoopBackOff", 1),
        ("running", 2), ("terminated", 2), ("waiting:CrashLoopBackOff", 2), ("running", 3)]
deadline = time.monotonic() + 12 * interval + 30
while len(moments("app-crash")) < len(want) and time.monotonic() < deadline:
    time.sleep(0.2)
time.sleep(3 * 1.0)  # app-held must not move, app-oom has looped a while
stop.set()

print("app-crash: the loop")
hist = seen.get("app-crash", [])
expect("app-crash moments (state, restartCount)", want, moments("app-crash")[: len(want)])
if len(hist) >= len(want):
    uid = hist[0][1]["metadata"]["uid"]
    for i, (t, pod) in enumerate(hist[: len(want)]):
        cs = pod["status"]["containerStatuses"][0]
        m, r = moment(cs)
        st, last = cs["state"], (cs.get("lastState") or {}).get("terminated")
        expect(f"step {i} ({m}) phase", "Running", pod["status"]["phase"])
        expect(f"step {i} ({m}) pod Ready", m == "running", ready(pod))
        expect(f"step {i} ({m}) container ready", m == "running", cs["ready"])
        if i == 0:
            expect("step 0 lastState", {}, cs.get("lastState"))
            continue
        if m == "terminated":
            expect(f"step {i} exitCode", 137, st["terminated"]["exitCode"])
            expect(f"step {i} reason", "Error", st["terminated"]["reason"])
            expect(f"step {i} lastState.terminated = state.terminated", st["terminated"], last)
        else:
            expect(f"step {i} lastState exitCode", 137, (last or {}).get("exitCode"))
        if m == "waiting:CrashLoopBackOff":
            backoff = {1: "10s", 2: "20s"}[r]
            expect(f"step {i} message", f"back-off {backoff} restarting failed container=app pod=app-crash_{ns}({uid})",
                   st["waiting"].get("message"))
        if m == "running" and i >= 2:
            pause = secs(st["running"]["startedAt"]) - secs(last["finishedAt"])
            if i == 2 and pause > 1:
                fail(f"the first exit was not restarted at once: {pause} s")
            if i > 2 and pause < 6:
                fail(f"restart {r} came {pause} s after the exit, not after a back-off (>= 6 s)")
            print(f"ok: restart {r} started {pause} s after the exit")
    t_first = hist[4][0] - hist[0][0]
    print(f"ok: first CrashLoopBackOff {t_first:.1f} s after the first start (~{3.4 * interval:.1f} s expected)")
prev, cur = gap_logs[0] if gap_logs else ((None, ""), (None, ""))
expect("previous log in the gap after exit 2: status", 400, prev[0])
if "unable to retrieve container logs for containerd://" not in str(prev[1]):
    fail(f"previous log in the gap: {prev[1]!r:.300}")
expect("current log in the gap: status", 200, cur[0])
if "panic: exit 137" not in (cur[1].decode() if isinstance(cur[1], bytes) else str(cur[1])):
    fail(f"current log in the gap: {cur[1]!r:.300}")

print("app-oom: the same loop, OOMKilled")
oom = [p["status"]["containerStatuses"][0] for _, p in seen.get("app-oom", [])]
terms = [cs["state"]["terminated"] for cs in oom if "terminated" in cs["state"]]
if not terms:
    fail("app-oom never terminated")
for t in terms:
    expect("app-oom terminated reason, exitCode", ("OOMKilled", 137), (t["reason"], t["exitCode"]))
loops = [cs for cs in oom if moment(cs)[0] == "waiting:CrashLoopBackOff"]
if not loops:
    fail("app-oom never in CrashLoopBackOff")
else:
    expect("app-oom lastState in CrashLoopBackOff", ("OOMKilled", 137),
           (loops[0]["lastState"]["terminated"]["reason"], loops[0]["lastState"]["terminated"]["exitCode"]))

print("app-image: ErrImageNeverPull")
img = seen.get("app-image", [])
if not img:
    fail("app-image got no status")
else:
    pod = img[-1][1]
    cs = pod["status"]["containerStatuses"][0]
    image = pod["spec"]["containers"][0]["image"]
    expect("app-image status writes", 1, len(img))
    expect("app-image phase", "Pending", pod["status"]["phase"])
    expect("app-image Ready", False, ready(pod))
    expect("app-image waiting", {"reason": "ErrImageNeverPull",
                                 "message": f'Container image "{image}" is not present with pull policy of Never'},
           cs["state"].get("waiting"))
    expect("app-image restartCount", 0, cs["restartCount"])

print("app-held: backoff:3, held in CrashLoopBackOff")
held = seen.get("app-held", [])
if not held:
    fail("app-held got no status")
else:
    pod = held[-1][1]
    cs = pod["status"]["containerStatuses"][0]
    expect("app-held status writes (no loop)", 1, len(held))
    expect("app-held phase", "Running", pod["status"]["phase"])
    expect("app-held Ready", False, ready(pod))
    expect("app-held moment", ("waiting:CrashLoopBackOff", 1), moment(cs))
    expect("app-held lastState", (3, "Error"), (cs["lastState"]["terminated"]["exitCode"],
                                                cs["lastState"]["terminated"]["reason"]))
    if not cs["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=app-held_"):
        fail(f"app-held message: {cs['state']['waiting']['message']!r}")
if errors:
    sys.exit(f"{len(errors)} check(s) failed")
print("ok: every crash pod as a kubelet writes it")
EOF

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

step "kubectl logs --previous app-crash (apiserver -> pods/log proxy -> simulator)"
# in CrashLoopBackOff (4.4 s at a 2 s interval) the previous instance's log is there
in_backoff() { [[ $(jp pod/app-crash '{.status.containerStatuses[0].state.waiting.reason}') == CrashLoopBackOff ]]; }
until_ok 30 "app-crash in CrashLoopBackOff" in_backoff
logs=$(k -n "$ns" logs --previous app-crash)
printf '%s\n' "$logs"
check_match "previous log names the pod" 'starting app pod=app-crash container=app restartCount=[0-9]+' "$logs"
check_match "previous log has the panic" 'panic: exit 137' "$logs"
grep -q 'GET /containerLogs/smoke/app-crash/app?previous=true -> 200' "$dir/sim.log" ||
	fail "the simulator did not serve the previous log"
echo "ok: the simulator served /containerLogs/smoke/app-crash/app?previous=true"
grep -q 'GET /containerLogs/smoke/app-crash/app?previous=true -> 400' "$dir/sim.log" ||
	fail "the simulator did not refuse the previous log in the gap after an exit"
echo "ok: the simulator refused the previous log in the gap (the older container is gone)"
check "logs --previous --tail=1 app-held" "panic: exit 3" "$(k -n "$ns" logs --previous --tail=1 app-held)"
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
