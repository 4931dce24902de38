#!/usr/bin/env python3
"""bench/soak.py - the soak's logic: churn, apiserver restarts, samples, the final comparison
(run by bench/soak.sh, which builds kloompas and klinform, starts the cluster, the kubelet
simulator and the pods, and removes them all at the end).

Why this file: the issue asks for a soak - MINUTES of churn on N pods with the apiserver
restarted every 5 minutes - after which kloompas' RSS must be flat (the mean of the last
5 minutes within a bound of the first 5 minutes'), its file descriptors must not have
grown, and the cache must equal a fresh LIST. bench/README-soak.md explains the method and
keeps the figures.

What runs, all started here and stopped here (SIGTERM; setpriv --pdeathsig as a backstop):
- a receiver playing Slack (bench_watchers.Receiver), which records every POST;
- the release kloompas (bench_watchers.Kloompas) with crash-watcher and notready-watcher
  routed to that receiver, --leader-elect=false (a Lease lost while the apiserver is down
  would end the process: client-go's rule, which kloompas keeps);
- klinform (test/tools/klinform.c): the same shared informer code, which prints its cache
  on SIGTERM, for the field by field comparison (the rules of test_k8s_informer.py);
- the churn: W worker threads doing at most --rate operations per second (one API write
  each, two for a replace), mixed as
    touch     a merge patch of one pod's annotation (a rollout tool's bookkeeping),
    flip      a pod's kloompas.io/sim annotation to notready, and back to ready 30-120 s
              later (the simulator writes the status: readiness flaps),
    replace   DELETE (the simulator finishes it 1 s later, as a kubelet) and a POST of a
              new pod of the same app under a new name (a ReplicaSet replacing it),
    incidents a crash loop of 3-8 pods of one app every ~45 s, and 40% of a namespace
              not ready every ~90 s, each lasting 60-150 s: crash-watcher and
              notready-watcher fire (log fetch included) and resolve. A crash loop is
              kloompas.io/sim: crashloop:CODE (oomkilled for 137) at the kubelet's own
              pace (sim-restart-every CRASH_INTERVAL = 10 s, the kubelet's base back-off:
              running, terminated, restarted at once, terminated, CrashLoopBackOff 34 s
              after the start, then back-offs of 10, 20, 40 s... with running and
              terminated between them) and ends as a fixed rollout ends one: the pods are
              replaced (DELETE, a new pod of the app). Setting them ready would not do: a
              container that came out of a back-off counts as crash-looping until it has
              run 10 minutes (kl_crash_pod). Incident writes go first, at the same rate;
- kube-apiserver restarted (test/cluster/restart.sh) every --restart-every seconds;
- a sampler every --sample seconds: VmRSS, open fds (/proc/PID/fd), CPU of kloompas,
  klinform and the apiserver, and kloompas' /metrics (relists, watch restarts, events,
  notifications, objects).
At the end: the churn stops with the state frozen as it is (crash loops in progress get
sim-restart-every 1h: the step they are in ends as planned, the next lasts at least 6 min,
so they stay running, terminated or in CrashLoopBackOff, wherever their loop was;
not-ready pods stay so: the caches hold a mix of states), then it waits for quiet (no pod
event for a while), and compares:
  klinform's cache with a fresh LIST, field by field (rv, phase, ready, node, owner,
  deleting, per container ready:restarts:waiting reason:last exit code);
  kloompas' kloompas_informer_objects{pods,namespaces} with the LIST counts, and its
  per-namespace kloompas_namespace_crashloop_pods and kloompas_namespace_notready_ratio
  with what the LIST gives under the same rules (crash_pod() mirrors kl_crash_pod,
  notready_tally() kl_notready_tally, with each namespace's alert state read from the
  kloompas-state ConfigMap, as min_age and min_pods gate only the start of an alert).
Exit status: 0 all checks held, 1 a check failed, 2 the run itself broke.
Results: DIR/results.json, DIR/summary.txt, DIR/samples.csv and the logs.

Usage (soak.sh does this): python3 bench/soak.py --env DIR/env --kloompas BIN --klinform BIN
    --results DIR --minutes 30 --pods 20000 --namespaces 100
"""

import argparse
import calendar
import collections
import heapq
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "cluster"))
sys.path.insert(0, HERE)
from kube import PATCH_TYPES, ApiError, Kube  # noqa: E402
import make_pods  # noqa: E402
from bench_watchers import Kloompas, Receiver  # noqa: E402

USER_AGENT = "kloompas-soak/1.0"  # not curl: the apiserver pretty-prints JSON for curl
CLK_TCK = os.sysconf("SC_CLK_TCK")
NS_PREFIX = "bench-"  # make_pods.Plan's namespaces
SIM = "kloompas.io/sim"
SIM_EVERY = "kloompas.io/sim-restart-every"
MIN_AGE = 30  # notready-watcher min_age, seconds (the final comparison applies it too)
MIN_PODS = 3  # notready-watcher min_pods (likewise)
CRASH_INTERVAL = "10s"  # sim-restart-every of a crash incident: the kubelet's 10 s base back-off
# controllers/crash_watcher.h, mirrored by crash_pod()
CRASH_REASONS = ("CrashLoopBackOff",)
CRASHLOOP_SETTLE_S = 10 * 60  # KL_CRASHLOOP_SETTLE_MS
CRASHLOOP_BACKOFF_MIN_S = 6  # KL_CRASHLOOP_BACKOFF_MIN_S
MiB = 2**20


def log(msg):
    sys.stderr.write(f"soak: {time.strftime('%H:%M:%S')} {msg}\n")
    sys.stderr.flush()


# --- /proc --------------------------------------------------------------------------


def proc_sample(pid):
    """{rss, fds, cpu} of a process from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        rss = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    return {"rss": rss, "fds": fds, "cpu": (int(st[11]) + int(st[12])) / CLK_TCK}


TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def tcp_sockets(pid):
    """socket inode -> "tcp LOCALPORT->REMOTEPORT STATE" from /proc/PID/net/tcp{,6}."""
    out = {}
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                next(f)
                for line in f:
                    x = line.split()
                    lport, rport = int(x[1].rsplit(":", 1)[1], 16), int(x[2].rsplit(":", 1)[1], 16)
                    out[x[9]] = f"tcp :{lport}->:{rport} {TCP_STATES.get(x[3], x[3])}"
        except (OSError, StopIteration, IndexError, ValueError):
            pass
    return out


def fd_targets(pid):
    """What each open fd of a process is (sorted; a TCP socket as its ports and state)."""
    out = []
    tcp = tcp_sockets(pid)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]$", t)
            if m:
                t = tcp.get(m.group(1), "socket (not tcp)")
            out.append(t)
    except OSError:
        pass
    return sorted(out)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


# --- API calls through restarts -----------------------------------------------------


class Api:
    """kube.py calls retried through an apiserver restart (connection errors, 429, 5xx)
    for up to `patience` seconds. Counts the retries."""

    def __init__(self, kube, patience=120.0):
        self.kube, self.patience = kube, patience
        self.retries = 0
        self.lock = threading.Lock()

    def call(self, method, path, body=None, ctype=None):
        """(status, reply); status < 400 or 404/409 (the caller decides); raises otherwise."""
        deadline = time.monotonic() + self.patience
        delay, attempt = 0.2, 0
        while True:
            try:
                status, reply = self.kube.request(method, path, body, content_type=ctype)
            except (OSError, http.client.HTTPException) as e:
                status, reply = None, repr(e)
            if status is not None and status < 400:
                return status, reply
            if status in (404, 409) and (attempt == 0 or method != "POST"):
                return status, reply
            if status == 409 and method == "POST":  # a lost reply's create did happen
                return 201, reply
            if status is not None and status != 429 and status < 500:
                raise ApiError(method, path, status, reply)
            if time.monotonic() > deadline:
                raise ApiError(method, path, status or 0, reply)
            with self.lock:
                self.retries += 1
            attempt += 1
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def patch_pod(self, ns, name, ann):
        body = json.dumps({"metadata": {"annotations": ann}}).encode()
        return self.call("PATCH", Kube.path("pods", ns, name), body, PATCH_TYPES["merge"])[0]


# --- the churn ----------------------------------------------------------------------


class Churn:
    """At most `rate` operations per second (a replace is two writes) from `workers` threads; incident writes and due
    reverts first, then background operations (see the top of this file)."""

    WEIGHTS = (("touch", 0.45), ("flip", 0.30), ("replace", 0.25))

    def __init__(self, api, kube, plan, rate, workers, seed):
        self.api, self.kube, self.plan = api, kube, plan
        self.rate, self.nworkers = rate, workers
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.work = []  # (fn, args) ready to run
        self.due = []  # (time, seq, fn, args) to run once time has come
        self.seq = 0
        self.pods = {}  # key -> app key (ns, app index)
        self.by_app = {}  # app key -> set of keys
        self.busy = set()  # keys in a flip or an incident: no other op touches them
        self.incident_ns = set()
        self.incidents = []  # {"kind", "ns", "pods", "start", "end"}
        self.counts = {}
        self.errors = {}
        self.writes = 0
        self.stop_gen = threading.Event()
        self.stop_all = threading.Event()
        self.threads = []
        self.touch_n = 0
        self.first = {}  # app key -> index of its first pod in the plan (a manifest to copy)
        for i, (pns, a, _) in enumerate(plan.pods):
            self.first.setdefault((pns, a), i)

    # bookkeeping

    def load(self, pods):
        rs_to_app = {(ns, app["rs"]): key for key, app in self.plan.apps.items() for ns in (key[0],)}
        for p in pods:
            m = p["metadata"]
            if not m["namespace"].startswith(NS_PREFIX):
                continue
            owner = next((o["name"] for o in m.get("ownerReferences") or [] if o.get("kind") == "ReplicaSet"), None)
            app = rs_to_app.get((m["namespace"], owner))
            if app is None:
                continue
            self._add(f"{m['namespace']}/{m['name']}", app)

    def _add(self, key, app):
        self.pods[key] = app
        self.by_app.setdefault(app, set()).add(key)

    def _drop(self, key):
        app = self.pods.pop(key, None)
        if app is not None:
            self.by_app[app].discard(key)

    def _count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def _error(self, what, e):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1
            first = self.errors[what] == 1
        if first:
            log(f"churn: {what} failed: {e}")

    def _due(self, at, fn, *args):
        with self.lock:
            self.seq += 1
            heapq.heappush(self.due, (at, self.seq, fn, args))
            self.cv.notify_all()

    # the operations (worker threads)

    def op_touch(self, key):
        ns, name = key.split("/", 1)
        with self.lock:
            self.touch_n += 1
            n = self.touch_n
        st = self.api.patch_pod(ns, name, {"kloompas.io/soak-touch": str(n)})
        self._count("touch" if st < 400 else "touch_gone")

    def op_sim(self, key, ann, what, release=False, inc=None):
        ns, name = key.split("/", 1)
        try:
            st = self.api.patch_pod(ns, name, ann)
            self._count(what if st < 400 else what + "_gone")
        finally:
            if release:
                with self.lock:
                    self.busy.discard(key)
            if inc is not None:
                with self.lock:
                    inc["on_left"] -= 1
                    if inc["on_left"] == 0:
                        inc["on_at"] = time.monotonic()

    def op_replace(self, key):
        ns, name = key.split("/", 1)
        with self.lock:
            app = self.pods.get(key)
        st, _ = self.api.call("DELETE", Kube.path("pods", ns, name),
                              json.dumps({"kind": "DeleteOptions", "apiVersion": "v1"}).encode())
        self._count("delete" if st < 400 else "delete_gone")
        with self.lock:
            self._drop(key)
            self.busy.discard(key)
        info = self.plan.apps[app]
        first = self.first[app]
        for _ in range(5):
            new = f"{info['rs']}-{''.join(self.rng.choice(make_pods.SUFFIX_CHARS) for _ in range(5))}"
            m = self.kube.pod_manifest(ns, f"i{first}")
            m["metadata"]["name"] = new
            st, _ = self.api.call("POST", Kube.path("pods", ns), json.dumps(m).encode())
            if st < 400:
                with self.lock:
                    self._add(f"{ns}/{new}", app)
                self._count("create")
                return
        raise RuntimeError(f"no free pod name for {info['rs']}")

    # the generator (one thread) and the workers

    def _pick(self, ns=None, app=None):
        """A random pod not busy (in ns / app if given), or None."""
        with self.lock:
            if app is not None:
                keys = [k for k in self.by_app.get(app, ()) if k not in self.busy]
            elif ns is not None:
                keys = [k for a, ks in self.by_app.items() if a[0] == ns for k in ks if k not in self.busy]
            else:
                for _ in range(20):
                    k = self.rng.choice(list(self.pods)) if len(self.pods) < 64 else self._rand_key()
                    if k not in self.busy and self.pods[k][0] not in self.incident_ns:
                        return k
                return None
        return self.rng.choice(keys) if keys else None

    def _rand_key(self):
        app = self.rng.choice(list(self.plan.apps))
        ks = self.by_app.get(app)
        return self.rng.choice(tuple(ks)) if ks else next(iter(self.pods))

    def _background(self):
        r, acc = self.rng.random(), 0.0
        for what, w in self.WEIGHTS:
            acc += w
            if r < acc:
                break
        key = self._pick()
        if key is None:
            return None
        if what == "touch":
            return self.op_touch, (key,)
        if what == "replace":
            with self.lock:
                self.busy.add(key)  # released by _drop (the key goes)
            return self.op_replace, (key,)
        with self.lock:
            self.busy.add(key)
        self._due(time.monotonic() + self.rng.uniform(30, 120), self.op_sim, key, {SIM: "ready"}, "unflip", True)
        return self.op_sim, (key, {SIM: "notready"}, "flip")

    def _incident(self, kind, now):
        with self.lock:
            free = [ns for ns in self.plan.namespaces if ns not in self.incident_ns]
        if not free:
            return
        ns = self.rng.choice(free)
        length = self.rng.uniform(60, 150)
        if kind == "crash":
            app = self.rng.choice([a for a in self.plan.apps if a[0] == ns])
            keys = []
            for _ in range(self.rng.randint(3, 8)):
                k = self._pick(app=app)
                if k is None:
                    break
                with self.lock:
                    self.busy.add(k)
                keys.append(k)
            code = self.rng.choice([1, 2, 137, 139])
            on = {SIM: "oomkilled" if code == 137 else f"crashloop:{code}", SIM_EVERY: CRASH_INTERVAL}
            off = None  # replaced (see the top of this file)
        else:
            with self.lock:
                every = [k for a, ks in self.by_app.items() if a[0] == ns for k in ks]
                cand = [k for k in every if k not in self.busy]
                self.rng.shuffle(cand)
                keys = cand[: max(3, int(len(every) * 0.4))]  # 40% of the namespace
                self.busy.update(keys)
            on, off = {SIM: "notready"}, {SIM: "ready"}
        if not keys:
            return
        inc = {"kind": kind, "ns": ns, "pods": len(keys), "start": now, "end": None, "frozen": False,
               "keys": keys, "off": off, "on_left": len(keys), "on_at": None, "length": length}
        with self.lock:
            self.incident_ns.add(ns)
            self.incidents.append(inc)
        for k in keys:
            self._due(now, self.op_sim, k, on, f"{kind}_on", False, inc)
        self._due(now + length, self._end_incident, inc)

    def _end_incident(self, inc):
        """Runs in the generator: queue the reverts, then free the namespace. An incident
        whose writes were held up by an apiserver outage lasts at least 60 s from the last."""
        now = time.monotonic()
        with self.lock:
            on_at = inc["on_at"]
        if on_at is None or now < on_at + 60:
            self._due(max(now + 1, (on_at or now) + 60), self._end_incident, inc)
            return
        inc["end"] = now
        for k in inc["keys"]:
            if inc["off"] is None:  # a crash loop: a fixed rollout replaces the pods
                self._due(inc["end"], self.op_replace, k)
            else:
                self._due(inc["end"], self.op_sim, k, inc["off"], f"{inc['kind']}_off", True)
        with self.lock:
            self.incident_ns.discard(inc["ns"])

    def _generator(self, crash_every, notready_every):
        period = 1.0 / self.rate
        nxt = time.monotonic()
        next_crash = nxt + 5
        next_nr = nxt + 20
        while not self.stop_gen.is_set():
            now = time.monotonic()
            if now < nxt:
                self.stop_gen.wait(nxt - now)
                continue
            nxt += period
            if nxt < now - 1:  # fell behind (a stall): no catching up in a burst
                nxt = now
            if now >= next_crash:
                self._incident("crash", now)
                next_crash = now + self.rng.uniform(0.5, 1.5) * crash_every
            if now >= next_nr:
                self._incident("notready", now)
                next_nr = now + self.rng.uniform(0.5, 1.5) * notready_every
            item = None
            with self.lock:
                if len(self.work) > 4 * self.nworkers:  # the apiserver is down: do not pile up
                    continue
                if self.due and self.due[0][0] <= now:
                    _, _, fn, args = heapq.heappop(self.due)
                    if fn == self._end_incident:
                        item = None
                        end = (fn, args)
                    else:
                        item, end = (fn, args), None
                else:
                    end = None
            if end:
                end[0](*end[1])
                nxt -= period  # no write was made
                continue
            if item is None:
                item = self._background()
            if item:
                with self.lock:
                    self.work.append(item)
                    self.cv.notify()

    def _worker(self):
        while True:
            with self.lock:
                while not self.work and not self.stop_all.is_set():
                    self.cv.wait(0.5)
                if not self.work:
                    return
                fn, args = self.work.pop(0)
            try:
                fn(*args)
                with self.lock:
                    self.writes += 2 if fn == self.op_replace else 1
            except Exception as e:  # noqa: BLE001 - counted, the soak goes on
                self._error(fn.__name__, e)
                if fn == self.op_replace:
                    with self.lock:
                        self.busy.discard(args[0])

    def start(self, crash_every, notready_every):
        self.threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.nworkers)]
        self.threads.append(threading.Thread(target=self._generator, args=(crash_every, notready_every),
                                             daemon=True))
        for t in self.threads:
            t.start()

    def freeze(self):
        """Stop generating; crash loops in progress stop where they are (sim-restart-every 1h: the
        current step ends as planned, the next lasts at least 6 min), other states stay as they
        are. Returns once every write is done."""
        self.stop_gen.set()
        self.threads[-1].join()
        frozen = 0
        with self.lock:
            self.due = []
            for inc in self.incidents:
                if inc["end"] is None and inc["kind"] == "crash":
                    inc["frozen"] = True
                    for k in inc["keys"]:
                        self.work.append((self.op_sim, (k, {SIM_EVERY: "1h"}, "freeze")))
                        frozen += 1
            self.cv.notify_all()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with self.lock:
                if not self.work:
                    break
            time.sleep(0.2)
        self.stop_all.set()
        for t in self.threads[:-1]:
            t.join(150)
        return frozen

    def summary(self):
        with self.lock:
            inc = [{k: v for k, v in i.items() if k not in ("keys", "off", "on_left")} for i in self.incidents]
            return {"counts": dict(self.counts), "errors": dict(self.errors), "writes": self.writes,
                    "api_retries": self.api.retries, "incidents": inc, "pods_now": len(self.pods)}


# --- the comparison -----------------------------------------------------------------


def expected_pod(p):
    """What klinform's CACHE line says for a pod of a LIST (test/e2e/test_k8s_informer.py)."""
    st = p.get("status", {})
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    # kubeclient/objects.c owner_project(): the controller ownerReference, else the first one
    # (test_k8s_informer.py knows only the controller one: its pods have no owners)
    refs = p["metadata"].get("ownerReferences") or []
    o = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    owner = f"{o['kind']}/{o['name']}" if o else "-/-"
    conts = []
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for c in st.get(key) or []:
            waiting = c.get("state", {}).get("waiting", {}).get("reason", "-")
            last = c.get("lastState", {}).get("terminated")
            conts.append(f"{'init:' if init else ''}{c['name']}:{int(c.get('ready', False))}:"
                         f"{c.get('restartCount', 0)}:{waiting}:{last['exitCode'] if last else -1}")
    return {"rv": int(p["metadata"]["resourceVersion"]), "phase": st.get("phase", "Pending"),
            "ready": str(int(ready)), "node": p["spec"].get("nodeName", "-"), "owner": owner,
            "deleting": str(int("deletionTimestamp" in p["metadata"])), "containers": ",".join(conts)}


def parse_klinform(path):
    """(cache, stats, SYNCED count) from klinform's output file."""
    cache, stats = {}, {}
    with open(path) as f:
        for line in f:
            if line.startswith("CACHE "):
                parts = line.split()
                cache[parts[1]] = {"rv": int(parts[2]), **dict(x.split("=", 1) for x in parts[3:])}
            elif line.startswith("STATS "):
                stats = dict(x.split("=", 1) for x in line.split()[1:])
    return cache, stats


def compare_cache(cache, pods):
    """Differences between klinform's cache and a LIST (both complete)."""
    want = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": expected_pod(p) for p in pods}
    missing = sorted(set(want) - set(cache))
    extra = sorted(set(cache) - set(want))
    diffs = []
    for k in set(want) & set(cache):
        got, w = dict(cache[k]), dict(want[k])
        if not w["containers"]:  # no status yet: the cache lists spec containers
            got.pop("containers", None)
            w.pop("containers")
        if got != w:
            diffs.append({"key": k, "cache": got, "list": w})
    return {"list_pods": len(want), "cache_pods": len(cache), "missing": missing[:20], "n_missing": len(missing),
            "extra": extra[:20], "n_extra": len(extra), "n_differ": len(diffs), "differ": diffs[:20],
            "equal": not missing and not extra and not diffs}


def rfc_seconds(ts):
    """A status time (RFC 3339, whole seconds, as kubeclient/objects.c keeps it) -> Unix
    seconds; 0 when absent (as the projection leaves it)."""
    if not ts:
        return 0
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))


def crash_pod(p, now):
    """kl_crash_pod (controllers/crash_watcher.c) on a pod of a LIST, reasons CRASH_REASONS:
    None, or the moment of the first container counted ("waiting", "terminated", "running";
    waiting beats terminated beats running)."""
    m, st = p["metadata"], p.get("status") or {}
    if "deletionTimestamp" in m:
        return None  # going away: not a crash of the namespace
    loop = "CrashLoopBackOff" in CRASH_REASONS
    done = st.get("phase") in ("Succeeded", "Failed")
    best = None
    rank = {"waiting": 0, "terminated": 1, "running": 2}
    for c in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        state = c.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        term = state.get("terminated") or {}
        running_since = rfc_seconds((state.get("running") or {}).get("startedAt"))
        last_finished = rfc_seconds(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        exit_code = term.get("exitCode") or 0
        reason = term.get("reason")
        if waiting and waiting in CRASH_REASONS:
            moment = "waiting"
        elif not loop or (c.get("restartCount") or 0) < 2 or waiting:
            continue
        elif running_since:
            if (now >= running_since + CRASHLOOP_SETTLE_S or not last_finished
                    or running_since - last_finished < CRASHLOOP_BACKOFF_MIN_S):
                continue  # settled, or restarted at once: no back-off
            moment = "running"
        elif (reason or exit_code) and (exit_code != 0 or (reason and reason != "Completed")) and not done:
            moment = "terminated"
        else:
            continue
        if best is None or rank[moment] < rank[best]:
            best = moment
    return best


def alert_states(kube, own_ns, controller):
    """namespace -> state ("pending", "firing", "resolving", "resolved") of controller's alerts,
    from the kloompas-state ConfigMap (controllers/state.h: key CONTROLLER.NAMESPACE)."""
    cm = kube.get("configmaps", name="kloompas-state", ns=own_ns, missing_ok=True) or {}
    out = {}
    for key, val in (cm.get("data") or {}).items():
        if key.startswith(controller + "."):
            try:
                out[key[len(controller) + 1:]] = json.loads(val).get("state")
            except ValueError:
                pass
    return out


def notready_tally(pods, now, ongoing):
    """kl_notready_tally (controllers/notready_watcher.c) per namespace of a LIST, the
    crash-watcher running: {ns: {live, counted, notready, crashing}}. ongoing: the namespaces
    whose not-ready alert is pending, firing or resolving (min_age and min_pods gate only the
    start of an alert: while it is ongoing every live pod counts)."""
    out = {}
    for p in pods:
        m, st = p["metadata"], p.get("status") or {}
        if st.get("phase") in ("Succeeded", "Failed") or "deletionTimestamp" in m:
            continue
        ns = m["namespace"]
        t = out.setdefault(ns, {"live": 0, "counted": 0, "notready": 0, "crashing": 0})
        t["live"] += 1
        if rfc_seconds(m["creationTimestamp"]) + MIN_AGE > now and ns not in ongoing:
            continue  # too young to start an alert
        t["counted"] += 1
        if any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or []):
            continue
        if crash_pod(p, now):
            t["crashing"] += 1  # the crash-watcher's message, not a not-ready pod
            continue
        t["notready"] += 1
    return out


def tally_ratio(t, ongoing):
    """kl_notready_tally_active's ratio: 0 when no pod counts or min_pods gates it out."""
    gated = not ongoing and t["counted"] < MIN_PODS
    return t["notready"] / t["counted"] if t["counted"] and not gated else 0.0


def compare_watchers(metrics, pods, namespaces, now, states):
    """kloompas' own state against the LIST: object counts, per-namespace crash-loop pods and
    not-ready ratios under kloompas' rules (crash_pod(), notready_tally(); min_pods MIN_PODS,
    min_age MIN_AGE; states: notready-watcher alert state per namespace, see alert_states())."""
    crash, moments = {}, collections.Counter()
    for p in pods:
        mo = crash_pod(p, now)
        if mo:
            ns = p["metadata"]["namespace"]
            crash[ns] = crash.get(ns, 0) + 1
            moments[mo] += 1
    ongoing = {ns for ns, s in states.items() if s in ("pending", "firing", "resolving")}
    tally = notready_tally(pods, now, ongoing)
    got_crash, got_ratio = {}, {}
    for key, val in metrics.items():
        m = re.match(r'kloompas_namespace_crashloop_pods\{namespace="([^"]+)"\}$', key)
        if m:
            got_crash[m.group(1)] = int(val)
        m = re.match(r'kloompas_namespace_notready_ratio\{namespace="([^"]+)"\}$', key)
        if m:
            got_ratio[m.group(1)] = val
    # the gauge: the ratio the condition used, for every namespace with a live pod, else no series
    want_ratio = {ns: tally_ratio(t, ns in ongoing) for ns, t in tally.items() if t["live"]}
    crash_diff = {ns: (got_crash.get(ns, 0), crash.get(ns, 0)) for ns in set(crash) | set(got_crash)
                  if got_crash.get(ns, 0) != crash.get(ns, 0)}
    ratio_diff = {ns: (got_ratio.get(ns), round(want_ratio[ns], 6) if ns in want_ratio else None)
                  for ns in set(want_ratio) | set(got_ratio)
                  if ns.startswith(NS_PREFIX) and ((ns in got_ratio) != (ns in want_ratio)
                                                   or abs(got_ratio.get(ns, 0) - want_ratio.get(ns, 0)) > 1e-4)}
    objs_pods = metrics.get('kloompas_informer_objects{resource="pods"}')
    objs_ns = metrics.get('kloompas_informer_objects{resource="namespaces"}')
    bench = {ns: t for ns, t in tally.items() if ns.startswith(NS_PREFIX)}
    return {"objects_pods": objs_pods, "list_pods": len(pods), "objects_namespaces": objs_ns,
            "list_namespaces": len(namespaces),
            "crash_namespaces": len(crash), "crash_pods": sum(crash.values()), "crash_moments": dict(moments),
            "notready_crashing_pods": sum(t["crashing"] for t in bench.values()),
            "notready_ongoing": sorted(ongoing & set(bench)),
            "notready_namespaces_over_30pct": sum(1 for ns, r in want_ratio.items() if ns in bench and r >= 0.3),
            "crash_differ": crash_diff, "ratio_differ": ratio_diff,
            "equal": objs_pods == len(pods) and objs_ns == len(namespaces) and not crash_diff and not ratio_diff}


# --- notices ------------------------------------------------------------------------


def notices(receiver, t0):
    """Slack posts -> counts of namespace lines per (kind, firing|resolved), and every post as
    {t (seconds from t0), lines: [[kind, state, ns], ...]}. A text holds groups separated by a
    blank line, each a header ("RESOLVED — " for resolved) and one line per namespace."""
    out = {"posts": 0, "sections": {}, "list": []}
    for t, path, body in list(receiver.posts):
        if path != "/slack":
            continue
        out["posts"] += 1
        try:
            text = json.loads(body).get("text", "")
        except ValueError:
            continue
        lines = []
        for section in text.split("\n\n"):
            head = section.split("\n", 1)[0]
            kind = "crash" if "PODS IN CRASH" in head else "notready" if "NOT READY" in head else "other"
            state = "resolved" if head.startswith("RESOLVED") else "firing"
            for line in section.split("\n")[1:]:
                m = re.match(rf"({NS_PREFIX}\d+): ", line)
                if m:
                    k = f"{kind}_{state}"
                    out["sections"][k] = out["sections"].get(k, 0) + 1
                    lines.append([kind, state, m.group(1)])
        out["list"].append({"t": round(t - t0, 2), "lines": lines})
    return out


def incident_notices(incidents, seen, t0, end_t):
    """Per incident (times from t0): was its namespace named in a firing notice between its
    start and 30 s after its end, and once over in a resolved notice within 120 s of its end?
    An incident that began while its namespace's alert was firing (the last notice naming it
    before the start was a firing one: an earlier incident not yet resolved, or, for
    notready, background flips over the threshold) needs no new firing: counted apart."""
    res, missed = {}, []
    for kind in ("crash", "notready"):
        inc = sorted((i for i in incidents if i["kind"] == kind), key=lambda i: i["start"])
        r = {"incidents": len(inc), "fired": 0, "ended": 0, "resolved": 0, "already_firing": 0}
        for i in inc:
            s = i["start"] - t0
            e = (i["end"] - t0) if i["end"] is not None else None
            fired = [p["t"] for p in seen["list"] if p["t"] >= s and p["t"] <= (e if e is not None else end_t) + 30
                     and [kind, "firing", i["ns"]] in p["lines"]]
            resolved = [p["t"] for p in seen["list"] if e is not None and e <= p["t"] <= e + 120
                        and [kind, "resolved", i["ns"]] in p["lines"]]
            before = [ln[1] for p in seen["list"] if p["t"] < s for ln in p["lines"] if ln[0] == kind
                      and ln[2] == i["ns"]]
            overl = bool(before) and before[-1] == "firing"
            r["already_firing"] += overl
            fired = fired or (["already"] if overl else [])
            r["fired"] += bool(fired)
            if e is not None:
                r["ended"] += 1
                r["resolved"] += bool(resolved)
            if not fired or (e is not None and not resolved):
                missed.append({"kind": kind, "ns": i["ns"], "pods": i["pods"], "start": round(s, 1),
                               "end": round(e, 1) if e is not None else None, "fired_at": fired[:1],
                               "resolved_at": resolved[:1], "already_firing": overl})
        res[kind] = r
    return res, missed


# --- the run ------------------------------------------------------------------------


def config_text(receiver_url):
    return f"""cluster: SOAK
team_annotation: kloompas.io/team
notifiers:
  - name: slack
    type: slack
    url: {receiver_url}/slack
routes:
  - namespaces: ["{NS_PREFIX}*"]
    notifiers: [slack]
controllers:
  crash-watcher: {{ reasons: [CrashLoopBackOff], for: 10s, repeat_interval: 10m, log_lines: 20 }}
  notready-watcher: {{ threshold_percent: 30, min_pods: 3, min_age: {MIN_AGE}s, for: 10s, repeat_interval: 10m }}
"""


def pod_events(m):
    return sum(v for k, v in m.items() if k.startswith('kloompas_informer_events_total{resource="pods"'))


def pick(m, name):
    return {k[len(name):]: v for k, v in m.items() if k.startswith(name + "{")}


class Sampler:
    """Every `every` seconds from t0: /proc of kloompas, klinform and the apiserver, and
    kloompas' /metrics (first, so its own connection is not in the fd count)."""

    def __init__(self, kl, kf_pid, apiserver_pidfile, every, t0):
        self.kl, self.kf_pid, self.api_pidfile, self.every, self.t0 = kl, kf_pid, apiserver_pidfile, every, t0
        self.rows = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def take(self, tag=""):
        t = time.monotonic() - self.t0
        row = {"t": round(t, 1), "tag": tag, "kl": proc_sample(self.kl.pid), "kf": proc_sample(self.kf_pid)}
        apid = read_pid(self.api_pidfile)
        row["api"] = proc_sample(apid) if apid else None
        try:
            m = self.kl.metrics()
            row["m"] = {"relists": pick(m, "kloompas_informer_relists_total"),
                        "restarts": pick(m, "kloompas_informer_watch_restarts_total"),
                        "objects": pick(m, "kloompas_informer_objects"),
                        "pod_events": pod_events(m),
                        "notifications": pick(m, "kloompas_notifications_total"),
                        "open_fds": m.get("process_open_fds"),
                        "rss": m.get("process_resident_memory_bytes")}
        except (OSError, http.client.HTTPException) as e:
            row["m"] = {"error": repr(e)}
        self.rows.append(row)
        return row

    def _run(self):
        k = 0
        while True:
            at = self.t0 + k * self.every
            if self.stop.wait(max(0.0, at - time.monotonic())):
                return
            self.take()
            k += 1

    def start(self):
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join()


def window_stats(rows, who, lo, hi, prev_cpu=None):
    xs = [r for r in rows if lo <= r["t"] < hi and r.get(who)]
    if not xs:
        return None
    rss = [r[who]["rss"] for r in xs]
    fds = [r[who]["fds"] for r in xs]
    # CPU between consecutive samples; a negative step is a new process (the apiserver
    # restarted): that interval is left out
    steps = [(b[who]["cpu"] - a_[who]["cpu"], b["t"] - a_["t"]) for a_, b in zip(xs, xs[1:])]
    steps = [(c, d) for c, d in steps if c >= 0 and d > 0]
    cpu = sum(c for c, _ in steps) / sum(d for _, d in steps) if steps else None
    return {"from_s": lo, "to_s": hi, "n": len(xs), "rss_mean_mib": round(statistics.mean(rss) / MiB, 2),
            "rss_min_mib": round(min(rss) / MiB, 2), "rss_max_mib": round(max(rss) / MiB, 2),
            "fds_min": min(fds), "fds_max": max(fds), "fds_first": fds[0], "fds_last": fds[-1],
            "cpu_percent": round(cpu * 100, 1) if cpu is not None else None}


def restarter(a, t0, stop, out):
    """kube-apiserver restarted every a.restart_every seconds from t0 (not at the very end)."""
    k = 1
    end = t0 + a.minutes * 60
    while True:
        at = t0 + k * a.restart_every
        if at > end - 5 or stop.wait(max(0.0, at - time.monotonic())):
            return
        if time.monotonic() > at + a.restart_every / 2:  # the last restart took that long: skip
            log(f"kube-apiserver restart {k} skipped: the one before ended too late")
            out.append({"t": round(at - t0, 1), "skipped": True})
            k += 1
            continue
        t = time.monotonic()
        r = subprocess.run([os.path.join(ROOT, "test", "cluster", "restart.sh"), a.cluster, "kube-apiserver",
                            "restart"], capture_output=True, text=True)
        d = time.monotonic() - t
        out.append({"t": round(t - t0, 1), "seconds": round(d, 1), "rc": r.returncode,
                    "err": r.stderr[-500:] if r.returncode else ""})
        log(f"kube-apiserver restart {k}: rc {r.returncode} in {d:.1f} s")
        k += 1


def wait_quiet(kl, kf_out, quiet, limit):
    """Until neither kloompas' pod event counter nor klinform's output changed for `quiet`
    seconds (at most `limit`). Returns the seconds waited and whether it got quiet."""
    t0 = time.monotonic()
    last = None
    since = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            cur = (pod_events(kl.metrics()), os.path.getsize(kf_out))
        except (OSError, http.client.HTTPException):
            cur = None
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return round(time.monotonic() - t0, 1), True
        time.sleep(1)
    return round(time.monotonic() - t0, 1), False


def run(a):
    kube = make_pods.BenchKube(a.env, user_agent=USER_AGENT, timeout=120)
    env = dict(kube.env)
    env["KUBECONFIG"] = os.path.join(a.cluster, "kubeconfig")
    api = Api(kube)
    plan = kube.plan = make_pods.Plan(a.pods, a.namespaces)
    for rs in kube.list("replicasets"):
        key = next((k for k, app in plan.apps.items()
                    if k[0] == rs["metadata"]["namespace"] and app["rs"] == rs["metadata"]["name"]), None)
        if key:
            plan.apps[key]["uid"] = rs["metadata"]["uid"]
    if any(app["uid"] is None for app in plan.apps.values()):
        raise RuntimeError("the cluster does not hold make_pods' ReplicaSets for this --pods/--namespaces")
    own = "kloompas-soak"
    if not kube.get("namespaces", name=own, missing_ok=True):
        kube.create_namespace(own)

    res = {"minutes": a.minutes, "pods": a.pods, "namespaces": a.namespaces, "rate": a.rate,
           "restart_every_s": a.restart_every, "sample_s": a.sample, "window_min": a.window,
           "rss_bound_mib": a.rss_bound_mib, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
           "loadavg_start": os.getloadavg()}
    procs = []
    receiver = Receiver()
    churn = sampler = None
    stop_restarts = threading.Event()
    restarts = []
    rc = 0
    try:
        cfg = os.path.join(a.results, "kloompas.yaml")
        with open(cfg, "w") as f:
            f.write(config_text(receiver.url))
        t = time.monotonic()
        kl = Kloompas(a.kloompas, ["--kubeconfig", env["KUBECONFIG"], "--config", cfg, "--bind-address=127.0.0.1:0",
                                   "--leader-elect=false", "--leader-elect-resource-namespace", own,
                                   "--controllers=crash-watcher,notready-watcher"],
                      os.path.join(a.results, "kloompas.log"))
        procs.append(kl.proc)
        kf_out = os.path.join(a.results, "klinform.out")
        pdeath = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
        kf = subprocess.Popen(pdeath + [a.klinform, "--kubeconfig", env["KUBECONFIG"], "pods"],
                              stdout=open(kf_out, "w"), stderr=open(os.path.join(a.results, "klinform.log"), "w"))
        procs.append(kf)
        ready = kl.wait_ready(600)
        deadline = time.monotonic() + 600
        synced, off = False, 0
        while not synced:
            with open(kf_out) as f:
                f.seek(off)
                chunk = f.read()
            cut = chunk.rfind("\n") + 1
            off += len(chunk[:cut].encode())
            synced = any(line.startswith("SYNCED ") for line in chunk[:cut].split("\n"))
            if synced:
                break
            if kf.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"klinform did not sync (exit {kf.poll()})")
            time.sleep(0.2)
        m = kl.metrics()
        res["start"] = {"kloompas_ready_s": round(ready, 2), "klinform_synced_s": round(time.monotonic() - t, 2),
                        "objects": pick(m, "kloompas_informer_objects")}
        log(f"kloompas ready after {ready:.1f} s, {res['start']['objects']} objects; klinform synced")

        pods = kube.list("pods")
        churn = Churn(api, kube, plan, a.rate, a.workers, a.seed)
        churn.load(pods)
        log(f"churn over {len(churn.pods)} pods at {a.rate} operations/s for {a.minutes} min; apiserver restart every "
            f"{a.restart_every} s")
        time.sleep(10)  # settle after the sync before the first sample
        t0 = time.monotonic()
        sampler = Sampler(kl, kf.pid, os.path.join(a.cluster, "kube-apiserver.pid"), a.sample, t0)
        res["fd_targets_start"] = {"kloompas": fd_targets(kl.pid), "klinform": fd_targets(kf.pid)}
        sampler.start()
        churn.start(a.crash_every, a.notready_every)
        res["t0_monotonic"] = t0
        rt = threading.Thread(target=restarter, args=(a, t0, stop_restarts, restarts), daemon=True)
        rt.start()
        end = t0 + a.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(30, max(0, end - time.monotonic())))
            if kl.proc.poll() is not None or kf.poll() is not None:
                raise RuntimeError(f"kloompas ({kl.proc.poll()}) or klinform ({kf.poll()}) exited during the soak")
            r = sampler.rows[-1] if sampler.rows else None
            if r and r["kl"]:
                log(f"t={r['t']:.0f}s kloompas RSS {r['kl']['rss'] / MiB:.1f} MiB fds {r['kl']['fds']}; klinform RSS "
                    f"{r['kf']['rss'] / MiB:.1f} MiB fds {r['kf']['fds']}; writes {churn.writes}, "
                    f"pod events {r['m'].get('pod_events')}, relists {r['m'].get('relists')}")
        stop_restarts.set()
        rt.join()
        sampler.close()
        t_churn = time.monotonic() - t0
        frozen = churn.freeze()
        res["churn"] = churn.summary()
        res["churn"]["seconds"] = round(t_churn, 1)
        res["churn"]["frozen_crash_pods"] = frozen
        res["apiserver_restarts"] = restarts
        log(f"churn stopped after {t_churn:.0f} s: {churn.writes} writes {res['churn']['counts']}, errors "
            f"{res['churn']['errors']}; waiting for quiet")
        waited, quiet = wait_quiet(kl, kf_out, max(30, MIN_AGE + 5), 600)
        res["quiet"] = {"waited_s": waited, "quiet": quiet}
        time.sleep(5)  # wait_quiet's last /metrics connection must be gone from the fd count
        end_row = sampler.take("end")
        res["fd_targets_end"] = {"kloompas": fd_targets(kl.pid), "klinform": fd_targets(kf.pid)}

        # the comparison: LIST, kloompas' metrics, klinform's cache, LIST again
        list_a = kube.list("pods")
        nss = kube.list("namespaces")
        m = kl.metrics()
        now = time.time()
        # the not-ready alerts' states (min_age, min_pods gate only their start): flushed
        # every second, and nothing has changed for the quiet wait
        states = alert_states(kube, own, "notready-watcher")
        kf.send_signal(signal.SIGTERM)
        kf_rc = kf.wait(120)
        list_b = kube.list("pods")
        rv_a = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["metadata"]["resourceVersion"] for p in list_a}
        rv_b = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["metadata"]["resourceVersion"] for p in list_b}
        moved = sorted(k for k in set(rv_a) | set(rv_b) if rv_a.get(k) != rv_b.get(k))
        cache, stats = parse_klinform(kf_out)
        res["compare_klinform"] = compare_cache(cache, list_b)
        res["compare_klinform"].update({"klinform_exit": kf_rc, "stats": stats,
                                        "changed_during_dump": moved[:20], "n_changed_during_dump": len(moved)})
        res["compare_kloompas"] = compare_watchers(m, list_a, nss, now, states)
        res["kloompas_metrics_end"] = {
            "relists": pick(m, "kloompas_informer_relists_total"),
            "watch_restarts": pick(m, "kloompas_informer_watch_restarts_total"),
            "events": pick(m, "kloompas_informer_events_total"),
            "notifications": pick(m, "kloompas_notifications_total"),
            "alerts": pick(m, "kloompas_alerts"),
            "requests": pick(m, "kloompas_apiserver_requests_total"),
            "open_fds": m.get("process_open_fds"), "rss": m.get("process_resident_memory_bytes"),
            "cpu_seconds": m.get("process_cpu_seconds_total")}
        seen = notices(receiver, t0)
        per, missed = incident_notices(res["churn"]["incidents"], seen, t0, t_churn)
        res["notices"] = {"posts": seen["posts"], "sections": seen["sections"], "per_incident": per,
                          "incidents_without_notice": missed, "list": seen["list"]}
        kl_rc, stop_s = kl.stop()
        procs.remove(kl.proc)
        res["kloompas_stop"] = {"exit_code": kl_rc, "seconds": round(stop_s, 2)}
        res["samples"] = sampler.rows
        res["end_sample"] = end_row
        rc = verdict(res, a)
    except Exception as e:  # noqa: BLE001 - recorded, exit 2
        log(f"the run broke: {e!r}")
        res["error"] = repr(e)
        if sampler:
            res["samples"] = sampler.rows
        if churn:
            res.setdefault("churn", churn.summary())
        res.setdefault("apiserver_restarts", restarts)
        rc = 2
    finally:
        stop_restarts.set()
        if churn:
            churn.stop_gen.set()
            churn.stop_all.set()
        if sampler:
            sampler.stop.set()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        receiver.close()
        res["loadavg_end"] = os.getloadavg()
        res["exit"] = rc
        with open(os.path.join(a.results, "results.json"), "w") as f:
            json.dump(res, f, indent=1)
        write_samples_csv(res.get("samples") or [], os.path.join(a.results, "samples.csv"))
        text = summary(res)
        with open(os.path.join(a.results, "summary.txt"), "w") as f:
            f.write(text)
        print(text, end="")
    return rc


def verdict(res, a):
    """The checks of the issue; their outcome goes into res["checks"]. 0 or 1."""
    rows = [r for r in res["samples"] if r["tag"] == ""]
    span = a.minutes * 60
    w = a.window * 60
    checks = {}
    res["windows"] = {}
    for who in ("kl", "kf", "api"):
        res["windows"][who] = [window_stats(rows, who, lo, min(lo + w, span + 1))
                               for lo in range(0, int(span), int(w))]
        first = window_stats(rows, who, 0, w)
        last = window_stats(rows, who, span - w, span + 1)
        res["windows"][who + "_first"], res["windows"][who + "_last"] = first, last
        if who == "api" or not first or not last:
            continue
        end = res["end_sample"][who]
        name = {"kl": "kloompas", "kf": "klinform"}[who]
        grow = round(last["rss_mean_mib"] - first["rss_mean_mib"], 2)
        checks[f"{name}_rss_flat"] = {"ok": grow <= a.rss_bound_mib, "growth_mib": grow,
                                      "bound_mib": a.rss_bound_mib}
        fd_start = rows[0][who]["fds"]
        checks[f"{name}_fds_no_growth"] = {
            "ok": end["fds"] <= first["fds_max"] and last["fds_max"] <= first["fds_max"],
            "start": fd_start, "end": end["fds"], "first_window_max": first["fds_max"],
            "last_window_max": last["fds_max"]}
    checks["klinform_cache_equals_list"] = {"ok": res["compare_klinform"]["equal"]}
    checks["kloompas_state_equals_list"] = {"ok": res["compare_kloompas"]["equal"]}
    checks["quiet_before_compare"] = {"ok": res["quiet"]["quiet"]}
    checks["kloompas_clean_exit"] = {"ok": res["kloompas_stop"]["exit_code"] == 0}
    res["checks"] = checks
    return 0 if all(c["ok"] for c in checks.values()) else 1


def write_samples_csv(rows, path):
    with open(path, "w") as f:
        f.write("t,tag,kl_rss_kib,kl_fds,kl_cpu_s,kf_rss_kib,kf_fds,kf_cpu_s,api_rss_kib,api_cpu_s,pod_events,"
                "relists_pods,restarts_pods\n")
        for r in rows:
            def g(who, k, div=1):
                x = r.get(who)
                return "" if not x or x.get(k) is None else (x[k] // div if div > 1 else x[k])
            m = r.get("m") or {}
            f.write(",".join(str(v) for v in (
                r["t"], r["tag"], g("kl", "rss", 1024), g("kl", "fds"), g("kl", "cpu"), g("kf", "rss", 1024),
                g("kf", "fds"), g("kf", "cpu"), g("api", "rss", 1024), g("api", "cpu"), m.get("pod_events", ""),
                (m.get("relists") or {}).get('{resource="pods"}', ""),
                (m.get("restarts") or {}).get('{resource="pods"}', ""))) + "\n")


def summary(r):
    out = []
    p = out.append
    p(f"== soak: {r['minutes']} min of churn on {r['pods']} pods in {r['namespaces']} namespaces, "
      f"{r['rate']} operations/s, kube-apiserver restarted every {r['restart_every_s']} s ==")
    p(f"started {r['started']}, load average at start {r['loadavg_start'][0]:.1f}, at end "
      f"{r.get('loadavg_end', (0,))[0]:.1f}")
    if "error" in r:
        p(f"RUN BROKE: {r['error']}")
    if "start" in r:
        p(f"start: kloompas ready in {r['start']['kloompas_ready_s']} s, objects {r['start']['objects']}")
    c = r.get("churn")
    if c:
        p(f"churn: {c['writes']} writes in {c.get('seconds', '?')} s ({c['writes'] / max(c.get('seconds', 1), 1):.1f}/s); "
          f"ops {c['counts']}; errors {c['errors']}; API retries {c['api_retries']}")
        kinds = {}
        for i in c["incidents"]:
            kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
        p(f"incidents: {kinds}; crash pods frozen where their loop was at the end: {c.get('frozen_crash_pods')}")
    rs = r.get("apiserver_restarts") or []
    done = [x for x in rs if not x.get("skipped")]
    p(f"apiserver restarts: {len(done)} at t={[x['t'] for x in done]} s, each {[x['seconds'] for x in done]} s "
      f"(stop, start, /readyz), rc {[x['rc'] for x in done]}; skipped {len(rs) - len(done)}")
    win = r.get("windows")
    if win:
        for who, name in (("kl", "kloompas"), ("kf", "klinform"), ("api", "kube-apiserver")):
            f, l = win.get(who + "_first"), win.get(who + "_last")
            if not f or not l:
                continue
            wm = round(r["window_min"], 2)
            p(f"{name} RSS MiB, first {wm} min: mean {f['rss_mean_mib']} min {f['rss_min_mib']} max "
              f"{f['rss_max_mib']}; last {wm} min: mean {l['rss_mean_mib']} min {l['rss_min_mib']} max "
              f"{l['rss_max_mib']}; CPU {f['cpu_percent']}% -> {l['cpu_percent']}%")
            p(f"  per window means: {[x['rss_mean_mib'] for x in win[who] if x]}; fds per window (min-max): "
              f"{[(x['fds_min'], x['fds_max']) for x in win[who] if x]}")
        e = r["end_sample"]
        p(f"after quiet ({r['quiet']['waited_s']} s): kloompas RSS {e['kl']['rss'] / MiB:.2f} MiB fds {e['kl']['fds']}; "
          f"klinform RSS {e['kf']['rss'] / MiB:.2f} MiB fds {e['kf']['fds']}")
    if "fd_targets_end" in r:
        for w in ("kloompas", "klinform"):
            a_, b = collections.Counter(r["fd_targets_start"][w]), collections.Counter(r["fd_targets_end"][w])
            p(f"{w} fds at the end vs the start: +{dict(b - a_)} -{dict(a_ - b)}")
    km = r.get("kloompas_metrics_end")
    if km:
        p(f"kloompas relists {km['relists']}, watch restarts {km['watch_restarts']}")
        p(f"kloompas events {km['events']}")
        p(f"kloompas notifications {km['notifications']}; CPU {km['cpu_seconds']} s in all")
    n = r.get("notices")
    if n:
        p(f"Slack posts received: {n['posts']}; namespace lines {n['sections']}")
        p(f"incidents notified (by time, see incident_notices()): {n['per_incident']}")
        rs_ = [(x["t"], round(x["t"] + x["seconds"], 1)) for x in r.get("apiserver_restarts") or [] if "seconds" in x]
        for x in n.get("incidents_without_notice", []):
            p(f"  incident without {'a firing' if not x['fired_at'] else 'a resolved'} notice: {x} "
              f"(apiserver down {rs_})")
    ck = r.get("compare_klinform")
    if ck:
        p(f"klinform cache vs fresh LIST: {'EQUAL' if ck['equal'] else 'DIFFERENT'} ({ck['cache_pods']} cached, "
          f"{ck['list_pods']} listed, {ck['n_missing']} missing, {ck['n_extra']} extra, {ck['n_differ']} differ; "
          f"{ck['n_changed_during_dump']} changed between the LISTs around the dump); klinform STATS {ck['stats']}")
        for d in ck["differ"][:5]:
            p(f"  differs: {d}")
    kk = r.get("compare_kloompas")
    if kk:
        p(f"kloompas vs fresh LIST: {'EQUAL' if kk['equal'] else 'DIFFERENT'}: pods {kk['objects_pods']} / "
          f"{kk['list_pods']}, namespaces {kk['objects_namespaces']} / {kk['list_namespaces']}, crash-loop pods "
          f"{kk['crash_pods']} in {kk['crash_namespaces']} namespaces (counted while {kk.get('crash_moments')}; "
          f"{kk.get('notready_crashing_pods')} not Ready but left to the crash-watcher), "
          f"{kk['notready_namespaces_over_30pct']} namespaces >= 30% not ready (alerts ongoing: "
          f"{kk.get('notready_ongoing')}); per-namespace differences: crash {kk['crash_differ']}, "
          f"ratio {dict(list(kk['ratio_differ'].items())[:5])}")
    if "kloompas_stop" in r:
        p(f"kloompas stop: exit {r['kloompas_stop']['exit_code']} after {r['kloompas_stop']['seconds']} s")
    for name, chk in (r.get("checks") or {}).items():
        p(f"check {name}: {'ok' if chk['ok'] else 'FAILED'} {({k: v for k, v in chk.items() if k != 'ok'})}")
    p(f"result: {'PASS' if r.get('exit') == 0 else 'FAIL' if r.get('exit') == 1 else 'BROKEN'}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", required=True, help="the cluster's DIR/env (up.sh)")
    ap.add_argument("--kloompas", required=True)
    ap.add_argument("--klinform", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--pods", type=int, default=20000, help="as given to make_pods.py")
    ap.add_argument("--namespaces", type=int, default=100, help="as given to make_pods.py")
    ap.add_argument("--rate", type=float, default=25, help="churn operations per second (at most; a replace is two writes)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--restart-every", type=float, default=300, help="seconds between apiserver restarts")
    ap.add_argument("--crash-every", type=float, default=45, help="mean seconds between crash incidents")
    ap.add_argument("--notready-every", type=float, default=90, help="mean seconds between not-ready incidents")
    ap.add_argument("--sample", type=float, default=10, help="seconds between samples")
    ap.add_argument("--window", type=float, default=5, help="minutes of the first and last window")
    ap.add_argument("--rss-bound-mib", type=float, default=2.0, help="allowed growth of the mean RSS")
    ap.add_argument("--seed", type=int, default=8)
    a = ap.parse_args()
    a.cluster = os.path.dirname(os.path.abspath(a.env))
    a.window = min(a.window, a.minutes / 3)
    os.makedirs(a.results, exist_ok=True)

    def on_term(*_):
        raise SystemExit(2)

    signal.signal(signal.SIGTERM, on_term)
    sys.exit(run(a))


if __name__ == "__main__":
    main()
