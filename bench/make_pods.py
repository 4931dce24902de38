#!/usr/bin/env python3
"""bench/make_pods.py - fill an up.sh cluster with N realistic pods for the benchmarks.

Why this file: bench_list.sh and bench_informer.sh time LISTs and informer syncs of
pods that look like a production cluster's as the apiserver returns them, about
8.5 KB of JSON each: labels and annotations as Helm and Prometheus leave them, an
ownerReference, two containers with probes, env and mounts, a status written by a
"kubelet" (test/cluster/kubelet_sim.py, started by the caller) and managedFields
from both writers (this script's manager "kloompas-bench" and the simulator's).

Design:
- Pods are spread over a few namespaces and, inside each, over "apps" of 50 pods.
  Each app has a real ReplicaSet as the pods' owner, so the garbage collector of
  the controller-manager leaves them alone. That ReplicaSet has replicas 0 and a
  selector the pods do not match, and the ownerReference says controller=false:
  its controller neither adopts, releases nor deletes them.
- Creation goes through Kube.bulk_create_pods (64 keep-alive connections); a
  subclass gives every pod its own manifest: pod_manifest() maps bulk_create_pods'
  generated name "i<N>" to the N-th pod of the plan.
- It then waits until every pod it made is Running with its container statuses
  (a watch thread counts them), so the caller measures a settled cluster.

Usage: python3 bench/make_pods.py --env DIR/env --pods N [--namespaces K]
       [--concurrency 64] [--timeout SECONDS]
Prints progress on stderr and "pods=N seconds=S" on stdout.
"""

import argparse
import hashlib
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "cluster"))
from kube import ApiError, Kube  # noqa: E402

PODS_PER_APP = 50
APPS = ["checkout", "catalog", "payments", "search", "recommendations", "cart", "shipping",
        "frontend", "accounts", "inventory", "notifications", "reviews"]
SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def h(s, n):
    """A stable pseudo-random lowercase hex string of n chars."""
    return hashlib.sha256(s.encode()).hexdigest()[:n]


def suffix(i):
    """A pod name suffix like the ReplicaSet controller's (5 chars of its alphabet)."""
    out = ""
    x = int(h(str(i), 12), 16)
    for _ in range(5):
        x, r = divmod(x, len(SUFFIX_CHARS))
        out += SUFFIX_CHARS[r]
    return out


class Plan:
    """Where pod number i goes: namespace, app, ReplicaSet, name."""

    def __init__(self, n, namespaces):
        self.n = n
        self.namespaces = [f"bench-{k}" for k in range(namespaces)]
        per_ns = -(-n // namespaces)
        self.pods = []  # (ns, app index in ns, name)
        self.apps = {}  # (ns, app index) -> {"app", "rs", "hash"}
        for i in range(n):
            ns = self.namespaces[i // per_ns]
            a = (i % per_ns) // PODS_PER_APP
            key = (ns, a)
            if key not in self.apps:
                app = f"{APPS[a % len(APPS)]}-{a // len(APPS)}" if a >= len(APPS) else APPS[a]
                ph = h(f"{ns}/{app}", 10)
                self.apps[key] = {"app": app, "hash": ph, "rs": f"{app}-{ph}", "uid": None}
            self.pods.append((ns, a, f"{self.apps[key]['rs']}-{suffix(i)}"))


def container(name, image, port, app, full):
    """The app container (full) or its metrics sidecar."""
    c = {
        "name": name,
        "image": image,
        "args": [f"--port={port}", "--log-level=info", f"--service-name={app}"],
        "ports": [{"name": "http" if port == 8080 else "metrics", "containerPort": port, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "imagePullPolicy": "IfNotPresent",
    }
    if not full:
        return c
    c.update({
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
                           "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "env": [
            {"name": "APP_NAME", "value": app},
            {"name": "APP_ENV", "value": "production"},
            {"name": "LOG_FORMAT", "value": "json"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
        ],
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                          "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 3},
    })
    return c


class BenchKube(Kube):
    """Kube whose bulk_create_pods makes the plan's pods (see the top of this file)."""

    plan = None

    def pod_manifest(self, ns, name, containers=None, labels=None, annotations=None, init_containers=None,
                     spec=None):
        if not name.startswith("i") or not name[1:].isdigit():
            return super().pod_manifest(ns, name, containers, labels, annotations, init_containers, spec)
        i = int(name[1:])
        pns, a, pname = self.plan.pods[i]
        app = self.plan.apps[(pns, a)]
        team = ["growth", "core", "platform", "data"][a % 4]
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pname,
                "generateName": app["rs"] + "-",
                "namespace": pns,
                "labels": {
                    "app.kubernetes.io/name": app["app"],
                    "app.kubernetes.io/instance": f"{app['app']}-production",
                    "app.kubernetes.io/version": "1.14.2",
                    "app.kubernetes.io/component": "server",
                    "app.kubernetes.io/part-of": "shop",
                    "app.kubernetes.io/managed-by": "Helm",
                    "helm.sh/chart": f"{app['app']}-3.2.1",
                    "pod-template-hash": app["hash"],
                    "team": team,
                },
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": "9090",
                    "prometheus.io/path": "/metrics",
                    "checksum/config": h(f"config/{app['app']}", 64),
                    "kloompas.io/team": team,
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": app["rs"],
                                     "uid": app["uid"], "controller": False, "blockOwnerDeletion": True}],
            },
            "spec": {
                "volumes": [{"name": "config", "configMap": {"name": f"{app['app']}-config", "defaultMode": 420}}],
                "containers": [
                    container("app", f"registry.example.com/shop/{app['app']}:1.14.2", 8080, app["app"], True),
                    container("metrics-exporter", "registry.example.com/infra/exporter:0.9.1", 9090, app["app"], False),
                ],
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000},
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300},
                ],
            },
        }


def log(msg):
    sys.stderr.write(f"make_pods: {time.strftime('%H:%M:%S')} {msg}\n")
    sys.stderr.flush()


class Counter:
    """Counts, from a watch, the pods that are Running with container statuses."""

    def __init__(self, kube, want):
        self.kube, self.want = kube, want
        self.running = {}
        self.done = threading.Event()
        self.stop = threading.Event()
        self.error = None

    def _settled(self, pod):
        st = pod.get("status") or {}
        return st.get("phase") == "Running" and len(st.get("containerStatuses") or []) == 2

    def run(self, rv):
        try:
            while not self.stop.is_set():
                for typ, obj in self.kube.watch("pods", resource_version=rv, timeout_seconds=600, stop=self.stop):
                    if typ == "ERROR":
                        raise RuntimeError(f"watch error: {obj}")
                    rv = obj["metadata"]["resourceVersion"]
                    if typ == "BOOKMARK" or not obj["metadata"]["namespace"].startswith("bench-"):
                        continue
                    key = obj["metadata"]["namespace"] + "/" + obj["metadata"]["name"]
                    if typ != "DELETED" and self._settled(obj):
                        self.running[key] = True
                    else:
                        self.running.pop(key, None)
                    if len(self.running) >= self.want:
                        self.done.set()
                        return
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e
            self.done.set()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--pods", type=int, required=True)
    ap.add_argument("--namespaces", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    t0 = time.monotonic()
    kube = BenchKube(args.env, user_agent="kloompas-bench/1.0", timeout=120)
    plan = kube.plan = Plan(args.pods, args.namespaces)

    for ns in plan.namespaces:
        kube.create_namespace(ns, labels={"team": "shop"}, annotations={"kloompas.io/team": "shop"})
    for (ns, a), app in plan.apps.items():
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": app["rs"], "namespace": ns, "labels": {"app.kubernetes.io/name": app["app"]}},
              "spec": {"replicas": 0,
                       "selector": {"matchLabels": {"kloompas.io/bench-owner": app["rs"]}},
                       "template": {"metadata": {"labels": {"kloompas.io/bench-owner": app["rs"]}},
                                    "spec": {"containers": [{"name": "app", "image": "nginx:1.19"}]}}}}
        app["uid"] = kube.create("replicasets", rs, ns=ns)["metadata"]["uid"]
    log(f"{len(plan.namespaces)} namespaces, {len(plan.apps)} owners")

    rv = kube.list("pods", limit=500).resource_version
    counter = Counter(kube, args.pods)
    watcher = threading.Thread(target=counter.run, args=(rv,), daemon=True)
    watcher.start()

    done = 0
    per_ns = -(-args.pods // len(plan.namespaces))
    for k, ns in enumerate(plan.namespaces):
        start, n = k * per_ns, min(per_ns, args.pods - k * per_ns)
        if n <= 0:
            break
        kube.bulk_create_pods(ns, n, concurrency=args.concurrency, prefix="i", start=start)
        done += kube.last_bulk["created"]
        log(f"created {done}/{args.pods} ({kube.last_bulk['rate']:.0f}/s in {ns})")

    deadline = time.monotonic() + args.timeout
    while not counter.done.wait(15):
        log(f"running {len(counter.running)}/{args.pods}")
        if time.monotonic() > deadline:
            counter.stop.set()
            sys.exit(f"make_pods: only {len(counter.running)} of {args.pods} pods running after {args.timeout} s")
    counter.stop.set()
    if counter.error:
        sys.exit(f"make_pods: {counter.error}")
    secs = time.monotonic() - t0
    log(f"all {args.pods} pods running after {secs:.0f} s")
    print(f"pods={args.pods} seconds={secs:.0f}")


if __name__ == "__main__":
    try:
        main()
    except ApiError as e:
        sys.exit(f"make_pods: {e}")
