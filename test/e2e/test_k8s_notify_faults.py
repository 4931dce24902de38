"""Notification faults against the real control plane (issue 8): the receiver down,
slow, failing with 500 / 429 + Retry-After, one of two notifiers broken, and kloompas
itself killed with SIGKILL while a notice is in flight or just after one was recorded.

What SPEC promises and what these tests hold kloompas to:
- "Undelivered notifications are retried with exponential backoff (honouring
  Retry-After) for up to 1h": a notice is not lost while the receiver fails; it is
  delivered, and a Retry-After of S seconds is waited for.
- "a firing alert is notified once ... resolved is notified when the condition has
  been gone": once each - no duplicate accepted deliveries.
- "a restart or a new leader neither repeats nor forgets a notification", with the
  state (since, last notified, delivered) in the kloompas-state ConfigMap: a notice in
  flight at a SIGKILL is sent after the restart; a notice delivered and recorded
  before it is not sent again.
- Delivered means a 2xx answer reached kloompas (notify.h: "delivered (2xx ...)").
  SPEC does not say what happens to a request the receiver took but answered after
  kloompas gave up on it (its request timeout, 10 s, is not configurable): such a
  request is undelivered to kloompas, so it is retried; the receiver then holds one
  copy it answered too late plus one accepted delivery. The tests assert exactly one
  accepted delivery per notice and that the extra copies are no more than the failed
  attempts kloompas counted (at-least-once, bounded).
- SPEC is silent on whether one broken notifier may hold back another; the tests
  assert it does not (each notifier has its own queue, notify.h).

Receiver bookkeeping is in slowreceiver.py: "accepted" means answered 2xx to a client
that was still connected.
"""
import email.utils
import json
import math
import re
import signal
import time
import uuid

import pytest

from conftest import get, replace_pod, sim_crash
from slowreceiver import TIMEOUT_FACTOR, FaultReceiver, hook_notices, slack_notices

CRASH = sim_crash()


@pytest.fixture
def frec():
    r = FaultReceiver()
    yield r
    r.close()


def fresh_ns(cluster, team="@squad-faults"):
    name = "nf-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name, annotations={"kloompas.io/team": team})
    return name


def write_config(tmp_path, namespaces, notifiers, route_to=None):
    """notifiers: [(name, type, url)]; namespaces routed to route_to (default: all of
    them); the rest of the cluster (other tests' crash loops) goes to the log."""
    route_to = route_to or [n for n, _, _ in notifiers]
    nts = "".join(f"  - name: {n}\n    type: {t}\n    url: {u}\n" for n, t, u in notifiers)
    text = f"""cluster: PRODUCTION
team_annotation: kloompas.io/team
notifiers:
{nts}routes:
  - namespaces: [{", ".join(f'"{ns}"' for ns in namespaces)}]
    notifiers: [{", ".join(route_to)}]
controllers:
  crash-watcher: {{ reasons: [CrashLoopBackOff], for: 0s, repeat_interval: 1h, log_lines: 2 }}
"""
    p = tmp_path / f"kloompas-{uuid.uuid4().hex[:6]}.yaml"
    p.write_text(text)
    return str(p)


def slack_and_hook(frec):
    return [("slack", "slack", f"{frec.url}/slack"), ("hook", "webhook", f"{frec.url}/hook")]


def start(kloompas, cluster, cfg, own):
    return kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
                    "--leader-elect-resource-namespace", own, "--controllers=crash-watcher")


# ------------------------------------------------------------------ reading results

def notices_of(req):
    if req.path == "/hook":
        return [(ns, st) for _, ns, st in hook_notices(req.body)]
    return [(ns, st) for _, ns, st in slack_notices(req.body)]


def accepted_notices(frec, path, ns=None):
    """(namespace, status) of every notice accepted at path, in delivery order."""
    return [x for r in frec.accepted(path) for x in notices_of(r) if ns is None or x[0] == ns]


def seen_notices(frec, path, ns=None):
    """The same for every request that reached the receiver, whatever its fate."""
    return [x for r in frec.requests(path) for x in notices_of(r) if ns is None or x[0] == ns]


def metrics(kl):
    status, _, body = get(kl.port, "/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(kl, name, **labels):
    return metrics(kl).get((name, tuple(sorted(labels.items()))))


def sent(kl, notifier, result):
    return metric(kl, "kloompas_notifications_total", notifier=notifier, result=result)


def queue(kl, notifier):
    return metric(kl, "kloompas_notification_queue_length", notifier=notifier)


def until(pred, timeout=90, what="a condition", interval=0.2):
    deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def state_record(cluster, own, ns):
    cm = cluster.kube.get("configmaps", name="kloompas-state", ns=own, missing_ok=True)
    v = ((cm or {}).get("data") or {}).get(f"crash-watcher.{ns}")
    return json.loads(v) if v else None


def crashing(kl, ns):
    return metric(kl, "kloompas_namespace_crashloop_pods", namespace=ns)


def wait_ready(kl):
    until(lambda: get(kl.port, "/readyz")[0] == 200, what="/readyz")


def kill9(kl):
    rc = kl.stop(sig=signal.SIGKILL)
    assert rc == -signal.SIGKILL, f"kloompas exited {rc} instead of being killed"


# ------------------------------------------------------------------ 1: connection refused

def test_receiver_refusing_connections_then_back_loses_and_repeats_nothing(
        cluster, kubelet, kloompas, frec, tmp_path):
    """Nothing listens on the receiver's port while two namespaces fire and one
    recovers; when it listens again every notice arrives once, each namespace's
    firing before its resolved, and the metrics told the story."""
    a, b, own = fresh_ns(cluster), fresh_ns(cluster), fresh_ns(cluster)
    k = cluster.kube
    frec.down()
    cfg = write_config(tmp_path, [a, b], slack_and_hook(frec))
    k.create_pod(a, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    until(lambda: sent(kl, "slack", "failure") >= 2 and sent(kl, "hook", "failure") >= 2,
          what="failed attempts while the receiver is down")
    assert queue(kl, "slack") >= 1 and queue(kl, "hook") >= 1
    k.create_pod(b, "boom", annotations=CRASH)
    until(lambda: queue(kl, "slack") >= 2 and queue(kl, "hook") >= 2,
          what="b's notice queued behind a's")
    replace_pod(k, a, "boom")
    until(lambda: crashing(kl, a) is None, what=f"{a} no longer crash-looping")
    time.sleep(0.5)
    assert frec.requests() == []
    assert sent(kl, "slack", "success") == 0 and sent(kl, "hook", "success") == 0
    assert queue(kl, "slack") >= 2 and queue(kl, "hook") >= 2

    frec.up()
    for path in ("/slack", "/hook"):
        frec.wait(lambda r: (a, "resolved") in accepted_notices(r, path) and
                  (b, "firing") in accepted_notices(r, path), timeout=120,
                  what=f"the backlog at {path}")
    replace_pod(k, b, "boom")
    for path in ("/slack", "/hook"):
        frec.wait(lambda r: (b, "resolved") in accepted_notices(r, path), timeout=60,
                  what=f"b's resolved notice at {path}")
    until(lambda: state_record(cluster, own, a) is None and state_record(cluster, own, b) is None,
          what="both records gone from kloompas-state once resolved was delivered")
    time.sleep(2)
    for path, name in (("/slack", "slack"), ("/hook", "hook")):
        got = accepted_notices(frec, path)
        assert [x for x in got if x[0] == a] == [(a, "firing"), (a, "resolved")], got
        assert [x for x in got if x[0] == b] == [(b, "firing"), (b, "resolved")], got
        # nothing failed once it listened again, and nothing was taken twice
        assert all(r.outcome == "answered" and r.code == 200 for r in frec.requests(path))
        assert sent(kl, name, "success") == len(frec.accepted(path))
        assert sent(kl, name, "dropped") == 0
        assert sent(kl, name, "failure") >= 2
        assert queue(kl, name) == 0
    assert "notification failed" in kl.log()


# ------------------------------------------------------------------ 2: slower than the timeout

def test_receiver_slower_than_the_request_timeout(cluster, kubelet, kloompas, frec, tmp_path):
    """The receiver holds a request beyond kloompas' 10 s request timeout (the config
    cannot change it): kloompas counts a failure and retries; exactly one accepted
    delivery per notice; the receiver's extra copies (answered after kloompas had
    given up) are no more than the failures counted."""
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    k = cluster.kube
    for path in ("/slack", "/hook"):
        frec.plan[path] = [("hold", 15, 200)]
    cfg = write_config(tmp_path, [ns], slack_and_hook(frec))
    k.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    for path in ("/slack", "/hook"):
        frec.wait(lambda r: (ns, "firing") in accepted_notices(r, path), timeout=90,
                  what=f"the firing notice at {path} after the slow attempt")
    for path in ("/slack", "/hook"):
        first = frec.requests(path)[0]
        assert first.outcome == "late", frec.requests(path)  # kloompas gave up on it
        assert notices_of(first) == [(ns, "firing")]
    until(lambda: (state_record(cluster, own, ns) or {}).get("notified") == "firing",
          what="the delivery recorded")
    # the resolved notice meets a slow receiver too
    for path in ("/slack", "/hook"):
        frec.plan[path] = [("hold", 15, 200)]
    replace_pod(k, ns, "boom")
    for path in ("/slack", "/hook"):
        frec.wait(lambda r: (ns, "resolved") in accepted_notices(r, path), timeout=90,
                  what=f"the resolved notice at {path} after the slow attempt")
    time.sleep(2)
    for path, name in (("/slack", "slack"), ("/hook", "hook")):
        assert accepted_notices(frec, path, ns) == [(ns, "firing"), (ns, "resolved")]
        reqs = frec.requests(path)
        late = [r for r in reqs if r.outcome != "answered"]
        assert [r.outcome for r in reqs] == ["late", "answered", "late", "answered"], reqs
        failures = sent(kl, name, "failure")
        # at least once, bounded: every copy beyond the accepted one is a failed attempt
        assert len(late) <= failures, (reqs, failures)
        assert failures == 2
        assert sent(kl, name, "success") == 2
        assert sent(kl, name, "dropped") == 0
        assert queue(kl, name) == 0
        # what reached the receiver at all: each notice at most failures + 1 times
        assert seen_notices(frec, path, ns).count((ns, "firing")) == 2
        assert seen_notices(frec, path, ns).count((ns, "resolved")) == 2


# ------------------------------------------------------------------ 3: 500, 429 + Retry-After

def test_retry_after_is_honoured(cluster, kubelet, kloompas, frec, tmp_path):
    """/slack answers 500, then 429 with Retry-After: 5 (seconds); /hook answers 503
    with Retry-After as an HTTP-date. No retry comes before the time asked for; the
    notice is delivered once when the receiver answers 200."""
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    retry_after = 5
    frec.plan["/slack"] = [("code", 500, {}),
                           ("code", 429, {"Retry-After": str(retry_after)})]
    not_before = None

    def date_503():
        # an HTTP-date on a whole second, made when the request arrives
        nonlocal not_before
        not_before = math.ceil(time.time()) + retry_after
        return ("code", 503, {"Retry-After": email.utils.formatdate(not_before, usegmt=True)})

    frec.plan["/hook"] = [date_503]
    cfg = write_config(tmp_path, [ns], slack_and_hook(frec))
    cluster.kube.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    for path in ("/slack", "/hook"):
        frec.wait(lambda r: accepted_notices(r, path, ns), timeout=90,
                  what=f"the notice at {path} after the retries")
    time.sleep(1.5)
    tol = 0.25
    s = frec.requests("/slack")
    assert [r.code for r in s] == [500, 429, 200], s
    assert s[2].t_in >= s[1].t_out + retry_after - tol, \
        f"retried {s[2].t_in - s[1].t_out:.2f} s after Retry-After: {retry_after}"
    h = frec.requests("/hook")
    assert [r.code for r in h] == [503, 200], h
    assert h[1].t_in >= not_before - tol, \
        f"retried {not_before - h[1].t_in:.2f} s before the Retry-After date"
    for path, name, fails in (("/slack", "slack", 2), ("/hook", "hook", 1)):
        assert accepted_notices(frec, path, ns) == [(ns, "firing")]
        assert sent(kl, name, "failure") == fails
        assert sent(kl, name, "success") == 1
        assert sent(kl, name, "dropped") == 0
        assert queue(kl, name) == 0


# ------------------------------------------------------------------ 4: one broken notifier

def two_notifiers(frec, tmp_path, namespaces):
    frec.defaults["/broken"] = ("code", 500, {})
    return write_config(tmp_path, namespaces,
                        [("healthy", "slack", f"{frec.url}/healthy"),
                         ("broken", "webhook", f"{frec.url}/broken")])


def test_broken_notifier_does_not_delay_new_alerts_at_the_healthy_one(
        cluster, kubelet, kloompas, frec, tmp_path):
    """Two namespaces fire one after the other, routed to a healthy Slack and a
    webhook that always answers 500: the healthy one gets each at once, while the
    broken one keeps failing and queues."""
    a, b, own = fresh_ns(cluster), fresh_ns(cluster), fresh_ns(cluster)
    k = cluster.kube
    cfg = two_notifiers(frec, tmp_path, [a, b])
    k.create_pod(a, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    frec.wait(lambda r: accepted_notices(r, "/healthy", a), timeout=60,
              what="a's notice at the healthy notifier")
    k.create_pod(b, "boom", annotations=CRASH)
    frec.wait(lambda r: accepted_notices(r, "/healthy", b), timeout=60,
              what="b's notice at the healthy notifier while the other fails")
    time.sleep(1)
    assert accepted_notices(frec, "/healthy") == [(a, "firing"), (b, "firing")]
    assert all(r.code == 500 for r in frec.requests("/broken"))
    assert frec.requests("/broken"), "the broken notifier was never tried"
    assert sent(kl, "healthy", "success") == 2 and sent(kl, "healthy", "failure") == 0
    assert queue(kl, "healthy") == 0
    assert sent(kl, "broken", "failure") >= 1 and sent(kl, "broken", "success") == 0
    assert queue(kl, "broken") == 2  # a's message being retried, b's queued behind it


def test_broken_notifier_does_not_hold_back_the_resolved_notice(
        cluster, kubelet, kloompas, frec, tmp_path):
    """The firing notice reached the healthy notifier, the broken one is still
    retrying it; the namespace recovers: the healthy one is told it is resolved."""
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    k = cluster.kube
    cfg = two_notifiers(frec, tmp_path, [ns])
    k.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    frec.wait(lambda r: accepted_notices(r, "/healthy", ns), timeout=60,
              what="the firing notice at the healthy notifier")
    replace_pod(k, ns, "boom")
    until(lambda: crashing(kl, ns) is None, what=f"{ns} no longer crash-looping")
    frec.wait(lambda r: (ns, "resolved") in accepted_notices(r, "/healthy"), timeout=30,
              what="the resolved notice at the healthy notifier")
    assert accepted_notices(frec, "/healthy") == [(ns, "firing"), (ns, "resolved")]


def test_restart_with_one_notifier_broken_does_not_resend_to_the_healthy_one(
        cluster, kubelet, kloompas, frec, tmp_path):
    """The healthy notifier accepted the firing notice, the broken one is retrying
    it; kloompas is restarted (SIGTERM, clean): the broken one is still owed the
    notice, the healthy one must not get it twice (SPEC: a restart neither repeats
    nor forgets a notification)."""
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    cfg = two_notifiers(frec, tmp_path, [ns])
    cluster.kube.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    frec.wait(lambda r: accepted_notices(r, "/healthy", ns), timeout=60,
              what="the firing notice at the healthy notifier")
    until(lambda: state_record(cluster, own, ns), what="the alert in kloompas-state")
    time.sleep(1.5)  # the state write is batched (1 s)
    assert kl.stop() == 0
    broken_before = len(frec.requests("/broken"))
    kl = start(kloompas, cluster, cfg, own)
    wait_ready(kl)
    until(lambda: crashing(kl, ns), what="the restarted instance to see the crash loop")
    frec.wait(lambda r: len(r.requests("/broken")) > broken_before, timeout=30,
              what="the broken notifier still being owed the notice")
    time.sleep(2)
    assert accepted_notices(frec, "/healthy", ns) == [(ns, "firing")], "re-sent after a restart"


# ------------------------------------------------------------------ 5: SIGKILL

def pending(frec, path, ns, status):
    return [r for r in frec.requests(path) if r.outcome == "pending" and
            (ns, status) in notices_of(r)]


def test_sigkill_with_a_notice_in_flight_delivers_it_after_restart(
        cluster, kubelet, kloompas, frec, tmp_path):
    """The receiver takes the request and never answers; kloompas is killed -9 with
    the notice in flight; started again (same state ConfigMap) with the receiver
    healthy, it delivers the notice. Done twice: the firing notice, then the resolved
    one, and the firing one, delivered and recorded before the second kill, is not
    sent again."""
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    k = cluster.kube
    paths = ("/slack", "/hook")
    frec.default = ("hang",)
    cfg = write_config(tmp_path, [ns], slack_and_hook(frec))
    k.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    rec = until(lambda: state_record(cluster, own, ns), what="the alert in kloompas-state")
    assert rec["state"] == "firing" and rec["notified"] == "none", rec
    for path in paths:
        frec.wait(lambda r: pending(r, path, ns, "firing"), timeout=60,
                  what=f"the firing notice held at {path}")
    assert not frec.accepted("/slack") and not frec.accepted("/hook")
    kill9(kl)
    for path in paths:
        frec.wait(lambda r: not pending(r, path, ns, "firing"), timeout=30,
                  what="the receiver to see the killed client go")
    frec.default = ("code", 200, {})
    kl = start(kloompas, cluster, cfg, own)
    for path in paths:
        frec.wait(lambda r: accepted_notices(r, path, ns), timeout=60,
                  what=f"the firing notice at {path} after the restart")
    until(lambda: (state_record(cluster, own, ns) or {}).get("notified") == "firing",
          what="the delivery recorded")
    assert "restored alert state" in kl.log()

    # the resolved notice in flight at the second kill
    frec.default = ("hang",)
    replace_pod(k, ns, "boom")
    for path in paths:
        frec.wait(lambda r: pending(r, path, ns, "resolved"), timeout=60,
                  what=f"the resolved notice held at {path}")
    until(lambda: (state_record(cluster, own, ns) or {}).get("state") == "resolved",
          what="the resolved state recorded")
    assert state_record(cluster, own, ns)["notified"] == "firing"
    kill9(kl)
    for path in paths:
        frec.wait(lambda r: not pending(r, path, ns, "resolved"), timeout=30,
                  what="the receiver to see the killed client go")
    frec.default = ("code", 200, {})
    kl = start(kloompas, cluster, cfg, own)
    for path in paths:
        frec.wait(lambda r: (ns, "resolved") in accepted_notices(r, path), timeout=60,
                  what=f"the resolved notice at {path} after the restart")
    until(lambda: state_record(cluster, own, ns) is None,
          what="the record gone once resolved was delivered")
    time.sleep(2)
    for path in paths:
        assert accepted_notices(frec, path, ns) == [(ns, "firing"), (ns, "resolved")]
        assert [r.outcome for r in frec.requests(path)].count("answered") == 2


def test_sigkill_after_a_recorded_delivery_does_not_resend(cluster, kubelet, kloompas, frec,
                                                          tmp_path):
    """kloompas is killed -9 once kloompas-state records the firing notice as
    delivered (notified=firing), and again once the resolved one was delivered (the
    record deleted): neither is sent again by the next instance."""
    ns, own = fresh_ns(cluster), fresh_ns(cluster)
    k = cluster.kube
    paths = ("/slack", "/hook")
    cfg = write_config(tmp_path, [ns], slack_and_hook(frec))
    k.create_pod(ns, "boom", annotations=CRASH)
    kl = start(kloompas, cluster, cfg, own)
    for path in paths:
        frec.wait(lambda r: accepted_notices(r, path, ns), timeout=60,
                  what=f"the firing notice at {path}")
    rec = until(lambda: (state_record(cluster, own, ns) or {}).get("notified") == "firing" and
                state_record(cluster, own, ns), what="the delivery recorded")
    assert rec["state"] == "firing" and rec["notifiedAt"] > 0, rec
    kill9(kl)
    kl = start(kloompas, cluster, cfg, own)
    wait_ready(kl)
    until(lambda: crashing(kl, ns), what="the restarted instance to see the crash loop")
    time.sleep(3)
    assert "restored alert state" in kl.log()
    for path in paths:
        assert seen_notices(frec, path, ns) == [(ns, "firing")], "re-sent after SIGKILL"

    replace_pod(k, ns, "boom")
    for path in paths:
        frec.wait(lambda r: (ns, "resolved") in accepted_notices(r, path), timeout=60,
                  what=f"the resolved notice at {path}")
    until(lambda: state_record(cluster, own, ns) is None,
          what="the record gone once resolved was delivered")
    kill9(kl)
    kl = start(kloompas, cluster, cfg, own)
    wait_ready(kl)
    time.sleep(3)
    for path in paths:
        assert seen_notices(frec, path, ns) == [(ns, "firing"), (ns, "resolved")]
        assert all(r.outcome == "answered" for r in frec.requests(path))
    assert sent(kl, "slack", "success") == 0 and sent(kl, "hook", "success") == 0
