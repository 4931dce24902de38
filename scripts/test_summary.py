#!/usr/bin/env python3
"""Counts the individual test cases of meson test runs (cmocka and pytest output in
meson's testlog.json) and, with --fuzz FILE, the fuzz targets of test/fuzz/run.sh's
output (each target's fuzzing and each replay of its kept crashers count once), with
--pytest FILE the cases of a pytest run outside meson (the real-node tests), and
prints one closing line: "tests: N passed, N failed".

Exits 1 when a meson test or a fuzz target failed, or nothing ran at all.
"""
import json
import re
import sys

PYTEST_LINE = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.M)


def pytest_counts(m):
    """(passed, failed) of a pytest closing line's match (errors count as failed)."""
    return (sum(int(n) for n in re.findall(r"(\d+) passed", m.group(1))),
            sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", m.group(1))))


passed = failed = 0
meson_failed = False
ran = 0
args = sys.argv[1:]
if len(args) >= 2 and args[0] == "--fuzz":
    try:
        lines = open(args[1]).read().splitlines()
    except OSError as e:
        print(f"summary: {args[1]}: {e}")
        lines = []
        meson_failed = True
    fuzz_ok = fuzz_bad = 0
    for line in lines:
        if re.match(r"^\w+: (ok, |\d+ regression input\(s\) pass)", line):
            fuzz_ok += 1
        elif re.match(r"^\w+: (FAILED|REGRESSION)", line):
            fuzz_bad += 1
    if fuzz_ok + fuzz_bad == 0 or any(l.startswith("failed:") for l in lines):
        meson_failed = True
    print(f"fuzz targets: {fuzz_ok} passed, {fuzz_bad} failed")
    passed += fuzz_ok
    failed += fuzz_bad
    args = args[2:]
while len(args) >= 2 and args[0] == "--pytest":
    try:
        out = open(args[1]).read()
    except OSError as e:
        print(f"summary: {args[1]}: {e}")
        out = ""
    m = None
    for m in PYTEST_LINE.finditer(out):  # the last one is the run's
        pass
    if not m:
        print(f"summary: {args[1]}: no pytest result line")
        meson_failed = True
    else:
        p, fl = pytest_counts(m)
        print(f"{args[1]}: {p} passed, {fl} failed")
        passed += p
        failed += fl
        ran += 1
        if p == 0:
            meson_failed = True
    args = args[2:]
for build in args:
    try:
        f = open(f"{build}/meson-logs/testlog.json")
    except OSError as e:
        print(f"summary: {build}: {e}")
        meson_failed = True
        continue
    for line in f:
        t = json.loads(line)
        ran += 1
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        ok = t["result"] in ("OK", "EXPECTEDFAIL")  # a skip is not a pass here
        if not ok:
            meson_failed = True
        p = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
        fl = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
        m = PYTEST_LINE.search(out)
        if m:
            mp, mf = pytest_counts(m)
            p += mp
            fl += mf
        if p == 0 and fl == 0:  # a test whose output we cannot read counts once
            p, fl = (1, 0) if ok else (0, 1)
        if not ok and fl == 0:
            fl = 1
        passed += p
        failed += fl
if ran == 0:
    meson_failed = True
print(f"tests: {passed} passed, {failed} failed")
sys.exit(1 if meson_failed or failed else 0)
