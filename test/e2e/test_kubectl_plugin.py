"""kubectl-kloompas end to end: two kloompas replicas with leader election against the
real control plane, a crash loop that fires an alert and a temporary scale that leaves a
pending restore; then the plugin's status, alerts and restores (table, JSON, YAML) are
checked against the Lease, the kloompas-state ConfigMap and the Deployment annotations
as the API server holds them. Also: `kubectl kloompas` through the real kubectl on PATH
(plugin discovery), a user holding only deploy/plugin-rbac.yaml can read, a user without
it gets a clear 403, an unreachable server a clear message, usage errors exit 2.

Kloompas runs here as local processes, not as pods: the "kloompas" Deployment in its
namespace is a stand-in (its pods are run by the kubelet simulator) that gives the
plugin the pods and the --controllers argument it reports.
"""
import calendar
import json
import os
import shutil
import subprocess
import time
import uuid

import yaml

from conftest import REPO, _env, scaled, sim_crash
from receiver import Receiver
from test_k8s_faults import sa_token, write_kubeconfig
from test_k8s_leader import LE, leader_gauge, wait_leader
from test_k8s_replicas import TOKEN, api, wait_ready
from test_k8s_watchers import config, fresh_ns

PLUGIN = os.environ.get("KUBECTL_KLOOMPAS_BIN", "")
CONTROLLERS = "crash-watcher,replica-enforcer"


def plugin(*args, kubeconfig=None, timeout=60):
    """Runs kubectl-kloompas; returns (exit code, stdout, stderr)."""
    assert PLUGIN, "KUBECTL_KLOOMPAS_BIN is not set: run the suite through meson test"
    kc = ["--kubeconfig", kubeconfig] if kubeconfig else []
    p = subprocess.run([PLUGIN, *kc, *args], capture_output=True, text=True,
                       timeout=scaled(timeout), env=_env())
    return p.returncode, p.stdout, p.stderr


def parse_time(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def status_json(cluster, own, *extra):
    rc, out, err = plugin("status", "-n", own, "-o", "json", *extra,
                          kubeconfig=cluster.kubeconfig)
    assert rc == 0, out + err
    return json.loads(out)


def plugin_config(tmp_path, rec, ns):
    """The watchers' config (ns routed to the receiver) plus chat-ops for the API."""
    cfg = config(tmp_path, rec, ns)
    (tmp_path / "tokens").write_text(f"{TOKEN} alex.guerra\n")
    with open(cfg, "a") as f:
        f.write(f"""  replica-enforcer: {{ max_temporary: 2h }}
chatops:
  api_tokens_file: {tmp_path / "tokens"}
  allow:
    - users: [alex.guerra]
      namespaces: ["*"]
      max_replicas: 5
""")
    return cfg


def stand_in(k, own):
    """The Deployment deploy/ would make, with 2 replicas and our --controllers."""
    labels = {"app.kubernetes.io/name": "kloompas"}
    k.create_deployment(own, "kloompas", 2, labels=labels, containers=[
        {"name": "kloompas", "args": ["--leader-elect=true", f"--controllers={CONTROLLERS}"]}])
    k.wait_for(lambda: sum(1 for p in k.list("pods", ns=own, label_selector=
                                             "app.kubernetes.io/name=kloompas")
                           if any(c["type"] == "Ready" and c["status"] == "True"
                                  for c in p["status"].get("conditions") or [])) == 2,
               timeout=90, message="the stand-in kloompas pods to be ready")


def reader_kubeconfig(cluster, own, name, tmp_path, bind):
    """A ServiceAccount's kubeconfig; with bind, it holds deploy/plugin-rbac.yaml's roles."""
    k = cluster.kube
    k.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": name}}, ns=own)
    if bind:
        docs = [d for d in yaml.safe_load_all(open(os.path.join(REPO, "deploy",
                                                                 "plugin-rbac.yaml"))) if d]
        assert [d["kind"] for d in docs] == ["Role", "ClusterRole"]
        role, crole = docs
        role["metadata"]["namespace"] = own
        crole["metadata"]["name"] = f"kloompas-plugin-reader-{own}"
        k.create("roles", role, ns=own)
        k.create("clusterroles", crole)
        subj = [{"kind": "ServiceAccount", "name": name, "namespace": own}]
        k.create("rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": role["metadata"]["name"]},
            "subjects": subj}, ns=own)
        k.create("clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": crole["metadata"]["name"]},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": crole["metadata"]["name"]},
            "subjects": subj})
    secret = k.wait_for(lambda: (k.get("serviceaccounts", name=name, ns=own)
                                 .get("secrets") or [{}])[0].get("name"),
                        timeout=60, message=f"the token Secret of {name}")
    return write_kubeconfig(tmp_path / f"kc-{name}", cluster.url, cluster.env["CA_FILE"],
                            {"token": sa_token(k, own, secret)})


def test_plugin_against_running_kloompas(cluster, kubelet, kloompas, tmp_path):
    k = cluster.kube
    rec = Receiver()
    try:
        ns, other, own = fresh_ns(cluster), fresh_ns(cluster), fresh_ns(cluster)
        stand_in(k, own)
        k.create_deployment(other, "web", 1)
        cfg = plugin_config(tmp_path, rec, ns)
        replicas = [kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
                             "--leader-elect-resource-namespace", own,
                             f"--controllers={CONTROLLERS}",
                             "--chatops-bind-address=127.0.0.1:0", *LE) for _ in range(2)]
        leader = wait_leader(replicas)[0]
        wait_ready(leader)

        # an alert fires: a crash loop in ns
        k.create_pod(ns, "boom", annotations=sim_crash())
        # a pending restore: other/web to 3 for an hour, back to 1 then
        status, _, out = api(leader.chatops_port, {"namespace": other, "deployment": "web",
                                                   "replicas": 3, "for": "1h"})
        assert status == 200, out

        def firing():
            s = status_json(cluster, own)
            return s if any(a["namespace"] == ns and a["state"] == "firing"
                            for a in s["alerts"]) else None
        s = k.wait_for(firing, timeout=60, message="the alert in the plugin's status")

        # -o json against what the API server holds
        lease = k.get("leases", name="kloompas", ns=own)["spec"]
        assert s["namespace"] == own
        assert s["leader"]["identity"] == lease["holderIdentity"]
        assert leader_gauge(leader) == 1 and lease["holderIdentity"] in leader.log()
        assert abs(parse_time(s["leader"]["renewTime"]) - time.time()) < 10
        assert s["leader"]["leaseDurationSeconds"] == 3
        assert s["replicas"]["pods"] == 2 and s["replicas"]["ready"] == 2
        assert s["controllers"]["enabled"] == CONTROLLERS
        assert s["controllers"]["withAlerts"] == ["crash-watcher"]
        mine = [a for a in s["alerts"] if a["namespace"] == ns]
        assert len(mine) == 1 and mine[0]["controller"] == "crash-watcher"
        record = json.loads(k.get("configmaps", name="kloompas-state", ns=own)
                            ["data"][f"crash-watcher.{ns}"])
        assert record["state"] == "firing"
        assert parse_time(mine[0]["since"]) == record["since"] // 1000
        assert abs(parse_time(mine[0]["since"]) - time.time()) < 60
        ann = k.get("deployments", name="web", ns=other)["metadata"]["annotations"]
        rs = [r for r in s["restores"] if r["namespace"] == other]
        assert rs == [{"namespace": other, "deployment": "web", "replicas": 1,
                       "currentReplicas": 3, "at": ann["kloompas.io/restore-at"]}]
        assert 3500 < parse_time(rs[0]["at"]) - time.time() <= 3600

        # the table names the same things
        rc, out, err = plugin("status", "-n", own, kubeconfig=cluster.kubeconfig)
        assert rc == 0, err
        assert f"Leader:       {lease['holderIdentity']} (leading for " in out
        assert "Replicas:     2 pods, 2 ready" in out
        assert f"Controllers:  {CONTROLLERS} (--controllers of deployment {own}/kloompas)" in out
        row = next(l for l in out.splitlines() if l.startswith(ns + " "))
        assert row.split()[:3] == [ns, "crash-watcher", "firing"]
        row = next(l for l in out.splitlines() if l.startswith(other + " "))
        assert row.split()[:5] == [other, "web", "3", "1", ann["kloompas.io/restore-at"]]
        assert row.split()[5] in ("59m", "60m")

        # alerts NAMESPACE filters; restores lists; -o yaml carries the same fields
        rc, out, err = plugin("alerts", ns, "-n", own, "-o", "json",
                              kubeconfig=cluster.kubeconfig)
        assert rc == 0, err
        assert [(a["namespace"], a["state"]) for a in json.loads(out)["alerts"]] == \
            [(ns, "firing")]
        rc, out, err = plugin("alerts", other, "-n", own, kubeconfig=cluster.kubeconfig)
        assert rc == 0 and out == "No alerts.\n", out + err
        rc, out, err = plugin("restores", "-n", own, "-o", "yaml",
                              kubeconfig=cluster.kubeconfig)
        assert rc == 0, err
        y = yaml.safe_load(out)
        assert "alerts" not in y and {"namespace": other, "deployment": "web", "replicas": 1,
                                      "currentReplicas": 3,
                                      "at": ann["kloompas.io/restore-at"]} in y["restores"]
        rc, out, err = plugin("status", "-n", own, "-o", "yaml", kubeconfig=cluster.kubeconfig)
        assert rc == 0 and yaml.safe_load(out)["leader"]["identity"] == \
            lease["holderIdentity"], err

        # through kubectl itself: plugin discovery on PATH
        exe = shutil.which("kubectl")
        assert exe, "kubectl is not installed (test/cluster/build.sh installs it)"
        bindir = tmp_path / "bin"
        bindir.mkdir()
        os.symlink(PLUGIN, bindir / "kubectl-kloompas")
        env = dict(_env(), PATH=f"{bindir}:{os.environ['PATH']}", KUBECONFIG=cluster.kubeconfig)
        p = subprocess.run([exe, "kloompas", "status", "-n", own], capture_output=True,
                           text=True, timeout=scaled(60), env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"Leader:       {lease['holderIdentity']}" in p.stdout
        p = subprocess.run([exe, "plugin", "list"], capture_output=True, text=True,
                           timeout=scaled(60), env=env)
        assert str(bindir / "kubectl-kloompas") in p.stdout, p.stdout + p.stderr

        # a reader with only deploy/plugin-rbac.yaml sees the same; one without it a 403
        kc = reader_kubeconfig(cluster, own, "viewer", tmp_path, bind=True)
        seen = k.wait_for(lambda: plugin("status", "-n", own, "-o", "json",
                                         kubeconfig=kc)[0] == 0 and
                          json.loads(plugin("status", "-n", own, "-o", "json",
                                            kubeconfig=kc)[1]),
                          timeout=30, message="the reader's RBAC to take effect")
        assert seen["leader"]["identity"] == lease["holderIdentity"]
        assert any(a["namespace"] == ns for a in seen["alerts"])
        assert any(r["namespace"] == other for r in seen["restores"])
        kc = reader_kubeconfig(cluster, own, "nobody", tmp_path, bind=False)
        rc, out, err = plugin("status", "-n", own, kubeconfig=kc)
        assert rc == 1 and out == "", out
        assert "forbidden (403)" in err and "docs/kubectl-plugin.md" in err, err
        assert f"system:serviceaccount:{own}:nobody" in err, err
        assert "Traceback" not in err and "Sanitizer" not in err, err
    finally:
        rec.close()


def test_plugin_errors(cluster, tmp_path):
    own = "nowhere-" + uuid.uuid4().hex[:6]
    # a namespace without Kloompas: nothing is an error, everything is "none"
    s = status_json(cluster, own)
    assert s["leader"] is None and s["alerts"] == [] and s["replicas"]["pods"] == 0
    assert s["controllers"]["enabled"] is None
    rc, out, err = plugin("status", "-n", own, kubeconfig=cluster.kubeconfig)
    assert rc == 0 and "Leader:       none (no Lease" in out, out + err
    # an API server that does not answer
    kc = write_kubeconfig(tmp_path / "kc-down", "https://127.0.0.1:1", cluster.env["CA_FILE"],
                          {"token": "x"})
    rc, out, err = plugin("status", kubeconfig=kc)
    assert rc == 1 and out == "", out
    assert "the API server at https://127.0.0.1:1" in err and "onnect" in err, err
    # usage errors and a kubeconfig context that does not exist
    for args, want in [(["stauts"], 'unknown command "stauts"'),
                       (["status", "--bogus"], 'unknown flag "--bogus"'),
                       (["status", "-o", "xml"], 'unknown format "xml"'),
                       (["alerts", "a", "b"], 'unexpected argument "b"'),
                       (["status", "-n"], "--namespace: needs a value")]:
        rc, out, err = plugin(*args, kubeconfig=cluster.kubeconfig)
        assert rc == 2 and want in err and out == "", (args, rc, err)
    rc, out, err = plugin("status", "--context", "nope", kubeconfig=cluster.kubeconfig)
    assert rc == 1 and '"nope"' in err, err
