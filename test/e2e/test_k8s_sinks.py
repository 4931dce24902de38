"""The PagerDuty, Microsoft Teams and email notifiers against the real control plane
(issue 15): a crash loop fires and resolves, each sink's receiver refusing for a
while first, and exactly one trigger (firing) and one resolve (resolved) arrive, in
that order, as the vendor documents the request:

- PagerDuty Events API v2: POST JSON {routing_key, event_action trigger|resolve,
  dedup_key, payload{summary, source, severity, timestamp, component, group, class,
  custom_details}}, answered 202; 429 is retried. The receiver answers 429 first.
- Teams: POST {"type":"message","attachments":[{"contentType":
  "application/vnd.microsoft.card.adaptive","content":{AdaptiveCard}}]}; the
  receiver is down (connection refused) first.
- Email: SMTP with STARTTLS required, AUTH checked, TLS verified against a CA the
  test makes (smtpreceiver.py, python3-aiosmtpd); the server answers 451 to RCPT
  first. One mail per flush, headers and evidence parsed.

Secrets (routing key, SMTP password, URLs) never reach kloompas's log.
"""
import json
import re
import time
import uuid

import pytest

from conftest import get, replace_pod, sim_crash
from slowreceiver import FaultReceiver
from test_k8s_notify_faults import until
from smtpreceiver import SmtpReceiver, make_ca_and_cert

CRASH = sim_crash()
ROUTING_KEY = "R0UTING" + uuid.uuid4().hex
SMTP_USER = "kloompas-mailer"
SMTP_PASSWORD = "pa55-" + uuid.uuid4().hex


@pytest.fixture
def frec():
    r = FaultReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp(tmp_path):
    d = tmp_path / "smtp-certs"
    d.mkdir()
    ca = make_ca_and_cert(d)
    s = SmtpReceiver(d, SMTP_USER, SMTP_PASSWORD)
    s.ca = ca
    yield s
    s.close()


def fresh_ns(cluster, team="@squad-sinks"):
    name = "sk-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name, annotations={"kloompas.io/team": team})
    return name


def write_config(tmp_path, ns, notifier):
    """notifier: the YAML lines of one notifier entry named "sink" (indented 4)."""
    text = f"""cluster: PRODUCTION
team_annotation: kloompas.io/team
notifiers:
  - name: sink
{notifier}routes:
  - namespaces: ["{ns}"]
    notifiers: [sink]
controllers:
  crash-watcher: {{ reasons: [CrashLoopBackOff], for: 0s, repeat_interval: 1h, log_lines: 2 }}
"""
    p = tmp_path / f"kloompas-{uuid.uuid4().hex[:6]}.yaml"
    p.write_text(text)
    return str(p)


def start(kloompas, cluster, cfg, own):
    return kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
                    "--leader-elect-resource-namespace", own, "--controllers=crash-watcher")


def sent(kl, result):
    status, _, body = get(kl.port, "/metrics")
    assert status == 200
    m = re.search(r'^kloompas_notifications_total\{notifier="sink",result="%s"\} (\S+)$' %
                  result, body.decode(), re.M)
    return float(m.group(1)) if m else None


def no_secrets(kl, *secrets):
    log = kl.log()
    for s in secrets:
        assert s not in log, f"a secret reached the log: {s[:6]}..."


def crash_then_recover(cluster, kl, ns, outage_seen, end_outage, delivered):
    """The pod crash-loops while the sink refuses; then it accepts, the firing notice
    is delivered; then the pod is replaced and the resolved one is."""
    k = cluster.kube
    until(outage_seen, what="attempts refused during the outage")
    time.sleep(1)
    end_outage()
    until(lambda: delivered() >= 1, timeout=120, what="the firing notice after the outage")
    replace_pod(k, ns, "boom")
    until(lambda: delivered() >= 2, timeout=120, what="the resolved notice")
    time.sleep(3)  # nothing more may come


# ------------------------------------------------------------------ PagerDuty

def test_pagerduty_trigger_and_resolve_once_through_429s(cluster, kubelet, kloompas, frec,
                                                         tmp_path):
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    (tmp_path / "pd-key").write_text(ROUTING_KEY + "\n")
    frec.defaults["/v2/enqueue"] = ("code", 429, {})
    cfg = write_config(tmp_path, ns, f"""    type: pagerduty
    url: {frec.url}/v2/enqueue
    routing_key_file: {tmp_path / "pd-key"}
""")
    cluster.kube.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)

    def accepted():
        return len(frec.accepted("/v2/enqueue"))

    def end():
        frec.defaults["/v2/enqueue"] = ("code", 202, {})

    crash_then_recover(cluster, kl, ns, lambda: (sent(kl, "failure") or 0) >= 2, end, accepted)
    got = [json.loads(r.body) for r in frec.accepted("/v2/enqueue")]
    assert [e["event_action"] for e in got] == ["trigger", "resolve"], got
    trig, res = got
    assert all(r.code in (202, 429) for r in frec.requests("/v2/enqueue"))
    # every refused attempt was the same trigger
    assert {r.body for r in frec.requests("/v2/enqueue") if r.code == 429} == \
        {frec.accepted("/v2/enqueue")[0].body}
    for e in got:
        assert e["routing_key"] == ROUTING_KEY
        assert re.fullmatch(r"[0-9a-f]{16}", e["dedup_key"])
    assert res["dedup_key"] == trig["dedup_key"]
    p = trig["payload"]
    assert p["summary"] == f"{ns}: 1 Pod(s) in CrashLoopBackOff (PRODUCTION)"
    assert p["source"] == "PRODUCTION"
    assert p["severity"] == "error"
    assert p["component"] == ns
    assert p["group"] == "crash-watcher"
    assert p["class"] == "KloompasPodCrashLooping"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["timestamp"])
    d = p["custom_details"]
    assert d["namespace"] == ns and d["team"] == "@squad-sinks" and d["cluster"] == "PRODUCTION"
    assert d["evidence"].startswith("pod boom container ")
    assert "CrashLoopBackOff" in d["evidence"]
    assert "payload" not in res
    assert sent(kl, "success") == 2
    no_secrets(kl, ROUTING_KEY, frec.url)


# ------------------------------------------------------------------ Teams

def test_teams_card_fires_and_resolves_once_through_refused_connections(
        cluster, kubelet, kloompas, frec, tmp_path):
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    frec.defaults["/workflow"] = ("code", 202, {})
    frec.down()
    cfg = write_config(tmp_path, ns, f"""    type: teams
    url: {frec.url}/workflow
""")
    cluster.kube.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    crash_then_recover(cluster, kl, ns, lambda: (sent(kl, "failure") or 0) >= 2, frec.up,
                       lambda: len(frec.accepted("/workflow")))
    got = [json.loads(r.body) for r in frec.accepted("/workflow")]
    assert len(got) == 2
    heads = []
    for msg in got:
        assert msg["type"] == "message"
        (att,) = msg["attachments"]
        assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = att["content"]
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
        assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
        assert all(b["type"] in ("TextBlock", "FactSet") for b in card["body"])
        heads.append(card["body"][0]["text"])
        facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
        assert facts["Namespace"] == ns and facts["Team"] == "@squad-sinks"
        assert facts["Alert"] == "KloompasPodCrashLooping"
    assert heads == ["FIRING: 1 alert firing in cluster PRODUCTION",
                     "RESOLVED: 1 alert resolved in cluster PRODUCTION"]
    firing = got[0]["attachments"][0]["content"]["body"]
    assert firing[1]["text"].startswith("1 Pod\\(s\\) in CrashLoopBackOff")
    assert firing[3]["fontType"] == "Monospace" and "CrashLoopBackOff" in firing[3]["text"]
    assert sent(kl, "success") == 2
    no_secrets(kl, frec.url)


# ------------------------------------------------------------------ email

def test_email_over_starttls_with_auth_once_through_451s(cluster, kubelet, kloompas, smtp,
                                                         tmp_path):
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    (tmp_path / "smtp-user").write_text(SMTP_USER + "\n")
    (tmp_path / "smtp-pass").write_text(SMTP_PASSWORD + "\n")
    smtp.fail()
    cfg = write_config(tmp_path, ns, f"""    type: email
    url: {smtp.url}
    from: kloompas@example.test
    to: [oncall@example.test, squad@example.test]
    username_file: {tmp_path / "smtp-user"}
    password_file: {tmp_path / "smtp-pass"}
    ca_file: {smtp.ca}
""")
    cluster.kube.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    crash_then_recover(cluster, kl, ns, lambda: smtp.refused >= 2, smtp.ok,
                       lambda: len(smtp.mails))
    assert smtp.auth_failures == 0
    assert len(smtp.mails) == 2  # one mail per flush
    subjects = []
    for m in smtp.mails:
        assert m.tls, "the mail went without STARTTLS"
        assert m.login == SMTP_USER
        assert m.mail_from == "kloompas@example.test"
        assert m.rcpt_tos == ["oncall@example.test", "squad@example.test"]
        h = m.msg
        assert h["From"] == "kloompas@example.test"
        assert h["To"] == "oncall@example.test, squad@example.test"
        assert h["Date"] and h["Message-ID"]
        assert h["MIME-Version"] == "1.0"
        assert h.get_content_type() == "text/plain"
        assert h.get_content_charset() == "utf-8"
        assert b"\r\n" in m.data and b"\n" not in m.data.replace(b"\r\n", b"")
        subjects.append(h["Subject"])
    assert subjects == [
        f"[kloompas PRODUCTION] FIRING {ns}: 1 Pod(s) in CrashLoopBackOff",
        f"[kloompas PRODUCTION] RESOLVED {ns}: 0 Pod(s) in CrashLoopBackOff",
    ], subjects
    assert smtp.mails[0].msg["Message-ID"] != smtp.mails[1].msg["Message-ID"]
    body = smtp.mails[0].text()
    assert f"[FIRING] {ns}: 1 Pod(s) in CrashLoopBackOff" in body
    assert "alert: KloompasPodCrashLooping, team: @squad-sinks, controller: crash-watcher" in body
    assert "pod boom container " in body and "CrashLoopBackOff" in body
    assert f"[RESOLVED] {ns}: " in smtp.mails[1].text()
    assert sent(kl, "success") == 2
    assert sent(kl, "failure") >= 2
    no_secrets(kl, SMTP_PASSWORD, smtp.url, f"127.0.0.1:{smtp.port}")
