#!/usr/bin/env python3
"""test/data/pb/capture.py - captures the same LISTs and WATCH as JSON and as protobuf
from a real kube-apiserver (test/cluster/up.sh), for test_pb.c's differential test
and as fuzz seeds (test/fuzz/corpus/pb/).

Why: the protobuf projections (kubeclient/objects_pb.c) must give exactly what the
JSON ones give, on what a real server sends; the server, not our own encoder, is the
reference. The objects cover the pod shapes Kloompas' controllers read (a realistic
bench/make_pods.py pod, a crash loop with lastState, init containers done and
waiting, a pod with a container not yet in its status, OOMKilled and Failed,
Succeeded, a terminating pod, a controller ownerReference among others, a
ReplicaSet's pods), namespaces with the team annotation, the label, both, and one
Terminating, and a deployment with the kloompas.io annotations. Statuses are
written through pods/status as the kubelet simulator does (there is no kubelet).

Usage: test/cluster/up.sh /tmp/kl && python3 test/data/pb/capture.py /tmp/kl
       (then test/cluster/down.sh /tmp/kl --clean). Writes into this folder:
       {pods,namespaces,deployments}.{json,pb}, watch-pods.{json,pb}, status-404.pb,
       bench-pod.{json,pb}.
"""

import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "cluster"))
from kube import Kube  # noqa: E402

NS = "pbcap"
TEAM = "kloompas.io/team"
PB = "application/vnd.kubernetes.protobuf"


def ts(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def curl(kube, path, accept, out):
    """GET path with Accept into out (bytes as the server sent them)."""
    e = kube.env
    subprocess.run(["curl", "-sS", "--fail-with-body" if "404" not in out else "-s", "-o", out,
                    "--cacert", e["CA_FILE"], "--cert", e["ADMIN_CERT"], "--key", e["ADMIN_KEY"],
                    "-A", "kloompas-capture/1", "-H", f"Accept: {accept}",
                    e["APISERVER_URL"] + path], check=True)


def running(name, since, ready=True, restarts=0, last=None):
    s = {"name": name, "state": {"running": {"startedAt": ts(since)}}, "ready": ready,
         "restartCount": restarts, "image": "nginx:1.19", "imageID": "docker-pullable://nginx@sha256:" + "ab" * 32,
         "containerID": "containerd://" + "cd" * 32, "started": True}
    if last:
        s["lastState"] = {"terminated": last}
    return s


def waiting(name, reason, restarts=0, last=None):
    s = {"name": name, "state": {"waiting": {"reason": reason, "message": "back-off"}}, "ready": False,
         "restartCount": restarts, "image": "nginx:1.19", "imageID": ""}
    if last:
        s["lastState"] = {"terminated": last}
    return s


def terminated(name, reason, code, t):
    return {"name": name, "ready": False, "restartCount": 0, "image": "nginx:1.19", "imageID": "",
            "state": {"terminated": {"exitCode": code, "reason": reason, "startedAt": ts(t - 30),
                                     "finishedAt": ts(t), "containerID": "containerd://" + "ef" * 32}}}


def conditions(ready, t):
    return [{"type": "Initialized", "status": "True", "lastTransitionTime": ts(t - 60)},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(t)},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(t - 61)}]


def set_status(kube, name, phase, statuses, init=None, ready=False, ns=NS):
    t = int(time.time())
    st = {"phase": phase, "conditions": conditions(ready, t - 5), "containerStatuses": statuses,
          "hostIP": "10.0.0.1", "podIP": "10.1.2.3", "startTime": ts(t - 100), "qosClass": "BestEffort"}
    if init is not None:
        st["initContainerStatuses"] = init
    kube.patch("pods", {"status": st}, name=name, ns=ns, sub="status")


def make(kube):
    t = int(time.time())
    kube.create_namespace(NS, annotations={TEAM: "growth"})
    kube.create_namespace(NS + "-label", labels={TEAM: "platform"})
    kube.create_namespace(NS + "-both", annotations={TEAM: "growth"}, labels={TEAM: "core"})
    kube.create_namespace(NS + "-term")
    cm = kube.create("configmaps", {"metadata": {"name": "owner"}, "data": {}}, ns=NS)
    cm2 = kube.create("configmaps", {"metadata": {"name": "ctrl"}, "data": {}}, ns=NS)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": cm["metadata"]["uid"]}
    ctrl = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ctrl", "uid": cm2["metadata"]["uid"],
            "controller": True}

    # a realistic pod, as bench/make_pods.py makes them (2 containers, probes, env...)
    sys.path.insert(0, os.path.join(here, "..", "..", "..", "bench"))
    import make_pods  # noqa: E402
    bk = make_pods.BenchKube(os.path.join(kube.env["KLOOMPAS_CLUSTER_DIR"], "env"))
    plan = make_pods.Plan(1, 1)
    plan.pods[0] = (NS, 0, plan.pods[0][2])
    plan.apps[(NS, 0)] = plan.apps.pop(("bench-0", 0))
    plan.apps[(NS, 0)]["uid"] = cm["metadata"]["uid"]
    bk.plan = plan
    m = bk.pod_manifest(NS, "i0")
    m["metadata"]["ownerReferences"][0].update(kind="ConfigMap", apiVersion="v1", name="owner")
    m["spec"]["nodeName"] = "node-7"
    bench = kube.create("pods", m, ns=NS)["metadata"]["name"]
    set_status(kube, bench, "Running", [running("app", t - 90), running("metrics-exporter", t - 89)], ready=True)

    def pod(name, containers=None, init=None, owners=None, node="node-1", finalizers=None, ns=NS):
        p = kube.pod_manifest(ns, name, containers, init_containers=init, spec={"nodeName": node} if node else {})
        if owners:
            p["metadata"]["ownerReferences"] = owners
        if finalizers:
            p["metadata"]["finalizers"] = finalizers
        kube.create("pods", p, ns=ns)

    pod("crash", owners=[ref, ctrl])
    set_status(kube, "crash", "Running", [waiting("app", "CrashLoopBackOff", 5, last={
        "exitCode": 1, "reason": "Error", "startedAt": ts(t - 40), "finishedAt": ts(t - 20),
        "containerID": "containerd://" + "12" * 32})])
    pod("init-done", containers=["app", "side"], init=["setup", "migrate"])
    set_status(kube, "init-done", "Running", [running("app", t - 50, True, 2, last={
        "exitCode": 137, "reason": "OOMKilled", "startedAt": ts(t - 80), "finishedAt": ts(t - 51)}),
        running("side", t - 50, False)],
        init=[terminated("setup", "Completed", 0, t - 70), terminated("migrate", "Completed", 0, t - 60)])
    pod("init-wait", init=["setup"])
    set_status(kube, "init-wait", "Pending", [waiting("app", "PodInitializing")],
               init=[waiting("setup", "ErrImageNeverPull")])
    pod("half", containers=["app", "late"])  # "late" has no status yet
    set_status(kube, "half", "Pending", [waiting("app", "ContainerCreating")])
    pod("oom")
    set_status(kube, "oom", "Failed", [terminated("app", "OOMKilled", 137, t - 10)])
    pod("done")
    set_status(kube, "done", "Succeeded", [terminated("app", "Completed", 0, t - 15)])
    pod("fresh", node=None)  # no status, no node
    pod("bye", finalizers=["kloompas.io/hold"])
    set_status(kube, "bye", "Running", [running("app", t - 30)], ready=True)
    kube.delete("pods", name="bye", ns=NS)  # stays, terminating, for the finalizer
    pod("hold", finalizers=["kloompas.io/hold"], ns=NS + "-term")
    kube.delete("namespaces", name=NS + "-term")  # Terminating while "hold" is there

    kube.create_deployment(NS, "web", replicas=1, annotations={
        "kloompas.io/min-replicas": "2", "kloompas.io/max-replicas": "5",
        "kloompas.io/restore-replicas": "3", "kloompas.io/restore-at": ts(t + 3600)})
    kube.create_deployment(NS, "plain", replicas=2)
    kube.wait_for(lambda: len(kube.list("pods", ns=NS)) >= 12, 60, message="ReplicaSet pods")


def capture(kube):
    rv = kube.request("GET", f"/api/v1/namespaces/{NS}/pods")[1]["metadata"]["resourceVersion"]
    exact = f"resourceVersion={rv}&resourceVersionMatch=Exact"
    for name, path in (("pods", f"/api/v1/namespaces/{NS}/pods?{exact}"),
                       ("namespaces", f"/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name&{exact}"),
                       ("deployments", f"/apis/apps/v1/namespaces/{NS}/deployments?{exact}")):
        if name == "namespaces":  # 1.20 has no metadata.name label: all namespaces
            path = f"/api/v1/namespaces?{exact}"
        curl(kube, path, "application/json", os.path.join(here, name + ".json"))
        curl(kube, path, PB, os.path.join(here, name + ".pb"))
    # the WATCH: changes after rv, then both encodings replay them from the watch cache
    for i, name in enumerate(("crash", "half", "oom")):
        kube.patch("pods", {"metadata": {"labels": {"step": str(i)}}}, name=name, ns=NS)
    set_status(kube, "half", "Running", [running("app", int(time.time())), running("late", int(time.time()))],
               ready=True)
    kube.delete("pods", name="done", ns=NS)
    w = f"/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion={rv}&timeoutSeconds=2"
    procs = []
    for ext, accept in (("json", "application/json"), ("pb", PB)):
        procs.append(subprocess.Popen(["curl", "-sS", "-o", os.path.join(here, "watch-pods." + ext),
                                       "--cacert", kube.env["CA_FILE"], "--cert", kube.env["ADMIN_CERT"],
                                       "--key", kube.env["ADMIN_KEY"], "-A", "kloompas-capture/1",
                                       "-H", f"Accept: {accept}", kube.env["APISERVER_URL"] + w]))
    for p in procs:
        if p.wait() != 0:
            sys.exit("capture: watch failed")
    curl(kube, f"/api/v1/namespaces/{NS}/pods/missing", PB, os.path.join(here, "status-404.pb"))
    bench_pod(kube)


def bench_pod(kube):
    """The realistic pod alone, both encodings: bench/bench_replay.c's protobuf template."""
    name = next(p["metadata"]["name"] for p in kube.list("pods", ns=NS) if p["metadata"]["name"].startswith("checkout-"))
    for ext, accept in (("json", "application/json"), ("pb", PB)):
        curl(kube, f"/api/v1/namespaces/{NS}/pods/{name}", accept, os.path.join(here, "bench-pod." + ext))


def main():
    kube = Kube(sys.argv[1])
    make(kube)
    time.sleep(2)  # the ReplicaSet pods and deployment status settle
    capture(kube)


if __name__ == "__main__":
    main()
