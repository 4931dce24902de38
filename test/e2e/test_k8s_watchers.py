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

from conftest import replace_pod, sim_crash
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


def pod_restarts(k, ns, name):
    st = k.get("pods", name=name, ns=ns)["status"]
    return max((c.get("restartCount", 0) for c in st.get("containerStatuses") or []), default=0)


def pod_ready(k, ns, name):
    st = k.get("pods", name=name, ns=ns)["status"]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])


def metric_value(kl, name, ns):
    """The value of name{namespace="ns"} at kl's /metrics, or None without that series."""
    body = __import__("conftest").get(kl.port, "/metrics")[2].decode()
    for line in body.splitlines():
        if line.startswith(f'{name}{{namespace="{ns}"}} '):
            return float(line.split()[1])
    return None


def crash_gauge(kl, ns):
    return metric_value(kl, "kloompas_namespace_crashloop_pods", ns)


def test_crash_notified_with_evidence_repeated_and_resolved(cluster, kubelet, kloompas,
                                                           receiver, tmp_path):
    ns = fresh_ns(cluster, team="@arquitectura")
    own = fresh_ns(cluster)
    k = cluster.kube
    k.create_pod(ns, "api-1", annotations=sim_crash("crashloop:3"))
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
    # the container runs on without crashing: having restarted twice it stays counted
    # (until it has run 10 minutes), so nothing resolves yet
    # (caught running out of a back-off: restarted twice, the last one after a pause)
    def running_after_backoff():
        st = k.get("pods", name="api-1", ns=ns)["status"]
        return any(c.get("restartCount", 0) >= 2 and "running" in (c.get("state") or {})
                   for c in st.get("containerStatuses") or [])

    k.wait_for(running_after_backoff, timeout=40, interval=0.1)
    k.patch("pods", {"metadata": {"annotations": {"kloompas.io/sim": "ready"}}},
            name="api-1", ns=ns)
    k.wait_for(lambda: pod_ready(k, ns, "api-1"), timeout=30)
    time.sleep(3)
    assert not crash_lines(receiver.slack_texts(), ns, resolved=True)
    assert crash_gauge(kl, ns) == 1
    # the pod is replaced (a fixed rollout): resolved, once
    replace_pod(k, ns, "api-1")
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
    cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
    start(kloompas, cluster, config(tmp_path, receiver, ns), own)
    receiver.wait(lambda r: crash_lines(r.slack_texts(), ns), timeout=90,
                  what="the notice after the receiver came back")
    assert receiver.failed >= 1
    time.sleep(1)
    assert len(crash_lines(receiver.slack_texts(), ns)) == 1  # delivered once, not twice


def test_restart_while_firing_does_not_resend(cluster, kubelet, kloompas, receiver, tmp_path):
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
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


def test_restart_while_firing_keeps_alertmanager_posted(cluster, kubelet, kloompas, receiver,
                                                        tmp_path):
    """Alertmanager forgets an alert whose endsAt passes: the process after a restart
    re-posts the firing alert it read back from the state at once (not only at the next
    repeat_interval), and tells nobody else again."""
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    am = "/am/api/v2/alerts"
    cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
    cfg = config(tmp_path, receiver, ns, route_to=["slack", "am"], extra_notifiers=(
        f"  - name: am\n    type: alertmanager\n    url: {receiver.url}/am\n"))
    kl = start(kloompas, cluster, cfg, own)
    receiver.wait(lambda r: crash_lines(r.slack_texts(), ns) and r.bodies(am),
                  what="the first notice at Slack and Alertmanager")
    time.sleep(2.5)  # the state write is batched (1 s)
    assert kl.stop() == 0
    posted = len(receiver.bodies(am))
    kl2 = start(kloompas, cluster, cfg, own)
    receiver.wait(lambda r: len(r.bodies(am)) > posted, timeout=20,
                  what="a re-post to Alertmanager after the restart")
    alerts = json.loads(receiver.bodies(am)[-1])
    assert [a["labels"]["namespace"] for a in alerts] == [ns]
    assert alerts[0]["endsAt"] > alerts[0]["startsAt"]
    assert len(crash_lines(receiver.slack_texts(), ns)) == 1, "Slack told again"
    assert "restored alert state" in kl2.log()


def test_dry_run_sends_nothing(cluster, kubelet, kloompas, receiver, tmp_path):
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
    # with leader election asked for: a dry run must not take the Lease either (one that
    # did would leave the real replicas idle as followers)
    kl = start(kloompas, cluster, config(tmp_path, receiver, ns), own, "--dry-run",
               "--leader-elect=true")
    deadline = time.monotonic() + 30
    while "would notify" not in kl.log():
        assert time.monotonic() < deadline, kl.log()
        time.sleep(0.2)
    assert receiver.requests == []
    assert receiver.url not in kl.log()
    assert "dry run: leader election off" in kl.log()
    time.sleep(1.5)
    assert cluster.kube.get("configmaps", name="kloompas-state", ns=own, missing_ok=True) is None
    assert cluster.kube.get("leases", name="kloompas", ns=own, missing_ok=True) is None
    body = __import__("conftest").get(kl.port, "/metrics")[2].decode()
    assert "\nkloompas_leader 0\n" in body, "a dry run acts on nothing"


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
        cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
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


# ------------------------------------------------------------------ crash loops as a kubelet shows them

def container_moment(k, ns, name):
    """(state, restartCount) of the pod's first app container: running, terminated or
    the waiting reason."""
    st = k.get("pods", name=name, ns=ns)["status"]
    cs = (st.get("containerStatuses") or [{}])[0]
    state = cs.get("state") or {}
    if "waiting" in state:
        return state["waiting"].get("reason"), cs.get("restartCount", 0)
    return (next(iter(state), None), cs.get("restartCount", 0))


def state_changes(kl, ns, controller):
    """(from, to) of the -v 1 "alert state changed" lines of controller for ns."""
    out = []
    for line in kl.log().splitlines():
        if 'msg="alert state changed"' in line and f"controller={controller} " in line and \
                f"namespace={ns} " in line:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            out.append((fields.get("from"), fields.get("to")))
    return out


def test_crash_loop_counted_between_backoffs(cluster, kubelet, kloompas, receiver, tmp_path):
    """Two pods crash-loop as a real kubelet shows it (running, terminated, then
    CrashLoopBackOff with growing back-offs; one exits 3, one is OOMKilled). The crash
    alert goes pending at the first CrashLoopBackOff and fires `for` (4 s) later, once;
    the running and terminated moments between back-offs neither restart the timer nor
    resolve it; kloompas_namespace_crashloop_pods stays at 2 through every restart; the
    crash-looping pods, Ready only while they run, raise no not-ready alert (the
    crash-watcher is on); every state change is logged at -v 1."""
    ns = fresh_ns(cluster, team="@arquitectura")
    own = fresh_ns(cluster)
    k = cluster.kube
    # the not-ready watcher may see a pod not Ready before its first back-off (the
    # crash rule starts there): its `for` covers that, not the steady loop after
    cfg = config(tmp_path, receiver, ns, crash={"for": "4s"},
                 notready={"threshold_percent": 30, "min_pods": 2, "for": "20s"})
    kl = start(kloompas, cluster, cfg, own, "-v", "1")
    k.create_pod(ns, "a", annotations=sim_crash("crashloop:3"))
    k.create_pod(ns, "b", annotations=sim_crash("oomkilled", every="1.5s"))
    k.create_pod(ns, "ok")
    first_backoff = notice_at = None
    samples, moments = [], set()
    end = time.monotonic() + 60
    while time.monotonic() < end:
        now = time.monotonic()
        for name in ("a", "b"):
            what, restarts = container_moment(k, ns, name)
            if what == "CrashLoopBackOff" and first_backoff is None:
                first_backoff = now
            moments.add((name, what, restarts >= 2))
        samples.append((now, crash_gauge(kl, ns),
                        metric_value(kl, "kloompas_namespace_notready_ratio", ns)))
        if notice_at is None and crash_lines(receiver.slack_texts(), ns):
            notice_at = time.monotonic()
            end = min(end, notice_at + 16)  # several more restarts of both
        time.sleep(0.1)
    assert first_backoff is not None and notice_at is not None, (moments, kl.log()[-3000:])
    # pending from the first CrashLoopBackOff: the notice `for` (4 s) after it
    assert 4 - 0.5 <= notice_at - first_backoff <= 4 + 3, notice_at - first_backoff
    # both loops went through their running and terminated moments after the notice
    for name in ("a", "b"):
        assert (name, "running", True) in moments and (name, "terminated", True) in moments, moments
    # no gauge before the first CrashLoopBackOff; once both pods count, 2 to the end
    assert all(v is None for t, v, _ in samples if t < first_backoff - 0.5)
    both = [i for i, (t, v, _) in enumerate(samples) if v == 2]
    assert both, samples
    assert all(v == 2 for t, v, _ in samples[both[0]:]), samples[both[0]:]
    assert samples[-1][0] - samples[both[0]][0] >= 12
    # meanwhile the pods flip Ready with every run; not one of them counts as not Ready
    assert all(r == 0 for t, v, r in samples[both[0]:]), samples[both[0]:]
    # one notice, with both pods' evidence, no resolved, no not-ready notice
    texts = receiver.slack_texts()
    assert len(crash_lines(texts, ns)) == 1
    sec = crash_lines(texts, ns)[0]
    assert f"{ns}: (@arquitectura) 2 Pod(s) in CrashLoopBackOff" in sec, sec
    assert "OOMKilled" in sec and "last exit 3" in sec, sec
    assert not crash_lines(texts, ns, resolved=True)
    assert not notready_sections(texts, ns)
    assert metric_value(kl, "kloompas_namespace_notready_ratio", ns) == 0
    # the state changes, logged at -v 1: ok -> pending -> firing, nothing else
    assert state_changes(kl, ns, "crash-watcher") == [("ok", "pending"), ("pending", "firing")]
    assert ("pending", "firing") not in state_changes(kl, ns, "notready-watcher")
    line = next(l for l in kl.log().splitlines() if "to=firing" in l and f"namespace={ns} " in l)
    assert 'why="held for 4s" summary="2 Pod(s) in CrashLoopBackOff"' in line, line
    replace_pod(k, ns, "a")
    replace_pod(k, ns, "b")
    receiver.wait(lambda r: crash_lines(r.slack_texts(), ns, resolved=True),
                  what="the resolved notice")
    assert state_changes(kl, ns, "crash-watcher")[2:] == [("firing", "resolving"),
                                                          ("resolving", "resolved")]


def test_crash_looping_pods_are_not_ready_without_the_crash_watcher(
        cluster, kubelet, kloompas, receiver, tmp_path):
    """With the crash-watcher disabled, the not-ready watcher counts crash-looping pods
    as not Ready, as before."""
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    k = cluster.kube
    cfg = config(tmp_path, receiver, ns, notready={"threshold_percent": 30, "min_pods": 2})
    k.create_pod(ns, "a", annotations=sim_crash("crashloop:3"))
    k.create_pod(ns, "ok")
    # started once the loop is under way (a counted crash loop, were the crash-watcher
    # on) and the other pod Ready: only the crash loop can make it fire
    k.wait_for(lambda: pod_ready(k, ns, "ok") and container_moment(k, ns, "a")[1] >= 2,
               timeout=60)
    kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
             "--leader-elect-resource-namespace", own, "--controllers=notready-watcher")
    sec = receiver.wait(lambda r: notready_sections(r.slack_texts(), ns),
                        what="the not-ready notice")[0]
    assert f"{ns}: (@squad-test) 50 % of pods Not Ready" in sec, sec


def test_image_never_pull_counts_as_its_reason(cluster, kubelet, kloompas, receiver, tmp_path):
    """A configured waiting reason other than CrashLoopBackOff (the simulator's
    imageneverpull writes what a kubelet writes) counts while it waits; with
    CrashLoopBackOff not configured, a crash loop between back-offs does not."""
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    k = cluster.kube
    cfg = config(tmp_path, receiver, ns, crash={"reasons": "[ErrImageNeverPull]"})
    kl = start(kloompas, cluster, cfg, own)
    k.create_pod(ns, "img", annotations={"kloompas.io/sim": "imageneverpull"})
    k.create_pod(ns, "loop", annotations=sim_crash())
    sec = receiver.wait(lambda r: crash_lines(r.slack_texts(), ns), what="the notice")[0]
    assert f"{ns}: (@squad-test) 1 Pod(s) in ErrImageNeverPull" in sec, sec
    assert "img" in sec and "loop" not in sec, sec
    st = k.get("pods", name="img", ns=ns)["status"]
    waiting = st["containerStatuses"][0]["state"]["waiting"]
    assert st["phase"] == "Pending" and waiting["reason"] == "ErrImageNeverPull"
    assert waiting["message"].startswith('Container image "') and \
        waiting["message"].endswith('" is not present with pull policy of Never'), waiting
    # the loop runs on through its moments: still one pod counted
    k.wait_for(lambda: container_moment(k, ns, "loop")[1] >= 3, timeout=60)
    assert crash_gauge(kl, ns) == 1


def test_rollout_does_not_resolve_the_notready_alert(cluster, kubelet, kloompas, receiver,
                                                     tmp_path):
    """min_age and min_pods gate only the start of an alert: during a rollout the new
    pods, younger than min_age, still count, so a firing alert does not go to resolving
    when only one old pod is left (the false RESOLVED seen with a real kubelet)."""
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    k = cluster.kube
    for name, sim in (("old-1", "notready"), ("old-2", "notready"), ("old-3", "ready")):
        k.create_pod(ns, name, annotations={"kloompas.io/sim": sim})
    cfg = config(tmp_path, receiver, ns, notready={"min_pods": 2, "min_age": "6s", "for": "2s"})
    kl = start(kloompas, cluster, cfg, own, "-v", "1")
    receiver.wait(lambda r: notready_sections(r.slack_texts(), ns), what="the not-ready notice")
    # the rollout: two old pods go, two new ones come (one not ready yet)
    replace_pod(k, ns, "old-2")
    replace_pod(k, ns, "old-3")
    k.create_pod(ns, "new-1", annotations={"kloompas.io/sim": "notready"})
    k.create_pod(ns, "new-2")
    time.sleep(9)  # min_age and more: the new pods' whole youth
    texts = receiver.slack_texts()
    assert not notready_sections(texts, ns, resolved=True), texts
    assert len(notready_sections(texts, ns)) == 1
    assert ("firing", "resolving") not in state_changes(kl, ns, "notready-watcher")
    # the share the condition used: old-1 and new-1 of three
    assert abs(metric_value(kl, "kloompas_namespace_notready_ratio", ns) - 2 / 3) < 0.01
    for name in ("old-1", "new-1"):
        k.patch("pods", {"metadata": {"annotations": {"kloompas.io/sim": "ready"}}},
                name=name, ns=ns)
    receiver.wait(lambda r: notready_sections(r.slack_texts(), ns, resolved=True),
                  what="the resolved not-ready notice")
    assert state_changes(kl, ns, "notready-watcher") == [
        ("ok", "pending"), ("pending", "firing"), ("firing", "resolving"),
        ("resolving", "resolved")]
