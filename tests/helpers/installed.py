"""A Helm release as a cluster would hold it, for the tests that read a cluster through kmock (no API server runs
on these machines, so nothing installs anything).

The objects are the real chart's, rendered by the Helm SDK from ../shared/testdata/charts/; on them, what the
cluster adds, as recorded from real clusters: Helm's ownership annotations (``meta.helm.sh/release-name``,
``-namespace``), uids, the Deployment's status, a ReplicaSet and its Pods by owner references, the Service's
EndpointSlice. Pod bodies (status, containers) are gitops-engine's recorded fixtures
(``tests/cluster/data/gitops-engine/``), per scenario.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CHARTS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "charts" / "k2s-history"
FIXTURES = Path(__file__).resolve().parents[1] / "cluster" / "data" / "gitops-engine"
PLURALS = {"Deployment": "deployments", "Service": "services", "ServiceAccount": "serviceaccounts",
           "ConfigMap": "configmaps", "ReplicaSet": "replicasets", "Pod": "pods", "EndpointSlice": "endpointslices"}
"""The namespaced kinds the release's objects come in (the chart's Secret is left out: the reader does not
watch Secrets)."""


def _fixture(name: str) -> dict[str, Any]:
    from tests.cluster.test_health import first_document  # timestamps stay strings, as the API serves them

    return first_document(FIXTURES / name)


def _render(chart: str, version: str, name: str, namespace: str) -> list[dict[str, Any]]:
    import helm_python

    with helm_python.Chart.load(CHARTS / f"{chart}-{version}.tgz") as loaded:
        rendered = loaded.render({}, name=name, namespace=namespace, is_install=True)
    return [doc for path, text in sorted(rendered.items()) if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def _pod(body: str, name: str, namespace: str, owner: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    pod = copy.deepcopy(_fixture(body))  # its metadata is replaced whole: names, uids and owners are this release's
    pod["metadata"] = {"name": name, "namespace": namespace, "uid": f"uid-pod-{name}", "labels": labels,
                              "creationTimestamp": "2026-12-01T10:00:00Z",
                              "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                   "name": owner["metadata"]["name"],
                                                   "uid": owner["metadata"]["uid"], "controller": True}]}
    return pod


def installed_release(chart: str, version: str, name: str, namespace: str, *, pods: int = 2,
                      crashing: int = 0, engine: str = "flux") -> list[tuple[str, dict[str, Any]]]:
    """``(plural, object)`` pairs: the release ``name`` of ``chart`` ``version`` in ``namespace`` with ``pods``
    Pods, the first ``crashing`` of them in CrashLoopBackOff. ``engine`` ``flux`` adds helm-controller's labels,
    ``argocd`` Argo CD's tracking label."""
    found: list[tuple[str, dict[str, Any]]] = []
    for obj in _render(chart, version, name, namespace):
        kind = obj["kind"]
        if kind not in PLURALS:
            continue
        meta = obj["metadata"]
        meta.setdefault("namespace", namespace)
        meta["uid"] = f"uid-{kind.lower()}-{meta['name']}"
        meta["creationTimestamp"] = "2026-12-01T10:00:00Z"
        labels = meta.setdefault("labels", {})
        if engine == "flux":
            meta.setdefault("annotations", {}).update(
                {"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": namespace})
            labels.update({"helm.toolkit.fluxcd.io/name": name, "helm.toolkit.fluxcd.io/namespace": "flux-system"})
        else:
            labels["app.kubernetes.io/instance"] = f"addon-{name}"
        if kind == "Deployment":
            meta["generation"] = 1
            ready = pods - crashing
            obj["spec"]["replicas"] = pods
            obj["status"] = {"observedGeneration": 1, "replicas": pods, "updatedReplicas": pods,
                             "readyReplicas": ready, "availableReplicas": ready,
                             "conditions": [{"type": "Available", "status": "True" if ready else "False"},
                                            {"type": "Progressing", "status": "True",
                                             "reason": "NewReplicaSetAvailable"}]}
            pod_labels = dict(obj["spec"]["template"]["metadata"]["labels"])
            replicaset = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                          "metadata": {"name": f"{meta['name']}-7d9c5b8f6", "namespace": namespace,
                                       "uid": f"uid-rs-{meta['name']}", "labels": pod_labels,
                                       "creationTimestamp": "2026-12-01T10:00:00Z",
                                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "name": meta["name"], "uid": meta["uid"],
                                                            "controller": True}]},
                          "spec": {"replicas": pods},
                          "status": {"replicas": pods, "readyReplicas": ready, "availableReplicas": ready}}
            found.append(("replicasets", replicaset))
            for i in range(pods):
                body = "pod-crashloop.yaml" if i < crashing else "pod-running-restart-always.yaml"
                found.append(("pods", _pod(body, f"{replicaset['metadata']['name']}-p{i:03d}", namespace,
                                           replicaset, pod_labels)))
        if kind == "Service":
            found.append(("endpointslices", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": f"{meta['name']}-x7k2p", "namespace": namespace,
                             "uid": f"uid-slice-{meta['name']}",
                             "labels": {"kubernetes.io/service-name": meta["name"]}}, "endpoints": []}))
        found.append((PLURALS[kind], obj))
    return found


def crashing_pod(release: list[tuple[str, dict[str, Any]]], index: int = 0, crash: bool = True) -> dict[str, Any]:
    """The ``index``-th Pod of ``release``, its body crash-looping (``crash``) or running."""
    pods = [obj for plural, obj in release if plural == "pods"]
    pod = copy.deepcopy(pods[index])
    body = _fixture("pod-crashloop.yaml" if crash else "pod-running-restart-always.yaml")
    pod["status"] = body["status"]
    return pod
