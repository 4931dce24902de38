#!/usr/bin/env python3
"""scripts/demo_workload.py CLUSTER_DIR [--real] - the demo's workload.

Two teams' namespaces, as a real cluster would have them: a healthy web tier, a
Deployment whose pods crash-loop (exit code 1), and one whose pods run but never
become Ready. Without --real the kubelet simulator (test/cluster/kubelet_sim.py)
plays each behaviour from the pod annotation kloompas.io/sim; with --real (a cluster
of up.sh --real-node) real busybox containers do it: a shell that prints a few lines
and exits 1, and an exec readiness probe that fails until /tmp/ready exists.

    demo_workload.py CLUSTER_DIR [--real] --recover   makes moc-pricing Ready
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "cluster"))
from kube import Kube  # noqa: E402

IMAGE = "localhost/kloompas/busybox:1"  # test/cluster/images.sh, imported by up.sh


def real(name, command, probe=None):
    c = {"name": "app", "image": IMAGE, "imagePullPolicy": "Never", "command": command}
    if probe:
        c["readinessProbe"] = {"exec": {"command": probe}, "periodSeconds": 2}
    return [c]


def create(k, is_real):
    k.create_namespace("moc-pricing", annotations={"kloompas.io/team": "@squad-merchandise"})
    k.create_namespace("mon-apigee", annotations={"kloompas.io/team": "@arquitectura"})
    if is_real:
        sleep = ["sleep", "86400"]
        k.create_deployment("moc-pricing", "web", 3, containers=real("web", sleep))
        k.create_deployment("moc-pricing", "pricing-api", 2,
                            containers=real("pricing-api", sleep, ["cat", "/tmp/ready"]))
        k.create_deployment("mon-apigee", "gateway", 2, containers=real("gateway", [
            "sh", "-c", "echo gateway starting; echo upstream apigee-core: connection refused;"
            " sleep 2; exit 1"]))
        k.create_deployment("mon-apigee", "portal", 1, containers=real("portal", sleep))
    else:
        k.create_deployment("moc-pricing", "web", 3)
        k.create_deployment("moc-pricing", "pricing-api", 2,
                            pod_annotations={"kloompas.io/sim": "notready"})
        k.create_deployment("mon-apigee", "gateway", 2,
                            pod_annotations={"kloompas.io/sim": "crashloop:1"})
        k.create_deployment("mon-apigee", "portal", 1)
    k.wait_for(lambda: len(k.list("pods", ns="moc-pricing")) == 5 and
               len(k.list("pods", ns="mon-apigee")) == 3, timeout=90,
               message="demo pods were not created")
    print("demo workload: moc-pricing (3 ready + 2 not ready), "
          "mon-apigee (2 crash-looping + 1 ready)" + (" - real containers" if is_real else ""))


def recover(k, is_real):
    if is_real:
        k.patch("deployments", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "readinessProbe": {"exec": {"command": ["true"]}}}]}}}},
            name="pricing-api", ns="moc-pricing", type="strategic")
        return
    for p in k.list("pods", ns="moc-pricing"):
        k.patch("pods", {"metadata": {"annotations": {"kloompas.io/sim": "ready"}}},
                name=p["metadata"]["name"], ns="moc-pricing")
    k.patch("deployments", {"spec": {"template": {"metadata": {"annotations": {
        "kloompas.io/sim": "ready"}}}}}, name="pricing-api", ns="moc-pricing")


def main():
    args = sys.argv[1:]
    k = Kube(args[0])
    is_real = "--real" in args
    if "--recover" in args:
        recover(k, is_real)
    else:
        create(k, is_real)


if __name__ == "__main__":
    main()
