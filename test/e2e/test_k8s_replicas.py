"""replica-enforcer and chat-ops end to end: signed Slack slash commands and the bearer
API against a real control plane (kube-controller-manager turns replica changes
into pods, the kubelet simulator runs them), temporary scales restored on time
(also across a restart), and bounds enforced after a scale from outside.
"""
import functools
import json
import time
import urllib.parse
import uuid

import pytest

import chat
from conftest import get

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "api-token-" + "7" * 24


sign = functools.partial(chat.sign, secret=SECRET)
slash = functools.partial(chat.slash, secret=SECRET)
post = chat.post


def api(port, obj, token=TOKEN):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return post(port, "/api/v1/replicas", body, {"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {token}"})


@pytest.fixture
def setup(cluster, kubelet, kloompas, tmp_path):
    ns = "rs-" + uuid.uuid4().hex[:8]
    other = "other-" + uuid.uuid4().hex[:8]
    own = "own-" + uuid.uuid4().hex[:8]
    k = cluster.kube
    for n in (ns, other, own):
        k.create_namespace(n)
    k.create_deployment(ns, "web", 1)
    k.create_deployment(other, "web", 1)
    (tmp_path / "signing").write_text(SECRET + "\n")
    (tmp_path / "tokens").write_text(f"# token user\n{TOKEN} alex.guerra\n")
    (tmp_path / "k.yaml").write_text(f"""cluster: PRODUCTION
controllers:
  replica-enforcer: {{ max_temporary: 1h }}
chatops:
  slack_signing_secret_file: signing
  api_tokens_file: tokens
  allow:
    - users: [alex.guerra]
      namespaces: ["rs-*"]
      max_replicas: 5
""")

    def start(*extra):
        return kloompas("--kubeconfig", cluster.kubeconfig, "--config", str(tmp_path / "k.yaml"),
                        "--controllers=replica-enforcer", "--chatops-bind-address=127.0.0.1:0",
                        "--leader-elect-resource-namespace", own, *extra)

    kl = start()
    wait_ready(kl)
    return {"ns": ns, "other": other, "k": k, "kl": kl, "start": start}


def wait_ready(kl):
    deadline = time.monotonic() + 60
    while get(kl.port, "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "kloompas not ready"
        time.sleep(0.2)


def replicas(k, ns, name="web"):
    return k.get("deployments", name=name, ns=ns)["spec"]["replicas"]


def events(k, ns, name="web"):
    return [e for e in k.list("events", ns=ns)
            if e["involvedObject"]["name"] == name and e["source"].get("component") == "kloompas"]


def test_signed_slash_command_scales(setup):
    s = setup
    status, _, body = slash(s["kl"].chatops_port, f"set-replicas {s['ns']} web 3")
    assert status == 200, body
    ans = json.loads(body)
    assert ans == {"response_type": "in_channel", "text": "Replicas of web set to 3 (was 1)"}
    assert replicas(s["k"], s["ns"]) == 3
    # kube-controller-manager makes the pods, the simulated kubelet runs them
    s["k"].wait_for(lambda: len(s["k"].list("pods", ns=s["ns"])) == 3, timeout=60)
    ev = s["k"].wait_for(lambda: events(s["k"], s["ns"]), timeout=20)
    assert "alex.guerra changed replicas from 1 to 3" in ev[0]["message"]
    # the talk's form, with the cluster name in any case
    status, _, body = slash(s["kl"].chatops_port, f"!production-set-replicas {s['ns']} web 2")
    assert status == 200 and json.loads(body)["text"] == "Replicas of web set to 2 (was 3)"
    status, _, body = slash(s["kl"].chatops_port, f"get-replicas {s['ns']} web")
    assert status == 200 and f"Replicas of web in {s['ns']}: 2" in json.loads(body)["text"]


def test_refused_requests_change_nothing(setup):
    s = setup
    port, ns, k = s["kl"].chatops_port, s["ns"], s["k"]
    body = urllib.parse.urlencode({"user_name": "alex.guerra", "text": f"set-replicas {ns} web 4"}
                                  ).encode()
    ts, sig = sign(body)
    cases = [
        # wrong signature
        (post(port, "/slack/commands", body, {"X-Slack-Request-Timestamp": ts,
                                               "X-Slack-Signature": "v0=" + "0" * 64}), 401),
        # a timestamp more than 5 minutes old, correctly signed
        (slash(port, f"set-replicas {ns} web 4", ts=int(time.time()) - 400), 401),
        # the same signed body replayed with another timestamp
        (post(port, "/slack/commands", body, {"X-Slack-Request-Timestamp": str(int(ts) + 1),
                                               "X-Slack-Signature": sig}), 401),
        # no signature at all
        (post(port, "/slack/commands", body, {}), 401),
        # signed garbage: not a slash command
        (slash(port, "", body=b"\x00\xff garbage"), 400),
        # far over the body limit
        (post(port, "/slack/commands", b"x" * 200000, {}), 413),
    ]
    for (status, _, out), want in cases:
        assert status == want, (status, want, out)
    refusals = [
        slash(port, f"set-replicas {ns} web 4", user="mallory"),        # unknown user
        slash(port, f"set-replicas {s['other']} web 4"),                # another namespace
        slash(port, f"set-replicas {ns} web 6"),                        # over max_replicas
    ]
    for status, _, out in refusals:
        ans = json.loads(out)
        assert status == 200 and ans["response_type"] == "ephemeral", out
    assert "mallory" in json.loads(refusals[0][2])["text"]
    assert "at most 5" in json.loads(refusals[2][2])["text"]
    status, _, out = slash(port, "scale web 3")
    assert status == 200 and "unknown command" in json.loads(out)["text"]
    time.sleep(1)
    assert replicas(k, ns) == 1 and replicas(k, s["other"]) == 1
    assert not events(k, ns)
    body = get(s["kl"].port, "/metrics")[2].decode()
    assert 'kloompas_chatops_commands_total{command="unknown",result="unauthenticated"} 4' in body
    assert 'kloompas_chatops_commands_total{command="set-replicas",result="denied"} 3' in body


def test_bearer_api(setup):
    s = setup
    port, ns, k = s["kl"].chatops_port, s["ns"], s["k"]
    status, _, out = api(port, {"namespace": ns, "deployment": "web", "replicas": 2})
    assert status == 200, out
    ans = json.loads(out)
    assert ans["old_replicas"] == 1 and ans["replicas"] == 2 and ans["restore_at"] is None
    assert replicas(k, ns) == 2
    assert api(port, {"namespace": ns, "deployment": "web", "replicas": 3}, token="nope")[0] == 401
    assert api(port, b"{not json")[0] == 400
    assert api(port, {"namespace": ns, "replicas": 3})[0] == 400
    assert api(port, {"namespace": ns, "deployment": "web", "replicas": -1})[0] == 400
    status, _, out = api(port, {"namespace": s["other"], "deployment": "web", "replicas": 3})
    assert status == 403 and "error" in json.loads(out)
    assert api(port, {"namespace": ns, "deployment": "web", "replicas": 9})[0] == 403
    assert replicas(k, ns) == 2 and replicas(k, s["other"]) == 1


def test_temporary_scale_restored_also_across_a_restart(setup):
    s = setup
    port, ns, k = s["kl"].chatops_port, s["ns"], s["k"]
    status, _, out = api(port, {"namespace": ns, "deployment": "web", "replicas": 4, "for": "3s"})
    assert status == 200 and json.loads(out)["restore_at"], out
    ann = k.get("deployments", name="web", ns=ns)["metadata"]["annotations"]
    assert ann["kloompas.io/restore-replicas"] == "1" and "kloompas.io/restore-at" in ann
    assert replicas(k, ns) == 4
    k.wait_for(lambda: replicas(k, ns) == 1, timeout=15, message="not restored on time")
    k.wait_for(lambda: "kloompas.io/restore-at" not in
               k.get("deployments", name="web", ns=ns)["metadata"].get("annotations", {}),
               timeout=10)
    # again, with kloompas stopped while the restore falls due
    status, _, out = api(port, {"namespace": ns, "deployment": "web", "replicas": 3, "for": "2s"})
    assert status == 200 and replicas(k, ns) == 3
    assert s["kl"].stop() == 0
    time.sleep(4)
    assert replicas(k, ns) == 3  # nobody restored it while kloompas was down
    kl2 = s["start"]()
    wait_ready(kl2)
    k.wait_for(lambda: replicas(k, ns) == 1, timeout=15, message="not restored after restart")

    def restore_annotations():
        ann = k.get("deployments", name="web", ns=ns)["metadata"].get("annotations", {})
        return {a for a in ann if a.startswith("kloompas.io/restore")}

    # the annotations go in the step after the scale
    k.wait_for(lambda: not restore_annotations(), timeout=10,
               message="restore annotations not removed")


def test_bounds_enforced_after_an_outside_scale(setup):
    s = setup
    port, ns, k = s["kl"].chatops_port, s["ns"], s["k"]
    k.patch("deployments", {"metadata": {"annotations": {"kloompas.io/min-replicas": "2",
                                                         "kloompas.io/max-replicas": "4"}}},
            name="web", ns=ns)
    k.wait_for(lambda: replicas(k, ns) == 2, timeout=15, message="min bound not enforced")
    k.scale("deployments", ns, "web", 7)  # kubectl scale, outside the bounds
    k.wait_for(lambda: replicas(k, ns) == 4, timeout=15, message="max bound not enforced")
    status, _, out = slash(port, f"set-replicas {ns} web 1")
    assert status == 200 and json.loads(out)["response_type"] == "ephemeral"
    assert "2..4" in json.loads(out)["text"]
    assert replicas(k, ns) == 4
    # each change is counted once its Event is written (the last step)
    k.wait_for(lambda: 'kloompas_replica_changes_total{reason="bounds"} 2' in
               get(s["kl"].port, "/metrics")[2].decode(), timeout=10,
               message="two bounds changes counted")
    assert any("bounds" in e["message"] for e in events(k, ns))
    # one bound alone is named alone (it read "within 2..-1" before)
    k.patch("deployments", {"metadata": {"annotations": {"kloompas.io/max-replicas": None}}},
            name="web", ns=ns)
    k.wait_for(lambda: "kloompas.io/max-replicas" not in
               k.get("deployments", name="web", ns=ns)["metadata"]["annotations"], timeout=10,
               message="max annotation not removed")
    time.sleep(1)  # the informer sees the change
    status, _, out = slash(port, f"set-replicas {ns} web 1")
    text = json.loads(out)["text"]
    assert status == 200 and "must keep at least 2 replicas" in text and "..-1" not in text, text


def test_two_replicas_help_scale_and_forwarded_silence_verbs(setup):
    """Behind one Service: the follower scales itself, answers help with every verb, and
    hands the silence verbs of /slack/commands to the leader."""
    from test_k8s_leader import LE, leader_gauge
    s = setup
    ns, k = s["ns"], s["k"]
    assert s["kl"].stop() == 0
    a = s["start"](*LE)
    deadline = time.monotonic() + 20
    while leader_gauge(a) != 1:
        assert time.monotonic() < deadline, "a did not lead"
        time.sleep(0.1)
    b = s["start"](*LE)
    wait_ready(b)
    assert leader_gauge(b) == 0

    status, _, out = slash(b.chatops_port, "help")
    text = json.loads(out)["text"]
    assert status == 200 and text.startswith("Commands:\n  set-replicas NAMESPACE DEPLOYMENT N")
    for verb in ("get-replicas NAMESPACE DEPLOYMENT", "!CLUSTER-set-replicas",
                 "silence NAMESPACE [CONTROLLER] DURATION [REASON...]",
                 "unsilence NAMESPACE [CONTROLLER]", "silences [NAMESPACE]",
                 "alerts [NAMESPACE]", "help  this text"):
        assert verb in text, text

    # a replica command: answered by the follower itself, as before
    status, _, out = slash(b.chatops_port, f"set-replicas {ns} web 2")
    assert status == 200 and json.loads(out)["text"] == "Replicas of web set to 2 (was 1)"
    assert replicas(k, ns) == 2

    # a silence verb: the leader's answer, through the follower
    deadline = time.monotonic() + 20
    while True:
        status, _, out = slash(b.chatops_port, f"silences {ns}")
        if json.loads(out)["text"] == "No silences.":
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.2)
    metrics = get(b.port, "/metrics")[2].decode()
    assert 'kloompas_chatops_forwarded_total{result="ok"} 1' in metrics
    assert 'kloompas_chatops_commands_total{command="silences"' not in metrics
    metrics = get(a.port, "/metrics")[2].decode()
    assert 'kloompas_chatops_commands_total{command="silences",result="success"} 1' in metrics
