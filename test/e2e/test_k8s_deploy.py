"""deploy/ against the real control plane: the manifests are accepted, and the RBAC
they grant is enough for kloompas and no more.

- The whole kustomization goes through `kubectl apply --dry-run=server` (admission,
  schema and RBAC objects checked by the API server, nothing stored), and the
  Deployment the server would store is checked field by field against the security
  and sizing the SPEC asks for.
- The RBAC part (Namespace, ServiceAccount, ClusterRole, Role, bindings) is applied
  for real; kloompas then runs with the ServiceAccount's own token and must become
  ready (all informers synced) without a single 403, with and without leader
  election (then it holds the Lease kloompas/kloompas); a leader-election candidate
  (test/tools/kllease) with the same token must get the Lease.
- `kubectl auth can-i --as=system:serviceaccount:kloompas:kloompas` answers yes for
  what the controllers do and no for what they must not.

The local control plane is Kubernetes 1.20, older than policy/v1 (1.21), so there the
PodDisruptionBudget is sent as policy/v1beta1, the same object under its old version;
deploy/ itself stays on policy/v1 for the clusters people run today.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import REPO, get

DEPLOY = os.path.join(REPO, "deploy")
RBAC_FILES = ["namespace.yaml", "serviceaccount.yaml", "clusterrole.yaml",
              "clusterrolebinding.yaml", "role.yaml", "rolebinding.yaml"]
SA = "system:serviceaccount:kloompas:kloompas"
KLLEASE = os.environ.get("KLLEASE_BIN", "")


def kubectl(cluster, *args, input=None, check=True):
    exe = shutil.which("kubectl")
    assert exe, "kubectl is not installed (test/cluster/build.sh installs kubernetes-client)"
    p = subprocess.run([exe, "--kubeconfig", cluster.kubeconfig, *args], input=input,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"kubectl {' '.join(args)}:\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def rbac(cluster):
    """The RBAC part of deploy/, applied for real; removed after the module."""
    for f in RBAC_FILES:
        kubectl(cluster, "apply", "-f", os.path.join(DEPLOY, f))
    yield
    for f in reversed(RBAC_FILES):
        kubectl(cluster, "delete", "--ignore-not-found", "--wait=false", "-f",
                os.path.join(DEPLOY, f), check=False)


def rendered(cluster):
    """kustomize output, with the PDB's version lowered when the server predates policy/v1."""
    text = kubectl(cluster, "kustomize", DEPLOY).stdout
    versions = kubectl(cluster, "api-versions").stdout.split()
    if "policy/v1" not in versions:
        assert "apiVersion: policy/v1\nkind: PodDisruptionBudget" in text
        text = text.replace("apiVersion: policy/v1\nkind: PodDisruptionBudget",
                            "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget")
    return text


def test_kustomization_server_dry_run(cluster, rbac):
    # the Namespace must exist for a dry run of what goes into it (rbac applied it)
    p = kubectl(cluster, "apply", "--dry-run=server", "-o", "json", "-f", "-",
                input=rendered(cluster))
    items = json.loads(p.stdout)["items"]
    kinds = sorted(i["kind"] for i in items)
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                            "Role", "RoleBinding", "ConfigMap", "Deployment",
                            "PodDisruptionBudget", "Service", "Service"])
    by_kind = {i["kind"]: i for i in items}

    dep = by_kind["Deployment"]
    assert dep["metadata"]["namespace"] == "kloompas"
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kloompas"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert "--config=/etc/kloompas/config.yaml" in c["args"]
    assert "--leader-elect=true" in c["args"]
    assert "--chatops-bind-address=0.0.0.0:8080" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 9090, "chatops": 8080}
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "32Mi"},
                              "limits": {"cpu": "500m", "memory": "128Mi"}}
    (mount,) = c["volumeMounts"]
    assert mount["mountPath"] == "/etc/kloompas" and mount["readOnly"] is True
    (vol,) = pod["volumes"]
    secrets = [s["secret"] for s in vol["projected"]["sources"] if "secret" in s]
    assert len(secrets) == 2 and all(s["optional"] is True for s in secrets)

    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    services = {i["metadata"]["name"]: i for i in items if i["kind"] == "Service"}
    ann = services["kloompas-metrics"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9090"
    assert services["kloompas-chatops"]["spec"]["ports"][0]["port"] == 8080


def sa_kubeconfig(cluster, tmp_path, ns="kloompas", account="kloompas"):
    """A kubeconfig with the ServiceAccount's token (its Secret, made by the token
    controller of 1.20, read with the admin credentials); namespace ns."""
    kube = cluster.kube

    def token_secret():
        sa = kube.get("serviceaccounts", ns=ns, name=account, missing_ok=True)
        return (sa or {}).get("secrets")

    name = kube.wait_for(token_secret, 30, message=f"token Secret of {account}")[0]["name"]
    secret = kube.get("secrets", ns=ns, name=name)
    token = base64.b64decode(secret["data"]["token"]).decode()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "k", "cluster": {"server": cluster.url,
                                                "certificate-authority": cluster.env["CA_FILE"]}}],
        "users": [{"name": "kloompas", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "k", "user": "kloompas",
                                                 "namespace": ns}}],
    }
    p = tmp_path / "sa-kubeconfig"
    p.write_text(json.dumps(doc))  # JSON is YAML
    p.chmod(0o600)
    return str(p)


def deploy_config(tmp_path):
    """config.yaml out of deploy/configmap.yaml (a literal block under data)."""
    text = open(os.path.join(DEPLOY, "configmap.yaml")).read()
    block = text.split("  config.yaml: |\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    p = tmp_path / "config.yaml"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@pytest.mark.parametrize("elect", ["false", "true"])
def test_kloompas_runs_with_the_service_account(cluster, rbac, kloompas, tmp_path, elect):
    kc = sa_kubeconfig(cluster, tmp_path)
    k = kloompas("--kubeconfig", kc, "--config", deploy_config(tmp_path),
                 "--chatops-bind-address=127.0.0.1:0", f"--leader-elect={elect}",
                 "--leader-elect-retry-period=300ms")
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status, _, body = get(k.port, "/readyz")
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200, f"not ready with the ServiceAccount's RBAC:\n{k.log()}"
    time.sleep(2)  # controllers start after the sync: give their first calls time
    log = k.log()
    for bad in ("code=403", "Forbidden", "level=error"):
        assert bad not in log, log
    assert 'msg="controllers started"' in log, log
    if elect == "true":
        # the Lease in its own namespace (the kubeconfig context's), held by this replica
        lease = cluster.kube.get("/apis/coordination.k8s.io/v1/namespaces/kloompas/leases/"
                                 "kloompas")
        assert lease["spec"]["holderIdentity"].startswith(socket.gethostname() + "_")
        assert 'msg="became leader"' in log, log


def test_lease_with_the_service_account(cluster, rbac, tmp_path):
    """The Role lets a candidate create, read and renew the Lease kloompas/kloompas."""
    assert KLLEASE, "KLLEASE_BIN is not set (test/tools/kllease)"
    kc = sa_kubeconfig(cluster, tmp_path)
    p = subprocess.Popen([KLLEASE, "--kubeconfig", kc, "--ns", "kloompas", "--name", "kloompas",
                          "--identity", "rbac-check", "--lease", "2s", "--renew", "1500ms",
                          "--retry", "300ms"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().split() == ["STARTED", "rbac-check"]
        assert p.stdout.readline().split() == ["LEADER", "rbac-check"]
        time.sleep(1.0)  # a few renewals (update)
        lease = cluster.kube.get("/apis/coordination.k8s.io/v1/namespaces/kloompas/leases/"
                                 "kloompas")
        assert lease["spec"]["holderIdentity"] == "rbac-check"
    finally:
        p.terminate()
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "STOPPED rbac-check" in out
    assert "code=403" not in err and "Forbidden" not in err, err
    lease = cluster.kube.get("/apis/coordination.k8s.io/v1/namespaces/kloompas/leases/kloompas")
    assert lease["spec"].get("holderIdentity", "") == ""  # released: update allowed
    cluster.kube.delete("/apis/coordination.k8s.io/v1/namespaces/kloompas/leases/kloompas")


# (verb, resource, namespace or None for all namespaces)
ALLOWED = [
    ("list", "pods", None),
    ("watch", "pods", None),
    ("get", "pods", "default"),
    ("get", "pods/log", "default"),
    ("list", "namespaces", None),
    ("watch", "deployments.apps", None),
    ("patch", "deployments.apps", "default"),
    ("get", "deployments.apps/scale", "default"),
    ("update", "deployments.apps/scale", "default"),
    ("patch", "deployments.apps/scale", "default"),
    ("create", "events", "default"),
    ("create", "events.events.k8s.io", "default"),
    ("get", "leases.coordination.k8s.io/kloompas", "kloompas"),
    ("update", "leases.coordination.k8s.io/kloompas", "kloompas"),
    ("create", "leases.coordination.k8s.io", "kloompas"),
    ("get", "configmaps/kloompas-state", "kloompas"),
    ("patch", "configmaps/kloompas-state", "kloompas"),
    ("create", "configmaps", "kloompas"),
]
DENIED = [
    ("get", "secrets", "kloompas"),
    ("get", "secrets", None),
    ("list", "secrets", "default"),
    ("delete", "pods", "default"),
    ("delete", "deployments.apps", "default"),
    ("create", "deployments.apps", "default"),
    ("update", "deployments.apps", "default"),
    ("create", "pods", "default"),
    ("create", "configmaps", "default"),
    ("get", "configmaps/other", "kloompas"),
    ("list", "configmaps", "kloompas"),
    ("update", "leases.coordination.k8s.io/kloompas", "default"),
    ("create", "leases.coordination.k8s.io", "default"),
    ("update", "leases.coordination.k8s.io/other", "kloompas"),
    ("delete", "leases.coordination.k8s.io/kloompas", "kloompas"),
    ("create", "serviceaccounts/token", "kloompas"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", None),
]


def can_i(cluster, verb, resource, ns):
    what, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, what, "--as", SA]
    if sub:
        # "pods/log" is a subresource; "configmaps/NAME" names an object
        if what in ("pods", "deployments.apps", "serviceaccounts"):
            args[3:4] = [what, "--subresource", sub]
        else:
            args[3] = resource
    args += ["-n", ns] if ns else ["--all-namespaces"]
    p = kubectl(cluster, *args, check=False)
    assert p.stdout.strip() in ("yes", "no"), p.stdout + p.stderr
    return p.stdout.strip() == "yes"


@pytest.mark.parametrize("verb,resource,ns", ALLOWED)
def test_rbac_allows(cluster, rbac, verb, resource, ns):
    assert can_i(cluster, verb, resource, ns), f"{SA} cannot {verb} {resource} in {ns}"


@pytest.mark.parametrize("verb,resource,ns", DENIED)
def test_rbac_denies(cluster, rbac, verb, resource, ns):
    assert not can_i(cluster, verb, resource, ns), f"{SA} may {verb} {resource} in {ns}"
