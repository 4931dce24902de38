"""deploy/monitoring/ against a real Prometheus (prom.py) scraping a real Kloompas on the real
control plane (issue 16):
- every query of the Grafana dashboard returns data (at least one number that is not NaN)
  for a running Kloompas that has notified, answered chat-ops and changed replicas;
- the Slack receiver goes down (refuses connections, answers 500 on the one kept alive):
  KloompasNotificationsFailing becomes firing in Prometheus'
  /api/v1/alerts (and was not pending or firing before);
- two replicas with leader election: the leader killed without a successor ->
  KloompasNoLeader fires, both when the other replica is up but cannot lead (scraped,
  kloompas_leader 0) and when it is gone too (no kloompas_leader series at all).

Prometheus loads a copy of deploy/monitoring/rules.yml made by scripts/monitoring.py's
rules_with_for(): the `for` of the alerts under test is shortened (FOR below) so that a test
waits seconds, not minutes; the expressions, labels and every other rule are the shipped ones.
The real `for` durations are covered by the promtool unit tests (rules_test.yml).
"""
import importlib.util
import json
import os
import signal
import time
import uuid

import chat
from conftest import REPO, get, sim_crash
from prom import Prometheus
from receiver import Receiver
from test_k8s_leader import LE, leader_gauge, wait_leader

_spec = importlib.util.spec_from_file_location(
    "monitoring", os.path.join(REPO, "scripts", "monitoring.py"))
monitoring = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(monitoring)

FOR = {"KloompasNotificationsFailing": "2s", "KloompasNoLeader": "2s", "KloompasDown": "2s"}
TOKEN = "api-token-" + "3" * 24


def rule_file(tmp_path):
    path = tmp_path / "kloompas-rules.yml"
    path.write_text(monitoring.dump(monitoring.rules_with_for(monitoring.load_rules(), FOR)))
    return path


def shipped_alerts():
    return sorted(r["alert"] for g in monitoring.load_rules()["groups"] for r in g["rules"])


def fresh_ns(cluster, prefix="mon-"):
    name = prefix + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name, annotations={"kloompas.io/team": "@squad-mon"})
    return name


def api(port, obj, token=TOKEN):
    return chat.post(port, "/api/v1/replicas", json.dumps(obj).encode(),
                     {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def wait_ready(kl, timeout=60):
    deadline = time.monotonic() + timeout
    while get(kl.port, "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "kloompas not ready:\n" + kl.log()
        time.sleep(0.2)


def rendered(alert):
    """Prometheus expanded every annotation template of a firing alert."""
    notes = alert["annotations"]
    assert set(notes) == {"summary", "description", "runbook"}, notes
    for text in notes.values():
        assert "{{" not in text and "error expanding template" not in text, text
    return True


def has_number(result):
    return any(v == v for _, v in result)  # NaN != NaN


def test_dashboard_has_data_and_notifications_failing_fires(cluster, kubelet, kloompas,
                                                           tmp_path):
    rec = Receiver()
    rec_open = True
    try:
        ns, ns2, own = fresh_ns(cluster), fresh_ns(cluster), fresh_ns(cluster, "own-")
        cluster.kube.create_deployment(ns, "web", 1)
        (tmp_path / "tokens").write_text(f"{TOKEN} alex.guerra\n")
        cfg = tmp_path / "k.yaml"
        cfg.write_text(f"""cluster: PRODUCTION
team_annotation: kloompas.io/team
notifiers:
  - name: slack
    type: slack
    url: {rec.url}/slack
routes:
  - namespaces: ["{ns}", "{ns2}"]
    notifiers: [slack]
controllers:
  crash-watcher: {{ reasons: [CrashLoopBackOff], for: 0s, repeat_interval: 1h, log_lines: 2 }}
  replica-enforcer: {{ max_temporary: 1h }}
chatops:
  api_tokens_file: tokens
  allow:
    - users: [alex.guerra]
      namespaces: ["{ns}"]
      max_replicas: 5
""")
        kl = kloompas("--kubeconfig", cluster.kubeconfig, "--config", str(cfg),
                      "--leader-elect-resource-namespace", own,
                      "--controllers=crash-watcher,replica-enforcer",
                      "--chatops-bind-address=127.0.0.1:0", *LE)
        wait_ready(kl)
        # a notice delivered, a replica change by chat-ops, a refused token
        cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
        rec.wait(lambda r: [t for t in r.slack_texts() if ns in t], what="the first notice")
        assert api(kl.chatops_port, {"namespace": ns, "deployment": "web", "replicas": 2})[0] \
            == 200
        assert api(kl.chatops_port, {"namespace": ns, "deployment": "web", "replicas": 3},
                   token="nope")[0] == 401

        with Prometheus(tmp_path, [kl.port], rule_files=[rule_file(tmp_path)]) as prom:
            loaded = sorted(r["name"] for g in prom.api("rules")["groups"] for r in g["rules"])
            assert loaded == shipped_alerts()
            queries = monitoring.dashboard_queries()
            assert len(queries) >= 20
            empty = {}

            def all_have_data():
                empty.clear()
                for title, ref, expr in queries:
                    if not has_number(prom.query(expr)):
                        empty[f"{title} {ref}"] = expr
                return not empty

            prom.wait(all_have_data, timeout=60,
                      what=lambda: f"data for every panel; without: {empty}")
            assert prom.query('kloompas_leader{job="kloompas"}')[0][1] == 1
            assert not prom.alerts("KloompasNotificationsFailing")

            # the Slack receiver goes down: new connections refused, and the one kloompas
            # keeps alive answered 500 (as a proxy in front of a dead backend would)
            rec.fail_until = time.time() + 3600
            rec.close()
            rec_open = False
            cluster.kube.create_pod(ns2, "boom", annotations=sim_crash())
            firing = prom.wait(
                lambda: prom.alerts("KloompasNotificationsFailing", "firing"), timeout=90,
                what=lambda: "KloompasNotificationsFailing firing; alerts: "
                f"{prom.alerts()}; counters: {prom.query('kloompas_notifications_total')}")
            assert [a["labels"]["notifier"] for a in firing] == ["slack"]
            assert firing[0]["labels"]["severity"] == "critical"
            assert rendered(firing[0])
            assert "Notifier slack fails" in firing[0]["annotations"]["summary"]
            # what it saw: failed attempts counted by kloompas itself
            failed = prom.query('kloompas_notifications_total{notifier="slack", result="failure"}')
            assert failed and failed[0][1] >= 2
            assert not prom.alerts("KloompasNotificationsDropped")
    finally:
        if rec_open:
            rec.close()


def le_config(tmp_path):
    cfg = tmp_path / "le.yaml"
    cfg.write_text("cluster: PRODUCTION\n")
    return str(cfg)


def replica(kloompas, cfg, own, *kubeconfig):
    # without --kubeconfig the fixture gives one whose API server refuses connections
    return kloompas(*kubeconfig, "--config", cfg, "--leader-elect-resource-namespace", own,
                    "--controllers=crash-watcher", *LE)


def kill(k):
    k.proc.send_signal(signal.SIGKILL)
    k.proc.wait()
    k.errfile.close()


def leading(prom, want_up):
    """Prometheus sees want_up targets up and exactly one leader."""
    up = [v for _, v in prom.query('up{job="kloompas"}') if v == 1]
    return len(up) == want_up and [v for _, v in prom.query("sum(kloompas_leader)")] == [1]


def test_no_leader_when_the_leader_dies_and_the_follower_cannot_lead(cluster, kloompas,
                                                                    tmp_path):
    own = fresh_ns(cluster, "own-")
    cfg = le_config(tmp_path)
    a = replica(kloompas, cfg, own, "--kubeconfig", cluster.kubeconfig)
    wait_leader([a])
    b = replica(kloompas, cfg, own)  # cannot reach the API server: never leads
    with Prometheus(tmp_path, [a.port, b.port], rule_files=[rule_file(tmp_path)]) as prom:
        prom.wait(lambda: leading(prom, 2), timeout=30, what="two replicas up, one leader")
        time.sleep(3)  # longer than the shortened `for`
        assert not prom.alerts("KloompasNoLeader")
        assert not prom.alerts("KloompasTooManyLeaders")

        kill(a)
        firing = prom.wait_alert("KloompasNoLeader", timeout=30)
        assert firing[0]["labels"]["job"] == "kloompas" and rendered(firing[0])
        assert leader_gauge(b) == 0
        assert [v for _, v in prom.query(f'up{{instance="127.0.0.1:{b.port}"}}')] == [1]
        assert [v for _, v in prom.query("kloompas_leader")] == [0]
        assert not prom.alerts("KloompasDown")


def test_no_leader_when_every_replica_is_gone(cluster, kloompas, tmp_path):
    own = fresh_ns(cluster, "own-")
    cfg = le_config(tmp_path)
    a = replica(kloompas, cfg, own, "--kubeconfig", cluster.kubeconfig)
    b = replica(kloompas, cfg, own, "--kubeconfig", cluster.kubeconfig)
    leader = wait_leader([a, b])[0]
    follower = b if leader is a else a
    with Prometheus(tmp_path, [a.port, b.port], rule_files=[rule_file(tmp_path)]) as prom:
        prom.wait(lambda: leading(prom, 2), timeout=30, what="two replicas up, one leader")
        assert follower.stop() == 0
        time.sleep(3)  # the leader still leads: nothing fires
        assert leading(prom, 1)
        assert not prom.alerts("KloompasNoLeader")

        kill(leader)
        prom.wait_alert("KloompasNoLeader", timeout=30)
        assert prom.query("kloompas_leader") == []  # no series at all
        prom.wait_alert("KloompasDown", timeout=30)
