#!/usr/bin/env bash
# scripts/demo.sh - the README's main command. On a fresh Debian 12 machine it installs
# what is missing, builds the local control plane (once, cached) and kloompas, starts
# etcd + kube-apiserver + kube-controller-manager and the kubelet simulator on
# 127.0.0.1, deploys a demo workload (crash-looping and not-ready pods among healthy
# ones), and runs kloompas against it with -v 2 so every pod it lists and watches is
# logged. Then it shows /readyz and the metrics. Ctrl-C stops everything.
#
#   scripts/demo.sh            run until Ctrl-C
#   scripts/demo.sh --once     show, then stop and clean up (used to check the demo)
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1

scripts/deps.sh
bash test/cluster/build.sh >/dev/null
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d /tmp/kloompas-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash test/cluster/down.sh "$work/cluster" --clean >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the local control plane (etcd, kube-apiserver, kube-controller-manager)"
bash test/cluster/up.sh "$work/cluster" 2>&1 | tail -1
python3 test/cluster/kubelet_sim.py --env "$work/cluster/env" --interval 5 \
  >"$work/kubelet-sim.log" 2>&1 &
pids+=($!)
python3 scripts/demo_workload.py "$work/cluster"

cat >"$work/kloompas.yaml" <<'YAML'
cluster: DEMO
team_annotation: kloompas.io/team
notifiers:
  - name: console
    type: log
routes:
  - namespaces: ["*"]
    notifiers: [console]
controllers:
  crash-watcher:    { reasons: [CrashLoopBackOff], for: 30s, repeat_interval: 1h, log_lines: 20 }
  notready-watcher: { threshold_percent: 30, min_pods: 3, min_age: 2m, for: 2m, repeat_interval: 1h }
  replica-enforcer: { max_temporary: 24h }
YAML

port=${KLOOMPAS_DEMO_PORT:-9090}
args=(--kubeconfig "$work/cluster/kubeconfig" --config "$work/kloompas.yaml"
  --bind-address "127.0.0.1:$port" --leader-elect=false -v 2)
echo
echo "== build/cmd/kloompas/kloompas ${args[*]}"
build/cmd/kloompas/kloompas "${args[@]}" &
kpid=$!
pids=("$kpid" "${pids[@]}")
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 1
echo
echo "== curl http://127.0.0.1:$port/readyz?verbose"
curl -sS "http://127.0.0.1:$port/readyz?verbose"
echo "== curl http://127.0.0.1:$port/metrics | grep kloompas_informer"
curl -sS "http://127.0.0.1:$port/metrics" | grep '^kloompas_informer'
echo
echo "== scaling moc-pricing/web to 1 through the API: kloompas sees the pods go"
python3 - "$work/cluster" <<'PY'
import sys, os
sys.path.insert(0, os.path.join("test", "cluster"))
from kube import Kube
Kube(sys.argv[1]).scale("deployments", "moc-pricing", "web", 1)
PY
sleep 4
if [ $once -eq 1 ]; then
  kill -TERM "$kpid"
  wait "$kpid"
  echo "== kloompas exited $?"
else
  echo "kloompas is running (pid $kpid); Ctrl-C stops it and the control plane."
  trap 'kill -TERM $kpid 2>/dev/null || true' INT TERM
  wait "$kpid" || true
fi
