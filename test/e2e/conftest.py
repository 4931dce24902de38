"""Fixtures for the end-to-end suite: run the real kloompas binary and talk to it.

KLOOMPAS_BIN names the binary (meson sets it). Every process started here is
stopped with SIGTERM at the end of its test and must exit 0: under the sanitizer
build LeakSanitizer turns any leak into a non-zero exit, so every test is also a
leak check of the run it made.

KL_TIMEOUT_FACTOR (default 1) stretches every wait on a process started here (its
port, its exit, a klctl or CLI run): scripts/valgrind.sh sets it, as memcheck makes
kloompas and the test tools tens of times slower.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

BIN = os.environ.get("KLOOMPAS_BIN", "")
TIMEOUT_FACTOR = float(os.environ.get("KL_TIMEOUT_FACTOR", "1") or "1")


def scaled(seconds):
    """A timeout on one of our processes, stretched by KL_TIMEOUT_FACTOR."""
    return seconds * TIMEOUT_FACTOR


def _env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def run_cli(*args, timeout=20):
    """Runs kloompas to completion; returns (exit code, stdout, stderr)."""
    assert BIN, "KLOOMPAS_BIN is not set: run the suite through meson test"
    p = subprocess.run([BIN, *args], capture_output=True, text=True,
                       timeout=scaled(timeout), env=_env())
    return p.returncode, p.stdout, p.stderr


class Kloompas:
    """A running kloompas; .port is the metrics port it bound."""

    def __init__(self, args, tmp_path):
        self.errpath = tmp_path / f"kloompas-{time.monotonic_ns()}.log"
        self.errfile = open(self.errpath, "w+")
        self.proc = subprocess.Popen([BIN, *args], stdout=subprocess.DEVNULL,
                                     stderr=self.errfile, env=_env())
        self.port = self._wait_port("metrics")
        self.chatops_port = None
        if any(a.startswith("--chatops-bind-address") for a in args):
            self.chatops_port = self._wait_port("chatops")

    def log(self):
        if not self.errfile.closed:
            self.errfile.flush()
        return self.errpath.read_text()

    def _wait_port(self, server):
        deadline = time.monotonic() + scaled(20)
        pat = re.compile(r'msg=listening server=%s address=\S+ port=(\d+)' % server)
        jpat = re.compile(r'"msg":"listening","server":"%s","address":"[^"]*","port":"(\d+)"'
                          % server)
        while time.monotonic() < deadline:
            text = self.log()
            m = pat.search(text) or jpat.search(text)
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"kloompas exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError("kloompas did not start listening:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("kloompas did not stop in time:\n" + self.log())
        self.errfile.close()
        return rc


@pytest.fixture
def kloompas(tmp_path):
    """Factory: kloompas(*flags) starts one; all are stopped and must exit 0."""
    started = []

    def start(*args):
        if not any(a.startswith("--kubeconfig") for a in args):
            args = ("--kubeconfig", unreachable_kubeconfig(tmp_path), *args)
        k = Kloompas(["--bind-address=127.0.0.1:0", "--leader-elect=false", *args], tmp_path)
        started.append(k)
        return k

    yield start
    for k in started:
        if not k.errfile.closed:
            rc = k.stop()
            assert rc == 0, f"kloompas exited {rc} at teardown:\n{k.log()}"


def unreachable_kubeconfig(tmp_path):
    """A valid kubeconfig whose API server refuses connections: kloompas runs, retries
    and stays unready. For the tests of everything that needs no cluster."""
    p = tmp_path / "unreachable-kubeconfig"
    p.write_text("""apiVersion: v1
kind: Config
current-context: nowhere
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: nobody
  user: {token: "not-a-real-token"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
""")
    return str(p)


def http(port, raw, timeout=10, read_all=True, host="127.0.0.1"):
    """Sends raw bytes, returns every byte the server sends until it closes."""
    with socket.create_connection((host, port), timeout=scaled(timeout)) as s:
        s.sendall(raw)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
            if not read_all:
                break
        return b"".join(chunks)


def get(port, path, headers=""):
    """One GET with Connection: close; returns (status, headers text, body bytes)."""
    raw = http(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
               .encode())
    return split_response(raw)


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    return status, "\r\n".join(lines[1:]), body


def parse_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ the real control plane

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER_SCRIPTS = os.path.join(REPO, "test", "cluster")
KLCTL = os.environ.get("KLCTL_BIN", "")


class Cluster:
    """A running etcd + kube-apiserver + kube-controller-manager (test/cluster/up.sh)."""

    def __init__(self, path):
        self.dir = path
        self.env = {}
        for line in open(os.path.join(path, "env")):
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                if v[:1] in "'\"" and v[-1:] == v[:1]:
                    v = v[1:-1]
                self.env[k.removeprefix("export ")] = v
        self.kubeconfig = os.path.join(path, "kubeconfig")
        self.url = self.env["APISERVER_URL"]
        import sys
        sys.path.insert(0, CLUSTER_SCRIPTS)
        from kube import Kube
        self.kube = Kube(os.path.join(path, "env"))

    def restart(self, name, what="restart"):
        """Stops and/or starts one process (etcd, kube-apiserver, kube-controller-manager)."""
        subprocess.run(["bash", os.path.join(CLUSTER_SCRIPTS, "restart.sh"), self.dir, name,
                        what], check=True, timeout=120)

    def etcdctl(self, *args):
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run(["etcdctl", "--endpoints", self.env["ETCD_ENDPOINTS"], *args],
                              capture_output=True, text=True, check=True, env=env).stdout


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The local real control plane, started once per test session. If it cannot
    start, every test that needs it fails (never skips)."""
    d = str(tmp_path_factory.mktemp("cluster"))
    up = subprocess.run(["bash", os.path.join(CLUSTER_SCRIPTS, "up.sh"), d],
                        capture_output=True, text=True, timeout=1500)
    if up.returncode != 0:
        pytest.fail("control plane did not start:\n" + up.stdout[-3000:] + up.stderr[-3000:])
    try:
        yield Cluster(d)
    finally:
        subprocess.run(["bash", os.path.join(CLUSTER_SCRIPTS, "down.sh"), d, "--clean"],
                       capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def kubelet(cluster):
    """The kubelet simulator: binds pods, writes their status, serves their logs."""
    import sys
    sys.path.insert(0, CLUSTER_SCRIPTS)
    from kubelet_sim import KubeletSim
    sim = KubeletSim(os.path.join(cluster.dir, "env"))
    sim.start()
    yield sim
    sim.stop()


def sim_crash(kind="crashloop", every="1s"):
    """Annotations for a pod the kubelet simulator crash-loops as a real kubelet does
    (test/cluster/kubelet_sim.py), every step scaled to a 1 s interval: running 1 s,
    terminated, restarted at once after the first exit; after later exits terminated
    1.3 s, then CrashLoopBackOff for 1, 2, 4 ... 30 s, then running again. The first
    CrashLoopBackOff comes 3.4 s after the pod starts. kind: crashloop[:CODE],
    oomkilled or init-crashloop[:CODE]."""
    return {"kloompas.io/sim": kind, "kloompas.io/sim-restart-every": every}


def replace_pod(kube, ns, name):
    """The crashing pod is replaced (a fixed rollout deletes it): the crash-watcher
    counts a container that restarted twice until it has run 10 minutes without
    restarting, or until its pod is gone - the way a test ends a crash loop."""
    kube.delete("pods", name=name, ns=ns)


def klctl(*args, timeout=120, check=False, env=None):
    """Runs test/tools/klctl; returns (exit code, stdout lines, stderr)."""
    assert KLCTL, "KLCTL_BIN is not set: run the suite through meson test"
    e = _env()
    if env:
        e.update(env)
    p = subprocess.run([KLCTL, *args], capture_output=True, text=True, timeout=scaled(timeout),
                       env=e)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p.returncode, p.stdout.splitlines(), p.stderr
