#!/usr/bin/env bash
# bench/idle_rss.sh - binary size and idle RSS of kloompas after it settles.
#   bench/idle_rss.sh [BUILD_DIR]
set -euo pipefail
b=${1:-build}
bin=$b/cmd/kloompas/kloompas
echo "binary: $(stat -c %s "$bin") bytes ($(size "$bin" | awk 'NR==2{print $1+$2+$3}') text+data+bss)"
"$bin" --bind-address=127.0.0.1:0 --leader-elect=false 2>/dev/null &
pid=$!
sleep 2
echo "idle RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
echo "baseline (sleep): $(sleep 5 & p=$!; sleep 0.5; awk '/VmRSS/{print $2, $3}' /proc/$p/status; kill $p)"
kill -TERM $pid
wait $pid
