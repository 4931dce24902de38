#!/usr/bin/env bash
# scripts/valgrind.sh - the end-to-end suite with kloompas and the test tools
# (klctl, klinform, kllease) under valgrind memcheck (issue 8).
#
# Builds build-vg (debug, e2e on), then runs pytest over test/e2e with
# KLOOMPAS_BIN, KLCTL_BIN, KLINFORM_BIN and KLLEASE_BIN pointing at small
# wrappers that exec valgrind on the real binaries. A memcheck error or a
# definite/indirect leak makes the process exit 99, which fails every test that
# checks an exit code; afterwards every valgrind log is scanned as well, and the
# run fails listing each log with errors or leaked bytes (and the test that made
# it). Only third-party noise is suppressed, in test/valgrind.supp.
#
# Usage (from anywhere; needs valgrind, installed here when missing):
#   scripts/valgrind.sh                                   # all of test/e2e
#   scripts/valgrind.sh test/e2e/test_server.py           # some files
#   scripts/valgrind.sh test/e2e/test_cli.py -k usage     # any pytest arguments
# Environment:
#   KL_TIMEOUT_FACTOR  stretch of conftest's waits on our processes (default 10)
#   KL_VG_LOGS         where the logs go (default build-vg/valgrind; emptied first)
# Output: pytest's, then one line per test file, then the valgrind verdict; the
# last line is "valgrind: N logs, N with errors or leaks". Exits non-zero when a
# test failed or a log shows an error or a leak. The nine files of issue 8 take
# about 20 minutes on two loaded cores (memcheck makes a klctl GET take 12-17 s).
#
# Tests that cannot pass under valgrind as written are deselected below, each
# with its reason, printed at the start of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# nodeid -> why it cannot pass under memcheck. Each asserts a wall-clock bound or
# sleeps a fixed time for kloompas to act: conftest's KL_TIMEOUT_FACTOR cannot
# stretch those. Under memcheck on two loaded cores one klctl GET takes 12-17 s and
# kloompas needs seconds where it needs milliseconds natively. Every process these
# tests start ran clean under memcheck all the same. The ones marked (fixable)
# could come back with the change named there.
declare -A DESELECT=(
  [test/e2e/test_server.py::test_connection_limit_keeps_serving]="(fixable: scaled read timeouts, poll /healthz until 200) sleeps 0.3 s for 300 closed connections to be reaped and reads each over-limit one for 2 s; memcheck kloompas needs 4.4 s for the closes (native 0.01 s): /healthz gets 503, or fewer than 40 of 44 are refused in time"
  [test/e2e/test_k8s_client.py::test_watch_ends_cleanly_at_its_timeout]="asserts a whole klctl run with a 2 s watch ends within 30 s; under memcheck it took 34.5 s once"
  [test/e2e/test_k8s_watchers.py::test_receiver_down_for_a_while_loses_nothing]="(fixable: fail the first N requests, not a 6 s window) the receiver fails for 6 s counted from before kloompas starts; memcheck kloompas sends its first notice after the window, so receiver.failed stays 0"
  [test/e2e/test_k8s_watchers.py::test_restart_while_firing_does_not_resend]="(fixable: poll the log for 'restored alert state' with a scaled deadline, then wait) gives the restarted kloompas a fixed 4 s to log it; memcheck kloompas is still syncing"
  [test/e2e/test_k8s_leader.py::test_sigterm_hands_over_at_once]="asserts the handover within 2.0 s of SIGTERM, a span that includes the old leader's exit under memcheck, and waits a fixed 20 s for a first leader: with 1,300 pods in the cluster each memcheck replica's loop is busy parsing the LIST for seconds and /metrics answers late (failed 1 run of 3: no leader)"
  [test/e2e/test_k8s_lease.py::test_sigterm_leader_hands_over_at_once]="asserts the handover within 2.8 s of SIGTERM, a span that includes the old leader's exit under memcheck (3.9 s seen)"
  [test/e2e/test_k8s_lease.py::test_dead_holder_taken_after_it_expires]="asserts LEADER within 6.2 s of starting kllease, which includes its start under memcheck (7.1 s and 17.3 s seen)"
)

if ! command -v valgrind >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends valgrind
fi
scripts/deps.sh
bash test/cluster/build.sh >/dev/null

if [ -f build-vg/build.ninja ]; then
  meson setup --reconfigure build-vg -Dbuildtype=debug -De2e=true >/dev/null
else
  meson setup build-vg -Dbuildtype=debug -De2e=true >/dev/null
fi
ninja -C build-vg

export KL_TIMEOUT_FACTOR=${KL_TIMEOUT_FACTOR:-10}
logs=$(realpath -m "${KL_VG_LOGS:-build-vg/valgrind}")
rm -rf "$logs"
mkdir -p "$logs"
wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"' EXIT

# shellcheck disable=SC2054 # the commas are valgrind's list syntax
vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no
    --num-callers=40 --child-silent-after-fork=yes --time-stamp=yes --log-file="$logs/vg.%p.log")
if [ -f test/valgrind.supp ]; then
  vg+=(--suppressions="$repo/test/valgrind.supp")
fi
vg[0]=$(command -v valgrind)

# wrap NAME PATH: a script that records "pid name test" in $logs/index (the pid
# stays the same through exec, so it names the log) and execs valgrind on PATH
wrap() {
  local w=$wrappers/$1
  {
    echo '#!/bin/sh'
    # shellcheck disable=SC2016 # $$ and $PYTEST_CURRENT_TEST are the wrapper's
    printf 'echo "$$ %s $PYTEST_CURRENT_TEST" >> %q\n' "$1" "$logs/index"
    printf 'exec'
    printf ' %q' "${vg[@]}" "$2"
    printf ' "$@"\n'
  } >"$w"
  chmod +x "$w"
  echo "$w"
}
KLOOMPAS_BIN=$(wrap kloompas "$repo/build-vg/cmd/kloompas/kloompas")
KLCTL_BIN=$(wrap klctl "$repo/build-vg/test/klctl")
KLINFORM_BIN=$(wrap klinform "$repo/build-vg/test/klinform")
KLLEASE_BIN=$(wrap kllease "$repo/build-vg/test/kllease")
export KLOOMPAS_BIN KLCTL_BIN KLINFORM_BIN KLLEASE_BIN KL_SANITIZE=0

# no file or directory among the arguments: the whole suite
args=("$@")
has_path=0
for a in "${args[@]}"; do
  if [[ $a == *.py* || -d $a ]]; then
    has_path=1
  fi
done
[ $has_path = 1 ] || args+=(test/e2e)
for id in "${!DESELECT[@]}"; do
  echo "valgrind: deselected $id: ${DESELECT[$id]}"
  args+=(--deselect "$id")
done

echo "valgrind: KL_TIMEOUT_FACTOR=$KL_TIMEOUT_FACTOR, logs in $logs"
status=0
pytest-3 -p no:cacheprovider --rootdir="$repo" -v -rfE --junitxml="$logs/junit.xml" \
  "${args[@]}" || status=1

# one line per test file, from the junit report
python3 - "$logs/junit.xml" <<'EOF' || true
import collections, sys, xml.etree.ElementTree as ET
files = collections.OrderedDict()
for case in ET.parse(sys.argv[1]).iter("testcase"):
    f = case.get("classname", "").rsplit(".", 1)[-1] if "." in case.get("classname", "") \
        else case.get("classname", "")
    n = files.setdefault(f, collections.Counter())
    kinds = {c.tag for c in case}
    n["failed" if kinds & {"failure", "error"} else
      "skipped" if "skipped" in kinds else "passed"] += 1
for f, n in files.items():
    print(f"file {f}: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped")
EOF

# the logs: an error summary above 0, a definite or indirect leak, or an error
# record in the log of a process that never got to its summary (SIGKILLed)
bad=0
total=0
for log in "$logs"/vg.*.log; do
  [ -e "$log" ] || continue
  total=$((total + 1))
  if grep -qE 'ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]' "$log" ||
    grep -qE '^==[0-9:. ]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function)' "$log"; then
    bad=$((bad + 1))
    pid=${log##*/vg.}
    pid=${pid%.log}
    echo "valgrind: $log ($(grep -m1 "^$pid " "$logs/index" | cut -d' ' -f2- || true)):"
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost' "$log" | sed 's/^/    /' || true
  fi
done
echo "valgrind: $total logs, $bad with errors or leaks"
[ $bad = 0 ] || status=1
exit $status
