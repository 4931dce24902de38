"""/readyz names what the controllers wait for, against the real control plane: a
kloompas whose ServiceAccount may read Deployments but not ConfigMaps in its own
namespace syncs its informers, then cannot read its state ConfigMap; /readyz says so
with the API server's own answer, and once RBAC lets it read, it becomes ready
without a restart.
"""
import time
import uuid

from conftest import get
from test_k8s_deploy import sa_kubeconfig


def rbac_object(name, kind, rules=None, role_ns=None, sa_ns=None):
    """A (Cluster)Role named name with rules, or its binding to sa_ns's default account."""
    meta = {"name": name, **({"namespace": role_ns} if role_ns else {})}
    if rules is not None:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
                "rules": rules}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                        "kind": kind.removesuffix("Binding"), "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": sa_ns}]}


def readyz(k):
    return get(k.port, "/readyz?verbose")


def test_readyz_names_the_forbidden_state_read(cluster, kloompas, tmp_path):
    kube = cluster.kube
    own = "rz-" + uuid.uuid4().hex[:8]
    kube.create_namespace(own)
    name = "kloompas-readyz-" + own
    deployments = [{"apiGroups": ["apps"], "resources": ["deployments"],
                    "verbs": ["get", "list", "watch"]}]
    kube.create("clusterroles", rbac_object(name, "ClusterRole", deployments))
    kube.create("clusterrolebindings", rbac_object(name, "ClusterRoleBinding", sa_ns=own))
    try:
        k = kloompas("--kubeconfig", sa_kubeconfig(cluster, tmp_path, own, "default"),
                     "--controllers=replica-enforcer", "--leader-elect-resource-namespace", own)
        want = (f"[-]controllers failed: controllers not started: waiting for state ConfigMap "
                f"{own}/kloompas-state: 403 Forbidden: configmaps \"kloompas-state\" is "
                f"forbidden: User \"system:serviceaccount:{own}:default\" cannot get resource "
                f"\"configmaps\"")
        deadline = time.monotonic() + 60
        while True:
            status, _, body = readyz(k)
            text = body.decode()
            if "403 Forbidden" in text and "[+]informers-synced ok" in text:
                break
            assert time.monotonic() < deadline, f"/readyz: {status} {text}\n{k.log()[-3000:]}"
            time.sleep(0.2)
        assert status == 503, text
        line = [l for l in text.splitlines() if l.startswith("[-]controllers")]
        assert len(line) == 1 and line[0].startswith(want), text
        assert f'in the namespace "{own}"' in line[0], text
        assert "[+]shutdown ok" in text and text.endswith("readyz check failed\n"), text
        assert 'msg="cannot read the state ConfigMap; will retry"' in k.log()
        assert 'msg="controllers started"' not in k.log()
        # the plain probe is as explicit
        status, _, body = get(k.port, "/readyz")
        assert status == 503 and want.encode() in body, body

        # RBAC now lets it read and write its state: ready without a restart
        state = [{"apiGroups": [""], "resources": ["configmaps"],
                  "verbs": ["get", "create", "patch", "update"]}]
        kube.create("roles", rbac_object("kloompas-state", "Role", state, role_ns=own), ns=own)
        kube.create("rolebindings", rbac_object("kloompas-state", "RoleBinding", role_ns=own,
                                         sa_ns=own), ns=own)
        deadline = time.monotonic() + 60
        while readyz(k)[0] != 200:
            assert time.monotonic() < deadline, f"{readyz(k)}\n{k.log()[-3000:]}"
            time.sleep(0.2)
        assert 'msg="controllers started"' in k.log()
        assert b"[+]controllers ok" in readyz(k)[2]
    finally:
        kube.delete("clusterrolebindings", name=name)
        kube.delete("clusterroles", name=name)
