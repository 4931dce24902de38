"""crash-watcher and notready-watcher end to end: the real control plane, the
kubelet simulator playing crash loops and unready pods, kloompas itself, and a
local receiver playing Slack and a webhook consumer (and a real Alertmanager).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def fresh_ns(cluster, team="@squad-test"):
    name = "w-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name, annotations={"kloompas.io/team": team})
    return name


def flow(d):
    return "{ " + ", ".join(f"{k}: {v}" for k, v in d.items()) + " }"


def config(tmp_path, receiver, ns, crash=None, notready=None, extra_notifiers="",
           route_to=None):
    """A config whose routes send ns to the receiver (and the rest of the cluster,
    where other tests leave crash loops, to the log only)."""
    route_to = route_to or ["slack", "hook"]
    cw = {"reasons": "[CrashLoopBackOff]", "for": "0s", "repeat_interval": "1h",
          "log_lines": 5, **(crash or {})}
    nw = {"threshold_percent": 30, "min_pods": 3, "min_age": "0s", "for": "0s",
          "repeat_interval": "1h", **(notready or {})}
    text = f"""cluster: PRODUCTION
team_annotation: kloompas.io/team
notifiers:
  - name: slack
    type: slack
    url: {receiver.url}/slack
  - name: hook
    type: webhook
    url: {receiver.url}/hook
{extra_notifiers}
routes:
  - namespaces: ["{ns}"]
    notifiers: [{", ".join(route_to)}]
controllers:
  crash-watcher: {flow(cw)}
  notready-watcher: {flow(nw)}
"""
    p = tmp_path / f"kloompas-{uuid.uuid4().hex[:6]}.yaml"
    p.write_text(text)
    return str(p)


def start(kloompas, cluster, cfg, own_ns, *extra):
    return kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
                    "--leader-elect-resource-namespace", own_ns,
                    "--controllers=crash-watcher,notready-watcher", *extra)


def crash_lines(texts, ns, resolved=False):
    """Slack texts that announce (or resolve) ns in the crash section."""
    out = []
    for t in texts:
        for section in t.split("\n\n"):
            head = section.split("\n", 1)[0]
            is_resolved = head.startswith("RESOLVED")
            if "PODS IN CRASH on *PRODUCTION*:" in head and is_resolved == resolved and \
                    f"\n{ns}: " in "\n" + section:
                out.append(section)
    return out


def test_crash_notified_with_evidence_repeated_and_resolved(cluster, kubelet, kloompas,
                                                           receiver, tmp_path):
    ns = fresh_ns(cluster, team="@arquitectura")
    own = fresh_ns(cluster)
    k = cluster.kube
    k.create_pod(ns, "api-1", annotations={"kloompas.io/sim": "crashloop:3"})
    k.create_pod(ns, "web-1")
    cfg = config(tmp_path, receiver, ns, crash={"repeat_interval": "4s"})
    kl = start(kloompas, cluster, cfg, own)
    first = receiver.wait(lambda r: crash_lines(r.slack_texts(), ns), what="the crash notice")
    sec = first[0]
    assert f"{ns}: (@arquitectura) 1 Pod(s) in CrashLoopBackOff" in sec
    assert "api-1" in sec and "last exit 3" in sec
    assert "starting app pod=api-1" in sec  # the previous instance's log tail
    def hook_alerts(r, status):
        return [a for b in r.bodies("/hook") for a in json.loads(b)["alerts"]
                if a["labels"]["namespace"] == ns and a["status"] == status]

    alert = receiver.wait(lambda r: hook_alerts(r, "firing"), what="the webhook")[0]
    assert alert["labels"] == {"alertname": "KloompasPodCrashLooping", "cluster": "PRODUCTION",
                               "namespace": ns, "team": "@arquitectura",
                               "controller": "crash-watcher"}
    # once, then again after repeat_interval (4 s), not more often
    time.sleep(2)
    assert len(crash_lines(receiver.slack_texts(), ns)) == 1
    receiver.wait(lambda r: len(crash_lines(r.slack_texts(), ns)) >= 2, timeout=20,
                  what="the repeat")
    # the pod recovers: resolved, once
    k.patch("pods", {"metadata": {"annotations": {"kloompas.io/sim": "ready"}}},
            name="api-1", ns=ns)
    res = receiver.wait(lambda r: crash_lines(r.slack_texts(), ns, resolved=True),
                        what="the resolved notice")
    assert res[0].startswith("RESOLVED — PODS IN CRASH on *PRODUCTION*:")
    resolved = receiver.wait(lambda r: hook_alerts(r, "resolved"), what="resolved webhook")
    assert resolved[0]["endsAt"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                               time.gmtime(time.time() + 1))
    time.sleep(2)
    assert len(crash_lines(receiver.slack_texts(), ns, resolved=True)) == 1
    body = __import__("conftest").get(kl.port, "/metrics")[2].decode()
    assert 'kloompas_notifications_total{notifier="slack",result="success"}' in body


def notready_sections(texts, ns, resolved=False):
    out = []
    for t in texts:
        for section in t.split("\n\n"):
            head = section.split("\n", 1)[0]
            if "NAMESPACES WITH HIGH NUMBER OF PODS NOT READY on *PRODUCTION*:" in head and \
                    head.startswith("RESOLVED") == resolved and f"\n{ns}: " in "\n" + section:
                out.append(section)
    return out


def test_notready_fires_and_resolves(cluster, kubelet, kloompas, receiver, tmp_path):
    ns = fresh_ns(cluster, team="@squad-merchandise")
    own = fresh_ns(cluster)
    k = cluster.kube
    k.create_pod(ns, "a", annotations={"kloompas.io/sim": "notready"})
    k.create_pod(ns, "b", annotations={"kloompas.io/sim": "notready"})
    k.create_pod(ns, "c")
    kl = start(kloompas, cluster, config(tmp_path, receiver, ns), own)
    sec = receiver.wait(lambda r: notready_sections(r.slack_texts(), ns),
                        what="the not-ready notice")[0]
    assert f"{ns}: (@squad-merchandise) 66 % of pods Not Ready" in sec
    body = __import__("conftest").get(kl.port, "/metrics")[2].decode()
    ratio = [l for l in body.splitlines()
             if l.startswith(f'kloompas_namespace_notready_ratio{{namespace="{ns}"}}')]
    assert ratio and abs(float(ratio[0].split()[1]) - 2 / 3) < 0.01
    for name in ("a", "b"):
        k.patch("pods", {"metadata": {"annotations": {"kloompas.io/sim": "ready"}}},
                name=name, ns=ns)
    receiver.wait(lambda r: notready_sections(r.slack_texts(), ns, resolved=True),
                  what="the resolved not-ready notice")


def test_young_and_terminating_pods_do_not_count(cluster, kubelet, kloompas, receiver,
                                                  tmp_path):
    young = fresh_ns(cluster)
    term = fresh_ns(cluster)
    own = fresh_ns(cluster)
    k = cluster.kube
    for i in range(3):
        k.create_pod(young, f"y{i}", annotations={"kloompas.io/sim": "notready"})
    # terminating pods: a finalizer keeps them, with deletionTimestamp set
    for i in range(3):
        k.create_pod(term, f"t{i}", annotations={"kloompas.io/sim": "notready"})
    k.create_pod(term, "ok1")
    k.wait_for(lambda: all(p["status"].get("phase") == "Running"
                           for p in k.list("pods", ns=term)), timeout=60)
    for i in range(3):
        k.patch("pods", {"metadata": {"finalizers": ["kloompas.io/test"]}}, name=f"t{i}", ns=term)
        k.delete("pods", name=f"t{i}", ns=term)
    text = config(tmp_path, receiver, f"{young}", notready={"min_age": "1h"})
    text_path = text
    # route both namespaces to the receiver
    content = open(text_path).read().replace(f'namespaces: ["{young}"]',
                                             f'namespaces: ["{young}", "{term}"]')
    open(text_path, "w").write(content)
    kl = start(kloompas, cluster, text_path, own)
    time.sleep(4)
    assert not notready_sections(receiver.slack_texts(), young)
    assert not notready_sections(receiver.slack_texts(), term)
    body = __import__("conftest").get(kl.port, "/metrics")[2].decode()
    # too young to start an alert: the gauge is the share the condition used, 0
    assert f'kloompas_namespace_notready_ratio{{namespace="{young}"}} 0\n' in body
    assert f'kloompas_namespace_notready_ratio{{namespace="{term}"}} 0\n' in body  # 1 live pod
    for i in range(3):
        k.patch("pods", {"metadata": {"finalizers": None}}, name=f"t{i}", ns=term)


def test_receiver_down_for_a_while_loses_nothing(cluster, kubelet, kloompas, receiver,
                                                 tmp_path):
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    receiver.fail_until = time.time() + 6
    cluster.kube.create_pod(ns, "boom", annotations={"kloompas.io/sim": "crashloop"})
    start(kloompas, cluster, config(tmp_path, receiver, ns), own)
    receiver.wait(lambda r: crash_lines(r.slack_texts(), ns), timeout=90,
                  what="the notice after the receiver came back")
    assert receiver.failed >= 1
    time.sleep(1)
    assert len(crash_lines(receiver.slack_texts(), ns)) == 1  # delivered once, not twice


def test_restart_while_firing_does_not_resend(cluster, kubelet, kloompas, receiver, tmp_path):
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    cluster.kube.create_pod(ns, "boom", annotations={"kloompas.io/sim": "crashloop"})
    cfg = config(tmp_path, receiver, ns)
    kl = start(kloompas, cluster, cfg, own)
    receiver.wait(lambda r: crash_lines(r.slack_texts(), ns), what="the first notice")
    time.sleep(2.5)  # the state write is batched (1 s)
    assert kl.stop() == 0
    cm = cluster.kube.get("configmaps", name="kloompas-state", ns=own)
    rec = json.loads(cm["data"][f"crash-watcher.{ns}"])
    assert rec["state"] == "firing" and rec["notified"] == "firing"
    kl2 = start(kloompas, cluster, cfg, own)
    time.sleep(4)
    assert len(crash_lines(receiver.slack_texts(), ns)) == 1, "re-sent after a restart"
    assert "restored alert state" in kl2.log()


def test_dry_run_sends_nothing(cluster, kubelet, kloompas, receiver, tmp_path):
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    cluster.kube.create_pod(ns, "boom", annotations={"kloompas.io/sim": "crashloop"})
    kl = start(kloompas, cluster, config(tmp_path, receiver, ns), own, "--dry-run")
    deadline = time.monotonic() + 30
    while "would notify" not in kl.log():
        assert time.monotonic() < deadline, kl.log()
        time.sleep(0.2)
    assert receiver.requests == []
    assert receiver.url not in kl.log()
    time.sleep(1.5)
    assert cluster.kube.get("configmaps", name="kloompas-state", ns=own, missing_ok=True) is None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_real_alertmanager_receives_the_alerts(cluster, kubelet, kloompas, receiver, tmp_path):
    am = shutil.which("prometheus-alertmanager")
    assert am, "Debian's prometheus-alertmanager must be installed (scripts/deps.sh)"
    port = free_port()
    (tmp_path / "am.yml").write_text(
        "route: {receiver: hook, group_wait: 1s}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: '{receiver.url}/am-out'}}]}}]\n")
    p = subprocess.Popen([am, f"--config.file={tmp_path / 'am.yml'}",
                          f"--storage.path={tmp_path / 'am-data'}",
                          f"--web.listen-address=127.0.0.1:{port}",
                          "--cluster.listen-address="],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.3)
        ns = fresh_ns(cluster, team="@sre")
        own = fresh_ns(cluster)
        cluster.kube.create_pod(ns, "boom", annotations={"kloompas.io/sim": "crashloop"})
        extra = f"""  - name: am
    type: alertmanager
    url: http://127.0.0.1:{port}"""
        cfg = config(tmp_path, receiver, ns, extra_notifiers=extra, route_to=["am"])
        start(kloompas, cluster, cfg, own)
        deadline = time.monotonic() + 60
        while True:
            alerts = json.load(urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5))
            mine = [a for a in alerts if a["labels"].get("namespace") == ns]
            if mine:
                break
            assert time.monotonic() < deadline, alerts
            time.sleep(0.5)
        assert mine[0]["labels"]["alertname"] == "KloompasPodCrashLooping"
        assert mine[0]["labels"]["team"] == "@sre"
        assert mine[0]["status"]["state"] == "active"
        # and Alertmanager routes it on to its own receiver
        receiver.wait(lambda r: any(ns in b for b in r.bodies("/am-out")), timeout=30,
                      what="Alertmanager's own webhook")
    finally:
        p.terminate()
        p.wait(timeout=10)
