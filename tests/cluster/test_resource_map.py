"""The resource map and the lifecycle state of an add-on, from recorded objects (gitops-engine's fixtures as the
objects' bodies, wired together by owner references as a cluster would hold them)."""

from __future__ import annotations

import copy
import time
from typing import Any

from kaddons.cluster.resource_map import resource_map
from kaddons.cluster.state import addon_state
from tests.cluster.test_health import GITOPS_ENGINE, first_document


def _with(obj: dict[str, Any], name: str, uid: str, owner: str | None = None, **labels: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta.update({"name": name, "uid": uid, "namespace": "web"})
    meta.pop("deletionTimestamp", None)
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": owner}]
    if labels:
        meta["labels"] = labels
    return obj


def _cluster(pods: int, crashing: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    deployment = _with(first_document(GITOPS_ENGINE / "nginx.yaml"), "web", "d1")
    service = _with(first_document(GITOPS_ENGINE / "svc-clusterip.yaml"), "web", "s1")
    replicaset = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"replicas": pods},
                  "status": {"availableReplicas": pods - crashing}}
    healthy = first_document(GITOPS_ENGINE / "pod-running-restart-always.yaml")
    crashloop = first_document(GITOPS_ENGINE / "pod-crashloop.yaml")
    objects = [_with(replicaset, "web-abc", "r1", "d1"),
               _with({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice"}, "web-xyz", "e1",
                     **{"kubernetes.io/service-name": "web"})]
    objects += [_with(crashloop if i < crashing else healthy, f"web-abc-{i:05d}", f"p{i}", "r1") for i in range(pods)]
    return [deployment, service], objects


def test_problems_surface_to_the_top_and_name_their_path() -> None:
    roots, objects = _cluster(pods=4, crashing=1)
    deployment, service = resource_map(roots, objects)
    assert (deployment.label, deployment.shown.status if deployment.shown else None) == ("Deployment/web", "Degraded")
    assert deployment.health is not None and deployment.health.status == "Healthy"  # its own status says Healthy
    assert deployment.shown is not None and deployment.shown.message.startswith(
        "ReplicaSet/web-abc: Pod/web-abc-00000: Back-off 40s restarting failed container")
    [replicaset] = deployment.children
    assert replicaset.children[0].name == "web-abc-00000"  # the crashing Pod first
    assert [c.label for c in service.children] == ["EndpointSlice/web-xyz"]  # by the service-name label


def test_a_big_addon_is_grouped_and_fast() -> None:
    roots, objects = _cluster(pods=14_000, crashing=3)
    started = time.perf_counter()
    deployment, _service = resource_map(roots, objects)
    elapsed = time.perf_counter() - started
    [replicaset] = deployment.children
    [group] = replicaset.children
    assert group.label == "14000 Pods: 3 Degraded, 13997 Healthy"
    assert group.members is not None and [m.name for m in group.members[:3]] == [
        "web-abc-00000", "web-abc-00001", "web-abc-00002"]
    data = deployment.to_dict()
    assert "members" not in data["children"][0]["children"][0]  # folded unless expanded
    assert len(deployment.to_dict(expand=True)["children"][0]["children"][0]["members"]) == 14_000
    assert elapsed < 10  # a sanity bound only; benchmarks/ measures it


def test_states_by_the_table() -> None:
    app: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"}}
    assert addon_state(None).state == "Unknown"
    assert addon_state(app).state == "Pending"
    assert addon_state({**app, "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}},
                       {"ns-a": "Deploying"}).reason == "waiting on parents: ns-a"
    running = {**app, "status": {"operationState": {"phase": "Running", "message": "waiting for healthy state"}}}
    assert (addon_state(running).state, addon_state(running).row) == ("Deploying", 4)
    degraded = {**app, "status": {"sync": {"status": "Synced"}, "health": {"status": "Degraded"}, "resources": [
        {"kind": "Deployment", "name": "web", "health": {"status": "Degraded", "message": "exceeded its deadline"}}]}}
    assert addon_state(degraded).reason == "Deployment/web: exceeded its deadline"
    assert addon_state({**app, "status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}}}
                       ).state == "OutOfSync"
    synced = addon_state({**app, "status": {"sync": {"status": "Synced", "revision": "abc"},
                                            "health": {"status": "Healthy"}}})
    assert (synced.state, synced.row) == ("Synced", 9)
    release: dict[str, Any] = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                               "metadata": {"name": "r", "generation": 2}}

    def flux(*conditions: dict[str, str], observed: int = 2, **spec: Any) -> str:
        return addon_state({**release, "spec": spec, "status": {"observedGeneration": observed,
                                                                 "conditions": list(conditions)}}).state

    assert flux() == "Pending"
    assert flux({"type": "Ready", "status": "True", "reason": "UpgradeSucceeded"}) == "Synced"
    assert flux({"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": "timed out"}) == "Degraded"
    assert flux({"type": "Ready", "status": "Unknown"}, {"type": "Reconciling", "status": "True"}) == "Deploying"
    assert flux({"type": "Ready", "status": "True"}, observed=1) == "OutOfSync"
    assert flux({"type": "Ready", "status": "True"}, suspend=True) == "OutOfSync"
