#!/usr/bin/env bash
# scripts/test.sh - the README's test command: installs what is missing, builds
# the local control plane once (cached), builds kloompas twice (plain with -Werror,
# and ASan+UBSan+LSan), and runs every test in both: unit tests, and end-to-end
# tests against the real binary and a real kube-apiserver; then, once, the real-node
# tests (a real kubelet and containerd, Kloompas deployed from its image); then the
# fuzz targets for a bounded time each (KL_FUZZ_SECONDS, default 60).
# Exits non-zero when any build or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
# the local real control plane (kube-apiserver + kube-controller-manager built once
# from Debian's kubernetes source package, cached outside the repo; etcd from Debian)
bash test/cluster/build.sh >/dev/null

setup() { # DIR [meson options...]
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

status=0
setup build -Dwerror=true
ninja -C build
meson test -C build --print-errorlogs --num-processes 2 || status=1

setup build-asan -Dwerror=true -Dsanitize=true -Dbuildtype=debug
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1 meson test -C build-asan --print-errorlogs --num-processes 2 \
  --timeout-multiplier 3 || status=1

# the real node (issue 12): a real kubelet, containerd and runc running the workloads,
# and Kloompas itself deployed from its image with kubectl apply -k; run once, as it
# tests the image (which builds its own binary), not this build's binary.
# KL_REAL_NODE=0 leaves it out (e.g. on a machine that cannot run containers).
mkdir -p build-realnode
if [ "${KL_REAL_NODE:-1}" != 0 ]; then
  (cd test/e2e && KL_REALNODE_SEQUENCES="$PWD/../../build-realnode/sequences.json" \
    pytest-3 -q -p no:cacheprovider test_real_node.py) 2>&1 |
    tee build-realnode/pytest.out || status=1
fi

# the fuzz targets (clang libFuzzer, ASan+UBSan): kept crashers replayed, then each target
# fuzzed for KL_FUZZ_SECONDS (60; 0 replays only); a crash fails the run
mkdir -p build-fuzz
sh test/fuzz/run.sh "${KL_FUZZ_SECONDS:-60}" 2>&1 | tee build-fuzz/run.out || status=1

summary=(--fuzz build-fuzz/run.out)
if [ "${KL_REAL_NODE:-1}" != 0 ]; then
  summary+=(--pytest build-realnode/pytest.out)
fi
python3 scripts/test_summary.py "${summary[@]}" build build-asan || status=1
exit $status
