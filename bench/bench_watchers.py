#!/usr/bin/env python3
"""bench/bench_watchers.py - how fast a crash loop becomes a Slack message, and what a burst of
pod updates costs the two watchers, with many pods in the cache (run by bench_watchers.sh).

Why this file: the issue asks for two figures at 50,000 pods - the time from a pod entering
CrashLoopBackOff to its notification leaving (crash-watcher, for: 0s; target under 100 ms plus
the log fetch) and the CPU of a burst of 10,000 pod updates through crash-watcher and
notready-watcher - each against a baseline from the same run, because the machine is shared.
The logic is here (Python stdlib and test/cluster/kube.py); the shell script builds kloompas,
starts and removes the cluster.

Subcommands:
  create   N pods over K namespaces, annotated kloompas.io/sim: pending so that no kubelet
           simulator binds them or writes a status: creation stays fast and only kloompas'
           caches hold them. The pods are bench/make_pods.py's realistic ones (Helm labels,
           owner ReplicaSet, two containers with probes), without a status.
  sim      the kubelet simulator (test/cluster/kubelet_sim.py) for the measurement pods only
           (a label selector on its pod LIST/WATCH), printing, for each crash-loop status it
           writes, the monotonic times just before its PATCH pods/status and when the
           apiserver's answer came back: that answer is the moment the CrashLoopBackOff status
           is accepted, i.e. T0. The measurement pods are annotated kloompas.io/sim: backoff:3,
           the simulator's steady back-off: their first status is CrashLoopBackOff, written once
           (see SIM_CRASH).
  measure  the receiver playing Slack, the simulator, kloompas, then the measurements.

T0 and T1: T0 = the return of the simulator's PATCH pods/status that writes the crash-loop
status (CLOCK_MONOTONIC is one clock for all processes of the machine); T1 = when the
receiver has read the whole Slack POST. The simulator stays the writer because it also serves
the previous container's log through the apiserver's pods/log proxy, as a kubelet does.
A Python watch on the measurement pods records when the apiserver delivered the same
change to a watcher, to split T1 - T0 into "apiserver to watchers" and "kloompas".

measure's phases, one kloompas (log_lines 20) for the first four:
  1. latency as kloompas runs, one new namespace and crash-looping pod per repetition;
  2. the same while a GET /healthz every --poke-ms keeps waking kloompas' loop: a change
     kloompas leaves unevaluated until the loop's next wake-up (README-watchers.md) then
     waits at most that long, so this is the latency without that stall, plus at most
     --poke-ms;
  3. pods/log?previous=true alone (curl, kube.py) and kloompas' own timing of its log GETs
     (the GET request duration histogram: log fetches are its only GETs once started);
  4. the burst: idle CPU and the cost of a /metrics scrape first, then N PATCHes;
  5. (--control) kloompas restarted with log_lines 0, phase 2 again: the path without the
     log fetch, and a second sync.
"""

import argparse
import calendar
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "cluster"))
sys.path.insert(0, HERE)
from kube import PATCH_TYPES, ApiError, Kube  # noqa: E402

MEASURE_LABEL = "kloompas.io/bench-measure"  # the pods the simulator looks after
NS_PREFIX = "bench-"  # make_pods.Plan's namespaces
CLK_TCK = os.sysconf("SC_CLK_TCK")
USER_AGENT = "kloompas-bench/1.0"  # not curl: the apiserver pretty-prints JSON for curl
NOTICE_TIMEOUT = 300  # seconds; a notice can wait for the loop's next wake-up (README-watchers.md)
STALL = 0.5  # a T1 - T0 above this many seconds is a stall, not a slow path
# The measurement pod: the simulator's steady back-off (kubelet_sim.py), whose first status is
# already CrashLoopBackOff (lastState exit 3) and stays so: one write, T0, and a previous log
# that is always there. The real loop (crashloop:3) would first write running and terminated
# states the crash rule does not count (fewer than 2 restarts), then keep writing for the rest
# of the run (noise in the burst's CPU), and its previous log is refused in the gap after
# each exit, so a notice gathered late (finding 1's stalls) could lose its log tail.
SIM_CRASH = "backoff:3"


def log(msg):
    sys.stderr.write(f"bench_watchers: {time.strftime('%H:%M:%S')} {msg}\n")
    sys.stderr.flush()


def ms(seconds):
    return round(seconds * 1000.0, 1)


def stats_ms(values):
    """Median, min, max of seconds, in ms."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": ms(statistics.median(values)), "min": ms(min(values)),
            "max": ms(max(values))}


def proc_cpu(pid):
    """User + system CPU seconds of a process, from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def call(kube, method, path, body=None, ctype=None, tries=5):
    """One API call on this thread's keep-alive connection, retried on 429, 5xx and lost
    connections (a lost reply's create shows as 409 on the retry: that is a success)."""
    for attempt in range(tries):
        try:
            status, reply = kube.request(method, path, body, content_type=ctype)
        except (OSError, http.client.HTTPException):
            if attempt == tries - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
            continue
        if (status == 429 or status >= 500) and attempt < tries - 1:
            time.sleep(0.1 * (attempt + 1))
            continue
        if status == 409 and attempt > 0 and method == "POST":
            return reply
        if status >= 400:
            raise ApiError(method, path, status, reply)
        return reply
    raise AssertionError("unreachable")


def run_pool(items, fn, threads):
    """fn(item) for every item on `threads` threads; returns (seconds, time.monotonic() of the
    last return); raises the first exception after all threads end."""
    lock = threading.Lock()
    it = iter(items)
    errors = []
    last = [0.0]

    def worker():
        while True:
            with lock:
                if errors:
                    return
                try:
                    item = next(it)
                except StopIteration:
                    return
            try:
                fn(item)
            except Exception as e:  # noqa: BLE001 - re-raised by the caller
                with lock:
                    errors.append(e)
                return
            now = time.monotonic()
            with lock:
                last[0] = max(last[0], now)

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return time.monotonic() - t0, last[0]


# --- create -------------------------------------------------------------------------


def plan_of(pods, namespaces):
    import make_pods  # bench/make_pods.py: its realistic pods, reused as they are

    return make_pods.Plan(pods, namespaces)


def cmd_create(args):
    import make_pods

    class PendingKube(make_pods.BenchKube):
        """make_pods' pods, left unbound (kloompas.io/sim: pending)."""

        def pod_manifest(self, ns, name, *a, **kw):
            m = super().pod_manifest(ns, name, *a, **kw)
            m["metadata"]["annotations"]["kloompas.io/sim"] = "pending"
            return m

    kube = PendingKube(args.env, user_agent=USER_AGENT, timeout=120)
    plan = kube.plan = plan_of(args.pods, args.namespaces)
    t_start = time.monotonic()

    def make_ns(ns):
        kube.create_namespace(ns, labels={"team": "shop"}, annotations={"kloompas.io/team": "shop"},
                              timeout=120)

    secs, _ = run_pool(plan.namespaces, make_ns, 16)
    log(f"{len(plan.namespaces)} namespaces in {secs:.1f} s")

    def make_rs(key):
        ns, _ = key
        app = plan.apps[key]
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": app["rs"], "namespace": ns,
                           "labels": {"app.kubernetes.io/name": app["app"]}},
              "spec": {"replicas": 0,
                       "selector": {"matchLabels": {"kloompas.io/bench-owner": app["rs"]}},
                       "template": {"metadata": {"labels": {"kloompas.io/bench-owner": app["rs"]}},
                                    "spec": {"containers": [{"name": "app", "image": "nginx:1.19"}]}}}}
        app["uid"] = call(kube, "POST", kube.path("replicasets", ns), rs)["metadata"]["uid"]

    secs, _ = run_pool(list(plan.apps), make_rs, 16)
    log(f"{len(plan.apps)} owner ReplicaSets in {secs:.1f} s")

    done = [0]
    lock = threading.Lock()

    def make_pod(i):
        ns = plan.pods[i][0]
        body = json.dumps(kube.pod_manifest(ns, f"i{i}")).encode()
        call(kube, "POST", kube.path("pods", ns), body)
        with lock:
            done[0] += 1
            if done[0] % 10000 == 0:
                log(f"created {done[0]}/{args.pods} pods")

    secs, _ = run_pool(range(args.pods), make_pod, args.concurrency)
    total = time.monotonic() - t_start
    log(f"{args.pods} pods in {secs:.1f} s ({args.pods / secs:.0f} pods/s, {args.concurrency} "
        f"connections); {total:.1f} s with namespaces and owners")
    print(json.dumps({"pods": args.pods, "namespaces": len(plan.namespaces), "pod_seconds": round(secs, 2),
                      "pods_per_second": round(args.pods / secs, 1), "total_seconds": round(total, 2)}))


# --- sim ----------------------------------------------------------------------------


def cmd_sim(args):
    import kubelet_sim
    from kubelet_sim import KubeletSim

    # The simulator's HTTP handler writes the headers and the body of a log reply in two
    # send()s; with Nagle's algorithm the body then waits for the apiserver's delayed ACK
    # (40 ms) - a stall of the fixture, not of a kubelet (Go writes both at once). No Nagle.
    if not args.nagle:
        kubelet_sim._Handler.disable_nagle_algorithm = True

    out_lock = threading.Lock()

    def emit(obj):
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    class SimKube(Kube):
        """Kube for the simulator: its pod LIST and WATCH see the measurement pods only, and
        the first crash-loop status PATCH of each pod is timed."""

        def list(self, what, ns=None, label_selector=None, **kw):
            if what == "pods":
                label_selector = label_selector or MEASURE_LABEL
            return super().list(what, ns=ns, label_selector=label_selector, **kw)

        def watch(self, what, ns=None, resource_version=None, timeout_seconds=None, label_selector=None,
                  **kw):
            if what == "pods":
                label_selector = label_selector or MEASURE_LABEL
            return super().watch(what, ns=ns, resource_version=resource_version,
                                 timeout_seconds=timeout_seconds, label_selector=label_selector, **kw)

        def patch(self, what, body, name=None, ns=None, sub=None, type="merge", query=None):
            crash = what == "pods" and sub == "status" and "CrashLoopBackOff" in json.dumps(body)
            t_send = time.monotonic()
            reply = super().patch(what, body, name=name, ns=ns, sub=sub, type=type, query=query)
            t_ack = time.monotonic()
            if crash:
                emit({"ev": "crash", "key": f"{ns}/{name}", "t_send": t_send, "t_ack": t_ack,
                      "rv": reply["metadata"]["resourceVersion"]})
            return reply

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    sim = KubeletSim(args.env, kube=SimKube(args.env, user_agent=USER_AGENT), interval=3600)
    sim.start()
    sim.wait_synced(60)
    emit({"ev": "ready", "port": sim.port})
    while not done.wait(1):
        pass
    sim.stop()


# --- measure: helpers ---------------------------------------------------------------


class Receiver:
    """Plays Slack: records (time.monotonic() once the body is read, path, text) per POST."""

    def __init__(self):
        self.posts = []
        self.cv = threading.Condition()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                t = time.monotonic()
                with rec.cv:
                    rec.posts.append((t, self.path, body.decode("utf-8", "replace")))
                    rec.cv.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, pred, timeout):
        """The first (t, text) of a Slack post whose text satisfies pred."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, path, body in self.posts:
                    if path == "/slack":
                        text = json.loads(body).get("text", "")
                        if pred(text):
                            return t, text
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cv.wait(min(left, 0.5))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def crash_section(text, ns):
    """The firing crash section of a Slack text that names ns, or None."""
    for section in text.split("\n\n"):
        head = section.split("\n", 1)[0]
        if "PODS IN CRASH" in head and not head.startswith("RESOLVED") and f"\n{ns}: " in "\n" + section:
            return section
    return None


class Events:
    """Lines of JSON from a child's stdout, by key, with waiting."""

    def __init__(self, stream):
        self.by_key = {}
        self.ready = None
        self.cv = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                if ev.get("ev") == "ready":
                    self.ready = ev
                else:
                    self.by_key.setdefault(ev.get("key"), ev)
                self.cv.notify_all()

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.5))
            return True


class CrashWatch:
    """A Python watch on the measurement pods: when did the apiserver deliver each pod's
    first CrashLoopBackOff status to a watcher (time.monotonic() on receipt)?"""

    def __init__(self, kube):
        self.kube = kube
        self.seen = {}
        self.stop = threading.Event()
        self.conn = None
        rv = kube.list("pods", label_selector=MEASURE_LABEL).resource_version
        threading.Thread(target=self._run, args=(rv,), daemon=True).start()

    def _keep(self, conn):
        self.conn = conn

    def _run(self, rv):
        while not self.stop.is_set():
            try:
                for typ, obj in self.kube.watch("pods", resource_version=rv, label_selector=MEASURE_LABEL,
                                                timeout_seconds=600, stop=self.stop, on_connect=self._keep):
                    t = time.monotonic()
                    if typ == "ERROR":
                        rv = None
                        break
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if typ not in ("ADDED", "MODIFIED"):
                        continue
                    for cs in (obj.get("status") or {}).get("containerStatuses") or []:
                        if ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                            m = obj["metadata"]
                            self.seen.setdefault(f"{m['namespace']}/{m['name']}", t)
            except Exception:  # noqa: BLE001 - a figure goes missing, no more
                if self.stop.wait(0.5):
                    return

    def close(self):
        self.stop.set()
        c = self.conn
        if c is not None and c.sock is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Kloompas:
    """A running kloompas: its metrics port, /metrics, /readyz, CPU and memory."""

    def __init__(self, binary, args, log_path):
        self.log_path = log_path
        self.logf = open(log_path, "w")
        pdeath = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
        self.t_start = time.monotonic()
        self.wall_start = time.time()
        self.proc = subprocess.Popen(pdeath + [binary] + args, stdout=subprocess.DEVNULL, stderr=self.logf)
        self.pid = self.proc.pid
        self.port = None
        pat = re.compile(r"msg=listening server=metrics address=\S+ port=(\d+)")
        deadline = time.monotonic() + 30
        while self.port is None:
            m = pat.search(self.log())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kloompas did not start ({self.proc.poll()}):\n{self.log()[-3000:]}")
            else:
                time.sleep(0.01)

    def log(self):
        self.logf.flush()
        with open(self.log_path) as f:
            return f.read()

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def metrics(self):
        out = {}
        for line in self.get("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                key, _, val = line.rpartition(" ")
                try:
                    out[key] = float(val)
                except ValueError:
                    pass
        return out

    def wait_ready(self, timeout):
        """Seconds from the start until /readyz answers 200 (polled every 10 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kloompas exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if self.get("/readyz")[0] == 200:
                    return time.monotonic() - self.t_start
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"kloompas not ready after {timeout} s:\n{self.log()[-3000:]}")

    def synced_times(self):
        """resource -> seconds from the start to its 'synced' log line (ms timestamps)."""
        out = {}
        for m in re.finditer(r"time=(\S+) level=info component=informer msg=synced resource=(\S+)", self.log()):
            t = calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
            t += float("0" + m.group(1)[19:-1]) if m.group(1)[19:20] == "." else 0
            out[m.group(2)] = round(t - self.wall_start, 3)
        return out

    def stop(self, timeout=60):
        t = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.logf.close()
        return rc, time.monotonic() - t


def config_text(receiver_url, log_lines):
    return f"""cluster: BENCH
team_annotation: kloompas.io/team
notifiers:
  - name: slack
    type: slack
    url: {receiver_url}/slack
routes:
  - namespaces: ["wbench-m*"]
    notifiers: [slack]
controllers:
  crash-watcher: {{ reasons: [CrashLoopBackOff], for: 0s, repeat_interval: 1h, log_lines: {log_lines} }}
  notready-watcher: {{ threshold_percent: 30, min_pods: 3, min_age: 0s, for: 0s, repeat_interval: 1h }}
"""


def metric(m, name, **labels):
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    return m.get(key)


# --- measure: the phases ------------------------------------------------------------


def start_kloompas(a, env, receiver, log_lines, tag, own_ns):
    cfg = os.path.join(a.results, f"kloompas-{tag}.yaml")
    with open(cfg, "w") as f:
        f.write(config_text(receiver.url, log_lines))
    kl = Kloompas(a.kloompas, ["--kubeconfig", env["KUBECONFIG"], "--config", cfg, "--bind-address=127.0.0.1:0",
                               "--leader-elect=false", "--leader-elect-resource-namespace", own_ns,
                               "--controllers=crash-watcher,notready-watcher"],
                  os.path.join(a.results, f"kloompas-{tag}.log"))
    sync = kl.wait_ready(600)
    m = kl.metrics()
    out = {"log_lines": log_lines, "ready_seconds": round(sync, 3), "synced_at": kl.synced_times(),
           "pods_in_cache": metric(m, "kloompas_informer_objects", resource="pods"),
           "rss_bytes": metric(m, "process_resident_memory_bytes"),
           "peak_rss_bytes": proc_status(kl.pid, "VmHWM"),
           "cpu_seconds_to_ready": metric(m, "process_cpu_seconds_total")}
    log(f"kloompas ({tag}) ready after {sync:.2f} s: {out['pods_in_cache']:.0f} pods cached, "
        f"RSS {out['rss_bytes'] / 2**20:.0f} MiB (peak {out['peak_rss_bytes'] / 2**20:.0f} MiB), "
        f"{out['cpu_seconds_to_ready']:.2f} CPU s")
    return kl, out


def get_requests(kl):
    """(count, seconds) of kloompas' GET requests so far (its log fetches, once started)."""
    m = kl.metrics()
    return (metric(m, "kloompas_apiserver_request_duration_seconds_count", verb="get") or 0.0,
            metric(m, "kloompas_apiserver_request_duration_seconds_sum", verb="get") or 0.0)


def latency(kube, kl, receiver, t0s, watch, namespaces, settle):
    """One crash-looping pod per namespace, one after the other; T1 - T0 of each."""
    reps = []
    for ns in namespaces:
        key = f"{ns}/crash"
        gets0 = get_requests(kl)
        kube.create_pod(ns, "crash", labels={MEASURE_LABEL: "1"},
                        annotations={"kloompas.io/sim": SIM_CRASH})
        t1, text = receiver.wait(lambda txt, ns=ns: crash_section(txt, ns), NOTICE_TIMEOUT)
        if t1 is None:
            raise RuntimeError(f"no crash notice for {ns} within {NOTICE_TIMEOUT} s")
        if not t0s.wait(lambda e, key=key: key in e.by_key, 10):
            raise RuntimeError(f"the simulator reported no crash-loop status for {key}")
        ev = t0s.by_key[key]
        section = crash_section(text, ns)
        r = {"ns": ns, "t1_minus_t0": t1 - ev["t_ack"], "t1_minus_send": t1 - ev["t_send"],
             "patch_rtt": ev["t_ack"] - ev["t_send"], "log_ok": "starting app pod=crash" in section}
        if key in watch.seen:
            r["watch_minus_t0"] = watch.seen[key] - ev["t_ack"]
            r["t1_minus_watch"] = t1 - watch.seen[key]
            r["t1_minus_first"] = t1 - min(watch.seen[key], ev["t_ack"])
        gets1 = get_requests(kl)
        if gets1[0] - gets0[0] == 1:  # kloompas' own timing of its one log fetch
            r["kloompas_log_fetch"] = gets1[1] - gets0[1]
        reps.append(r)
        log(f"{ns}: T1-T0 {ms(r['t1_minus_t0'])} ms (PATCH round trip {ms(r['patch_rtt'])} ms, "
            f"python watch +{ms(r.get('watch_minus_t0', float('nan')))} ms, kloompas' log GET "
            f"{ms(r.get('kloompas_log_fetch', float('nan')))} ms), log tail "
            f"{'in' if r['log_ok'] else 'MISSING from'} the notice")
        time.sleep(settle)
    out = {"reps": reps}
    for k in ("t1_minus_t0", "t1_minus_send", "t1_minus_first", "patch_rtt", "watch_minus_t0", "t1_minus_watch",
              "kloompas_log_fetch"):
        out[k] = stats_ms([r[k] for r in reps if k in r])
    out["log_ok"] = sum(r["log_ok"] for r in reps)
    out["stalls"] = sum(r["t1_minus_t0"] > STALL for r in reps)
    out["t1_minus_t0_no_stalls"] = stats_ms([r["t1_minus_t0"] for r in reps if r["t1_minus_t0"] <= STALL])
    return out


class Poker:
    """GET /healthz every `every` seconds on one keep-alive connection: each request wakes
    kloompas' loop, so a change left unevaluated until the next wake-up (README-watchers.md)
    waits at most that long."""

    def __init__(self, kl, every):
        self.kl, self.every = kl, every
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        conn = None
        while not self.stop.wait(self.every):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.kl.port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                self.count += 1
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def log_baseline(kube, env, ns, pod, lines, n=10):
    """pods/log?previous=true alone: curl (one connection, n transfers) and kube.py."""
    url = (f"{env['APISERVER_URL']}/api/v1/namespaces/{ns}/pods/{pod}/log"
           f"?container=app&previous=true&tailLines={lines}")
    cmd = ["curl", "-sS", "--fail", "-A", USER_AGENT, "--cacert", env["CA_FILE"], "--cert", env["ADMIN_CERT"],
           "--key", env["ADMIN_KEY"], "-w", "%{time_appconnect} %{time_starttransfer} %{time_total}\\n"]
    for _ in range(n):
        cmd += ["-o", "/dev/null", url]
    rows = [list(map(float, line.split())) for line in
            subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split("\n") if line]
    path = url[len(env["APISERVER_URL"]):]
    py = []
    for _ in range(n):
        t = time.monotonic()
        status, _ = kube.request("GET", path)
        py.append(time.monotonic() - t)
        assert status == 200, status
    out = {"curl_first_total": ms(rows[0][2]), "curl_first_after_tls": ms(rows[0][2] - rows[0][0]),
           "curl_reused": stats_ms([r[2] for r in rows[1:]]), "kube_py_keepalive": stats_ms(py[1:])}
    log(f"pods/log baseline: curl {out['curl_reused']['median']} ms on a warm connection "
        f"({out['curl_first_total']} ms with the TLS handshake), kube.py {out['kube_py_keepalive']['median']} ms")
    return out


def burst_targets(plan, count):
    """count (ns, name) spread over the namespaces: pod j of every namespace, then j + 1..."""
    by_ns = {}
    for ns, _, name in plan.pods:
        by_ns.setdefault(ns, []).append(name)
    order, j = [], 0
    longest = max(len(v) for v in by_ns.values())
    while len(order) < count:
        for ns in plan.namespaces:
            names = by_ns.get(ns) or []
            if names and j % longest < len(names):
                order.append((ns, names[j % longest]))
                if len(order) == count:
                    break
        j += 1
    return order


def burst(kube, kl, env, plan, count, threads, run, perf_out=None):
    """Patch count pods (an annotation each: count MODIFIED events) as fast as the apiserver
    takes them; CPU of kloompas, the apiserver, etcd, the controller-manager over the window
    from the first PATCH to kloompas' update counter having grown by count."""
    pids = {"apiserver": int(env["APISERVER_PID"]), "etcd": int(env["ETCD_PID"]),
            "controller-manager": int(env["KCM_PID"])}
    targets = burst_targets(plan, count)
    ev_key = 'kloompas_informer_events_total{resource="pods",type="update"}'
    perf = None
    if perf_out:
        perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,8192", "-p", str(kl.pid),
                                 "-o", perf_out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    m0 = kl.metrics()
    cpu0, ev0 = m0["process_cpu_seconds_total"], m0.get(ev_key, 0.0)
    other0 = {k: proc_cpu(p) for k, p in pids.items()}
    me0 = self_cpu()
    rss0 = m0["process_resident_memory_bytes"]
    t0 = time.monotonic()

    def patch(item):
        i, (ns, name) = item
        body = json.dumps({"metadata": {"annotations": {"kloompas.io/bench": f"{run}-{i}"}}}).encode()
        call(kube, "PATCH", kube.path("pods", ns, name), body, PATCH_TYPES["merge"])

    secs, last_ack = run_pool(list(enumerate(targets)), patch, threads)
    me1 = self_cpu()
    scrapes = 0
    deadline = time.monotonic() + 600
    while True:
        m1 = kl.metrics()
        scrapes += 1
        if m1.get(ev_key, 0.0) >= ev0 + count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    t1 = time.monotonic()
    other1 = {k: proc_cpu(p) for k, p in pids.items()}
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    got = m1.get(ev_key, 0.0) - ev0
    cpu = m1["process_cpu_seconds_total"] - cpu0
    out = {"updates": count, "events_seen": got, "patch_seconds": round(secs, 2),
           "patches_per_second": round(count / secs, 1), "window_seconds": round(t1 - t0, 2),
           "kloompas_done_after_last_patch_ms": ms(t1 - last_ack), "scrapes_in_window": scrapes + 1,
           "kloompas_cpu_seconds": round(cpu, 3), "rss_before": rss0,
           "rss_after": m1["process_resident_memory_bytes"], "patcher_cpu_seconds": round(me1 - me0, 2)}
    for k in pids:
        out[f"{k}_cpu_seconds"] = round(other1[k] - other0[k], 2)
    if got < count:
        log(f"WARNING: only {got:.0f} of {count} updates seen after the deadline")
    return out


def idle_costs(kl, seconds=5.0, scrapes=200):
    """kloompas' CPU while idle (per second) and per /metrics scrape, from /proc."""
    c0 = proc_cpu(kl.pid)
    time.sleep(seconds)
    c1 = proc_cpu(kl.pid)
    for _ in range(scrapes):
        kl.metrics()
    c2 = proc_cpu(kl.pid)
    return {"idle_cpu_per_second": round((c1 - c0) / seconds, 5), "scrape_cpu_ms": round((c2 - c1) / scrapes * 1000, 3)}


def cmd_measure(a):
    env_kube = Kube(a.env, user_agent=USER_AGENT, timeout=120)
    env = dict(env_kube.env)
    env["KUBECONFIG"] = os.path.join(os.path.dirname(os.path.abspath(a.env)), "kubeconfig")
    run = uuid.uuid4().hex[:4]
    plan = plan_of(a.pods, a.namespaces)
    res = {"pods": a.pods, "namespaces": len(plan.namespaces), "run": run, "poke_ms": a.poke_ms}
    procs = []
    receiver = Receiver()
    watch = None
    try:
        own = f"wbench-kl-{run}"
        main_ns = [f"wbench-m{run}-{k:02d}" for k in range(1, a.reps + 1)]
        poke_ns = [f"wbench-m{run}p-{k:02d}" for k in range(1, a.reps + 1)] if a.poke_ms else []
        ctl_ns = [f"wbench-m{run}z-{k:02d}" for k in range(1, a.reps + 1)] if a.control else []

        def make_ns(ns):
            env_kube.create_namespace(ns, annotations={"kloompas.io/team": "@bench"}, timeout=120)

        run_pool([own] + main_ns + poke_ns + ctl_ns, make_ns, 8)

        sim = subprocess.Popen(
            (["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else [])
            + [sys.executable, os.path.abspath(__file__), "sim", "--env", a.env],
            stdout=subprocess.PIPE, stderr=open(os.path.join(a.results, "sim.log"), "w"), text=True)
        procs.append(sim)
        t0s = Events(sim.stdout)
        if not t0s.wait(lambda e: e.ready, 120):
            raise RuntimeError("the kubelet simulator did not start (see sim.log)")
        watch = CrashWatch(env_kube)

        kl, res["start"] = start_kloompas(a, env, receiver, a.log_lines, "main", own)
        procs.append(kl.proc)
        time.sleep(2)  # the sync's aftermath (500 not-ready notices to the log, state writes)
        res["latency"] = latency(env_kube, kl, receiver, t0s, watch, main_ns, a.settle)
        if a.poke_ms:
            log(f"again, with a GET /healthz every {a.poke_ms} ms waking kloompas' loop")
            with Poker(kl, a.poke_ms / 1000) as pk:
                res["latency_poked"] = latency(env_kube, kl, receiver, t0s, watch, poke_ns, a.settle)
            res["latency_poked"]["pokes"] = pk.count
        res["log_fetch"] = log_baseline(env_kube, env, main_ns[0], "crash", a.log_lines)
        res["idle"] = idle_costs(kl)
        b = res["burst"] = burst(env_kube, kl, env, plan, a.burst, a.threads, run)
        net = b["kloompas_cpu_seconds"] - b["scrapes_in_window"] * res["idle"]["scrape_cpu_ms"] / 1000 \
            - b["window_seconds"] * res["idle"]["idle_cpu_per_second"]
        b["kloompas_cpu_seconds_net"] = round(net, 3)
        b["kloompas_cpu_us_per_update"] = round(b["kloompas_cpu_seconds"] / a.burst * 1e6, 1)
        b["kloompas_cpu_us_per_update_net"] = round(net / a.burst * 1e6, 1)
        b["kloompas_per_apiserver_cpu"] = round(b["kloompas_cpu_seconds"] / b["apiserver_cpu_seconds"], 4) \
            if b["apiserver_cpu_seconds"] else None
        log(f"burst of {a.burst} updates: kloompas {b['kloompas_cpu_seconds']} CPU s "
            f"({b['kloompas_cpu_us_per_update']} us/update; net of scrapes and idle "
            f"{b['kloompas_cpu_us_per_update_net']} us), apiserver {b['apiserver_cpu_seconds']} CPU s "
            f"(ratio {b['kloompas_per_apiserver_cpu']}), {b['patches_per_second']} PATCH/s, kloompas done "
            f"{b['kloompas_done_after_last_patch_ms']} ms after the last PATCH")
        if a.perf:
            perf_out = os.path.join(a.results, "perf.data")
            res["burst_perf"] = burst(env_kube, kl, env, plan, a.burst, a.threads, run + "p", perf_out)
            for name, opts in (("self", ["--no-children", "-g", "none"]), ("children", ["--children", "-g", "none"]),
                               ("callers", ["--no-children", "-G", "--percent-limit", "2"])):
                rep = subprocess.run(["perf", "report", "--stdio", "--sort", "symbol", "-i", perf_out] + opts,
                                     capture_output=True, text=True).stdout
                with open(os.path.join(a.results, f"perf-{name}.txt"), "w") as f:
                    f.write(rep)
            log(f"perf profile of a second burst: {a.results}/perf-{{self,children,callers}}.txt")
        rc, stop_s = kl.stop()
        res["stop"] = {"exit_code": rc, "seconds": round(stop_s, 3)}
        procs.remove(kl.proc)

        if a.control:
            kl, res["start_control"] = start_kloompas(a, env, receiver, 0, "control", own)
            procs.append(kl.proc)
            time.sleep(2)
            if a.poke_ms:
                with Poker(kl, a.poke_ms / 1000):
                    res["latency_control"] = latency(env_kube, kl, receiver, t0s, watch, ctl_ns, a.settle)
            else:
                res["latency_control"] = latency(env_kube, kl, receiver, t0s, watch, ctl_ns, a.settle)
            rc, stop_s = kl.stop()
            res["stop_control"] = {"exit_code": rc, "seconds": round(stop_s, 3)}
            procs.remove(kl.proc)
    finally:
        if watch:
            watch.close()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        receiver.close()
    res["list_baseline_seconds"] = a.list_baseline
    if a.create_result and os.path.exists(a.create_result):
        with open(a.create_result) as f:
            res["create"] = json.loads(f.read().strip().splitlines()[-1])
    with open(os.path.join(a.results, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    summary(res)


def summary(r):
    """The figures, as README-watchers.md quotes them."""
    s, lat = r["start"], r["latency"]
    p = print
    p(f"== bench_watchers: {r['pods']} pods over {r['namespaces']} namespaces ==")
    if "create" in r:
        c = r["create"]
        p(f"creation (pending, unbound): {c['pods']} pods in {c['pod_seconds']} s = {c['pods_per_second']} pods/s; "
          f"{c['total_seconds']} s with the namespaces and owner ReplicaSets")
    base = r.get("list_baseline_seconds")
    p(f"ready (informers synced, controllers started): {s['ready_seconds']} s"
      + (f"; curl paginated LIST of all pods {base} s (ratio {s['ready_seconds'] / base:.2f})" if base else "")
      + f"; synced log lines at {s['synced_at']}")
    p(f"memory: RSS {s['rss_bytes'] / 2**20:.1f} MiB after sync, peak {s['peak_rss_bytes'] / 2**20:.1f} MiB; "
      f"CPU to ready {s['cpu_seconds_to_ready']:.2f} s")
    def phase(name, x):
        t, ns = x["t1_minus_t0"], x["t1_minus_t0_no_stalls"]
        p(f"{name}: T1-T0 median {t['median']} ms, max {t['max']} ms, min {t['min']} ms (n={t['n']}, log tail in "
          f"{x['log_ok']}/{t['n']}); stalls over {STALL} s: {x['stalls']}"
          + (f" - without them median {ns['median']} ms, max {ns['max']} ms" if x["stalls"] and ns["n"] else ""))
        p(f"  per rep (ms): {', '.join(str(ms(r['t1_minus_t0'])) for r in x['reps'])}")

    phase(f"crash -> Slack, log_lines {s['log_lines']}", lat)
    p(f"  bounds: from the PATCH's send {lat['t1_minus_send']['median']} ms median (max {lat['t1_minus_send']['max']}); "
      f"from the first sign of acceptance (PATCH answer or Python watch event, whichever came first) "
      f"{lat['t1_minus_first'].get('median')} ms median (max {lat['t1_minus_first'].get('max')})")
    p(f"  PATCH round trip (T0 send->ack) median {lat['patch_rtt']['median']} ms; apiserver->python watch "
      f"median {lat['watch_minus_t0'].get('median')} ms after T0; kloompas' own log GET (its request duration "
      f"histogram) median {lat['kloompas_log_fetch'].get('median')} ms, max {lat['kloompas_log_fetch'].get('max')} ms")
    if "latency_poked" in r:
        lp = r["latency_poked"]
        phase(f"the same, loop woken every {r['poke_ms']} ms by GET /healthz", lp)
        p(f"  kloompas' own log GET median {lp['kloompas_log_fetch'].get('median')} ms, max "
          f"{lp['kloompas_log_fetch'].get('max')} ms; T1 - python watch median {lp['t1_minus_watch'].get('median')} ms")
    if "latency_control" in r:
        c = r["latency_control"]
        phase("log_lines 0 (control, restarted, loop woken likewise)", c)
        ref = r.get("latency_poked", lat)
        p(f"  log fetch share of the median: {ref['t1_minus_t0']['median'] - c['t1_minus_t0']['median']:.1f} ms; "
          f"the control's median less the 50 ms flush window is kloompas' own part. Its restart: ready after "
          f"{r['start_control']['ready_seconds']} s, RSS {r['start_control']['rss_bytes'] / 2**20:.1f} MiB")
    lf = r["log_fetch"]
    p(f"pods/log?previous=true&tailLines alone: curl warm connection median {lf['curl_reused']['median']} ms "
      f"(max {lf['curl_reused']['max']}), first with TLS {lf['curl_first_total']} ms; kube.py keep-alive median "
      f"{lf['kube_py_keepalive']['median']} ms")
    b, idle = r["burst"], r["idle"]
    p(f"burst: {b['updates']} PATCHes at {b['patches_per_second']}/s ({b['patch_seconds']} s), kloompas done "
      f"{b['kloompas_done_after_last_patch_ms']} ms after the last; window {b['window_seconds']} s")
    p(f"  kloompas {b['kloompas_cpu_seconds']} CPU s = {b['kloompas_cpu_us_per_update']} us/update "
      f"(net of {b['scrapes_in_window']} scrapes x {idle['scrape_cpu_ms']} ms and idle "
      f"{idle['idle_cpu_per_second']} s/s: {b['kloompas_cpu_seconds_net']} s = {b['kloompas_cpu_us_per_update_net']} us)")
    p(f"  same window: apiserver {b['apiserver_cpu_seconds']} s (kloompas/apiserver = "
      f"{b['kloompas_per_apiserver_cpu']}), etcd {b['etcd_cpu_seconds']} s, controller-manager "
      f"{b['controller-manager_cpu_seconds']} s, the python patcher {b['patcher_cpu_seconds']} s")
    p(f"  RSS {b['rss_before'] / 2**20:.1f} -> {b['rss_after'] / 2**20:.1f} MiB")
    if "burst_perf" in r:
        bp = r["burst_perf"]
        p(f"  (second burst under perf record: kloompas {bp['kloompas_cpu_seconds']} s, apiserver "
          f"{bp['apiserver_cpu_seconds']} s, {bp['patches_per_second']} PATCH/s)")
    p(f"stop: exit {r['stop']['exit_code']} after {r['stop']['seconds']} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--env", required=True)
    c.add_argument("--pods", type=int, required=True)
    c.add_argument("--namespaces", type=int, default=500)
    c.add_argument("--concurrency", type=int, default=64)
    s = sub.add_parser("sim")
    s.add_argument("--env", required=True)
    s.add_argument("--nagle", action="store_true", help="leave the simulator's sockets as they are")
    m = sub.add_parser("measure")
    m.add_argument("--env", required=True)
    m.add_argument("--kloompas", required=True)
    m.add_argument("--results", required=True, help="a folder for logs and results.json")
    m.add_argument("--pods", type=int, required=True)
    m.add_argument("--namespaces", type=int, default=500)
    m.add_argument("--reps", type=int, default=10)
    m.add_argument("--settle", type=float, default=1.0, help="seconds between repetitions")
    m.add_argument("--log-lines", type=int, default=20)
    m.add_argument("--burst", type=int, default=10000)
    m.add_argument("--threads", type=int, default=64, help="PATCH connections of the burst")
    m.add_argument("--control", action="store_true", help="again with log_lines 0 after a restart")
    m.add_argument("--poke-ms", type=int, default=5,
                   help="repeat the latency with a GET /healthz every N ms (0: no); the control too")
    m.add_argument("--perf", action="store_true", help="profile a second burst with perf record")
    m.add_argument("--list-baseline", type=float, help="seconds of a curl LIST of all pods (for the ratio)")
    m.add_argument("--create-result", help="the JSON line of the create step, for the summary")
    args = ap.parse_args()
    {"create": cmd_create, "sim": cmd_sim, "measure": cmd_measure}[args.cmd](args)


if __name__ == "__main__":
    main()
