"""Faults against the real control plane; each test asserts that nothing is lost or
duplicated.

- the apiserver killed and restarted three times while three writers change a few
  hundred pods (once with the clients' network cut as well, which forces a relist):
  klinform's handlers see one add per object, one delete per deleted object, updates
  chained on the resourceVersion they had, and end with a cache equal to a fresh LIST;
  kloompas stays up and ready, its own cache log (-v 2) agrees, and it exits 0.
- an HTTP proxy (faultproxy.py) answering 429 with Retry-After and cutting watch
  streams inside an event, both ways (TCP reset, clean end of the HTTP response), for
  klinform and for kloompas: requests come back no sooner than Retry-After says, and
  again nothing is lost or duplicated.
- an unresolvable server and a refused port at start: kloompas keeps running, is live
  and not ready with /readyz naming the cause, and becomes ready once the port
  answers, without a restart.
- regressions found here: a first LIST retried after a 429 is not a relist; a 429 on
  the state ConfigMap read at start does not make kloompas re-send a delivered notice.
- a token file rotated and the old ServiceAccount token revoked while kloompas runs:
  it goes on watching with the new token.

etcd compacted during a watch outage (a delete seen as final state unknown) is
test_k8s_informer.py's test_delete_during_outage_with_compaction_is_final_state_unknown.
"""
import base64
import http.client
import json
import os
import random
import re
import socket
import sys
import threading
import time
import uuid

import pytest

from conftest import CLUSTER_SCRIPTS, get, klctl, sim_crash
from faultproxy import FaultProxy, matcher

sys.path.insert(0, CLUSTER_SCRIPTS)
from kube import ApiError  # noqa: E402 (test/cluster/kube.py)
from tcpproxy import TcpProxy
from test_k8s_informer import PENDING, Informer, assert_cache_equals_list

# KL_TIMEOUT_FACTOR (scripts/valgrind.sh) stretches the deadlines, never the assertions
FACTOR = float(os.environ.get("KL_TIMEOUT_FACTOR", "1") or "1")

# Retry-After is whole seconds; the proxy stamps the 429 after writing it and the next
# request when its head arrives, so the gap can only come out shorter by clock steps.
RETRY_AFTER = 2
TOLERANCE = 0.1


def fresh_ns(cluster, prefix="flt-"):
    name = prefix + uuid.uuid4().hex[:8]
    cluster.kube.create_namespace(name)
    return name


def wait_until(pred, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout * FACTOR
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def readyz(k):
    try:
        return get(k.port, "/readyz?verbose")
    except OSError as e:
        return 0, "", str(e).encode()


def wait_ready(k, timeout=120):
    deadline = time.monotonic() + timeout * FACTOR
    while True:
        assert k.proc.poll() is None, f"kloompas exited {k.proc.returncode}:\n{k.log()[-3000:]}"
        st, _, body = readyz(k)
        if st == 200:
            return
        assert time.monotonic() < deadline, f"/readyz still {st}: {body!r}\n{k.log()[-3000:]}"
        time.sleep(0.3)


def metric(k, prefix):
    """Sum of the samples whose line starts with prefix."""
    body = get(k.port, "/metrics")[2].decode()
    return sum(float(l.split()[-1]) for l in body.splitlines() if l.startswith(prefix))


def write_kubeconfig(path, server, ca, user):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": {"server": server,
                                                   "certificate-authority": ca}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
    path.write_text(json.dumps(doc))  # JSON is YAML
    return str(path)


def admin_user(cluster):
    return {"client-certificate": cluster.env["ADMIN_CERT"],
            "client-key": cluster.env["ADMIN_KEY"]}


def start_kloompas(kloompas, kubeconfig, own_ns, *extra):
    # -v 2 logs every cache change: the test reads kloompas' own view from it
    return kloompas("--kubeconfig", kubeconfig, "--controllers=crash-watcher",
                    "--leader-elect-resource-namespace", own_ns, "-v", "2", *extra)


# ------------------------------------------------------------------ event logs

def check_event_log(lines, ns):
    """klinform's lines for ns, checked object by object: one ADD first, then UPDATEs
    each from the resourceVersion the object had to a newer one, then at most one
    DELETE and nothing after it. Returns {key: {"rv", "deleted", "unknown"}}."""
    objs = {}
    for l in lines:
        parts = l.split()
        if parts[0] not in ("ADD", "UPDATE", "DELETE") or not parts[1].startswith(ns + "/"):
            continue
        key = parts[1]
        o = objs.get(key)
        assert o is None or not o["deleted"], f"{key}: event after its delete: {l}"
        if parts[0] == "ADD":
            assert o is None, f"{key}: added twice: {l}"
            objs[key] = {"rv": int(parts[2]), "deleted": False, "unknown": False}
        elif parts[0] == "UPDATE":
            assert o is not None, f"{key}: update before any add: {l}"
            old, new = int(parts[2]), int(parts[3])
            assert old == o["rv"], f"{key}: update from {old}, but it was at {o['rv']}"
            assert new > old, f"{key}: update that changes nothing: {l}"
            o["rv"] = new
        else:
            assert o is not None, f"{key}: delete before any add: {l}"
            assert int(parts[2]) >= o["rv"], f"{key}: delete older than the cache: {l}"
            o["deleted"] = True
            o["unknown"] = parts[3] == "unknown=1"
    return objs


KL_CHANGE = re.compile(r'component=informer msg=(add|update|delete|"delete \(final state '
                       r'unknown\)") resource=pods object=(\S+)')


def check_kloompas_log(text, ns):
    """The same per-object rules on kloompas' -v 2 cache log; returns the live keys."""
    live, gone = set(), set()
    for what, key in KL_CHANGE.findall(text):
        if not key.startswith(ns + "/"):
            continue
        assert key not in gone, f"kloompas: {key}: {what} after its delete"
        if what == "add":
            assert key not in live, f"kloompas: {key} added twice"
            live.add(key)
        elif what == "update":
            assert key in live, f"kloompas: {key} updated before its add"
        else:
            assert key in live, f"kloompas: {key} deleted before its add"
            live.discard(key)
            gone.add(key)
    return live


def kloompas_saw(k, key, what="add"):
    return f"msg={what} resource=pods object={key}\n" in k.log()


def added(inf, key):
    return any(l.startswith(f"ADD {key} ") for l in inf.lines)


# ------------------------------------------------------------------ churn

def retrying(fn, timeout=180):
    """fn() until the apiserver answers it; connection errors, 429 and 5xx are retried
    (an apiserver being restarted gives all of them)."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return fn(attempt)
        except ApiError as e:
            if e.status != 429 and e.status < 500:
                raise
        except (OSError, http.client.HTTPException):
            pass
        attempt += 1
        assert time.monotonic() < deadline, "the apiserver did not come back"
        time.sleep(0.2)


class Churn:
    """Threads (workers) that create, update and delete pods of ns until stopped. Each
    worker changes only its own pods (no two writers race on one pod) and deletes only
    pods the informer has added, so each of those must come back as one DELETE.
    .created / .deleted are the pods the apiserver confirmed; step() runs one change
    in the caller's thread (worker 0)."""

    def __init__(self, cluster, ns, inf, max_pods, workers=3, seed=8):
        self.k, self.ns, self.inf, self.max_pods = cluster.kube, ns, inf, max_pods
        self.lock = threading.Lock()
        self.rnds = [random.Random(seed + w) for w in range(workers)]
        self.mine = [[] for _ in range(workers)]  # names each worker created
        self.created, self.deleted, self.updates = [], set(), 0
        self.stop_ev = threading.Event()
        self.error = None
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True)
                        for w in range(workers)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def live(self, w=None):
        with self.lock:
            names = self.created if w is None else self.mine[w]
            return [n for n in names if n not in self.deleted]

    def create(self, w, name):
        def op(attempt):
            try:
                self.k.create_pod(self.ns, name, annotations=PENDING, labels={"gen": "0"})
            except ApiError as e:
                # a create whose answer was lost in a restart did happen
                if not (e.status == 409 and attempt > 0):
                    raise
        retrying(op)
        with self.lock:
            self.created.append(name)
            self.mine[w].append(name)

    def update(self, name):
        with self.lock:
            self.updates += 1
            gen = str(self.updates)
        retrying(lambda a: self.k.patch("pods", {"metadata": {"labels": {"gen": gen}}},
                                        name=name, ns=self.ns))

    def delete(self, name):
        retrying(lambda a: self.k.delete("pods", name=name, ns=self.ns,
                                         grace_period_seconds=0))
        with self.lock:
            self.deleted.add(name)

    def step(self, w=0):
        live = self.live(w)
        rnd = self.rnds[w]
        r = rnd.random()
        with self.lock:
            room = len(self.created) < self.max_pods
        if room and (r < 0.45 or not live):
            self.create(w, f"churn-{w}-{len(self.mine[w])}")
        elif r < 0.8 and live:
            self.update(rnd.choice(live))
        else:
            adds = {l.split()[1] for l in list(self.inf.lines) if l.startswith("ADD ")}
            seen = [n for n in live if f"{self.ns}/{n}" in adds]
            if seen:
                self.delete(rnd.choice(seen))

    def _run(self, w):
        try:
            while not self.stop_ev.is_set() and not self.error:
                self.step(w)
                time.sleep(0.01)
        except BaseException as e:  # reported by stop()
            self.error = e

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=240)
            assert not t.is_alive(), "a churn thread is stuck"
        if self.error:
            raise self.error


def settle(cluster, ns, inf, k=None, name="sentinel"):
    """A last pod: once the informer (and kloompas) have it, they have everything
    before it (one watch is ordered; a relist is a newer snapshot)."""
    cluster.kube.create_pod(ns, name, annotations=PENDING)
    inf.wait(lambda ls: any(l.startswith(f"ADD {ns}/{name} ") for l in ls),
             timeout=120 * FACTOR, what=f"the {name} pod")
    if k is not None:
        wait_until(lambda: kloompas_saw(k, f"{ns}/{name}"), 120, f"kloompas to add {name}")


def check_against_truth(cluster, ns, inf, churn, cache):
    objs = check_event_log(inf.lines, ns)
    for n in churn.deleted:
        dels = inf.events("DELETE", f"{ns}/{n}")
        assert len(dels) == 1, (n, dels)
    for n in churn.live():
        assert f"{ns}/{n}" in cache and not objs[f"{ns}/{n}"]["deleted"], n
    assert_cache_equals_list(cluster, cache, ns)
    return objs


# ------------------------------------------------------------------ 1. apiserver restarts

def proxied_kubeconfig(cluster, proxy, path):
    return write_kubeconfig(path, f"https://127.0.0.1:{proxy.port}", cluster.env["CA_FILE"],
                            admin_user(cluster))


def test_apiserver_restarted_during_churn(cluster, kloompas, tmp_path):
    """Three restarts while three writers change pods. Before the second one the
    clients' network is cut too (the cluster goes on), so they come back with a
    resourceVersion the new apiserver's empty watch cache refuses: a relist that must
    reconcile adds, updates and deletes. The others may resume or relist."""
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    k = cluster.kube
    for i in range(20):
        k.create_pod(ns, f"seed-{i}", annotations=PENDING)
    proxy = TcpProxy("127.0.0.1", int(cluster.env["APISERVER_PORT"]))
    kc = proxied_kubeconfig(cluster, proxy, tmp_path / "kc-tcpproxy")
    try:
        inf = Informer(kc, "pods", "--ns", ns, "--backoff-ms", "200")
        assert inf.synced() == 20
        kl = start_kloompas(kloompas, kc, own)
        wait_ready(kl)
        restarts0 = metric(kl, 'kloompas_informer_watch_restarts_total{resource="pods"}')
        relists0 = metric(kl, 'kloompas_informer_relists_total{resource="pods"}')

        churn = Churn(cluster, ns, inf, max_pods=300).start()
        try:
            for n in range(3):
                wait_until(lambda: len(churn.created) >= 40 * (n + 1) or churn.error, 180,
                           "churn to make progress")
                if n == 1:
                    proxy.set_down(True)
                    n0 = len(churn.created)
                    wait_until(lambda: len(churn.created) >= n0 + 10 or churn.error, 120,
                               "churn unseen by the clients")
                cluster.restart("kube-apiserver")
                proxy.set_down(False)
                assert kl.proc.poll() is None, kl.log()[-3000:]
                wait_ready(kl)
                assert get(kl.port, "/healthz")[0] == 200
            # changes after the last restart too, up to a few hundred pods in all
            wait_until(lambda: len(churn.created) >= 200 or churn.error, 180, "more churn")
        finally:
            churn.stop()
        settle(cluster, ns, inf, kl)
        cache, stats = inf.stop()
    finally:
        proxy.close()

    assert churn.deleted and churn.updates, (len(churn.deleted), churn.updates)
    objs = check_against_truth(cluster, ns, inf, churn, cache)
    assert len(objs) == 20 + len(churn.created) + 1  # seeds, churned pods, the sentinel
    assert int(stats["restarts"]) >= 3 and int(stats["relists"]) >= 1, stats
    print(f"churn: {len(churn.created)} created, {churn.updates} updates, "
          f"{len(churn.deleted)} deleted; klinform {stats}; "
          f"{sum(o['unknown'] for o in objs.values())} deletes with final state unknown")

    # kloompas went through the same restarts with its own informers
    live = check_kloompas_log(kl.log(), ns)
    assert live == set(cache), live ^ set(cache)
    assert metric(kl, 'kloompas_informer_watch_restarts_total{resource="pods"}') >= \
        restarts0 + 3
    assert metric(kl, 'kloompas_informer_relists_total{resource="pods"}') >= relists0 + 1
    wait_ready(kl)
    assert kl.stop() == 0, kl.log()[-3000:]


# ------------------------------------------------------------------ 2. 429 and cut streams

def gaps_after_429(proxy, match):
    """For each 429 to a matching request: seconds until the next matching request."""
    reqs = sorted(proxy.requests(match), key=lambda e: e["t"])
    out = []
    for i, e in enumerate(reqs):
        if e["status"] == 429:
            assert i + 1 < len(reqs), f"no request after the 429 at {e}"
            out.append(reqs[i + 1]["t"] - e["t_end"])
    return out


@pytest.fixture
def fault_proxy(cluster):
    p = FaultProxy(cluster.dir)
    yield p
    p.close()


def test_429_and_cut_watch_streams_lose_nothing(cluster, fault_proxy, tmp_path):
    proxy = fault_proxy
    ns = fresh_ns(cluster)
    k = cluster.kube
    for i in range(10):
        k.create_pod(ns, f"seed-{i}", annotations=PENDING)
    path = f"/api/v1/namespaces/{ns}/pods"
    lists, watches = matcher(path, watch=False), matcher(path, watch=True)

    # the first two LISTs are turned away
    proxy.fail_next(lists, 2, retry_after=RETRY_AFTER)
    kc = proxy.kubeconfig(tmp_path / "kc-proxy")
    inf = Informer(kc, "pods", "--ns", ns, "--backoff-ms", "100")
    assert inf.synced(timeout=120 * FACTOR) == 10
    gaps = gaps_after_429(proxy, lists)
    assert len(gaps) == 2 and min(gaps) >= RETRY_AFTER - TOLERANCE, gaps

    # the open watch is reset inside the next event, and the next two watches get 429
    churn = Churn(cluster, ns, inf, max_pods=1000, seed=429)
    proxy.fail_next(watches, 2, retry_after=RETRY_AFTER)
    proxy.cut_next(watches, 1, mode="reset")
    churn.create(0, "after-cut")
    inf.wait(lambda ls: added(inf, f"{ns}/after-cut"), timeout=120 * FACTOR,
             what="the cut event")
    assert proxy.pending() == 0
    gaps = gaps_after_429(proxy, watches)
    assert len(gaps) == 2 and min(gaps) >= RETRY_AFTER - TOLERANCE, gaps

    # more cuts, inside events of every kind, while pods change
    for i, (mode, after) in enumerate([("eof", 1), ("reset", 700), ("eof", 2500),
                                       ("reset", 4000), ("eof", 300)]):
        proxy.cut_next(watches, after, mode=mode)
        while proxy.pending():
            churn.step()
            assert len(churn.created) < 200, "the cut never happened"
        for _ in range(3):
            churn.step()
        settle(cluster, ns, inf, name=f"settle-{i}")
    cache, stats = inf.stop()

    faults = [e["fault"] for e in proxy.requests(watches) if e["fault"]]
    assert faults.count("cut-reset") == 3 and faults.count("cut-eof") == 3, faults
    assert faults.count("status-429") == 2, faults
    check_against_truth(cluster, ns, inf, churn, cache)
    assert int(stats["restarts"]) >= 8, stats


def test_kloompas_through_429_and_cut_watches(cluster, fault_proxy, kloompas, tmp_path):
    proxy = fault_proxy
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    lists, watches = matcher("/api/v1/pods", watch=False), matcher("/api/v1/pods", watch=True)
    proxy.fail_next(lists, 2, retry_after=RETRY_AFTER)
    kl = start_kloompas(kloompas, proxy.kubeconfig(tmp_path / "kc-proxy"), own)
    wait_ready(kl)
    gaps = gaps_after_429(proxy, lists)
    assert len(gaps) == 2 and min(gaps) >= RETRY_AFTER - TOLERANCE, gaps

    k = cluster.kube
    for i, mode in enumerate(["reset", "eof"]):
        proxy.fail_next(watches, 1, retry_after=RETRY_AFTER)
        proxy.cut_next(watches, 1, mode=mode)
        k.create_pod(ns, f"p{i}", annotations=PENDING)
        wait_until(lambda: kloompas_saw(kl, f"{ns}/p{i}"), 120, f"kloompas to add p{i}")
        assert proxy.pending() == 0, proxy.requests()[-10:]
        assert kl.proc.poll() is None and readyz(kl)[0] == 200
    gaps = gaps_after_429(proxy, watches)
    assert len(gaps) == 2 and min(gaps) >= RETRY_AFTER - TOLERANCE, gaps
    k.patch("pods", {"metadata": {"labels": {"x": "1"}}}, name="p0", ns=ns)
    k.delete("pods", name="p1", ns=ns, grace_period_seconds=0)
    wait_until(lambda: kloompas_saw(kl, f"{ns}/p1", "delete"), 120, "kloompas to delete p1")
    wait_until(lambda: kloompas_saw(kl, f"{ns}/p0", "update"), 120, "kloompas to update p0")
    assert check_kloompas_log(kl.log(), ns) == {f"{ns}/p0"}
    assert kl.stop() == 0, kl.log()[-3000:]


def test_retried_first_list_is_not_a_relist(cluster, fault_proxy, tmp_path):
    """kloompas_informer_relists_total (klinform's relists, the same counter) counts
    LISTs after a successful one, not retries of a first LIST that failed."""
    ns = fresh_ns(cluster)
    lists = matcher(f"/api/v1/namespaces/{ns}/pods", watch=False)
    fault_proxy.fail_next(lists, 2, retry_after=1)
    inf = Informer(fault_proxy.kubeconfig(tmp_path / "kc-proxy"), "pods", "--ns", ns,
                   "--backoff-ms", "100")
    assert inf.synced(timeout=120 * FACTOR) == 0
    _, stats = inf.stop()
    assert len(fault_proxy.requests(lists)) == 3
    assert stats["relists"] == "0", stats


def test_list_from_watch_cache_and_fallbacks(cluster, fault_proxy, tmp_path):
    """The first LIST asks resourceVersion=0 (the apiserver's watch cache answers it
    whole); refused with a 410 it is made again at once as a consistent paginated LIST.
    A relist (after a watch 410) asks the last resourceVersion, unpaged; refused with a
    504 it falls back too. Nothing is lost or doubled, and the fallbacks are counted."""
    ns = fresh_ns(cluster)
    k = cluster.kube
    for i in range(6):
        k.create_pod(ns, f"seed-{i}", annotations=PENDING)
    path = f"/api/v1/namespaces/{ns}/pods"
    lists, watches = matcher(path, watch=False), matcher(path, watch=True)
    kc = fault_proxy.kubeconfig(tmp_path / "kc-proxy")

    inf = Informer(kc, "pods", "--ns", ns)
    assert inf.synced(timeout=120 * FACTOR) == 6
    cache, stats = inf.stop()
    reqs = fault_proxy.requests(lists)
    assert len(reqs) == 1, reqs
    assert reqs[0]["query"].get("resourceVersion") == "0", reqs
    assert stats["from"] == "watch-cache" and stats["fallbacks"] == "0", stats
    assert_cache_equals_list(cluster, cache, ns)

    fault_proxy.fail_next(lists, 1, status=410, reason="Expired",
                          message="too old resource version: 0 (1)")
    inf = Informer(kc, "pods", "--ns", ns, "--backoff-ms", "100", "--min-watch", "1",
                   "--max-watch", "2")
    assert inf.synced(timeout=120 * FACTOR) == 6
    fault_proxy.fail_next(lists, 1, status=504, reason="Timeout",
                          message="Too large resource version: 999, current: 1")
    fault_proxy.fail_next(watches, 1, status=410, reason="Expired",
                          message="too old resource version: 1 (2)")
    wait_until(lambda: fault_proxy.pending() == 0, 60 * FACTOR, "the relist and its fallback")
    k.create_pod(ns, "after", annotations=PENDING)
    k.delete("pods", name="seed-0", ns=ns, grace_period_seconds=0)
    inf.wait(lambda ls: added(inf, f"{ns}/after") and
             any(l.startswith(f"DELETE {ns}/seed-0 ") for l in ls), timeout=60 * FACTOR,
             what="changes after the fallbacks")
    cache, stats = inf.stop()
    qs = [e["query"] for e in fault_proxy.requests(lists)][1:]
    assert len(qs) == 4, qs
    assert qs[0].get("resourceVersion") == "0" and qs[0].get("limit") == "500", qs
    assert "resourceVersion" not in qs[1] and qs[1].get("limit") == "500", qs
    assert qs[2].get("resourceVersion") not in (None, "", "0") and "limit" not in qs[2], qs
    assert "resourceVersion" not in qs[3] and qs[3].get("limit") == "500", qs
    assert stats["fallbacks"] == "2" and stats["relists"] == "1", stats
    assert stats["from"] == "etcd" and stats["errors"] == "0", stats
    adds = [l.split()[1] for l in inf.events("ADD")]
    assert len(adds) == len(set(adds)) == 7, "an object was added twice"
    assert "list from the watch cache refused" in "\n".join(inf.err)
    assert_cache_equals_list(cluster, cache, ns)


@pytest.fixture
def receiver():
    from receiver import Receiver
    r = Receiver()
    yield r
    r.close()


def test_state_read_429_at_restart_does_not_resend(cluster, kubelet, kloompas, receiver,
                                                   fault_proxy, tmp_path):
    """test_k8s_watchers.py's restart-while-firing, with the first read of the state
    ConfigMap after the restart answered 429 Retry-After: 1."""
    from test_k8s_watchers import config, crash_lines
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    cluster.kube.create_pod(ns, "boom", annotations=sim_crash())
    cfg = config(tmp_path, receiver, ns)
    kl = kloompas("--kubeconfig", cluster.kubeconfig, "--config", cfg,
                  "--leader-elect-resource-namespace", own,
                  "--controllers=crash-watcher,notready-watcher")
    receiver.wait(lambda r: crash_lines(r.slack_texts(), ns), timeout=90 * FACTOR,
                  what="the first notice")

    def recorded():
        cm = cluster.kube.get("configmaps", name="kloompas-state", ns=own, missing_ok=True)
        rec = ((cm or {}).get("data") or {}).get(f"crash-watcher.{ns}")
        return rec and json.loads(rec)["notified"] == "firing"
    # the delivery is confirmed and written down (batched, 1 s) before the stop
    wait_until(recorded, 60, "the notice recorded in kloompas-state")
    assert kl.stop() == 0, kl.log()[-3000:]
    assert recorded()

    state = matcher(f"/api/v1/namespaces/{own}/configmaps/kloompas-state")
    fault_proxy.fail_next(state, 1, retry_after=1)
    kl2 = kloompas("--kubeconfig", fault_proxy.kubeconfig(tmp_path / "kc-proxy"),
                   "--config", cfg, "--leader-elect-resource-namespace", own,
                   "--controllers=crash-watcher,notready-watcher")
    wait_ready(kl2)
    assert fault_proxy.pending() == 0
    gaps = gaps_after_429(fault_proxy, state)  # the read is retried, after Retry-After
    assert len(gaps) == 1 and gaps[0] >= 1 - TOLERANCE, gaps
    # a second notice would come within the 50 ms flush window of the first evaluation
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and len(crash_lines(receiver.slack_texts(), ns)) < 2:
        time.sleep(0.2)
    assert len(crash_lines(receiver.slack_texts(), ns)) == 1, "re-sent after a restart"
    assert kl2.stop() == 0, kl2.log()[-3000:]


# ------------------------------------------------------------------ 3. unreachable at start

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpProxyAt(TcpProxy):
    """tcpproxy.TcpProxy, listening on a port of our choosing."""

    def __init__(self, target_host, target_port, port):
        self.target = (target_host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(128)
        self.port = port
        self.down = False
        self.conns = set()
        self.lock = threading.Lock()
        self.accepted = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()


UNREACHABLE = {
    # ways to say it; libcurl 7.88 says "Failed to connect to 127.0.0.1 port N after 0 ms:
    # Couldn't connect to server" for a refused connection
    "dns": ("https://kloompas-no-such-host.invalid:6443", ("could not resolve host",)),
    "refused": (None, ("couldn't connect to server", "connection refused")),
}


def names(text, errors):
    return any(e in text.lower() for e in errors)


def start_unreachable(cluster, kloompas, tmp_path, case):
    server, errors = UNREACHABLE[case]
    port = None
    if server is None:
        port = free_port()
        server = f"https://127.0.0.1:{port}"
    kc = write_kubeconfig(tmp_path / f"kc-{case}", server, cluster.env["CA_FILE"],
                          admin_user(cluster))
    own = fresh_ns(cluster)
    kl = start_kloompas(kloompas, kc, own)
    # several rounds of failures, and it is still there
    wait_until(lambda: kl.log().count('msg="list failed" resource=pods') >= 2 or
               kl.proc.poll() is not None, 60, "failed LISTs")
    assert kl.proc.poll() is None, kl.log()
    assert names(kl.log(), errors), kl.log()[-2000:]
    return kl, port, errors


@pytest.mark.parametrize("case", ["dns", "refused"])
def test_unreachable_apiserver_at_start(cluster, kloompas, tmp_path, case):
    kl, port, errors = start_unreachable(cluster, kloompas, tmp_path, case)
    assert get(kl.port, "/healthz")[0] == 200
    assert get(kl.port, "/livez")[0] == 200
    st, _, body = readyz(kl)
    assert st == 503, (st, body)
    assert b"[-]informers-synced failed: not synced:" in body and b"pods" in body, body
    assert names(body.decode(), errors), body  # why, not only what
    if case == "dns":
        assert kl.stop() == 0, kl.log()[-3000:]
        return
    # the port starts answering: ready without a restart of kloompas
    proxy = TcpProxyAt("127.0.0.1", int(cluster.env["APISERVER_PORT"]), port)
    try:
        wait_ready(kl, timeout=120)
        assert get(kl.port, "/healthz")[0] == 200
        assert proxy.accepted >= 1
        assert kl.stop() == 0, kl.log()[-3000:]
    finally:
        proxy.close()


# ------------------------------------------------------------------ 4. token rotation

def sa_token(k, ns, secret, timeout=60):
    """The token the controller-manager writes into a service-account token Secret."""
    s = k.wait_for(lambda: (k.get("secrets", name=secret, ns=ns, missing_ok=True) or {})
                   .get("data", {}).get("token"), timeout=timeout,
                   message=f"the token of {secret}")
    return base64.b64decode(s).decode()


def test_token_file_rotated_and_old_token_revoked(cluster, kloompas, tmp_path):
    k = cluster.kube
    ns = fresh_ns(cluster)
    own = fresh_ns(cluster)
    k.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": "rot"}}, ns=ns)
    crb = f"kl-faults-{ns}"
    k.create("clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": crb},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "rot", "namespace": ns}]})
    proxy = TcpProxy("127.0.0.1", int(cluster.env["APISERVER_PORT"]))
    try:
        old_secret = k.wait_for(lambda: (k.get("serviceaccounts", name="rot", ns=ns)
                                         .get("secrets") or [{}])[0].get("name"),
                                timeout=60, message="the ServiceAccount's token Secret")
        old = sa_token(k, ns, old_secret)
        tok = tmp_path / "token"
        tok.write_text(old + "\n")
        kc = write_kubeconfig(tmp_path / "kc-token", f"https://127.0.0.1:{proxy.port}",
                              cluster.env["CA_FILE"], {"tokenFile": str(tok)})
        t0 = time.monotonic()
        kl = start_kloompas(kloompas, kc, own)
        wait_ready(kl)
        k.create_pod(ns, "before", annotations=PENDING)
        wait_until(lambda: kloompas_saw(kl, f"{ns}/before"), 120, "kloompas to add before")

        # rotate: a new token in the file (replaced at once, as the kubelet does), and the
        # old one revoked
        k.create("secrets", {"apiVersion": "v1", "kind": "Secret",
                             "type": "kubernetes.io/service-account-token",
                             "metadata": {"name": "rot-2", "annotations": {
                                 "kubernetes.io/service-account.name": "rot"}}}, ns=ns)
        new = sa_token(k, ns, "rot-2")
        assert new != old
        tmp = tmp_path / "token.new"
        tmp.write_text(new + "\n")
        os.replace(tmp, tok)
        k.delete("secrets", name=old_secret, ns=ns)
        old_kc = write_kubeconfig(tmp_path / "kc-old", cluster.url, cluster.env["CA_FILE"],
                                  {"token": old})
        ns_path = f"/api/v1/namespaces/{ns}"
        # the apiserver caches a token's authentication for a few seconds
        wait_until(lambda: "code=401" in (klctl("--kubeconfig", old_kc, "get", ns_path)[1]
                                          or [""])[0], 60, "the old token to be refused")

        # every connection is dropped: kloompas has to authenticate again
        proxy.set_down(True)
        time.sleep(1)
        proxy.set_down(False)
        reconnected_within = time.monotonic() - t0
        k.create_pod(ns, "after", annotations=PENDING)
        wait_until(lambda: kloompas_saw(kl, f"{ns}/after"), 120, "kloompas to add after")
        wait_ready(kl)
        assert proxy.accepted >= 2
        if reconnected_within < 50:
            # the re-read period (60 s) had not come: the old token was sent, refused,
            # and the file read again at once
            assert 'code="401"' in get(kl.port, "/metrics")[2].decode()
        text = kl.log()
        assert old not in text and new not in text  # secrets never logged
        assert check_kloompas_log(text, ns) == {f"{ns}/before", f"{ns}/after"}
        assert kl.stop() == 0, text[-3000:]
    finally:
        proxy.close()
        k.delete("clusterrolebindings", name=crb)
