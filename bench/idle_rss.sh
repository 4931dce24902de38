#!/usr/bin/env bash
# bench/idle_rss.sh [BUILD_DIR] [KUBECONFIG] - binary size and idle RSS of kloompas.
# Without a kubeconfig it points kloompas at an unreachable API server (it runs,
# retries and stays unready): the floor of the process. The baseline is `sleep`.
set -euo pipefail
b=${1:-build}
kc=${2:-}
bin=$b/cmd/kloompas/kloompas
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$kc" ]; then
  kc=$tmp/kubeconfig
  cat >"$kc" <<'YAML'
apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
YAML
fi
echo "binary: $(stat -c %s "$bin") bytes ($(size "$bin" | awk 'NR==2{print $1+$2+$3}') text+data+bss)"
"$bin" --kubeconfig "$kc" --bind-address=127.0.0.1:0 --leader-elect=false 2>/dev/null &
pid=$!
sleep 3
echo "idle RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status) (peak $(awk '/VmHWM/{print $2, $3}' /proc/$pid/status))"
sleep 5 &
p=$!
sleep 0.5
echo "baseline (sleep): $(awk '/VmRSS/{print $2, $3}' /proc/$p/status)"
kill $p
kill -TERM $pid
wait $pid
