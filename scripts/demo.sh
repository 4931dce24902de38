#!/usr/bin/env bash
# scripts/demo.sh - the README's main command: installs what is missing, builds
# kloompas, and runs it with an example config on 127.0.0.1:9090, showing its
# health, readiness and metrics. Ctrl-C stops it (a clean shutdown, exit 0).
#
#   scripts/demo.sh            run until Ctrl-C
#   scripts/demo.sh --once     show the endpoints, then stop (used to check the demo)
#   KUBECONFIG=... scripts/demo.sh   passes your kubeconfig to kloompas
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1

scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d /tmp/kloompas-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
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
args=(--config "$work/kloompas.yaml" --bind-address "127.0.0.1:$port" --leader-elect=false)
[ -n "${KUBECONFIG:-}" ] && args+=(--kubeconfig "${KUBECONFIG%%:*}")
echo "+ build/cmd/kloompas/kloompas ${args[*]}"
build/cmd/kloompas/kloompas "${args[@]}" &
pid=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo
echo "+ curl http://127.0.0.1:$port/readyz?verbose"
curl -sS "http://127.0.0.1:$port/readyz?verbose"
echo "+ curl http://127.0.0.1:$port/metrics | grep ^kloompas_"
curl -sS "http://127.0.0.1:$port/metrics" | grep '^kloompas_'
echo "+ curl http://127.0.0.1:$port/metrics | promtool check metrics"
curl -sS "http://127.0.0.1:$port/metrics" | promtool check metrics && echo "promtool: clean"
echo
if [ $once -eq 1 ]; then
  kill -TERM $pid
else
  echo "kloompas is running (pid $pid); Ctrl-C stops it."
  trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
fi
wait $pid
