"""kubeclient against the real control plane, through test/tools/klctl.

Every auth form, TLS verification, LIST pagination, WATCH, 410 after etcd
compaction, PATCH of deployments/scale, pods/log through the kubelet simulator,
HTTP/2 and Status errors.
"""
import base64
import json
import os
import stat
import subprocess
import time
import uuid

import pytest

from conftest import klctl, sim_crash


def kubeconfig(tmp_path, cluster, user, name="kc", ca=None, server=None):
    """Writes a kubeconfig with one context and the given user entry (a dict)."""
    ca = ca or cluster.env["CA_FILE"]
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server or cluster.url,
                                                "certificate-authority": ca}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u",
                                                "namespace": "default"}}],
    }
    p = tmp_path / name
    p.write_text(json.dumps(doc))  # JSON is YAML
    return str(p)


def ok_lines(lines):
    return [l for l in lines if l.startswith("OK ")]


NS_PATH = "/api/v1/namespaces/default"


def test_client_certificate_files(cluster):
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "get", NS_PATH, "--http-version")
    assert rc == 0, out + [err]
    assert out[0].startswith("OK 200 Namespace default ")
    assert "HTTP 2" in out  # the apiserver offers h2 and we take it


def test_client_certificate_data(cluster, tmp_path):
    user = {
        "client-certificate-data": base64.b64encode(open(cluster.env["ADMIN_CERT"], "rb")
                                                    .read()).decode(),
        "client-key-data": base64.b64encode(open(cluster.env["ADMIN_KEY"], "rb")
                                            .read()).decode(),
    }
    rc, out, err = klctl("--kubeconfig", kubeconfig(tmp_path, cluster, user), "get", NS_PATH)
    assert rc == 0 and out[0].startswith("OK 200 Namespace default"), out + [err]


def test_bearer_token(cluster, tmp_path):
    kc = kubeconfig(tmp_path, cluster, {"token": cluster.env["ADMIN_TOKEN"]})
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH)
    assert rc == 0 and out[0].startswith("OK 200 "), out + [err]
    # the unprivileged token authenticates (403, not 401)
    kc = kubeconfig(tmp_path, cluster, {"token": cluster.env["USER_TOKEN"]}, name="kc2")
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH)
    assert rc == 1 and out[0].startswith("ERR errno=-1 code=403 reason=Forbidden"), out
    kc = kubeconfig(tmp_path, cluster, {"token": "not-a-token"}, name="kc3")
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH)
    assert rc == 1 and out[0].startswith("ERR errno=-13 code=401"), out


def test_token_file_rotated_during_the_run(cluster, tmp_path):
    tok = tmp_path / "token"
    tok.write_text(cluster.env["ADMIN_TOKEN"] + "\n")
    kc = kubeconfig(tmp_path, cluster, {"tokenFile": str(tok)})
    p = subprocess.Popen([os.environ["KLCTL_BIN"], "--kubeconfig", kc, "--token-reread-ms",
                          "300", "get", NS_PATH, "--repeat", "12", "--interval-ms", "250"],
                         stdout=subprocess.PIPE, text=True)
    seen = []
    for line in p.stdout:
        seen.append(line.strip())
        if len(seen) == 3:
            # rotate to the unprivileged user's token: later requests must use it
            tok.write_text(cluster.env["USER_TOKEN"] + "\n")
    p.wait(timeout=60)
    assert all(l.startswith("OK 200") for l in seen[:3]), seen
    assert seen[-1].startswith("ERR errno=-1 code=403"), seen


def test_token_file_fixed_after_401(cluster, tmp_path):
    """A 401 makes the client re-read the token file at once and retry."""
    tok = tmp_path / "token"
    tok.write_text("stale-token\n")
    kc = kubeconfig(tmp_path, cluster, {"tokenFile": str(tok)})
    p = subprocess.Popen([os.environ["KLCTL_BIN"], "--kubeconfig", kc, "get", NS_PATH,
                          "--repeat", "2", "--interval-ms", "1500"],
                         stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline().strip()
    tok.write_text(cluster.env["ADMIN_TOKEN"] + "\n")
    second = p.stdout.readline().strip()
    p.wait(timeout=60)
    assert first.startswith("ERR errno=-13 code=401"), first
    assert second.startswith("OK 200"), second


PLUGIN = """#!/bin/sh
# counts its runs; prints an ExecCredential
n=$(cat "{count}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{count}"
[ -n "$KUBERNETES_EXEC_INFO" ] || {{ echo "no KUBERNETES_EXEC_INFO" >&2; exit 3; }}
[ "$PLUGIN_ENV" = "from-kubeconfig" ] || {{ echo "env not passed" >&2; exit 4; }}
token="{token}"
if [ "{bad_first}" = yes ] && [ $n -eq 1 ]; then token=wrong; fi
cat <<EOF
{{"apiVersion":"{api}","kind":"ExecCredential","status":{{"token":"$token","expirationTimestamp":"{exp}"}}}}
EOF
"""


def exec_kubeconfig(tmp_path, cluster, api, exp, bad_first=False, name="kc"):
    count = tmp_path / (name + ".count")
    script = tmp_path / (name + ".sh")
    script.write_text(PLUGIN.format(count=count, token=cluster.env["ADMIN_TOKEN"],
                                    api=api, exp=exp, bad_first="yes" if bad_first else "no"))
    script.chmod(0o755)
    user = {"exec": {"apiVersion": api, "command": str(script), "args": ["--flag", "x"],
                     "env": [{"name": "PLUGIN_ENV", "value": "from-kubeconfig"}],
                     "interactiveMode": "Never"}}
    return kubeconfig(tmp_path, cluster, user, name=name), count


def future(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


@pytest.mark.parametrize("api", ["client.authentication.k8s.io/v1",
                                 "client.authentication.k8s.io/v1beta1"])
def test_exec_plugin_cached_until_expiry(cluster, tmp_path, api):
    kc, count = exec_kubeconfig(tmp_path, cluster, api, future(3600))
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH, "--repeat", "4")
    assert rc == 0 and len(ok_lines(out)) == 4, out + [err]
    assert count.read_text().strip() == "1"


def test_exec_plugin_rerun_when_expired(cluster, tmp_path):
    # expires inside the client's safety margin: every request runs the plugin
    kc, count = exec_kubeconfig(tmp_path, cluster, "client.authentication.k8s.io/v1", future(2))
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH, "--repeat", "3")
    assert rc == 0 and len(ok_lines(out)) == 3, out + [err]
    assert count.read_text().strip() == "3"


def test_exec_plugin_rerun_on_401(cluster, tmp_path):
    kc, count = exec_kubeconfig(tmp_path, cluster, "client.authentication.k8s.io/v1",
                                future(3600), bad_first=True)
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH)
    assert rc == 0 and out[0].startswith("OK 200"), out + [err]
    assert count.read_text().strip() == "2"


def test_in_cluster_service_account(cluster, tmp_path):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(cluster.env["ADMIN_TOKEN"])
    (sa / "ca.crt").write_text(open(cluster.env["CA_FILE"]).read())
    (sa / "namespace").write_text("kube-system\n")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": cluster.env["APISERVER_PORT"],
           "HOME": str(tmp_path), "KUBECONFIG": ""}
    rc, out, err = klctl("--sa-dir", str(sa), "get", NS_PATH, env=env)
    assert rc == 0 and out[0].startswith("OK 200 Namespace default"), out + [err]


def test_wrong_ca_fails_tls(cluster, tmp_path):
    key, crt = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-subj", "/CN=other-ca", "-days", "1"],
                   check=True, capture_output=True)
    kc = kubeconfig(tmp_path, cluster, {"token": cluster.env["ADMIN_TOKEN"]}, ca=str(crt))
    rc, out, err = klctl("--kubeconfig", kc, "get", NS_PATH)
    assert rc == 1
    assert out[0].startswith("ERR errno=-71 code=0"), out  # -EPROTO: verification failed


def test_broken_kubeconfig_names_the_file(tmp_path):
    bad = tmp_path / "broken"
    bad.write_text("apiVersion: v1\nclusters: [\n")
    rc, out, err = klctl("--kubeconfig", str(bad), "get", NS_PATH)
    assert rc == 2
    assert str(bad) in err


def fresh_ns(cluster):
    name = "kl-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name)
    return name


def test_list_paginates_over_500(cluster):
    ns = fresh_ns(cluster)
    cluster.kube.bulk_create_pods(ns, 620)
    path = f"/api/v1/namespaces/{ns}/pods"
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "list", path, "--limit", "100",
                         "--names", "--metrics")
    assert rc == 0, err
    items = [l for l in out if l.startswith("ITEM ")]
    assert len(items) == 620
    assert len({l.split()[1] for l in items}) == 620  # no duplicates
    assert [l for l in out if l.startswith("LIST ")][0].startswith("LIST items=620 rv=")
    # 7 pages, each a request
    assert 'kloompas_apiserver_requests_total{verb="list",code="200"} 7' in out
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "list", path)
    assert rc == 0 and out[-1].startswith("LIST items=620 "), out[-1:]


def test_watch_sees_create_update_delete(cluster):
    ns = fresh_ns(cluster)
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rc, out, _ = klctl("--kubeconfig", cluster.kubeconfig, "list", path)
    rv = out[-1].split("rv=")[1]
    p = subprocess.Popen([os.environ["KLCTL_BIN"], "--kubeconfig", cluster.kubeconfig, "watch",
                          path, "--rv", rv, "--timeout", "60", "--max", "3"],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    k = cluster.kube
    k.create(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                    "data": {"a": "1"}})
    k.patch(path + "/cm", {"data": {"a": "2"}})
    k.delete(path + "/cm")
    out, _ = p.communicate(timeout=60)
    events = [l.split()[1] for l in out.splitlines() if l.startswith("EVENT ")]
    assert events == ["ADDED", "MODIFIED", "DELETED"], out
    assert f"{ns}/cm" in out


def test_watch_ends_cleanly_at_its_timeout(cluster):
    ns = fresh_ns(cluster)
    t0 = time.monotonic()
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "watch",
                         f"/api/v1/namespaces/{ns}/configmaps", "--timeout", "2")
    assert rc == 0, out + [err]
    assert out[-1] == "END errno=0 code=200 reason=-"
    assert 1.5 < time.monotonic() - t0 < 30


def test_watch_410_after_compaction(cluster):
    ns = fresh_ns(cluster)
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rc, out, _ = klctl("--kubeconfig", cluster.kubeconfig, "list", path)
    old_rv = out[-1].split("rv=")[1]
    for i in range(120):  # more than the apiserver's watch cache keeps
        cluster.kube.create(path, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": f"cm{i}"}})
    rev = json.loads(cluster.etcdctl("endpoint", "status", "-w", "json"))[0]["Status"][
        "header"]["revision"]
    cluster.etcdctl("compact", str(rev))
    # the apiserver's watch cache would still serve old_rv: empty it
    cluster.restart("kube-apiserver")
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "watch", path, "--rv", old_rv,
                         "--timeout", "30")
    assert rc == 1, out
    assert "EVENT ERROR code=410" in out, out
    assert out[-1].startswith("END errno=-116 code=410"), out


def test_patch_deployment_scale(cluster, kubelet):
    ns = fresh_ns(cluster)
    cluster.kube.create_deployment(ns, "web", 1)
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "scale", ns, "web", "3")
    assert rc == 0, out + [err]
    assert out[0].startswith("OK 200 Scale web ") and out[0].endswith("replicas=3"), out
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "get",
                         f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    assert out[0].endswith("replicas=3"), out
    # kube-controller-manager turns it into three pods
    cluster.kube.wait_for(lambda: len(cluster.kube.list(f"/api/v1/namespaces/{ns}/pods"))
                          == 3, timeout=60)


def test_pod_log_through_the_apiserver(cluster, kubelet):
    ns = fresh_ns(cluster)
    cluster.kube.create_pod(ns, "crashy", annotations=sim_crash("crashloop:3", every="3s"))
    k = cluster.kube

    def has_previous():
        # a previous instance exists once the container exited and was restarted (it
        # then runs 3 s); in the terminated moment after a later exit a kubelet cannot
        # serve it
        cs = (k.get(f"/api/v1/namespaces/{ns}/pods/crashy")["status"]
              .get("containerStatuses") or [{}])[0]
        return (cs.get("lastState") or {}).get("terminated") and \
            "running" in (cs.get("state") or {})
    k.wait_for(has_previous, timeout=60)
    container = k.get(f"/api/v1/namespaces/{ns}/pods/crashy")["spec"]["containers"][0]["name"]
    rc, out, err = klctl("--kubeconfig", cluster.kubeconfig, "log", ns, "crashy", container,
                         "--previous", "--tail", "5")
    assert rc == 0, out + [err]
    assert out and len(out) <= 5
    assert "crashy" in "\n".join(out)
    assert any(f"/containerLogs/{ns}/crashy/{container}" in p for p in kubelet.log_requests)


def test_status_errors(cluster):
    rc, out, _ = klctl("--kubeconfig", cluster.kubeconfig, "get",
                       "/api/v1/namespaces/default/pods/does-not-exist")
    assert rc == 1 and out[0].startswith("ERR errno=-2 code=404 reason=NotFound"), out
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "default"}})
    rc, out, _ = klctl("--kubeconfig", cluster.kubeconfig, "create", "/api/v1/namespaces", body)
    assert rc == 1 and out[0].startswith("ERR errno=-17 code=409 reason=AlreadyExists"), out
    rc, out, _ = klctl("--kubeconfig", cluster.kubeconfig, "create", "/api/v1/namespaces",
                       "{not json")
    assert rc == 1 and out[0].startswith("ERR errno=-22 code=400"), out
