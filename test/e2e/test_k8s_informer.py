"""Shared informers against the real control plane, through test/tools/klinform.

Sync from the watch cache (resourceVersion=0, 640 pods in one answer), each change seen once, a watch that times out resumes
without a relist, an apiserver restart relists and reconciles, a pod deleted while
the watch was down (and etcd compacted) arrives as a delete with final state
unknown, and at the end the cache equals a fresh LIST field by field.
"""
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from tcpproxy import TcpProxy


class Informer:
    """klinform running in the background; .lines grows as it prints."""

    def __init__(self, kubeconfig, resource, *args):
        self.proc = subprocess.Popen([os.environ["KLINFORM_BIN"], "--kubeconfig", kubeconfig,
                                      *args, resource],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err),
                         daemon=True).start()

    def _read(self, f, into):
        for line in f:
            with self.cv:
                into.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait(self, pred, timeout=60, what="condition"):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"timed out waiting for {what}:\n" +
                                         "\n".join(self.lines[-30:] + self.err[-30:]))
                self.cv.wait(min(left, 0.2))

    def synced(self, timeout=120):
        self.wait(lambda ls: any(l.startswith("SYNCED ") for l in ls), timeout, "SYNCED")
        return int([l for l in self.lines if l.startswith("SYNCED ")][0].split()[1])

    def stop(self):
        """SIGTERM: klinform prints its cache and counters and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        time.sleep(0.2)  # let the reader threads drain
        assert rc == 0, "\n".join(self.lines[-20:] + self.err[-40:])
        cache = {}
        stats = {}
        for l in self.lines:
            if l.startswith("CACHE "):
                parts = l.split()
                cache[parts[1]] = {"rv": int(parts[2]),
                                   **dict(p.split("=", 1) for p in parts[3:])}
            elif l.startswith("STATS "):
                stats = {k: v for k, v in (p.split("=", 1) for p in l.split()[1:])}
        return cache, stats

    def events(self, kind, key=None):
        return [l for l in self.lines
                if l.startswith(kind + " ") and (key is None or l.split()[1] == key)]


def fresh_ns(cluster, **kw):
    name = "inf-" + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name, **kw)
    return name


PENDING = {"kloompas.io/sim": "pending"}  # the simulated kubelet leaves these alone


def expected_pod(p):
    """What klinform's CACHE line should say for a pod from a fresh LIST."""
    st = p.get("status", {})
    ready = any(c["type"] == "Ready" and c["status"] == "True"
                for c in st.get("conditions", []))
    owner = "-/-"
    for o in p["metadata"].get("ownerReferences", []):
        if o.get("controller"):
            owner = f"{o['kind']}/{o['name']}"
    conts = []
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for c in st.get(key, []):
            waiting = c.get("state", {}).get("waiting", {}).get("reason", "-")
            last = c.get("lastState", {}).get("terminated")
            conts.append(f"{'init:' if init else ''}{c['name']}:{int(c.get('ready', False))}:"
                         f"{c.get('restartCount', 0)}:{waiting}:"
                         f"{last['exitCode'] if last else -1}")
    return {"rv": int(p["metadata"]["resourceVersion"]),
            "phase": st.get("phase", "Pending"), "ready": str(int(ready)),
            "node": p["spec"].get("nodeName", "-"), "owner": owner,
            "deleting": str(int("deletionTimestamp" in p["metadata"])),
            "containers": ",".join(conts)}


def assert_cache_equals_list(cluster, cache, ns):
    pods = cluster.kube.list("pods", ns=ns)
    want = {f"{ns}/{p['metadata']['name']}": expected_pod(p) for p in pods}
    assert set(cache) == set(want), (set(cache) ^ set(want))
    for k, w in want.items():
        got = dict(cache[k])
        if not w["containers"]:  # no status yet: the cache lists spec containers
            got.pop("containers")
            w = dict(w)
            w.pop("containers")
        assert got == w, (k, got, w)


def test_sync_paginated_and_each_change_once(cluster):
    ns = fresh_ns(cluster)
    cluster.kube.bulk_create_pods(ns, 640, annotations=PENDING)
    inf = Informer(cluster.kubeconfig, "pods", "--ns", ns)
    assert inf.synced() == 640
    adds = inf.events("ADD")
    assert len(adds) == 640 and len({l.split()[1] for l in adds}) == 640
    k = cluster.kube
    k.create_pod(ns, "single", annotations=PENDING)
    inf.wait(lambda ls: any(l.startswith(f"ADD {ns}/single ") for l in ls), what="add")
    k.patch("pods", {"metadata": {"labels": {"touched": "yes"}}}, name="single", ns=ns)
    inf.wait(lambda ls: any(l.startswith(f"UPDATE {ns}/single ") for l in ls), what="update")
    k.delete("pods", name="single", ns=ns, grace_period_seconds=0)
    inf.wait(lambda ls: any(l.startswith(f"DELETE {ns}/single ") for l in ls), what="delete")
    cache, stats = inf.stop()
    assert len(inf.events("ADD", f"{ns}/single")) == 1
    # our label patch, and the apiserver's own deletionTimestamp write: each once, in order
    ups = [(int(l.split()[2]), int(l.split()[3])) for l in inf.events("UPDATE", f"{ns}/single")]
    assert 1 <= len(ups) <= 2, ups
    assert all(a < b for a, b in ups) and all(ups[i][1] == ups[i + 1][0]
                                              for i in range(len(ups) - 1)), ups
    dels = inf.events("DELETE", f"{ns}/single")
    assert len(dels) == 1 and dels[0].endswith("unknown=0")
    assert stats["lists"] == "1" and stats["relists"] == "0"
    # client-go's first LIST: resourceVersion=0, the watch cache answers all 640 at once
    assert stats["list_rv"] == "0" and stats["from"] == "watch-cache", stats
    assert stats["fallbacks"] == "0" and stats["content_type"] == "application/json", stats
    assert_cache_equals_list(cluster, cache, ns)


def test_watch_timeout_resumes_without_relist(cluster):
    ns = fresh_ns(cluster)
    cluster.kube.bulk_create_pods(ns, 5, annotations=PENDING)
    inf = Informer(cluster.kubeconfig, "pods", "--ns", ns, "--min-watch", "1",
                   "--max-watch", "2")
    inf.synced()
    time.sleep(5)  # several watches end by their timeoutSeconds
    cluster.kube.create_pod(ns, "late", annotations=PENDING)
    inf.wait(lambda ls: any(l.startswith(f"ADD {ns}/late ") for l in ls), what="late add")
    cache, stats = inf.stop()
    assert int(stats["restarts"]) >= 2, stats
    assert stats["lists"] == "1" and stats["relists"] == "0", stats
    assert len(inf.events("ADD")) == 6  # no object seen twice
    assert_cache_equals_list(cluster, cache, ns)


def test_apiserver_restart_relists_and_reconciles(cluster, kubelet):
    ns = fresh_ns(cluster)
    cluster.kube.bulk_create_pods(ns, 30)
    inf = Informer(cluster.kubeconfig, "pods", "--ns", ns, "--backoff-ms", "200")
    assert inf.synced() == 30
    cluster.kube.wait_for(lambda: all(p["status"].get("phase") == "Running"
                                      for p in cluster.kube.list("pods", ns=ns)), timeout=60)
    cluster.restart("kube-apiserver")
    # changes right after the restart, while the informer reconnects
    cluster.kube.create_pod(ns, "after-restart", annotations=PENDING)
    cluster.kube.delete("pods", name="bulk-3", ns=ns, grace_period_seconds=0)
    inf.wait(lambda ls: any(l.startswith(f"ADD {ns}/after-restart ") for l in ls)
             and any(l.startswith(f"DELETE {ns}/bulk-3 ") for l in ls),
             timeout=90, what="changes after the restart")
    time.sleep(2)
    cache, stats = inf.stop()
    # the watch broke with the restart; it resumed from the newest resourceVersion it had
    # (the restarted apiserver serves that one) or relisted after a 410: either way no loss
    assert int(stats["restarts"]) >= 1, stats
    adds = [l.split()[1] for l in inf.events("ADD")]
    assert len(adds) == len(set(adds)) == 31, "an object was added twice"
    assert_cache_equals_list(cluster, cache, ns)


def test_delete_during_outage_with_compaction_is_final_state_unknown(cluster):
    ns = fresh_ns(cluster)
    k = cluster.kube
    for i in range(4):
        k.create_pod(ns, f"p{i}", annotations=PENDING)
    host, port = cluster.url.split("//")[1].split(":")
    proxy = TcpProxy("127.0.0.1", int(port))
    kc = os.path.join(cluster.dir, f"kubeconfig-proxy-{proxy.port}")
    text = open(cluster.kubeconfig).read().replace(cluster.url, f"https://127.0.0.1:{proxy.port}")
    open(kc, "w").write(text)
    try:
        inf = Informer(kc, "pods", "--ns", ns, "--backoff-ms", "300")
        assert inf.synced() == 4
        proxy.set_down(True)  # the informer's network is cut; the cluster goes on
        k.delete("pods", name="p1", ns=ns, grace_period_seconds=0)
        k.patch("pods", {"metadata": {"labels": {"changed": "1"}}}, name="p2", ns=ns)
        k.create_pod(ns, "p9", annotations=PENDING)
        for i in range(120):  # push the namespace's history past the watch cache
            k.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": f"cm{i}"}}, ns=ns)
        rev = json.loads(cluster.etcdctl("endpoint", "status", "-w", "json"))[0]["Status"][
            "header"]["revision"]
        cluster.etcdctl("compact", str(rev))
        cluster.restart("kube-apiserver")
        proxy.set_down(False)
        inf.wait(lambda ls: any(l.startswith(f"DELETE {ns}/p1 ") for l in ls), timeout=90,
                 what="delete of p1")
        inf.wait(lambda ls: any(l.startswith(f"ADD {ns}/p9 ") for l in ls), timeout=30,
                 what="add of p9")
        cache, stats = inf.stop()
    finally:
        proxy.close()
    dels = inf.events("DELETE", f"{ns}/p1")
    assert len(dels) == 1 and dels[0].endswith("unknown=1"), dels
    assert len(inf.events("UPDATE", f"{ns}/p2")) == 1
    assert len(inf.events("ADD", f"{ns}/p2")) == 1  # known pods are never added again
    assert int(stats["relists"]) >= 1, stats
    # the relist asked for a state not older than the last one seen (the watch cache),
    # not resourceVersion=0 and not a consistent read after a fallback
    assert stats["list_rv"] not in ("0", "-") and stats["fallbacks"] == "0", stats
    assert_cache_equals_list(cluster, cache, ns)


def test_scoped_by_label(cluster):
    ns = fresh_ns(cluster)
    k = cluster.kube
    k.create_pod(ns, "a", labels={"tier": "front"}, annotations=PENDING)
    k.create_pod(ns, "b", labels={"tier": "back"}, annotations=PENDING)
    inf = Informer(cluster.kubeconfig, "pods", "--ns", ns, "--label", "tier=front")
    assert inf.synced() == 1
    cache, _ = inf.stop()
    assert list(cache) == [f"{ns}/a"]


def test_namespaces_team_projection(cluster):
    ns = fresh_ns(cluster, annotations={"kloompas.io/team": "@squad-merchandise"})
    inf = Informer(cluster.kubeconfig, "namespaces", "--team-annotation", "kloompas.io/team")
    inf.synced()
    cache, _ = inf.stop()
    assert cache[ns]["team"] == "@squad-merchandise"
    assert cache["default"]["team"] == "-"


def test_kloompas_ready_and_informer_metrics(cluster, kloompas):
    from conftest import get
    k = kloompas("--kubeconfig", cluster.kubeconfig)
    deadline = time.monotonic() + 60
    while get(k.port, "/readyz")[0] != 200:
        assert time.monotonic() < deadline, get(k.port, "/readyz?verbose")
        time.sleep(0.2)
    body = get(k.port, "/metrics")[2].decode()
    for res in ("pods", "namespaces", "deployments"):
        assert f'kloompas_informer_synced{{resource="{res}"}} 1' in body
    n = [l for l in body.splitlines() if l.startswith('kloompas_informer_objects{resource="pods"}')]
    assert int(float(n[0].split()[1])) == len(cluster.kube.list("pods"))
    assert 'kloompas_apiserver_requests_total{verb="list",code="200"}' in body
    # one content type per informer says 1 (protobuf once branch pb's decoder is built in)
    for res in ("pods", "namespaces", "deployments"):
        on = [l for l in body.splitlines()
              if l.startswith(f'kloompas_informer_content_type{{resource="{res}",')
              and l.endswith(" 1")]
        assert len(on) == 1, (res, on)
    assert "controller started" in k.log()
