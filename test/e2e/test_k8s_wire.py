"""JSON and protobuf give the same caches: a differential test against the real apiserver.

Why: the informers ask for protobuf (--kube-api-content-type) and decode it with a second
projection (kubeclient/objects_pb.c) next to the JSON one (objects.c); the two must agree
field by field on every shape of object the cluster produces, in LISTs and in watch events.

How: test/tools/klinform runs twice over the same objects, once with --content-type json
and once with the wire under test, both with --full (every projected field on its CACHE
line). The cluster changes under them (the kubelet simulator's crash loops), so only lines
of the same resourceVersion are compared field by field - all of them, in every attempt -
and an attempt where some resourceVersion differs is made again until one sees every
object at the same resourceVersion in both. Watch events: a pod and a deployment changed
N times while both informers run are seen as the same UPDATE lines, the same final state.

Each test runs with other=json too: the same harness comparing JSON with JSON, which shows
the harness itself is sound.
"""
import time
import uuid

import pytest

from test_k8s_informer import PENDING, Informer

WIRES = ["json", "protobuf"]
ATTEMPTS = 5


def fresh_ns(cluster, **kw):
    name = "wire-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name, **kw)
    return name


def pair(cluster, resource, other, *args):
    """Two informers of resource: JSON and other, started together."""
    base = ("--full", *args)
    return (Informer(cluster.kubeconfig, resource, "--content-type", "json", *base),
            Informer(cluster.kubeconfig, resource, "--content-type", other, *base))


def compare(a, b, keys):
    """Field differences at equal resourceVersions, and the keys whose rv differ."""
    diffs, moved = [], []
    for k in keys:
        assert k in a and k in b, (k, k in a, k in b)
        if a[k]["rv"] != b[k]["rv"]:
            moved.append(k)
        elif a[k] != b[k]:
            diffs.append((k, a[k], b[k]))
    return diffs, moved


def synced_caches(cluster, resource, other, keys, *args):
    """Syncs both, stops both at once, compares; again while some rv differs."""
    for attempt in range(ATTEMPTS):
        j, o = pair(cluster, resource, other, *args)
        j.synced()
        o.synced()
        (cj, sj), (co, so) = j.stop(), o.stop()
        assert sj["content_type"] == "application/json", sj
        want = "application/vnd.kubernetes.protobuf" if other == "protobuf" else "application/json"
        assert so["content_type"] == want, so
        assert set(cj) == set(co) or resource == "namespaces", set(cj) ^ set(co)
        diffs, moved = compare(cj, co, keys(cj))
        assert not diffs, diffs
        if not moved:
            return cj
        time.sleep(1)
    pytest.fail(f"no attempt saw every {resource} at the same resourceVersion: {moved}")


def terminating_pod(k, ns, name):
    """A pod with a finalizer, then deleted: it stays, with a deletionTimestamp."""
    m = k.pod_manifest(ns, name, annotations=PENDING)
    m["metadata"]["finalizers"] = ["kloompas.io/test-wire"]
    k.create("pods", m, ns=ns)
    k.delete("pods", name=name, ns=ns, grace_period_seconds=30)


def release(k, ns, name):
    k.patch("pods", {"metadata": {"finalizers": None}}, name=name, ns=ns)


@pytest.mark.parametrize("other", WIRES)
def test_pods_same_cache(cluster, kubelet, other):
    ns = fresh_ns(cluster)
    k = cluster.kube
    shapes = {"ready": {}, "notready": {}, "succeeded": {}, "failed": {}, "backoff": {},
              "imageneverpull": {}, "pending": {},
              "crashloop": {"kloompas.io/sim-restart-every": "1s"},
              "oomkilled": {"kloompas.io/sim-restart-every": "1s"},
              "init-crashloop": {"kloompas.io/sim-restart-every": "1s"}}
    for kind, extra in shapes.items():
        init = ["setup"] if kind == "init-crashloop" else None
        k.create_pod(ns, kind, containers=["app", "sidecar"], init_containers=init,
                     annotations={"kloompas.io/sim": kind, **extra},
                     labels={"shape": kind})
    k.create_deployment(ns, "web", replicas=2)
    terminating_pod(k, ns, "leaving")
    # the crash loops reach CrashLoopBackOff (3.4 intervals) with a last state
    time.sleep(6)
    try:
        cache = synced_caches(cluster, "pods", other, lambda c: sorted(c), "--ns", ns)
    finally:
        release(k, ns, "leaving")
    assert len(cache) == len(shapes) + 3, sorted(cache)
    seen = " ".join(f"{v.get('containers')} {v.get('states')}" for v in cache.values())
    for what in ("CrashLoopBackOff", "init:setup", "OOMKilled", "Error", "ErrImageNeverPull"):
        assert what in seen, (what, seen)
    assert cache[f"{ns}/leaving"]["deleting"] == "1"
    assert sum(v["owner"].startswith("ReplicaSet/") for v in cache.values()) == 2


@pytest.mark.parametrize("other", WIRES)
def test_namespaces_and_deployments_same_cache(cluster, other):
    k = cluster.kube
    by_ann = fresh_ns(cluster, annotations={"kloompas.io/team": "@squad-a"})
    by_label = fresh_ns(cluster, labels={"kloompas.io/team": "squad-b"})
    plain = fresh_ns(cluster)
    mine = [by_ann, by_label, plain, "default", "kube-system"]
    cache = synced_caches(cluster, "namespaces", other, lambda c: mine,
                          "--team-annotation", "kloompas.io/team")
    assert cache[by_ann]["team"] == "@squad-a" and cache[by_label]["team"] == "squad-b"
    assert cache[plain]["team"] == "-"

    k.create_deployment(by_ann, "plain", replicas=0)
    k.create_deployment(by_ann, "bounded", replicas=0, annotations={
        "kloompas.io/min-replicas": "1", "kloompas.io/max-replicas": "4",
        "kloompas.io/restore-replicas": "3", "kloompas.io/restore-at": "2030-01-01T00:00:00Z"})
    cache = synced_caches(cluster, "deployments", other, lambda c: sorted(c), "--ns", by_ann)
    assert cache[f"{by_ann}/bounded"]["min"] == "1" and cache[f"{by_ann}/bounded"]["max"] == "4"
    assert cache[f"{by_ann}/plain"]["min"] == "-"


@pytest.mark.parametrize("other", WIRES)
def test_watch_events_same(cluster, other):
    """A pod changed N times, then made terminating and deleted; a deployment scaled N
    times: both informers see the same UPDATE and DELETE lines and the same end state."""
    ns = fresh_ns(cluster)
    k = cluster.kube
    m = k.pod_manifest(ns, "watched", annotations=PENDING)
    m["metadata"]["finalizers"] = ["kloompas.io/test-wire"]
    k.create("pods", m, ns=ns)
    k.create_deployment(ns, "scaled", replicas=0)
    pods = pair(cluster, "pods", other, "--ns", ns)
    deps = pair(cluster, "deployments", other, "--ns", ns)
    for inf in pods + deps:
        assert inf.synced() == 1
    n = 12
    for i in range(n):
        k.patch("pods", {"metadata": {"labels": {"step": str(i)}}}, name="watched", ns=ns)
        k.scale("deployments", ns, "scaled", i % 3)
    k.delete("pods", name="watched", ns=ns, grace_period_seconds=30)
    release(k, ns, "watched")
    key = f"{ns}/watched"
    for inf in pods:
        inf.wait(lambda ls: any(l.startswith(f"DELETE {key} ") for l in ls), what="delete")
    last_rv = int(k.get("deployments", name="scaled", ns=ns)["metadata"]["resourceVersion"])
    for inf in deps:
        inf.wait(lambda ls: any(l.startswith(f"UPDATE {ns}/scaled ") and
                                int(l.split()[3]) >= last_rv for l in ls), what="last scale")
    (pj, _), (po, _) = pods[0].stop(), pods[1].stop()
    (dj, _), (do, _) = deps[0].stop(), deps[1].stop()
    ups = [inf.events("UPDATE", key) for inf in pods]
    assert len(ups[0]) >= n + 1 and ups[0] == ups[1], ups
    assert pods[0].events("DELETE", key) == pods[1].events("DELETE", key)
    assert key not in pj and key not in po
    # the deployment's pods come and go as it scales: compared where both saw one rv
    assert not compare(pj, po, sorted(set(pj) & set(po)))[0]
    dups = [inf.events("UPDATE", f"{ns}/scaled") for inf in deps]
    # the controller-manager may still write the deployment's status after the last scale:
    # compared up to the last resourceVersion both informers saw before they were stopped
    upto = min(int(d[-1].split()[3]) for d in dups if d) if all(dups) else 0
    dups = [[l for l in d if int(l.split()[3]) <= upto] for d in dups]
    assert len(dups[0]) >= n - 1 and dups[0] == dups[1], dups  # the first scale is no change
    assert dj == do and dj[f"{ns}/scaled"]["replicas"] == str((n - 1) % 3), (dj, do)
