#!/usr/bin/env python3
"""test/cluster/kubelet_sim.py - a kubelet simulator for the local control plane of up.sh.

Why this file: up.sh runs etcd, kube-apiserver and kube-controller-manager but no
kubelet (and no scheduler), so pods stay Pending forever and `kubectl logs` has no
node to go to. Kloompas watches pods for crash loops, readiness and so on, and its
tests need pods that really are Running, Ready, crash-looping, initialising or done,
with realistic statuses written by "a kubelet" through the real API, and logs served
through the apiserver's pods/log proxy. This simulator is that kubelet. Python stdlib
only (Debian's python3, no pip), on the small client in kube.py.

What it does, for one Node (default kl-node-1):
- Registers the Node: InternalIP 127.0.0.1, kubeletEndpoint.Port = its HTTPS port,
  Ready True, cpu 32 / memory 128Gi / pods 10000. Every 10 s it renews the Ready
  heartbeat and the kube-node-lease Lease, so the node lifecycle controller never
  taints the node or evicts its pods.
- Serves HTTPS (a self-signed certificate made with openssl at start; the apiserver
  does not verify kubelet certificates here) GET /containerLogs/NS/POD/CONTAINER with
  previous=true, tailLines=N, limitBytes=N and timestamps=true, plus /healthz. The log
  text is deterministic and names the pod, the container and the restart count (see
  log_text()); a missing previous instance is a 400 with kubelet's message.
- LISTs then WATCHes all pods (relisting after errors and 410s). A pod that is not
  bound and not terminating is bound to the node (pods/binding) and then gets a status
  (merge patch on pods/status) by its annotation kloompas.io/sim (default "ready"):
    ready                 Running, all conditions True, containers running and ready
    notready              Running, containers running but not ready
    crashloop[:CODE]      Running, the app containers crash-loop as a real kubelet shows
                          it (below), each run ending with exit CODE (default 1, Error)
    oomkilled             the same loop, each run ending OOMKilled, exit code 137
    backoff[:CODE]        Running, the app containers held in CrashLoopBackOff (message as
                          below), lastState terminated exit CODE (default 1, Error; a
                          container that has just exited keeps its own exit), restartCount
                          as it was but at least 1, Ready False: one status write, no loop.
                          A fixture for benchmarks that need a crash-looping pod to stay
                          put (a kubelet shows this only for the length of a back-off)
    init-crashloop[:CODE] Pending, the first init container crash-loops the same way,
                          the others and the app containers wait in PodInitializing
    imageneverpull        Pending, the app containers waiting ErrImageNeverPull with the
                          kubelet's message (Container image "X" is not present with
                          pull policy of Never), Ready False
    succeeded             Succeeded, containers terminated exit 0 (Completed)
    failed[:CODE]         Failed, containers terminated exit CODE (Error)
    pending               left unbound (a bound pod waits in ContainerCreating)
  Changing the annotation later re-applies the behaviour (restart counts and the last
  terminated state are kept, as a kubelet keeps them).
- The crash loop, after what kubelet 1.20 wrote on this machine for a container that
  runs 5 s and exits (test/e2e/test_real_node.py records it), with every duration a multiple of
  the pod's interval I: kloompas.io/sim-restart-every (e.g. "2s", "500ms", "1m"), else
  --interval (default 5 s). I plays the kubelet's 10 s base back-off.
    running       a new instance (restartCount + 1 unless it is the first: the kubelet
                  counts starts, not exits), Ready True (the app would be ready), for I
    terminated    the instance exits: state.terminated {reason Error (OOMKilled),
                  exitCode, startedAt, finishedAt}, lastState.terminated the same,
                  restartCount unchanged, Ready False. After the first exit the kubelet
                  restarts at once: 0.1 I, then running. After exit n >= 2: 1.3 I (the
                  kubelet's 12-16 s), then
    back-off      waiting CrashLoopBackOff, message `back-off 10s restarting failed
                  container=C pod=P_NS(UID)` (the kubelet's own figure: 10s, 20s, ...
                  5m0s), for I x 2^(n-2), at most 30 I, and at least until 7 s after
                  the exit (a real back-off pause is >= 10 s; Kloompas tells a back-off
                  from a restart at once by it); then running again.
  So with I = 1 s a pod shows its first CrashLoopBackOff 3.4 s after it starts. While
  terminated after exit n >= 2 a previous=true log request fails as the kubelet's does
  (it has already removed the older container: "unable to retrieve container logs for
  containerd://ID"); the terminated instance's own log (previous=false) is served. The
  kubelet resets a back-off after 10 minutes of running; a simulated run is never that
  long. After a restart of the simulator a loop starts over from running.
- A pod of this node with a deletionTimestamp is deleted with gracePeriodSeconds=0
  about --delete-delay (1 s) later, as a kubelet does when its containers have
  stopped, so Deployments and ReplicaSets really scale down.

Design: one watch thread keeps a cache of all pods; every change queues the pod's
ns/name in a work queue (a key is handled by one worker at a time, delays for
restarts, deletions and retries go through the same queue), served by a few worker
threads that compare the wanted behaviour with what they last wrote and only then call
the API. Per pod state (restart counts, container ids, transition times) lives in
memory; after a restart of the simulator it is rebuilt from the pods' statuses.

Library:  sim = KubeletSim(env_path, node="kl-node-1"); sim.start(); ...; sim.stop()
          sim.port, sim.log_requests (paths of the log requests served)
CLI:      python3 test/cluster/kubelet_sim.py --env DIR/env [--node NAME] [--interval 5]
          (runs until SIGTERM or SIGINT)
"""

import argparse
import collections
import copy
import hashlib
import heapq
import http.server
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kube import ApiError, Kube  # noqa: E402

ANNOTATION = "kloompas.io/sim"
RESTART_ANNOTATION = "kloompas.io/sim-restart-every"
KINDS = ("ready", "notready", "crashloop", "oomkilled", "init-crashloop", "imageneverpull",
         "backoff", "succeeded", "failed", "pending")
CRASH_KINDS = ("crashloop", "oomkilled", "init-crashloop")
FIRST_RESTART = 0.1  # x interval: the kubelet restarts a first exit at once
EXIT_GAP = 1.3  # x interval: terminated shown 12-16 s after later exits
MAX_BACKOFF = 30  # x interval: 5 min of the kubelet's 10 s base
# seconds from an exit to the restart after a back-off, at least: a real one is >= 10 s,
# and Kloompas tells a back-off from a restart at once by that pause (6 s, see
# KL_CRASHLOOP_BACKOFF_MIN_S); status times are whole seconds, hence one more
BACKOFF_FLOOR = 7.0
KUBELET_VERSION = "v1.20.2"


# --- small helpers ------------------------------------------------------------------


def rfc3339(t=None):
    """metav1.Time: seconds, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def micro_time(t=None):
    """metav1.MicroTime (Lease renewTime)."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def parse_duration(s):
    """'2s', '500ms', '1m', '1m30s', '1.5' (seconds) -> seconds, or None."""
    s = (s or "").strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    return total if pos == len(s) and pos else None


def backoff_text(restarts):
    """Kubelet's crash back-off: 10 s doubling up to 5 min, Go duration style."""
    secs = min(10 * 2 ** max(restarts - 1, 0), 300)
    m, s = divmod(secs, 60)
    return f"{m}m{s}s" if m else f"{s}s"


def normalize_image(image):
    """What containerd reports: docker.io/library/nginx:latest for nginx."""
    name = image
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    last = name.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        name += ":latest"
    return name


def image_id(image):
    """repo@digest: the image's own digest, or a made-up one from its name."""
    name = normalize_image(image)
    repo, at, digest = name.partition("@")
    if at:
        return name
    repo = repo[: repo.rfind(":")]  # normalize_image() always leaves a tag here
    return repo + "@sha256:" + hashlib.sha256(name.encode()).hexdigest()


def pod_ip(n):
    """The n-th pod IP (n >= 1): 10.244.0.1, ... 10.244.0.250, 10.244.1.1, ..."""
    n -= 1
    return f"10.{244 + n // 64000}.{(n % 64000) // 250}.{n % 250 + 1}"


def pod_ip_seq(ip):
    """The inverse of pod_ip(), 0 for other addresses."""
    try:
        a, b, c, d = (int(x) for x in (ip or "").split("."))
    except ValueError:
        return 0
    if a != 10 or b < 244 or not 1 <= d <= 250:
        return 0
    return (b - 244) * 64000 + c * 250 + d


def log_text(pod, container, kind, restarts=0, exit_code=0, init=False):
    """The deterministic log of one container instance. kind is what it did: ready,
    notready, crash, init-done, succeeded or failed."""
    head = f"starting app pod={pod} container={container} restartCount={restarts}\n"
    if kind == "ready":
        return head + "listening on :8080\nready to serve requests\n"
    if kind == "notready":
        return head + "listening on :8080\nreadiness check failed: waiting for db:5432\n"
    if kind == "crash":
        return head + f"error: connection refused to db:5432\npanic: exit {exit_code}\n"
    if kind == "init-done" or (init and kind == "succeeded"):
        return f"init pod={pod} container={container}\ninit done\n"
    if kind == "succeeded":
        return head + "job done\n"
    if kind == "failed":
        return head + f"error: job failed\nexit {exit_code}\n"
    return head


def same_status(patch, current):
    """Would merge-patching status with patch leave current as it is?"""
    for k, v in patch.items():
        if v is None:
            if current.get(k) is not None:
                return False
        elif current.get(k) != v:
            return False
    return True


class Behaviour(collections.namedtuple("Behaviour", "kind code restart_every")):
    """What a pod's annotations ask for."""

    @classmethod
    def of(cls, pod, default_every, warn=None):
        ann = (pod.get("metadata") or {}).get("annotations") or {}
        raw = (ann.get(ANNOTATION) or "ready").strip().lower()
        kind, _, code = raw.partition(":")
        if kind not in KINDS:
            if warn:
                warn(f"pod {pod['metadata'].get('namespace')}/{pod['metadata'].get('name')}: "
                     f"unknown {ANNOTATION}={raw!r}, using ready")
            kind, code = "ready", ""
        try:
            code = int(code) if code else (1 if kind in ("crashloop", "init-crashloop", "backoff", "failed") else 0)
            if kind == "oomkilled":
                code = 137
        except ValueError:
            code = 1
        every = parse_duration(ann.get(RESTART_ANNOTATION)) or default_every
        return cls(kind, code, max(every, 0.05))


class WorkQueue:
    """Keys to handle, each by one worker at a time (a key added while it is being
    handled is handled again afterwards), plus add_after() for delays."""

    def __init__(self):
        self._cv = threading.Condition()
        self._queue = collections.deque()
        self._queued, self._processing, self._dirty = set(), set(), set()
        self._delayed = []
        self._seq = 0
        self._closed = False

    def _add_locked(self, key):
        if key in self._queued:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        self._queued.add(key)
        self._queue.append(key)
        self._cv.notify()

    def add(self, key):
        with self._cv:
            self._add_locked(key)

    def add_after(self, key, delay):
        with self._cv:
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, key))
            self._cv.notify_all()

    def get(self):
        """The next key (mark it done() after), or None once closed."""
        with self._cv:
            while True:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    self._add_locked(heapq.heappop(self._delayed)[2])
                if self._closed:
                    return None
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cv.wait(wait)

    def done(self, key):
        with self._cv:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add_locked(key)

    def close(self):
        with self._cv:
            self._closed = True
            self._cv.notify_all()


class PodState:
    """What the simulator last wrote for one pod, and what it needs to go on."""

    def __init__(self, uid):
        self.uid = uid
        self.applied = None  # (kind, code) last written
        self.every = None  # restart interval in force
        self.next_restart = None  # monotonic time of the next crash-loop step
        self.loop = None  # the crash loop: {"phase": running|terminated|backoff, "exits": n}
        self.step = None  # seconds from the last crash-loop step to the next
        self.delete_at = None  # monotonic time to finish a deletion
        self.ip = ""
        self.start_time = None
        self.conds = {}  # condition type -> (status, lastTransitionTime)
        self.containers = {}  # name -> dict, see KubeletSim._cstate()


# --- the simulator ------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubelet-sim/1"

    def setup(self):
        # The listening socket does not shake hands in accept() (one slow client
        # would stall the server): each connection does it here, in its own thread.
        self.request.do_handshake()
        super().setup()

    def do_GET(self):
        self.server.sim._serve(self)

    def log_message(self, fmt, *args):
        pass  # _serve() logs the requests it answers (with -v)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        self.sim._debug(f"http: {client_address}: {sys.exc_info()[1]!r}")


class KubeletSim:
    """A simulated kubelet for one node (see the top of this file)."""

    def __init__(self, env_path, node="kl-node-1", interval=5.0, delete_delay=1.0, workers=16,
                 heartbeat=10.0, port=0, verbose=False, log=None, kube=None):
        self.kube = kube or Kube(env_path)
        self.node = node
        self.interval = float(interval)
        self.delete_delay = float(delete_delay)
        self.workers = workers
        self.heartbeat = float(heartbeat)
        self.port = port
        self.verbose = verbose
        self._log = log or self._stderr_log
        self._log_lock = threading.Lock()
        self.log_requests = []
        self._lock = threading.RLock()
        self._pods = {}  # "ns/name" -> pod, from the watch
        self._state = {}  # "ns/name" -> PodState, pods bound to this node
        self._queue = WorkQueue()
        self._stop = threading.Event()
        self._threads = []
        self._watch_conn = None
        self._tmp = None
        self._server = None
        self._ip_seq = 0
        self._node_ready_since = rfc3339()
        self.synced = threading.Event()  # set once the first pod LIST is in

    def _stderr_log(self, msg):
        with self._log_lock:  # one write per line: threads must not interleave
            sys.stderr.write(f"kubelet_sim[{self.node}] {rfc3339()} {msg}\n")
            sys.stderr.flush()

    def _debug(self, msg):
        if self.verbose:
            self._log(msg)

    # --- life cycle ---

    def start(self):
        """Serve HTTPS, register the node, then watch and handle pods in the background."""
        self._start_server()
        self.register_node()
        for target, name in [(self._heartbeat_loop, "heartbeat"), (self._watch_loop, "watch")] + [
            (self._worker, f"worker-{i}") for i in range(self.workers)
        ]:
            t = threading.Thread(target=target, name=f"kubelet-sim-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._log(f"node {self.node} registered, serving https://127.0.0.1:{self.port}")
        return self

    def stop(self, delete_node=False):
        """Stop all threads and the server; with delete_node also delete the Node."""
        self._stop.set()
        self._queue.close()
        conn = self._watch_conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        if delete_node:
            self.kube.delete("nodes", name=self.node)
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def wait_synced(self, timeout=30):
        if not self.synced.wait(timeout):
            raise TimeoutError("kubelet_sim: first pod LIST not done")

    # --- HTTPS server ---

    def _start_server(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kubelet-sim-")
        crt, key = os.path.join(self._tmp.name, "kubelet.crt"), os.path.join(self._tmp.name, "kubelet.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", crt, "-days", "365", "-subj", f"/CN={self.node}",
             "-addext", f"subjectAltName=IP:127.0.0.1,DNS:{self.node},DNS:localhost"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.sim = self
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                              do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        t = threading.Thread(target=self._server.serve_forever, name="kubelet-sim-https", daemon=True)
        t.start()
        self._threads.append(t)

    def _reply(self, h, status, text, ctype="text/plain; charset=utf-8"):
        data = text.encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _serve(self, h):
        u = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(u.query)
        parts = [urllib.parse.unquote(p) for p in u.path.split("/") if p]
        if u.path == "/healthz":
            return self._reply(h, 200, "ok")
        if len(parts) == 4 and parts[0] == "containerLogs":
            with self._lock:
                self.log_requests.append(h.path)
            status, text = self.container_log(parts[1], parts[2], parts[3],
                                              previous=q.get("previous", ["false"])[0] == "true",
                                              tail_lines=q.get("tailLines", [None])[0],
                                              limit_bytes=q.get("limitBytes", [None])[0],
                                              timestamps=q.get("timestamps", ["false"])[0] == "true")
            self._debug(f"GET {h.path} -> {status}")
            return self._reply(h, status, text)
        return self._reply(h, 404, "404 page not found\n")

    def container_log(self, ns, pod_name, container, previous=False, tail_lines=None,
                      limit_bytes=None, timestamps=False):
        """(HTTP status, text) of a log request, as the kubelet would answer it."""
        with self._lock:
            st = self._state.get(f"{ns}/{pod_name}")
            pod = self._pods.get(f"{ns}/{pod_name}")
            cs = copy.deepcopy(st.containers.get(container)) if st else None
        if st is None or pod is None:
            return 404, f'pod "{pod_name}" does not exist\n'
        if cs is None:
            return 404, f'container "{container}" not found in pod "{pod_name}"\n'
        if previous and cs.get("gap") and cs["state"] == "terminated":
            # exited again, not restarted yet: the kubelet removed the older container
            older = (cs.get("older") or {}).get("containerID", "")
            return 400, f"unable to retrieve container logs for {older}"
        if previous:
            if not cs["last"]:
                return 400, f'previous terminated container "{container}" in pod "{pod_name}" not found'
            inst = cs["last"]
        elif cs["state"] in ("running", "terminated"):
            inst = cs["cur"]
        elif cs["state"] == "crashloop" and cs["last"]:
            inst = cs["last"]  # a waiting container shows its last run, as kubelet does
        else:
            return 400, (f'container "{container}" in pod "{pod_name}" is waiting to start: '
                         f'{cs["reason"] or "ContainerCreating"}')
        text = log_text(pod_name, container, inst["kind"], inst["restarts"], inst.get("exitCode", 0))
        lines = text.splitlines(keepends=True)
        if timestamps:
            stamp = inst["startedAt"].replace("Z", ".000000000Z")
            lines = [f"{stamp} {ln}" for ln in lines]
        if tail_lines is not None:
            try:
                n = int(tail_lines)
                lines = lines[-n:] if n > 0 else []
            except ValueError:
                pass
        text = "".join(lines)
        if limit_bytes:
            try:
                text = text.encode()[: int(limit_bytes)].decode("utf-8", "ignore")
            except ValueError:
                pass
        return 200, text

    # --- node ---

    def _node_conditions(self):
        now = rfc3339()
        conds = []
        for ctype, reason, msg in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ):
            conds.append({"type": ctype, "status": "False", "reason": reason, "message": msg,
                          "lastHeartbeatTime": now, "lastTransitionTime": self._node_ready_since})
        conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                      "message": "kubelet is posting ready status (simulated)",
                      "lastHeartbeatTime": now, "lastTransitionTime": self._node_ready_since})
        return conds

    def _node_status(self):
        res = {"cpu": "32", "memory": "128Gi", "pods": "10000", "ephemeral-storage": "100Gi"}
        mid = hashlib.md5(self.node.encode()).hexdigest()
        return {
            "capacity": dict(res),
            "allocatable": dict(res),
            "conditions": self._node_conditions(),
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {"machineID": mid, "systemUUID": mid, "bootID": hashlib.md5(
                f"{self.node}{time.time()}".encode()).hexdigest(),
                "kernelVersion": os.uname().release, "osImage": "Kloompas kubelet simulator",
                "containerRuntimeVersion": "containerd://1.4.13", "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
        }

    def register_node(self):
        """Create the Node, or take an existing one over (new port, Ready again)."""
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node,
                             "labels": {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "kloompas.io/simulated": "true"},
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {}}
        try:
            self.kube.create("nodes", body)
        except ApiError as e:
            if e.status != 409:
                raise
        # Status through the subresource in any case: create may drop it, an existing
        # node has an old port.
        self.kube.patch("nodes", {"status": self._node_status()}, name=self.node, sub="status")
        self._renew_lease()

    def _renew_lease(self):
        """The node's Lease in kube-node-lease, as kubelets keep it (the node lifecycle
        controller takes a renewed lease as a heartbeat too)."""
        try:
            self.kube.patch("leases", {"spec": {"holderIdentity": self.node, "renewTime": micro_time()}},
                            name=self.node, ns="kube-node-lease")
        except ApiError as e:
            if e.status != 404:
                raise
            node = self.kube.get("nodes", name=self.node)
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.node, "namespace": "kube-node-lease",
                                  "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node,
                                                       "uid": node["metadata"]["uid"]}]},
                     "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40,
                              "renewTime": micro_time()}}
            self.kube.create("leases", lease, ns="kube-node-lease")

    def _heartbeat_loop(self):
        while not self._stop.wait(self.heartbeat):
            try:
                self.kube.patch("nodes", {"status": {"conditions": self._node_conditions()}},
                                name=self.node, sub="status", type="strategic")
                self._renew_lease()
            except ApiError as e:
                if e.status == 404:
                    self._log("node was deleted: registering it again")
                    try:
                        self.register_node()
                    except Exception as e2:  # noqa: BLE001 - keep beating
                        self._log(f"register node: {e2}")
                else:
                    self._log(f"heartbeat: {e}")
            except Exception as e:  # noqa: BLE001 - keep beating
                self._log(f"heartbeat: {e}")

    # --- pods: watch ---

    @staticmethod
    def _key(pod):
        m = pod["metadata"]
        return f"{m.get('namespace')}/{m['name']}"

    def _keep_watch_conn(self, conn):
        self._watch_conn = conn

    def _watch_loop(self):
        while not self._stop.is_set():
            try:
                items = self.kube.list("pods", limit=500)
                rv = items.resource_version
                fresh = {self._key(p): p for p in items}
                # Pod IPs go on from the highest one this node has handed out.
                for p in items:
                    if (p.get("spec") or {}).get("nodeName") == self.node:
                        n = pod_ip_seq((p.get("status") or {}).get("podIP"))
                        with self._lock:
                            self._ip_seq = max(self._ip_seq, n)
                with self._lock:
                    gone = set(self._pods) - set(fresh)
                    self._pods = fresh
                for k in list(gone) + list(fresh):
                    self._queue.add(k)
                self.synced.set()
                self._debug(f"listed {len(fresh)} pods at {rv}")
                relist = False
                while not relist and not self._stop.is_set():
                    for typ, obj in self.kube.watch("pods", resource_version=rv, timeout_seconds=300,
                                                    stop=self._stop, on_connect=self._keep_watch_conn):
                        if typ == "ERROR":
                            self._debug(f"watch error {obj.get('code')}: {obj.get('message')}: relist")
                            relist = True
                            break
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if typ == "BOOKMARK":
                            continue
                        k = self._key(obj)
                        with self._lock:
                            if typ == "DELETED":
                                if (self._pods.get(k) or {}).get("metadata", {}).get("uid") == obj["metadata"].get("uid"):
                                    del self._pods[k]
                            else:
                                self._pods[k] = obj
                        self._queue.add(k)
            except Exception as e:  # noqa: BLE001 - relist after any error
                if self._stop.is_set():
                    return
                self._log(f"watch: {e!r}: relisting in 1 s")
                self._stop.wait(1)

    # --- pods: workers ---

    def _worker(self):
        while True:
            key = self._queue.get()
            if key is None:
                return
            try:
                self._reconcile(key)
            except Exception as e:  # noqa: BLE001 - retry the key later
                if not self._stop.is_set():
                    self._log(f"{key}: {e}; retrying in 1 s")
                    self._queue.add_after(key, 1.0)
            finally:
                self._queue.done(key)

    def _reconcile(self, key):
        with self._lock:
            pod = self._pods.get(key)
            st = self._state.get(key)
            if pod is None or (st and st.uid != pod["metadata"]["uid"]):
                self._state.pop(key, None)
                st = None
        if pod is None:
            return
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ns, name, uid = meta.get("namespace"), meta["name"], meta["uid"]
        node = spec.get("nodeName")
        now = time.monotonic()

        if meta.get("deletionTimestamp"):
            if node != self.node:
                return
            st = st or self._adopt(key, pod)
            if st.delete_at is None:
                st.delete_at = now + self.delete_delay
            if now < st.delete_at:
                self._queue.add_after(key, st.delete_at - now)
                return
            try:
                if self.kube.delete("pods", name=name, ns=ns, grace_period_seconds=0, uid=uid) is not None:
                    self._debug(f"{key}: deleted (terminated)")
            except ApiError as e:
                if e.status != 409:  # 409: another pod of that name by now
                    raise
            return

        if node and node != self.node:
            return
        beh = Behaviour.of(pod, self.interval, self._log)
        if not node:
            if beh.kind == "pending":
                return
            binding = {"apiVersion": "v1", "kind": "Binding",
                       "metadata": {"name": name, "namespace": ns, "uid": uid},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": self.node}}
            try:
                self.kube.create("pods", binding, ns=ns, name=name, sub="binding")
            except ApiError as e:
                if e.status in (404, 409):  # gone, or bound meanwhile (the watch will say)
                    self._debug(f"{key}: binding: {e}")
                    return
                raise
            self._debug(f"{key}: bound to {self.node}")
            st = self._adopt(key, pod, scheduled_now=True)
        st = st or self._adopt(key, pod)

        tick = False
        if st.applied == (beh.kind, beh.code):
            if beh.kind in CRASH_KINDS and st.next_restart is not None:
                if st.every != beh.restart_every:
                    st.every = beh.restart_every
                    st.next_restart = min(st.next_restart, now + beh.restart_every)
                if now < st.next_restart:
                    self._queue.add_after(key, st.next_restart - now)
                    return
                tick = True
            else:
                return

        new = copy.deepcopy(st)
        status = self._apply(new, pod, beh, tick)
        wrote = not same_status(status, pod.get("status") or {})
        if wrote:
            try:
                self.kube.patch("pods", {"status": status}, name=name, ns=ns, sub="status")
            except ApiError as e:
                if e.status == 404:
                    return
                raise
        new.applied = (beh.kind, beh.code)
        new.every = beh.restart_every
        if beh.kind in CRASH_KINDS:
            new.next_restart = time.monotonic() + new.step
            self._queue.add_after(key, new.step)
        else:
            new.next_restart = None
            new.loop = None
        with self._lock:
            cur = self._pods.get(key)
            if cur is not None and cur["metadata"]["uid"] == uid:
                self._state[key] = new
        self._debug(f"{key}: status {beh.kind}" + (f" ({new.loop['phase']}, restarts {self._max_restarts(new)})"
                                                   if new.loop else "")
                    + ("" if wrote else " (unchanged)"))

    @staticmethod
    def _max_restarts(st):
        return max((c["restarts"] for c in st.containers.values()), default=0)

    # --- pods: state and status ---

    def _adopt(self, key, pod, scheduled_now=False):
        """A PodState for a pod of this node, from what its status already says."""
        st = PodState(pod["metadata"]["uid"])
        status = pod.get("status") or {}
        st.ip = status.get("podIP") or ""
        if not st.ip:
            with self._lock:
                self._ip_seq += 1
                st.ip = pod_ip(self._ip_seq)
        st.start_time = status.get("startTime") or rfc3339()
        for c in status.get("conditions") or []:
            st.conds[c["type"]] = (c.get("status"), c.get("lastTransitionTime") or rfc3339())
        if scheduled_now or "PodScheduled" not in st.conds:
            st.conds["PodScheduled"] = ("True", rfc3339())
        seen = {c["name"]: c for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])}
        spec = pod.get("spec") or {}
        init_names = {c["name"] for c in spec.get("initContainers") or []}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cs = self._cstate(c)
            old = seen.get(c["name"])
            if old:  # the simulator was restarted: go on from what the status says
                cs["restarts"] = old.get("restartCount", 0)
                term = (old.get("lastState") or {}).get("terminated")
                if term:
                    cs["last"] = dict(term, kind="crash" if term.get("exitCode") else "succeeded",
                                      restarts=cs["restarts"])
                state = old.get("state") or {}
                if "running" in state:
                    cs["state"], cs["reason"] = "running", None
                    cs["cur"] = {"containerID": old.get("containerID", ""), "restarts": cs["restarts"],
                                 "startedAt": state["running"].get("startedAt") or rfc3339(),
                                 "kind": "ready" if old.get("ready") else "notready"}
                elif "terminated" in state:
                    t = state["terminated"]
                    cs["state"], cs["reason"] = "terminated", None
                    done = "init-done" if c["name"] in init_names else "succeeded"
                    cs["cur"] = dict(t, restarts=cs["restarts"], kind="failed" if t.get("exitCode") else done)
                elif (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff" and cs["last"]:
                    cs["state"], cs["reason"] = "crashloop", "CrashLoopBackOff"
            st.containers[c["name"]] = cs
        with self._lock:
            self._state[key] = st
        return st

    @staticmethod
    def _cstate(c):
        """A container's simulated state: state is waiting, running, crashloop or
        terminated; cur the current instance, last the previous terminated one (each
        {containerID, startedAt, kind, restarts, exitCode...})."""
        return {"name": c["name"], "image": c.get("image", ""), "state": "waiting", "reason": "ContainerCreating",
                "message": None, "restarts": 0, "cur": None, "last": None, "older": None, "gap": False, "n": 0}

    def _new_instance(self, uid, cs, kind, ran=0):
        """A new container instance, started ran seconds ago."""
        cs["n"] += 1
        cid = hashlib.sha256(f"{uid}/{cs['name']}/{cs['n']}/{time.time()}".encode()).hexdigest()
        return {"containerID": "containerd://" + cid, "startedAt": rfc3339(time.time() - ran), "kind": kind,
                "restarts": cs["restarts"]}

    def _run(self, uid, cs, kind):
        if cs["state"] != "running":
            cs["cur"] = self._new_instance(uid, cs, kind)
        cs["cur"]["kind"] = kind
        cs["cur"]["restarts"] = cs["restarts"]
        cs["state"], cs["reason"], cs["message"], cs["gap"] = "running", None, None, False

    # --- the crash loop (see the top of this file) ---

    def _loop_start(self, uid, cs):
        """A looping container runs: the current instance if it runs, else a new one
        (a restart, counted, unless the container never ran)."""
        if cs["state"] != "running":
            if cs["cur"] or cs["last"]:
                cs["restarts"] += 1
            cs["cur"] = self._new_instance(uid, cs, "crash")
        cs["cur"].update(kind="crash", restarts=cs["restarts"])
        cs["state"], cs["reason"], cs["message"], cs["gap"] = "running", None, None, False

    def _loop_exit(self, cs, code, exits):
        """The running instance ends: terminated, and lastState says so too."""
        inst = cs["cur"]
        inst.update(kind="crash", restarts=cs["restarts"], exitCode=code,
                    reason="OOMKilled" if code == 137 and cs.get("oom") else "Error",
                    finishedAt=rfc3339())
        cs["older"], cs["last"] = cs["last"], inst
        cs["state"], cs["reason"], cs["gap"] = "terminated", None, exits >= 2

    @staticmethod
    def _loop_backoff(cs):
        cs["state"], cs["reason"], cs["cur"], cs["gap"] = "crashloop", "CrashLoopBackOff", None, False

    def _loop_step(self, st, uid, looping, beh, tick):
        """Moves the looping containers one step (or starts the loop) and sets st.step,
        the seconds to the next step."""
        every, lp = beh.restart_every, st.loop
        for cs in looping:
            cs["oom"] = beh.kind == "oomkilled"
        if lp is None or not tick:
            st.loop = {"phase": "running", "exits": 0}
            for cs in looping:
                self._loop_start(uid, cs)
            st.step = every
        elif lp["phase"] == "running":
            lp["exits"] += 1
            lp["phase"] = "terminated"
            for cs in looping:
                self._loop_exit(cs, beh.code, lp["exits"])
            st.step = every * (FIRST_RESTART if lp["exits"] == 1 else EXIT_GAP)
        elif lp["phase"] == "terminated" and lp["exits"] >= 2:
            lp["phase"] = "backoff"
            for cs in looping:
                self._loop_backoff(cs)
            st.step = max(every * min(2 ** (lp["exits"] - 2), MAX_BACKOFF),
                          BACKOFF_FLOOR - every * EXIT_GAP)
        else:  # restarted: at once after a first exit, else after the back-off
            lp["phase"] = "running"
            for cs in looping:
                self._loop_start(uid, cs)
            st.step = every

    def _terminate(self, uid, cs, kind, code):
        if cs["state"] == "terminated" and cs["cur"] and cs["cur"].get("exitCode") == code:
            return  # done already
        inst = cs["cur"] if cs["state"] == "running" else self._new_instance(uid, cs, kind, ran=1)
        inst.update(kind=kind, restarts=cs["restarts"], exitCode=code,
                    reason="Completed" if code == 0 else "Error", finishedAt=rfc3339())
        cs["cur"] = inst
        cs["state"], cs["reason"], cs["message"], cs["gap"] = "terminated", None, None, False

    def _hold_backoff(self, uid, cs, code):
        """The steady back-off of kind backoff: waiting CrashLoopBackOff after an exit."""
        if cs["state"] == "crashloop" and cs["last"]:
            return  # held already
        cs["restarts"] = max(cs["restarts"], 1)
        if cs["state"] == "running" or not (cs["state"] == "terminated" and cs["last"] is cs["cur"]):
            # no exit of its own to show: the running instance (or a new one) exits now
            inst = cs["cur"] if cs["state"] == "running" else self._new_instance(uid, cs, "crash", ran=1)
            inst.update(kind="crash", restarts=cs["restarts"], exitCode=code, reason="Error",
                        finishedAt=rfc3339())
            cs["older"], cs["last"] = cs["last"], inst
        self._loop_backoff(cs)

    def _wait(self, cs, reason, message=None):
        if cs["state"] == "running" and cs["cur"]:
            cs["last"] = dict(cs["cur"], exitCode=0, reason="Completed", finishedAt=rfc3339())
        cs["state"], cs["reason"], cs["message"], cs["cur"] = "waiting", reason, message, None
        cs["gap"] = False

    def _apply(self, st, pod, beh, tick):
        """Move st's containers to what beh asks for and return the pod status."""
        spec = pod.get("spec") or {}
        uid = st.uid
        inits = [c["name"] for c in spec.get("initContainers") or []]
        apps = [c["name"] for c in spec.get("containers") or []]
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            st.containers.setdefault(c["name"], self._cstate(c))
        kind = beh.kind
        if kind == "init-crashloop" and not inits:
            kind = "crashloop"  # nothing to initialise: the app containers crash instead
        if kind in ("crashloop", "oomkilled"):
            looping = [st.containers[n] for n in apps]
        elif kind == "init-crashloop":
            looping = [st.containers[inits[0]]]
        else:
            looping = []
        if looping:
            self._loop_step(st, uid, looping, beh, tick and st.applied == (beh.kind, beh.code))

        # Init containers: completed, except for init-crashloop and pending.
        for i, n in enumerate(inits):
            cs = st.containers[n]
            if kind == "init-crashloop" and i == 0:
                pass  # looping
            elif kind in ("init-crashloop", "pending"):
                if cs["state"] != "terminated":
                    self._wait(cs, "PodInitializing")
            else:
                self._terminate(uid, cs, "init-done", 0)

        for n in apps:
            cs = st.containers[n]
            if kind in ("ready", "notready"):
                self._run(uid, cs, kind)
            elif kind in ("crashloop", "oomkilled"):
                pass  # looping
            elif kind == "backoff":
                self._hold_backoff(uid, cs, beh.code)
            elif kind == "imageneverpull":
                self._wait(cs, "ErrImageNeverPull",
                           f'Container image "{cs["image"]}" is not present with pull policy of Never')
            elif kind == "succeeded":
                self._terminate(uid, cs, "succeeded", 0)
            elif kind == "failed":
                self._terminate(uid, cs, "failed", beh.code)
            else:  # init-crashloop, pending
                self._wait(cs, "PodInitializing" if inits else "ContainerCreating")

        phase = {"ready": "Running", "notready": "Running", "crashloop": "Running", "oomkilled": "Running",
                 "backoff": "Running", "succeeded": "Succeeded", "failed": "Failed"}.get(kind, "Pending")
        # a looping app container is ready while it runs (Ready flips with every run)
        ready_apps = {n for n in apps if kind == "ready" or
                      (kind in ("crashloop", "oomkilled") and st.containers[n]["state"] == "running")}
        unready = [n for n in apps if n not in ready_apps]
        if kind in ("succeeded", "failed"):
            conds = {"Initialized": ("True", "PodCompleted", None),
                     "Ready": ("False", "PodCompleted", None),
                     "ContainersReady": ("False", "PodCompleted", None)}
        else:
            init_ok = kind not in ("init-crashloop",) and not (kind == "pending" and inits)
            msg = f"containers with unready status: [{' '.join(unready)}]"
            conds = {"Initialized": ("True", None, None) if init_ok else
                     ("False", "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(inits)}]"),
                     "Ready": ("True", None, None) if not unready else ("False", "ContainersNotReady", msg),
                     "ContainersReady": ("True", None, None) if not unready else ("False", "ContainersNotReady", msg)}
        conds["PodScheduled"] = ("True", None, None)
        conditions = []
        for ctype in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
            status, reason, message = conds[ctype]
            prev = st.conds.get(ctype)
            since = prev[1] if prev and prev[0] == status else rfc3339()
            st.conds[ctype] = (status, since)
            c = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            conditions.append(c)

        ns, name = pod["metadata"].get("namespace"), pod["metadata"]["name"]
        status = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "podIP": st.ip,
            "podIPs": [{"ip": st.ip}],
            "startTime": st.start_time,
            "containerStatuses": [self._container_status(st.containers[n], n in ready_apps, ns, name, uid)
                                  for n in apps],
            # an init container is ready once it completed, never while it runs
            "initContainerStatuses": [self._container_status(st.containers[n], st.containers[n]["state"] != "running",
                                                             ns, name, uid)
                                      for n in inits] or None,
            "message": None,
            "reason": None,
            "nominatedNodeName": None,
        }
        return status

    def _container_status(self, cs, ready, ns, pod_name, uid):
        image = cs["image"]
        out = {"name": cs["name"], "image": normalize_image(image), "imageID": "",
               "ready": False, "restartCount": cs["restarts"], "started": False,
               "lastState": {}}
        last = cs["last"]
        if last:
            out["lastState"] = {"terminated": {k: last[k] for k in
                                               ("exitCode", "reason", "startedAt", "finishedAt", "containerID")}}
        state = cs["state"]
        if state == "running":
            out.update(ready=ready, started=True, imageID=image_id(image), containerID=cs["cur"]["containerID"],
                       state={"running": {"startedAt": cs["cur"]["startedAt"]}})
        elif state == "terminated":
            cur = cs["cur"]
            out.update(ready=ready and cur["exitCode"] == 0,
                       imageID=image_id(image), containerID=cur["containerID"],
                       state={"terminated": {k: cur[k] for k in
                                             ("exitCode", "reason", "startedAt", "finishedAt", "containerID")}})
        elif state == "crashloop":
            msg = (f"back-off {backoff_text(cs['restarts'])} restarting failed container={cs['name']} "
                   f"pod={pod_name}_{ns}({uid})")
            out.update(imageID=image_id(image), containerID=last["containerID"],
                       state={"waiting": {"reason": "CrashLoopBackOff", "message": msg}})
        else:
            waiting = {"reason": cs["reason"] or "ContainerCreating"}
            if cs.get("message"):
                waiting["message"] = cs["message"]
            out["state"] = {"waiting": waiting}
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulated kubelet for the up.sh control plane.")
    ap.add_argument("--env", required=True, help="cluster DIR, DIR/env or a kubeconfig")
    ap.add_argument("--node", default="kl-node-1")
    ap.add_argument("--interval", type=float, default=5.0, help="crash-loop restart interval, seconds")
    ap.add_argument("--delete-delay", type=float, default=1.0, help="seconds before a terminating pod goes")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--port", type=int, default=0, help="HTTPS port (default: a free one)")
    ap.add_argument("--delete-node", action="store_true", help="delete the Node on exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    sim = KubeletSim(args.env, node=args.node, interval=args.interval, delete_delay=args.delete_delay,
                     workers=args.workers, port=args.port, verbose=args.verbose)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    sim.start()
    while not done.wait(1):
        pass
    sim._log("stopping")
    sim.stop(delete_node=args.delete_node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
