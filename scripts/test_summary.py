#!/usr/bin/env python3
"""Counts the individual test cases of meson test runs (cmocka and pytest output in
meson's testlog.json) and prints one closing line: "tests: N passed, N failed".

Exits 1 when a meson test failed or nothing ran at all.
"""
import json
import re
import sys

passed = failed = 0
meson_failed = False
ran = 0
for build in sys.argv[1:]:
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
        m = re.search(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", out, re.M)
        if m:
            p += sum(int(n) for n in re.findall(r"(\d+) passed", m.group(1)))
            fl += sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", m.group(1)))
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
