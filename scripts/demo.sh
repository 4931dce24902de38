#!/usr/bin/env bash
# scripts/demo.sh - the README's main command. On a fresh Debian 12 machine it installs
# what is missing, builds the local cluster (once, cached) and kloompas, starts etcd +
# kube-apiserver + kube-controller-manager + kube-scheduler and a real node (kubelet,
# containerd, runc: test/cluster/up.sh --real-node) on this machine, deploys a demo
# workload of real containers (crash-looping and never-ready pods among healthy ones),
# runs two kloompas replicas with leader election, and shows the leader's notifications
# arriving in the terminal (a local receiver plays Slack); then it scales a Deployment
# with a signed Slack slash command, and resolves the alert. Where this machine cannot
# run containers (no cgroups, no overlayfs, no mount namespaces...), it says why and
# falls back to the kubelet simulator (test/cluster/kubelet_sim.py), which plays the
# same workload from pod annotations. Ctrl-C stops everything.
#
#   scripts/demo.sh            run until Ctrl-C
#   scripts/demo.sh --once     show, then stop and clean up (used to check the demo)
#   KLOOMPAS_DEMO_SIM=1 scripts/demo.sh    the simulator, without trying the real node
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

real=()
if [ "${KLOOMPAS_DEMO_SIM:-0}" != 1 ]; then
  echo "== starting the local cluster with a real node (etcd, kube-apiserver, kube-controller-manager,"
  echo "   kube-scheduler, kubelet + containerd + runc): about a minute"
  if bash test/cluster/up.sh "$work/cluster" --real-node >"$work/up.log" 2>&1; then
    real=(--real)
    tail -1 "$work/up.log"
  else
    echo "== this machine cannot run the real node; why (last lines of up.sh):"
    tail -5 "$work/up.log" | sed 's/^/   /'
    echo "== falling back to the kubelet simulator (pods play their part from annotations)"
    bash test/cluster/down.sh "$work/cluster" --clean >/dev/null 2>&1 || true
  fi
fi
if [ ${#real[@]} -eq 0 ]; then
  echo "== starting the local control plane (etcd, kube-apiserver, kube-controller-manager)"
  bash test/cluster/up.sh "$work/cluster" 2>&1 | tail -1
  python3 test/cluster/kubelet_sim.py --env "$work/cluster/env" --interval 5 \
    >"$work/kubelet-sim.log" 2>&1 &
  pids+=($!)
fi
python3 scripts/demo_workload.py "$work/cluster" "${real[@]}"

recv_port=${KLOOMPAS_DEMO_RECEIVER_PORT:-9099}
python3 scripts/demo_receiver.py "$recv_port" &
pids+=($!)
echo "8f742231b10e8888abcd99yyyzzz85a5" >"$work/slack-signing-secret"
printf 'demo-api-token-0123456789 alex.guerra\n' >"$work/api-tokens"
cat >"$work/kloompas.yaml" <<YAML
cluster: DEMO
team_annotation: kloompas.io/team
notifiers:
  - name: slack
    type: slack
    url: http://127.0.0.1:$recv_port/services/demo
routes:
  - namespaces: ["moc-*", "mon-*"]
    notifiers: [slack]
controllers:
  crash-watcher:    { reasons: [CrashLoopBackOff], for: 10s, repeat_interval: 1h, log_lines: 5 }
  # not-ready "for" longer than a crash loop takes to reach its first back-off (~15 s):
  # pods the crash-watcher counts are its alone, and it must have seen them first
  notready-watcher: { threshold_percent: 30, min_pods: 3, min_age: 0s, for: 30s, repeat_interval: 1h }
  replica-enforcer: { max_temporary: 24h }
chatops:
  slack_signing_secret_file: slack-signing-secret
  api_tokens_file: api-tokens
  allow:
    - users: [alex.guerra]
      namespaces: ["moc-*"]
      max_replicas: 10
YAML

port=${KLOOMPAS_DEMO_PORT:-9090}
# two replicas, as in a cluster: one leads (notifies, enforces), one follows
for i in 1 2; do
  args=(--kubeconfig "$work/cluster/kubeconfig" --config "$work/kloompas.yaml"
    --bind-address "127.0.0.1:$((port + 10 * (i - 1)))"
    --chatops-bind-address "127.0.0.1:$((port + 10 * (i - 1) + 1))"
    --leader-elect-resource-namespace kube-system
    --leader-elect-lease-duration 5s --leader-elect-renew-deadline 4s --leader-elect-retry-period 1s)
  echo "== replica $i: build/cmd/kloompas/kloompas ${args[*]}"
  build/cmd/kloompas/kloompas "${args[@]}" 2>"$work/kloompas-$i.log" &
  pids=("$!" "${pids[@]}")
done
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 2
echo
for i in 1 2; do
  echo "== replica $i: kloompas_leader $(curl -sS "http://127.0.0.1:$((port + 10 * (i - 1)))/metrics" | awk '/^kloompas_leader /{print $2}')"
done
echo "== curl http://127.0.0.1:$port/readyz?verbose"
curl -sS "http://127.0.0.1:$port/readyz?verbose"
echo
if [ ${#real[@]} -gt 0 ]; then
  # a real crash loop: exit, restart at once, exit, terminated for ~13 s, then
  # CrashLoopBackOff; the alert fires `for` (10 s) after that
  echo "== waiting for the alerts (real containers: back-off, then for: 10s / 30s) ..."
  sleep 45
else
  echo "== waiting for the alerts (the first back-off, then for: 10s / 30s) ..."
  sleep 40
fi
echo
echo "== scaling from chat: a signed Slack slash command"
python3 scripts/demo_slash.py "http://127.0.0.1:$((port + 1))/slack/commands" \
  "$work/slack-signing-secret" alex.guerra "set-replicas moc-pricing web 5 for 1h"
python3 scripts/demo_slash.py "http://127.0.0.1:$((port + 1))/slack/commands" \
  "$work/slack-signing-secret" alex.guerra "get-replicas moc-pricing web"
python3 scripts/demo_slash.py "http://127.0.0.1:$((port + 1))/slack/commands" \
  "$work/slack-signing-secret" mallory "set-replicas moc-pricing web 0"
echo
echo "== the pods of moc-pricing recover: the notready alert resolves"
python3 scripts/demo_workload.py "$work/cluster" "${real[@]}" --recover
sleep 40
if [ $once -eq 1 ]; then
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  echo "== logs: $work/kloompas-1.log, $work/kloompas-2.log"
  grep -h 'msg="became leader"' "$work"/kloompas-*.log || true
else
  echo "kloompas is running (two replicas); Ctrl-C stops everything."
  trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' INT TERM
  wait "${pids[0]}" || true
fi
