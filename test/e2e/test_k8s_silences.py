"""Silences from chat end to end (issue 15): the bearer API, Slack slash commands and
the buttons of alert messages (POST /slack/interactive) against a real control plane,
the kubelet simulator crash-looping pods and a local receiver playing Slack, the
webhook consumer and Slack's response_url, and Debian's prometheus-alertmanager for the
silences made there too.
"""
import functools
import json
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

import chat
from conftest import get, sim_crash
from receiver import Receiver
from test_k8s_watchers import crash_lines, free_port, fresh_ns

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "api-token-" + "5" * 24
BOB = "api-token-" + "6" * 24

slash = functools.partial(chat.slash, secret=SECRET)
interactive = functools.partial(chat.interactive, secret=SECRET)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def env(cluster, kubelet, kloompas, receiver, tmp_path):
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    (tmp_path / "signing").write_text(SECRET + "\n")
    (tmp_path / "tokens").write_text(f"{TOKEN} alex.guerra\n{BOB} bob\n")
    cfg = tmp_path / "k.yaml"
    cfg.write_text(f"""cluster: PRODUCTION
notifiers:
  - name: slack
    type: slack
    url: {receiver.url}/slack
  - name: hook
    type: webhook
    url: {receiver.url}/hook
routes:
  - namespaces: ["{ns}"]
    notifiers: [slack, hook]
controllers:
  crash-watcher: {{ reasons: [CrashLoopBackOff], for: 0s, repeat_interval: 1h }}
chatops:
  slack_signing_secret_file: signing
  api_tokens_file: tokens
  max_silence: 48h
  response_url_hosts: ["127.0.0.1"]
  allow:
    - users: [alex.guerra]
      namespaces: ["{ns}"]
      silence: true
    - users: [bob]
      namespaces: ["{ns}"]
      max_replicas: 0
""")

    def start(*extra):
        kl = kloompas("--kubeconfig", cluster.kubeconfig, "--config", str(cfg),
                      "--leader-elect-resource-namespace", own,
                      "--controllers=crash-watcher", "--chatops-bind-address=127.0.0.1:0",
                      *extra)
        deadline = time.monotonic() + 60
        while get(kl.port, "/readyz")[0] != 200:
            assert time.monotonic() < deadline, "kloompas not ready:\n" + kl.log()
            time.sleep(0.2)
        return kl

    return {"ns": ns, "own": own, "k": cluster.kube, "start": start, "kl": start()}


def api(kl, command, token=TOKEN):
    st, _, body = chat.post(kl.chatops_port, "/api/v1/silences",
                            json.dumps({"command": command}).encode(),
                            {"Content-Type": "application/json",
                             "Authorization": f"Bearer {token}"})
    return st, json.loads(body)


def metric(kl, line_prefix):
    for line in get(kl.port, "/metrics")[2].decode().splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


def state(env):
    """The state ConfigMap's data ({} before its first write)."""
    from kube import ApiError  # test/cluster, on the path once the cluster runs
    try:
        cm = env["k"].get("configmaps", name="kloompas-state", ns=env["own"])
    except ApiError as e:
        assert e.status == 404, e
        return {}
    return cm.get("data") or {}


def wait_for(pred, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def crash_notices(receiver, ns):
    return crash_lines(receiver.slack_texts(), ns)


def test_silence_holds_then_one_notice_at_expiry(env, receiver):
    kl, ns = env["kl"], env["ns"]
    st, ans = api(kl, f"silence {ns} 12s deploy in progress")
    assert st == 200, ans
    assert ans["result"].startswith(f"alex.guerra silenced {ns} (all controllers) until ")
    assert ans["result"].endswith(": deploy in progress")
    set_at = time.monotonic()
    assert metric(kl, "kloompas_silences") == 1
    assert metric(kl, 'kloompas_chatops_commands_total{command="silence",result="success"}') == 1
    env["k"].create_pod(ns, "api-1", annotations=sim_crash("crashloop:3"))
    # the alert is evaluated (it fires) but nothing is sent
    lines = wait_for(lambda: (lambda a: a[1]["result"] if "firing since" in a[1]["result"] else None)(
        api(kl, f"alerts {ns}")), "the alert to fire")
    assert f"{ns} KloompasPodCrashLooping firing since " in lines
    assert "1 Pod(s) in CrashLoopBackOff (silenced until " in lines
    st, ans = api(kl, f"silences {ns}")
    assert st == 200 and f"{ns} (all controllers) until " in ans["result"]
    assert "by alex.guerra" in ans["result"] and ans["result"].endswith("deploy in progress\n")
    assert crash_notices(receiver, ns) == []
    assert receiver.bodies("/hook") == []
    # the silence ends while the pod still crashes: exactly one notice
    receiver.wait(lambda r: crash_notices(r, ns), timeout=30, what="the notice after the silence")
    assert time.monotonic() - set_at >= 11
    time.sleep(3)
    assert len(crash_notices(receiver, ns)) == 1
    assert len([b for b in receiver.bodies("/hook") if ns in b]) == 1
    assert metric(kl, "kloompas_silences") == 0
    assert not any(k.startswith("silence.") for k in state(env))


def test_unauthorized_silence_refused_nothing_stored(env, receiver):
    kl, ns = env["kl"], env["ns"]
    st, ans = api(kl, f"silence {ns} 1h", token=BOB)
    assert st == 403 and ans == {"error": f"bob may not silence alerts in {ns}"}
    st, _, body = slash(kl.chatops_port, f"silence {ns} 1h", user="bob")
    assert st == 200
    assert json.loads(body) == {"response_type": "ephemeral",
                                "text": f"bob may not silence alerts in {ns}"}
    st, ans = api(kl, "silence kube-system 1h")
    assert st == 403
    st, ans = api(kl, f"silence {ns} 49h")
    assert st == 400 and "longer than the allowed 48h" in ans["error"]
    # bob may read: the list is empty
    st, ans = api(kl, f"silences {ns}", token=BOB)
    assert st == 200 and ans == {"result": "No silences."}
    assert metric(kl, "kloompas_silences") == 0
    assert metric(kl, 'kloompas_chatops_commands_total{command="silence",result="denied"}') == 3
    time.sleep(1.5)  # a state flush would have written it
    assert not any(k.startswith("silence.") for k in state(env))
    # slash commands run the silence verbs too; unsilence ends it
    st, _, body = slash(kl.chatops_port, f"silence {ns} crash-watcher 1h")
    assert st == 200 and json.loads(body)["response_type"] == "in_channel"
    wait_for(lambda: f"silence.{ns}.crash-watcher" in state(env), "the stored silence")
    st, _, body = slash(kl.chatops_port, f"unsilence {ns}")
    assert json.loads(body)["text"] == f"alex.guerra ended 1 silence(s) of {ns}"
    wait_for(lambda: f"silence.{ns}.crash-watcher" not in state(env), "the deleted silence")


def test_buttons(env, receiver):
    kl, ns = env["kl"], env["ns"]
    other = Receiver(host="127.0.0.2")
    try:
        env["k"].create_pod(ns, "api-1", annotations=sim_crash("crashloop:3"))
        receiver.wait(lambda r: crash_notices(r, ns), what="the crash notice")
        msg = json.loads(receiver.bodies("/slack")[0])
        buttons = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
            ("Silence 1h", "kl_silence_1h", f"{ns} crash-watcher"),
            ("Silence 1d", "kl_silence_1d", f"{ns} crash-watcher"),
            ("Show alerts", "kl_alerts", f"{ns} crash-watcher")]
        assert msg["text"].startswith("PODS IN CRASH on *PRODUCTION*:")
        resp = receiver.url + "/resp"
        click = chat.block_actions("alex.guerra", "kl_silence_1h", f"{ns} crash-watcher", resp)

        # forged, stale, replayed: 401 and nothing changes
        st, _, _, _ = interactive(kl.chatops_port, click, sig="v0=" + "0" * 64)
        assert st == 401
        st, _, _, _ = interactive(kl.chatops_port, click, ts=int(time.time()) - 600)
        assert st == 401
        # a host off the allow list is never called, nothing stored
        off = chat.block_actions("alex.guerra", "kl_silence_1h", f"{ns} crash-watcher",
                                 other.url + "/resp")
        st, _, _, _ = interactive(kl.chatops_port, off)
        assert st == 400
        # bob clicks: authorized again as bob, refused (ephemeral, original kept)
        st, _, _, _ = interactive(kl.chatops_port,
                                  chat.block_actions("bob", "kl_silence_1d", f"{ns}", resp))
        assert st == 200
        refusal = json.loads(receiver.wait(lambda r: r.bodies("/resp"), what="bob's answer")[0])
        assert refusal == {"replace_original": False, "response_type": "ephemeral",
                           "text": f"bob may not silence alerts in {ns}"}
        assert metric(kl, "kloompas_silences") == 0

        st, _, _, req = interactive(kl.chatops_port, click)
        assert st == 200
        done = receiver.wait(lambda r: r.bodies("/resp")[1:], what="the update")[0]
        done = json.loads(done)
        assert done["replace_original"] is True
        assert done["text"].startswith(f"alex.guerra silenced {ns} (crash-watcher) until ")
        assert metric(kl, "kloompas_silences") == 1
        st, _, _, _ = chat.replay(kl.chatops_port, req)
        assert st == 401
        time.sleep(1)
        assert len(receiver.bodies("/resp")) == 2
        assert other.bodies("/resp") == []
        wait_for(lambda: f"silence.{ns}.crash-watcher" in state(env), "the stored silence")
        # Show alerts answers with the alert, silenced
        st, _, _, _ = interactive(kl.chatops_port,
                                  chat.block_actions("alex.guerra", "kl_alerts",
                                                     f"{ns} crash-watcher", resp))
        assert st == 200
        shown = json.loads(receiver.wait(lambda r: r.bodies("/resp")[2:], what="alerts")[0])
        assert "KloompasPodCrashLooping firing since" in shown["text"]
        assert "(silenced until " in shown["text"]
    finally:
        other.close()


def test_silence_survives_sigkill(env, receiver):
    kl, ns = env["kl"], env["ns"]
    st, ans = api(kl, f"silence {ns} crash-watcher 25s")
    assert st == 200, ans
    set_at = time.monotonic()
    wait_for(lambda: f"silence.{ns}.crash-watcher" in state(env), "the stored silence")
    kl.stop(signal.SIGKILL)
    env["k"].create_pod(ns, "api-1", annotations=sim_crash("crashloop:3"))
    kl = env["start"]()
    assert metric(kl, "kloompas_silences") == 1
    st, ans = api(kl, f"silences {ns}")
    assert f"{ns} crash-watcher until " in ans["result"]
    wait_for(lambda: "firing since" in api(kl, f"alerts {ns}")[1]["result"], "the alert to fire")
    assert crash_notices(receiver, ns) == []
    receiver.wait(lambda r: crash_notices(r, ns), timeout=40, what="the notice at expiry")
    assert time.monotonic() - set_at >= 24
    time.sleep(3)
    assert len(crash_notices(receiver, ns)) == 1


def test_silence_survives_failover(env, receiver):
    from test_k8s_leader import LE, leader_gauge
    ns = env["ns"]
    assert env["kl"].stop() == 0  # this one runs without leader election
    a = env["start"](*LE)
    wait_for(lambda: leader_gauge(a) == 1, "a to lead")
    b = env["start"](*LE)
    st, ans = api(a, f"silence {ns} 25s failover drill")
    assert st == 200, ans
    set_at = time.monotonic()
    # a follower keeps no silences: it asks the leader, whose answer it relays
    st, ans = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(api(b, f"silences {ns}")),
                       "the follower to relay the leader's answer")
    assert "failover drill" in ans["result"], ans
    wait_for(lambda: f"silence.{ns}" in state(env), "the stored silence")
    env["k"].create_pod(ns, "api-1", annotations=sim_crash("crashloop:3"))
    a.stop(signal.SIGKILL)
    wait_for(lambda: leader_gauge(b) == 1, "b to take over")
    seen = []

    def listed():
        seen.append(api(b, f"silences {ns}"))
        return "failover drill" in seen[-1][1].get("result", "")
    wait_for(listed, "the silence on the new leader")
    # until it has read the state, the new leader says so (503, try again)
    assert all(st == 200 or "try again" in a["error"] for st, a in seen), seen
    assert metric(b, "kloompas_silences") == 1
    wait_for(lambda: "firing since" in api(b, f"alerts {ns}")[1]["result"], "the alert to fire")
    assert crash_notices(receiver, ns) == []
    receiver.wait(lambda r: crash_notices(r, ns), timeout=40, what="the notice at expiry")
    assert time.monotonic() - set_at >= 24
    time.sleep(3)
    assert len(crash_notices(receiver, ns)) == 1


def metric_sum(kl, name):
    """The sum of every series of a metric (0 when it has none)."""
    total = 0.0
    for line in get(kl.port, "/metrics")[2].decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.split()[-1])
    return total


def forwarded(kl, result):
    return metric(kl, f'kloompas_chatops_forwarded_total{{result="{result}"}}') or 0


def two_replicas(env):
    """env's replica stopped; a leads, b follows (and has read a's address)."""
    from test_k8s_leader import LE, leader_gauge
    assert env["kl"].stop() == 0  # this one runs without leader election
    a = env["start"](*LE)
    wait_for(lambda: leader_gauge(a) == 1, "a to lead")
    b = env["start"](*LE)
    assert leader_gauge(b) == 0
    return a, b


def test_follower_forwards_to_the_leader(env, receiver):
    """Commands, slash commands and clicks sent to the follower are run by the leader;
    what the follower refuses is never forwarded; after a failover the other answers."""
    from test_k8s_leader import leader_gauge
    ns = env["ns"]
    a, b = two_replicas(env)
    resp = receiver.url + "/resp"

    # the API: applied by the leader, the leader's answer relayed as is
    st, ans = wait_for(lambda: (lambda r: r if r[0] != 503 else None)(
        api(b, f"silence {ns} 1h forwarded drill")), "the follower to find the leader")
    assert st == 200, ans
    assert ans["result"].startswith(f"alex.guerra silenced {ns} (all controllers) until ")
    assert ans["result"].endswith(": forwarded drill")
    wait_for(lambda: f"silence.{ns}" in state(env), "the stored silence")
    assert metric(a, "kloompas_silences") == 1
    assert metric(a, 'kloompas_chatops_commands_total{command="silence",result="success"}') == 1
    assert metric_sum(b, "kloompas_chatops_commands_total") == 0  # b ran nothing itself
    assert forwarded(b, "ok") == 1
    assert forwarded(a, "ok") == 0
    assert "forwarded to the leader" in b.log()
    # a refusal comes back with the leader's status
    st, ans = api(b, f"silence {ns} 1h", token=BOB)
    assert st == 403 and ans == {"error": f"bob may not silence alerts in {ns}"}

    # a slash command (the silences serve /slack/commands: no replica enforcer here)
    st, hd, body = slash(b.chatops_port, f"silences {ns}")
    assert st == 200 and "application/json" in hd.lower()
    assert "forwarded drill" in json.loads(body)["text"]
    # help lists the silence verbs
    st, _, body = slash(b.chatops_port, "help")
    text = json.loads(body)["text"]
    for verb in ("silence NAMESPACE [CONTROLLER] DURATION [REASON...]",
                 "unsilence NAMESPACE [CONTROLLER]", "silences [NAMESPACE]",
                 "alerts [NAMESPACE]", "help  this text"):
        assert verb in text, text
    assert "set-replicas" not in text  # the replica enforcer does not run here

    # a click: verified by both, run and answered through response_url by the leader
    click = chat.block_actions("alex.guerra", "kl_silence_1d", f"{ns} crash-watcher", resp)
    st, _, body, req = interactive(b.chatops_port, click)
    assert st == 200 and body == b""
    done = json.loads(receiver.wait(lambda r: r.bodies("/resp"), what="the update")[0])
    assert done["replace_original"] is True
    assert done["text"].startswith(f"alex.guerra silenced {ns} (crash-watcher) until ")
    wait_for(lambda: f"silence.{ns}.crash-watcher" in state(env), "the clicked silence")
    assert metric(a, "kloompas_silences") == 2
    # the same click again, through the leader itself: a replay the leader refuses
    st, _, _, _ = chat.replay(a.chatops_port, req)
    assert st == 401

    # forged, stale, no token: refused by the follower, nothing forwarded
    before_a = metric_sum(a, "kloompas_chatops_commands_total")
    before_b = metric_sum(b, "kloompas_chatops_forwarded_total")
    st, _, _, _ = interactive(b.chatops_port, click, sig="v0=" + "0" * 64)
    assert st == 401
    st, _, _, _ = interactive(b.chatops_port, click, ts=int(time.time()) - 600)
    assert st == 401
    st, _, _ = slash(b.chatops_port, f"silence {ns} 1h", sig="v0=" + "1" * 64,
                     ts=int(time.time()))
    assert st == 401
    st, ans = api(b, f"silence {ns} 1h", token="api-token-" + "0" * 24)
    assert st == 401
    assert metric(b, 'kloompas_chatops_commands_total{command="unknown",'
                     'result="unauthenticated"}') == 4
    assert metric_sum(b, "kloompas_chatops_forwarded_total") == before_b
    assert metric_sum(a, "kloompas_chatops_commands_total") == before_a

    # the loop guard: a forwarded request reaching a replica that does not lead
    def as_forwarded(kl):
        st, _, body = chat.post(kl.chatops_port, "/api/v1/silences",
                                json.dumps({"command": f"silences {ns}"}).encode(),
                                {"Content-Type": "application/json",
                                 "Authorization": f"Bearer {TOKEN}",
                                 "X-Kloompas-Forwarded": "1"})
        return st, json.loads(body)
    st, ans = as_forwarded(b)
    assert st == 503 and "does not lead" in ans["error"]
    assert forwarded(b, "loop") == 1
    assert metric_sum(a, "kloompas_chatops_commands_total") == before_a
    # ... while the leader takes a forwarded request as any other
    st, ans = as_forwarded(a)
    assert st == 200 and "forwarded drill" in ans["result"]

    # failover: the leader killed by PID; b leads and answers itself, from the state
    a.stop(signal.SIGKILL)
    st, ans = api(b, f"silences {ns}")
    assert st in (200, 503), ans  # a is gone: answered by nobody but b
    if st == 503:
        assert "try again" in ans["error"]
    wait_for(lambda: leader_gauge(b) == 1, "b to take over")
    st, ans = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(api(b, f"silences {ns}")),
                       "b to answer as the leader")
    assert "forwarded drill" in ans["result"] and f"{ns} crash-watcher until " in ans["result"]
    assert metric(b, "kloompas_silences") == 2
    ok = forwarded(b, "ok")
    st, ans = api(b, f"unsilence {ns}")
    assert st == 200 and ans["result"] == f"alex.guerra ended 2 silence(s) of {ns}"
    assert forwarded(b, "ok") == ok  # run by b itself
    wait_for(lambda: not any(k.startswith(f"silence.{ns}") for k in state(env)),
             "the ended silences")


def test_forward_to_an_unreachable_leader(env, receiver):
    """A leader that stopped answering (SIGSTOP) but still holds its Lease: the follower
    gives up within its timeout and says why, 503."""
    ns = env["ns"]
    a, b = two_replicas(env)
    wait_for(lambda: api(b, f"silences {ns}")[0] == 200, "the follower to find the leader")
    a.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        st, ans = api(b, f"silences {ns}")
        took = time.monotonic() - t0
        # either the Lease still looked held (timeout) or already expired (no leader)
        assert st == 503 and "try again" in ans["error"], ans
        assert took < 7, took
        assert forwarded(b, "unreachable") + forwarded(b, "no_leader") == 1
    finally:
        a.proc.send_signal(signal.SIGCONT)
    a.stop(signal.SIGKILL)


def test_follower_stopped_with_a_forward_in_flight(env, receiver):
    """SIGTERM while a forward waits on a leader that does not answer: the forward is
    cancelled and the follower exits 0 at once (nothing leaked or left pending; the
    chat-ops listener closes its connections hard at shutdown, so the client sees the
    connection closed, never a success)."""
    import threading
    ns = env["ns"]
    a, b = two_replicas(env)
    wait_for(lambda: api(b, f"silences {ns}")[0] == 200, "the follower to find the leader")
    a.proc.send_signal(signal.SIGSTOP)
    got = []

    def ask():
        try:
            got.append(api(b, f"silences {ns}")[0])
        except (IndexError, OSError):  # closed without an answer
            got.append(None)
    try:
        t = threading.Thread(target=ask)
        t.start()
        time.sleep(1)  # the forward is in flight (for up to 5 s)
        assert not got
        t0 = time.monotonic()
        assert b.stop(signal.SIGTERM) == 0, b.log()
        assert time.monotonic() - t0 < 4  # not held up by the forward's timeout
        t.join(timeout=10)
        assert got in ([None], [503]), got
    finally:
        a.proc.send_signal(signal.SIGCONT)
    a.stop(signal.SIGKILL)


def test_alertmanager_silence_created_and_expired(cluster, kubelet, kloompas, tmp_path):
    am = shutil.which("prometheus-alertmanager")
    assert am, "Debian's prometheus-alertmanager must be installed (scripts/deps.sh)"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    p = subprocess.Popen([am, f"--config.file={tmp_path / 'am.yml'}",
                          f"--storage.path={tmp_path / 'am-data'}",
                          f"--web.listen-address=127.0.0.1:{port}",
                          "--cluster.listen-address="],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _ok(base + "/-/ready"), "alertmanager to start")
        ns, own = fresh_ns(cluster), fresh_ns(cluster)
        (tmp_path / "tokens").write_text(f"{TOKEN} alex.guerra\n")
        cfg = tmp_path / "am-k.yaml"
        cfg.write_text(f"""cluster: PRODUCTION
notifiers:
  - name: am
    type: alertmanager
    url: {base}/
routes:
  - namespaces: ["{ns}"]
    notifiers: [am]
chatops:
  api_tokens_file: tokens
  allow:
    - users: [alex.guerra]
      namespaces: ["{ns}"]
      silence: true
""")
        kl = kloompas("--kubeconfig", cluster.kubeconfig, "--config", str(cfg),
                      "--leader-elect-resource-namespace", own,
                      "--controllers=crash-watcher,notready-watcher",
                      "--chatops-bind-address=127.0.0.1:0")
        wait_for(lambda: get(kl.port, "/readyz")[0] == 200, "kloompas to be ready", 60)
        st, ans = api(kl, f"silence {ns} crash-watcher 2h flaky deploy")
        assert st == 200, ans
        env = {"k": cluster.kube, "own": own}

        def mine():
            return [s for s in json.load(urllib.request.urlopen(base + "/api/v2/silences",
                                                                timeout=5))
                    if {"name": "namespace", "value": ns, "isRegex": False,
                        "isEqual": True} in s["matchers"]]

        sil = wait_for(mine, "the Alertmanager silence")
        assert len(sil) == 1  # crash-watcher only: not the notready-watcher's alertname
        s = sil[0]
        assert s["status"]["state"] == "active"
        assert s["createdBy"] == "alex.guerra" and s["comment"] == "flaky deploy"
        got = {(m["name"], m["value"]) for m in s["matchers"]}
        assert got == {("alertname", "KloompasPodCrashLooping"), ("cluster", "PRODUCTION"),
                       ("namespace", ns)}
        # the id is kept with the chat silence
        rec = wait_for(lambda: state(env).get(f"silence.{ns}.crash-watcher", "").find(s["id"])
                       >= 0, "the id in the state ConfigMap")
        assert rec
        st, ans = api(kl, f"unsilence {ns}")
        assert st == 200 and ans["result"] == f"alex.guerra ended 1 silence(s) of {ns}"
        wait_for(lambda: mine()[0]["status"]["state"] == "expired", "the expired silence")
    finally:
        p.terminate()
        p.wait(timeout=10)


def _ok(url):
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False
