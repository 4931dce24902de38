"""Kloompas as users run it: a real kubelet with real containers, and Kloompas deployed
into the cluster from its own image with `kubectl apply -k`.

The cluster is test/cluster/up.sh --real-node: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, and a node run by kubelet 1.20.2 with
Debian's containerd and runc, pods on a local bridge (nothing leaves the machine).
The Kloompas image is built by scripts/image.sh from deploy/Dockerfile and imported
into the node's containerd; deploy/ is applied through the test overlay
test/e2e/realnode (which changes only what this environment forces) plus a
generated overlay for what is known only at run time. Kloompas then runs as two
replicas with the ServiceAccount token the kubelet mounted, and notifies a receiver
listening on the node's bridge address.

What is checked, against real containers (never the simulator):
- Kloompas' pods Running and Ready through the kubelet's own probes, one leader,
  in-cluster config, /metrics reachable from the node, restart count 0 throughout;
- a Deployment whose container prints known lines and exits 3: one crash notice with
  the restart count, `last exit 3` and the previous container's real log; fixing the
  Deployment resolves it once; no not-ready notice for the same problem, no flapping;
- pods failing an exec readiness probe: one not-ready notice, resolved once when
  fixed (through a rollout, where young pods must not cause a false RESOLVED);
- a signed Slack command scales a real Deployment (real pods Running); a temporary
  scale comes back on time;
- the leading Kloompas pod deleted, then `kubectl rollout restart`: the other
  replica leads within lease + retry period, nothing is sent twice;
- the status sequences the kubelet writes for a crash loop, an init container crash
  loop, OOMKilled, an image that is not present (ErrImageNeverPull) and a failed
  readiness probe: what the simulator (test/cluster/kubelet_sim.py) imitates;
- a torn-down node leaves the machine as it found it (iptables, sysctls, mounts,
  links, fixed host paths), and the kubelet connected nowhere but loopback, unix
  sockets and the local bridge.

Run once per CI run (scripts/test.sh), not per build: the image builds its own binary.
"""
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

import chat
from conftest import REPO, CLUSTER_SCRIPTS, Cluster, http, split_response
from receiver import Receiver

OVERLAY = os.path.join(REPO, "test", "e2e", "realnode")
WORKLOAD = "localhost/kloompas/busybox:1"
SECRET = "3c0ffee1b10e8888abcd99yyyzzz85a5"
FOR = 20  # the watchers' `for`, seconds
LEASE, RETRY = 15, 2  # deploy/'s leader election (the SPEC's defaults)


def kubectl(node, *args, input=None, check=True, timeout=180):
    exe = shutil.which("kubectl")
    assert exe, "kubectl is not installed"
    p = subprocess.run([exe, "--kubeconfig", node.kubeconfig, *args], input=input,
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"kubectl {' '.join(args)}:\n{p.stdout}\n{p.stderr}"
    return p


def script(name, *args, timeout=600, check=True):
    p = subprocess.run(["bash", os.path.join(CLUSTER_SCRIPTS, name), *args],
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{name} {' '.join(args)} exited {p.returncode}:\n" \
                                  f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    return p


# ---------------------------------------------------------------- the node and images

class Node(Cluster):
    def __init__(self, path, snapshot):
        super().__init__(path)
        self.snapshot = snapshot
        self.ip = self.env["NODE_IP"]
        self.name = self.env["NODE_NAME"]
        self.down_done = False

    def down(self):
        if not self.down_done:
            self.down_done = True
            script("down.sh", self.dir, "--clean", timeout=180)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A fresh real-node cluster for this module. Started under strace (connect
    calls only) so that the last tests can tell where the kubelet connected."""
    base = tmp_path_factory.mktemp("realnode")
    snap = str(base / "machine-before")
    script("check_clean.sh", "snapshot", snap)
    d = str(base / "cluster")
    env = dict(os.environ, KL_NODE_STRACE="1")
    up = subprocess.run(["bash", os.path.join(CLUSTER_SCRIPTS, "up.sh"), d, "--real-node"],
                        capture_output=True, text=True, timeout=1800, env=env)
    if up.returncode != 0:
        subprocess.run(["bash", os.path.join(CLUSTER_SCRIPTS, "down.sh"), d, "--clean"],
                       capture_output=True, timeout=180)
        pytest.fail("real node did not start:\n" + up.stdout[-3000:] + up.stderr[-5000:])
    n = Node(d, snap)
    try:
        yield n
    finally:
        n.down()


@pytest.fixture(scope="module")
def image(node, tmp_path_factory):
    """The Kloompas image from deploy/Dockerfile, imported into the node."""
    tar = str(tmp_path_factory.mktemp("image") / "kloompas.tar")
    p = subprocess.run(["bash", os.path.join(REPO, "scripts", "image.sh"), "--save", tar],
                       capture_output=True, text=True, timeout=3000)
    assert p.returncode == 0, "scripts/image.sh failed:\n" + p.stderr[-5000:]
    name = p.stdout.strip().splitlines()[-1]
    script("node_import.sh", node.dir, tar)
    return name


# ---------------------------------------------------------------- Kloompas deployed

def kloompas_config(node, receiver):
    return f"""cluster: PRODUCTION
team_annotation: kloompas.io/team
notifiers:
  - name: slack
    type: slack
    url_file: /etc/kloompas/slack-url
  - name: hook
    type: webhook
    url: {receiver.url}/hook
routes:
  - namespaces: ["rn-*"]
    notifiers: [slack, hook]
controllers:
  crash-watcher:    {{ reasons: [CrashLoopBackOff], for: {FOR}s, repeat_interval: 1h, log_lines: 5 }}
  notready-watcher: {{ threshold_percent: 30, min_pods: 2, min_age: {FOR}s, for: {FOR}s, repeat_interval: 1h }}
  replica-enforcer: {{ max_temporary: 1h }}
chatops:
  slack_signing_secret_file: /etc/kloompas/slack-signing-secret
  allow:
    - users: [alex.guerra]
      namespaces: ["rn-*"]
      max_replicas: 5
"""


def write_overlay(node, image, receiver, where):
    """The run-time overlay on top of test/e2e/realnode: the image built here, the API
    server where a pod can reach it (no kube-proxy runs, so the Service address
    10.0.0.1 leads nowhere: the in-cluster config is pointed at the API server's
    address on the node's bridge, through the variables it reads), the config."""
    os.makedirs(where, exist_ok=True)
    name, _, tag = image.rpartition(":")
    port = node.env["APISERVER_PORT"]
    cfg = kloompas_config(node, receiver)
    indented = "".join("          " + line + "\n" for line in cfg.splitlines())
    text = f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {os.path.relpath(OVERLAY, where)}
images:
  - name: kloompas
    newName: {name}
    newTag: "{tag}"
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: kloompas
        namespace: kloompas
      spec:
        template:
          spec:
            containers:
              - name: kloompas
                env:
                  - name: KUBERNETES_SERVICE_HOST
                    value: "{node.ip}"
                  - name: KUBERNETES_SERVICE_PORT
                    value: "{port}"
  - patch: |-
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: kloompas-config
        namespace: kloompas
      data:
        config.yaml: |
{indented}"""
    with open(os.path.join(where, "kustomization.yaml"), "w") as f:
        f.write(text)
    return where


def kl_pods(node):
    return node.kube.list("pods", ns="kloompas",
                          label_selector="app.kubernetes.io/name=kloompas")


def pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def live(pods):
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def lease_holder(node):
    lease = node.kube.get("leases", ns="kloompas", name="kloompas", missing_ok=True)
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or ""


def leader_pod(node):
    """The Kloompas pod holding the Lease (identity = hostname + suffix)."""
    h = lease_holder(node)
    for p in live(kl_pods(node)):
        if h.startswith(p["metadata"]["name"]):
            return p
    return None


def wait_rollout(node, timeout=240):
    kubectl(node, "-n", "kloompas", "rollout", "status", "deployment/kloompas",
            f"--timeout={timeout}s", timeout=timeout + 30)

    def two_ready():
        ps = live(kl_pods(node))
        return len(ps) == 2 and all(pod_ready(p) for p in ps) and ps

    return node.kube.wait_for(two_ready, timeout=timeout, interval=1,
                              message="two Kloompas pods Ready")


class Deployed:
    def __init__(self, node, receiver):
        self.node = node
        self.receiver = receiver
        self.restarts_seen = []  # (pod, container restartCount) over the module
        self.unready_seen = []   # Kloompas pods seen not Ready after they were Ready
        self.stop = threading.Event()
        self.ready_once = set()
        self.thread = threading.Thread(target=self._watch_own, daemon=True)

    def _watch_own(self):
        """Kloompas' own pods throughout: any container restart or a Ready pod that
        turns unready (other than while being deleted) is recorded."""
        while not self.stop.is_set():
            try:
                for p in kl_pods(self.node):
                    name = p["metadata"]["name"]
                    for cs in (p.get("status") or {}).get("containerStatuses") or []:
                        if cs.get("restartCount", 0):
                            self.restarts_seen.append((name, cs["restartCount"]))
                    if pod_ready(p):
                        self.ready_once.add(name)
                    elif name in self.ready_once and not p["metadata"].get("deletionTimestamp"):
                        self.unready_seen.append(name)
            except Exception:  # noqa: BLE001 - a failed poll is retried
                pass
            self.stop.wait(1)


@pytest.fixture(scope="module")
def deployed(node, image, tmp_path_factory):
    receiver = Receiver(host=node.ip)
    where = str(tmp_path_factory.mktemp("overlay"))
    write_overlay(node, image, receiver, where)
    kubectl(node, "apply", "-f", os.path.join(REPO, "deploy", "namespace.yaml"))
    kubectl(node, "-n", "kloompas", "create", "secret", "generic", "kloompas-slack",
            f"--from-literal=url={receiver.url}/slack",
            f"--from-literal=signing-secret={SECRET}")
    kubectl(node, "apply", "-k", where)
    wait_rollout(node)
    d = Deployed(node, receiver)
    d.thread.start()
    try:
        yield d
    finally:
        d.stop.set()
        d.thread.join(10)
        receiver.close()


# ---------------------------------------------------------------- helpers for the tests

def fresh_ns(node, prefix, team="@squad-real"):
    name = f"rn-{prefix}-{uuid.uuid4().hex[:6]}"
    node.kube.create_namespace(name, annotations={"kloompas.io/team": team})
    return name


def workload(node, ns, name, command, replicas=1, readiness=None, grace=1):
    """A Deployment of the busybox workload image running command."""
    c = {"name": "app", "image": WORKLOAD, "imagePullPolicy": "Never", "command": command}
    if readiness:
        c["readinessProbe"] = readiness
    labels = {"app": name}
    return node.kube.create("deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [c],
                                       "terminationGracePeriodSeconds": grace}}}}, ns=ns)


def sections(texts, title, ns, resolved=False):
    out = []
    for t in texts:
        for section in t.split("\n\n"):
            head = section.split("\n", 1)[0]
            if f"{title} on *PRODUCTION*:" in head and head.startswith("RESOLVED") == resolved \
                    and f"\n{ns}: " in "\n" + section:
                out.append(section)
    return out


CRASH = "PODS IN CRASH"
NOTREADY = "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY"


def hook_alerts(receiver, ns, status=None):
    out = []
    for b in receiver.bodies("/hook"):
        for a in json.loads(b)["alerts"]:
            if a["labels"]["namespace"] == ns and (status is None or a["status"] == status):
                out.append(a)
    return out


def http_to(host, port, raw, timeout=30):
    """One raw request to a pod (host = its IP on the bridge) -> (status, headers, body)."""
    return split_response(http(port, raw, timeout=timeout, host=host))


def slash(pod_ip, text):
    """A signed slash command to the Kloompas pod at pod_ip."""
    return chat.slash(8080, text, secret=SECRET, host=pod_ip)


def metrics(pod_ip):
    status, _, body = http_to(pod_ip, 9090, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
    assert status == 200
    return body.decode()


def gauge(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def running_pods(node, ns, selector):
    ps = live(node.kube.list("pods", ns=ns, label_selector=selector))
    return [p for p in ps if (p.get("status") or {}).get("phase") == "Running"
            and all("running" in (cs.get("state") or {})
                    for cs in p["status"].get("containerStatuses") or [{}])]


# ---------------------------------------------------------------- the tests

def test_kloompas_runs_in_the_cluster(node, deployed):
    """Two replicas Running and Ready through the kubelet's probes, exactly one
    leader, in-cluster config with the mounted token, /metrics from the node."""
    pods = live(kl_pods(node))
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    for p in pods:
        assert p["spec"]["nodeName"] == node.name
        c = p["spec"]["containers"][0]
        assert c["image"].startswith("localhost/kloompas")
        # the kubelet mounted the ServiceAccount token: the pod is the kloompas SA
        assert p["spec"]["serviceAccountName"] == "kloompas"
        assert any(m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
                   for m in c.get("volumeMounts") or [])
    leader = node.kube.wait_for(lambda: leader_pod(node), timeout=60, message="a leader")
    leaders = 0
    for p in pods:
        text = metrics(p["status"]["podIP"])
        assert gauge(text, "kloompas_build_info") == 1
        leaders += gauge(text, "kloompas_leader")
        if p["metadata"]["name"] == leader["metadata"]["name"]:
            assert gauge(text, "kloompas_leader") == 1
    assert leaders == 1
    log = kubectl(node, "-n", "kloompas", "logs", leader["metadata"]["name"]).stdout
    assert "kubeconfig=in-cluster" in log, log[-3000:]
    assert f"server=https://{node.ip}:{node.env['APISERVER_PORT']}" in log, log[-3000:]
    assert "403" not in log and "Forbidden" not in log, log[-3000:]


def test_crash_loop_notified_once_with_real_evidence_and_resolved(node, deployed):
    r = deployed.receiver
    ns = fresh_ns(node, "crash", team="@arquitectura")
    workload(node, ns, "api", ["sh", "-c",
             "echo starting api; echo connecting to db; echo fatal: db refused; sleep 2; exit 3"])
    first = r.wait(lambda rr: sections(rr.slack_texts(), CRASH, ns), timeout=180,
                   what="the crash notice")
    sec = first[0]
    assert f"{ns}: (@arquitectura) 1 Pod(s) in CrashLoopBackOff" in sec, sec
    assert "container `app`" in sec and "last exit 3" in sec, sec
    assert "fatal: db refused" in sec, sec  # the previous container's real log
    alert = r.wait(lambda rr: hook_alerts(rr, ns, "firing"), what="the webhook")[0]
    assert alert["labels"]["alertname"] == "KloompasPodCrashLooping"
    # the loop goes on (running, terminated, back-off...): the crash-loop gauge stays at
    # 1 through every moment of it, no second notice, no resolved, and no not-ready
    # notice for the same problem
    leader = node.kube.wait_for(lambda: leader_pod(node), timeout=60, message="a leader")
    series = f'kloompas_namespace_crashloop_pods{{namespace="{ns}"}}'
    seen = set()
    end = time.monotonic() + 2 * FOR + 5
    while time.monotonic() < end:
        seen.add(gauge(metrics(leader["status"]["podIP"]), series))
        time.sleep(1)
    assert seen == {1.0}, seen
    assert len(sections(r.slack_texts(), CRASH, ns)) == 1
    assert not sections(r.slack_texts(), CRASH, ns, resolved=True)
    assert not sections(r.slack_texts(), NOTREADY, ns)
    # fixed: a rollout replaces the pod; resolved, once
    node.kube.patch("deployments", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "command": ["sleep", "3600"]}]}}}}, name="api", ns=ns,
        type="strategic")
    r.wait(lambda rr: sections(rr.slack_texts(), CRASH, ns, resolved=True), timeout=180,
           what="the resolved notice")
    r.wait(lambda rr: hook_alerts(rr, ns, "resolved"), what="the resolved webhook")
    time.sleep(5)
    assert len(sections(r.slack_texts(), CRASH, ns)) == 1
    assert len(sections(r.slack_texts(), CRASH, ns, resolved=True)) == 1
    assert not sections(r.slack_texts(), NOTREADY, ns)


def test_readiness_probe_failure_notified_and_resolved_through_a_rollout(node, deployed):
    r = deployed.receiver
    ns = fresh_ns(node, "ready", team="@squad-merchandise")
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 2,
             "failureThreshold": 1}
    workload(node, ns, "web", ["sleep", "3600"], replicas=3, readiness=probe)
    sec = r.wait(lambda rr: sections(rr.slack_texts(), NOTREADY, ns), timeout=180,
                 what="the not-ready notice")[0]
    assert f"{ns}: (@squad-merchandise)" in sec, sec
    # fixed by a rollout: new pods are young (min_age) while old ones still fail;
    # the alert must not resolve until the namespace really is Ready
    node.kube.patch("deployments", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "readinessProbe": {"exec": {"command": ["true"]}}}]}}}},
        name="web", ns=ns, type="strategic")
    r.wait(lambda rr: sections(rr.slack_texts(), NOTREADY, ns, resolved=True),
           timeout=240, what="the resolved notice")
    ps = live(node.kube.list("pods", ns=ns))
    ready = [p for p in ps if pod_ready(p)]
    # when RESOLVED was sent, the namespace was Ready (no false resolve mid-rollout)
    assert len(ready) >= 3, [p["metadata"]["name"] for p in ps]
    time.sleep(5)
    assert len(sections(r.slack_texts(), NOTREADY, ns)) == 1
    assert len(sections(r.slack_texts(), NOTREADY, ns, resolved=True)) == 1


def test_signed_slack_command_scales_a_real_deployment(node, deployed):
    ns = fresh_ns(node, "scale")
    workload(node, ns, "web", ["sleep", "3600"], replicas=1)
    node.kube.wait_for(lambda: len(running_pods(node, ns, "app=web")) == 1, timeout=120,
                       message="web running")
    leader = node.kube.wait_for(lambda: leader_pod(node), timeout=60, message="a leader")
    ip = leader["status"]["podIP"]
    status, _, body = slash(ip, f"set-replicas {ns} web 3")
    assert status == 200, body
    assert json.loads(body)["response_type"] == "in_channel", body
    node.kube.wait_for(lambda: len(running_pods(node, ns, "app=web")) == 3, timeout=120,
                       message="3 real pods running")
    # a temporary scale comes back on time
    status, _, body = slash(ip, f"set-replicas {ns} web 2 for 15s")
    assert status == 200 and json.loads(body)["response_type"] == "in_channel", body
    node.kube.wait_for(lambda: len(running_pods(node, ns, "app=web")) == 2, timeout=120,
                       message="2 pods during the temporary scale")
    node.kube.wait_for(
        lambda: node.kube.get("deployments", ns=ns, name="web")["spec"]["replicas"] == 3,
        timeout=90, message="the replicas restored to 3")
    node.kube.wait_for(lambda: len(running_pods(node, ns, "app=web")) == 3, timeout=120,
                       message="3 real pods running again")
    # an unsigned command changes nothing
    raw = (f"POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
           f"Connection: close\r\n\r\ntext").encode()
    status, _, _ = http_to(ip, 8080, raw)
    assert status == 401


def firing_crash_ns(node, receiver):
    """A namespace with a crash alert firing (notified once) for the failover tests."""
    ns = fresh_ns(node, "fo")
    workload(node, ns, "api", ["sh", "-c", "echo boom; sleep 1; exit 7"])
    receiver.wait(lambda rr: sections(rr.slack_texts(), CRASH, ns), timeout=180,
                  what="the crash notice")
    receiver.wait(lambda rr: hook_alerts(rr, ns, "firing"), what="the crash webhook")
    return ns


def test_leader_pod_deleted_other_leads_nothing_sent_twice(node, deployed):
    r = deployed.receiver
    ns = firing_crash_ns(node, r)
    before = len(r.requests)
    old = leader_pod(node)
    assert old
    old_name = old["metadata"]["name"]
    t0 = time.monotonic()
    kubectl(node, "-n", "kloompas", "delete", "pod", old_name, "--wait=false")

    def new_leader():
        p = leader_pod(node)
        return p if p and p["metadata"]["name"] != old_name else None

    node.kube.wait_for(new_leader, timeout=LEASE + RETRY + 15, interval=0.5,
                       message="another replica leading")
    took = time.monotonic() - t0
    assert took <= LEASE + RETRY + 5, took  # allowance for the polling and the API
    wait_rollout(node)
    time.sleep(FOR)
    assert len(sections(r.slack_texts(), CRASH, ns)) == 1
    new = [(p, b) for _, p, b in r.requests[before:]
           if ns in b]
    assert not new, new


def test_rollout_restart_nothing_sent_twice(node, deployed):
    r = deployed.receiver
    ns = firing_crash_ns(node, r)
    before = len(r.requests)
    kubectl(node, "-n", "kloompas", "rollout", "restart", "deployment/kloompas")
    wait_rollout(node)
    node.kube.wait_for(lambda: leader_pod(node), timeout=LEASE + RETRY + 15, interval=0.5,
                       message="a leader after the rollout")
    time.sleep(FOR)
    assert len(sections(r.slack_texts(), CRASH, ns)) == 1
    assert not [b for _, p, b in r.requests[before:] if ns in b]
    # and the crash loop is still firing for the new leader: fixing it resolves once
    node.kube.patch("deployments", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "command": ["sleep", "3600"]}]}}}}, name="api", ns=ns,
        type="strategic")
    r.wait(lambda rr: sections(rr.slack_texts(), CRASH, ns, resolved=True), timeout=180,
           what="the resolved notice after the rollout")


def test_kloompas_own_pods_never_restarted_or_unready(node, deployed):
    pods = live(kl_pods(node))
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    assert not deployed.restarts_seen, deployed.restarts_seen
    assert not deployed.unready_seen, deployed.unready_seen


# ---------------------------------------------------------------- what the kubelet writes

def record(node, ns, seconds):
    """Every container status change of every pod in ns for `seconds`."""
    seen = {}
    stop = threading.Event()

    def run():
        for typ, pod in node.kube.watch("pods", ns=ns, timeout_seconds=seconds + 5, stop=stop):
            if typ not in ("ADDED", "MODIFIED") or not pod:
                continue
            st = pod.get("status") or {}
            for key in ("initContainerStatuses", "containerStatuses"):
                for cs in st.get(key) or []:
                    state = cs.get("state") or {}
                    kind = next(iter(state), "none")
                    detail = state.get(kind) or {}
                    last = (cs.get("lastState") or {}).get("terminated") or {}
                    step = (kind, detail.get("reason"), detail.get("exitCode"),
                            cs.get("restartCount"), last.get("exitCode"), last.get("reason"),
                            bool(cs.get("ready")), st.get("phase"),
                            (detail.get("message") or "")[:60])
                    steps = seen.setdefault(f'{pod["metadata"]["name"]}/{cs["name"]}', [])
                    if not steps or steps[-1] != step:
                        steps.append(step)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    stop.set()
    return seen


def test_kubelet_status_sequences(node, deployed):
    """Records what the real kubelet writes, as the simulator must imitate it."""
    ns = fresh_ns(node, "seq")
    k = node.kube
    img = {"image": WORKLOAD, "imagePullPolicy": "Never"}
    spec = {"terminationGracePeriodSeconds": 1}
    rec = {}
    t = threading.Thread(target=lambda: rec.update(record(node, ns, 75)), daemon=True)
    t.start()
    time.sleep(1)
    k.create_pod(ns, "crash", containers=[dict(img, name="app", command=[
        "sh", "-c", "echo hi; sleep 1; exit 3"])], spec=spec)
    k.create_pod(ns, "initcrash", init_containers=[dict(img, name="init", command=[
        "sh", "-c", "echo init; exit 2"])], containers=[dict(img, name="app", command=[
            "sleep", "3600"])], spec=spec)
    k.create_pod(ns, "oom", containers=[dict(img, name="app", command=[
        "dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"],
        resources={"limits": {"memory": "24Mi"}})], spec=spec)
    k.create_pod(ns, "noimage", containers=[{"name": "app", "image": "localhost/absent:1",
                                             "imagePullPolicy": "Never"}], spec=spec)
    k.create_pod(ns, "unready", containers=[dict(img, name="app", command=["sleep", "3600"],
                                                 readinessProbe={"exec": {"command": ["false"]},
                                                                 "periodSeconds": 2})],
                 spec=spec)
    t.join(90)
    out = os.environ.get("KL_REALNODE_SEQUENCES")
    if out:
        with open(out, "w") as f:
            json.dump(rec, f, indent=1)

    crash = rec["crash/app"]
    kinds = [s[0] for s in crash]
    # running, terminated (Error 3), restarted at once, terminated, CrashLoopBackOff
    assert "running" in kinds and "terminated" in kinds and "waiting" in kinds, crash
    assert all(s[7] == "Running" for s in crash if s[0] != "waiting" or s[3] > 0), crash
    term = [s for s in crash if s[0] == "terminated"]
    assert all(s[1] == "Error" and s[2] == 3 for s in term), crash
    back = [s for s in crash if s[0] == "waiting" and s[1] == "CrashLoopBackOff"]
    assert back and back[0][8].startswith("back-off 10s restarting failed container=app"), crash
    assert all(s[4] == 3 for s in back), crash  # lastState.terminated.exitCode
    # restartCount grows when a container starts, never while it is terminated
    for prev, cur in zip(crash, crash[1:]):
        if cur[3] > prev[3]:
            assert cur[0] == "running", (prev, cur)
    # the first exit is restarted at once: the first back-off has restartCount 1
    assert back[0][3] == 1, crash

    init = rec["initcrash/init"]
    assert any(s[0] == "waiting" and s[1] == "CrashLoopBackOff" for s in init), init
    assert all(s[7] == "Pending" for s in init), init
    assert any(s[0] == "terminated" and s[2] == 2 for s in init), init
    app = rec["initcrash/app"]
    assert all(s[0] == "waiting" and s[1] == "PodInitializing" for s in app), app

    oom = rec["oom/app"]
    assert any(s[0] == "terminated" and s[1] == "OOMKilled" and s[2] == 137 for s in oom) or \
        any(s[5] == "OOMKilled" for s in oom), oom

    noimg = rec["noimage/app"]
    assert any(s[0] == "waiting" and s[1] == "ErrImageNeverPull" for s in noimg), noimg
    assert all(s[7] == "Pending" and not s[6] for s in noimg), noimg

    unready = rec["unready/app"]
    assert unready[-1][0] == "running" and not any(s[6] for s in unready), unready


# ---------------------------------------------------------------- leaving the machine as found

def test_kubelet_connected_nowhere_but_loopback_and_the_bridge(node, deployed):
    p = script("check_connect.sh", "--dir", node.dir, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_teardown_leaves_the_machine_as_found(node, deployed):
    deployed.stop.set()
    node.down()
    p = script("check_clean.sh", "compare", node.snapshot, node.dir, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
