#!/usr/bin/env python3
"""scripts/demo_workload.py CLUSTER_DIR - the demo's workload on the local control plane.

Two teams' namespaces, as a real cluster would have them: a healthy web tier, a
Deployment whose pods crash-loop (exit code 1), and one whose pods run but never
become Ready. The kubelet simulator (test/cluster/kubelet_sim.py) plays each
behaviour from the pod annotation kloompas.io/sim.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "cluster"))
from kube import Kube  # noqa: E402


def main():
    k = Kube(sys.argv[1])
    k.create_namespace("moc-pricing", annotations={"kloompas.io/team": "@squad-merchandise"})
    k.create_namespace("mon-apigee", annotations={"kloompas.io/team": "@arquitectura"})
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
          "mon-apigee (2 crash-looping + 1 ready)")


if __name__ == "__main__":
    main()
