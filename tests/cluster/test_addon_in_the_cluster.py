"""An add-on followed through the cluster as a user sees it: ``kaddons cluster addons get`` and
``kaddons cluster addons list --watch``.

The Kubernetes API is kmock's emulator with resourceVersion semantics (``tests/helpers/kube.py``: a documented
STAND-IN; no API server runs here), loaded with the objects of a real chart's release as a cluster holds them
(``tests/helpers/installed.py``: rendered by the Helm SDK, with recorded statuses) and engine objects in each
state. The client path (kubeconfig, LIST, WATCH, resourceVersion) is kaddons' own.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaddons.cluster.view import WORKLOAD_KINDS
from tests.helpers.installed import crashing_pod, installed_release
from tests.helpers.kube import KubeAPI, run_kube_api, write_kubeconfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"
LABELS = {"kaddons.io/cluster": "edge"}
ENCRYPTED = "ENC[AES256_GCM,data:c2VjcmV0,iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFn,type:str]"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    values = repo / "clusters" / "edge" / "values" / "headlamp.yaml"
    values.write_text(values.read_text() + f"oidc:\n  clientSecret: {ENCRYPTED}\n")
    return repo


@pytest.fixture
def api(tmp_path: Path) -> Iterator[KubeAPI]:
    """The emulator serving the built-in kinds, as any cluster does, before an object of them exists."""
    with run_kube_api() as running:
        for kind in WORKLOAD_KINDS:
            running.declare(f"{kind.api_version}/{kind.plural}", kind.kind)
        yield running


def _kaddons(repo: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaddons", "cluster", "addons", *args], cwd=repo,
                          env={**os.environ, "KUBECONFIG": str(config)}, capture_output=True, text=True,
                          timeout=120, check=False)


def _application(name: str, status: dict[str, Any] | None) -> dict[str, Any]:
    app: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                           "metadata": {"name": name, "namespace": "argocd", "labels": LABELS}}
    if status is not None:
        app["status"] = status
    return app


def _healthy_app(name: str) -> dict[str, Any]:
    return _application(name, {"sync": {"status": "Synced", "revision": "4f2a9c1"}, "health": {"status": "Healthy"}})


def _load(api: KubeAPI, objects: list[tuple[str, dict[str, Any]]]) -> None:
    for plural, obj in objects:
        api.add(plural, obj)


def test_get_shows_the_map_problems_first_values_masked_and_the_addons_events(
        repo: Path, api: KubeAPI, tmp_path: Path) -> None:
    release = installed_release("headlamp", "0.45.0", "headlamp", "headlamp", pods=3, crashing=1, engine="argocd")
    _load(api, release)
    api.add("applications", _healthy_app("manifest-ns-headlamp"))
    # Argo CD lists the top-level objects and still calls the Deployment Healthy: it does not look at Pods
    api.add("applications", _application("addon-headlamp", {
        "sync": {"status": "Synced", "revision": "4f2a9c1"}, "health": {"status": "Healthy"},
        "operationState": {"phase": "Succeeded", "message": "successfully synced"},
        "resources": [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "headlamp",
                       "name": "headlamp", "health": {"status": "Healthy"}},
                      {"version": "v1", "kind": "Service", "namespace": "headlamp", "name": "headlamp",
                       "health": {"status": "Healthy"}},
                      {"group": "rbac.authorization.k8s.io", "version": "v1", "kind": "ClusterRoleBinding",
                       "name": "headlamp-admin"}]}))
    pod = next(obj for plural, obj in release if plural == "pods")["metadata"]["name"]
    api.add("events", {"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "BackOff",
                       "message": "Back-off restarting failed container", "lastTimestamp": "2026-12-01T10:05:00Z",
                       "metadata": {"name": "e1", "namespace": "headlamp"},
                       "involvedObject": {"kind": "Pod", "name": pod, "namespace": "headlamp"}})
    api.add("events", {"apiVersion": "v1", "kind": "Event", "type": "Normal", "reason": "Pulled", "message": "x",
                       "lastTimestamp": "2026-12-01T10:06:00Z", "metadata": {"name": "e2", "namespace": "headlamp"},
                       "involvedObject": {"kind": "Pod", "name": "someone-elses", "namespace": "headlamp"}})
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)

    done = _kaddons(repo, config, "get", "headlamp", "-o", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["state"] == "Degraded"
    assert data["reason"].startswith("Deployment/headlamp: ReplicaSet/headlamp-7d9c5b8f6: Pod/headlamp-7d9c5b8f6-p000")
    assert data["engine"]["sync"] == "Synced" and data["engine"]["operation"]["phase"] == "Succeeded"
    first, *others = data["resources"]
    assert (first["kind"], first["health"]) == ("Deployment", "Degraded")  # problems first
    [replicaset] = first["children"]
    assert [(p["name"], p["health"]) for p in replicaset["children"]] == [
        ("headlamp-7d9c5b8f6-p000", "Degraded"), ("headlamp-7d9c5b8f6-p001", "Healthy"),
        ("headlamp-7d9c5b8f6-p002", "Healthy")]
    service = next(node for node in others if node["kind"] == "Service")
    assert [c["kind"] for c in service["children"]] == ["EndpointSlice"]
    binding = next(node for node in others if node["kind"] == "ClusterRoleBinding")
    assert binding["health"] is None  # listed by Argo CD, not a watched kind, no health to report
    assert data["values"]["oidc"]["clientSecret"] == "<encrypted>"
    assert ENCRYPTED not in done.stdout
    assert [(e["reason"], e["object"]) for e in data["events"]] == [("BackOff", f"Pod/{pod}")]

    table = _kaddons(repo, config, "get", "headlamp")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "  state      Degraded: Deployment/headlamp: ReplicaSet/headlamp-7d9c5b8f6: " in table.stdout
    deployment = lines.index(next(line for line in lines if line.startswith("  Deployment/headlamp  [Degraded]")))
    assert lines[deployment + 1].startswith("  └─ ReplicaSet/headlamp-7d9c5b8f6  [Degraded]")
    assert lines[deployment + 2].startswith("     ├─ Pod/headlamp-7d9c5b8f6-p000  [Degraded]")
    assert "clientSecret: <encrypted>" in table.stdout


def test_a_big_release_is_grouped_and_expands_on_request(repo: Path, api: KubeAPI, tmp_path: Path) -> None:
    _load(api, installed_release("headlamp", "0.45.0", "headlamp", "headlamp", pods=120, crashing=3))
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    done = _kaddons(repo, config, "get", "headlamp", "--engine", "flux", "--cap", "50")
    assert done.returncode == 0, done.stderr
    assert ("     └─ 120 Pods: 3 Degraded, 117 Healthy  [Degraded]  Pod/headlamp-7d9c5b8f6-p000: Back-off"
            in done.stdout)  # the group names its first problem
    assert "─ Pod/" not in done.stdout  # folded
    expanded = _kaddons(repo, config, "get", "headlamp", "--engine", "flux", "--expand", "-o", "json")
    data = json.loads(expanded.stdout)
    group = data["resources"][0]["children"][0]["children"][0]
    assert (group["count"], len(group["members"])) == (120, 120)
    assert data["state"] == "Unknown"  # no HelmRelease in the cluster yet: the engine's verdict is missing


def test_get_offline_and_mistakes(repo: Path, tmp_path: Path) -> None:
    offline = _kaddons(repo, tmp_path / "none", "get", "headlamp", "--offline", "-o", "json")
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["values"]["oidc"]["clientSecret"] == "<encrypted>"
    unknown = _kaddons(repo, tmp_path / "none", "get", "nope", "--offline")
    assert unknown.returncode == 3
    assert "no add-on 'nope'" in unknown.stderr and "headlamp, kyverno" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    unreachable = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", context="edge")
    down = _kaddons(repo, unreachable, "get", "headlamp")
    assert down.returncode == 5
    assert down.stderr.count("\n") == 1 and "cannot reach the cluster of context edge" in down.stderr


def _helm_release(conditions: list[dict[str, str]] | None) -> dict[str, Any]:
    release: dict[str, Any] = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                               "metadata": {"name": "headlamp", "namespace": "flux-system", "generation": 1,
                                            "labels": LABELS}}
    if conditions is not None:
        release["status"] = {"observedGeneration": 1, "conditions": conditions}
    return release


class _Lines:
    """The lines a process writes, read in a thread, so a test can wait for one with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout], daemon=True).start()

    def next_state(self, name: str, timeout: float = 20) -> tuple[str, str]:
        while True:
            row = json.loads(self.lines.get(timeout=timeout))
            if row["name"] == name:
                return row["state"], row["reason"]


@pytest.mark.timeout(120)
def test_list_watch_follows_an_addon_through_its_states(repo: Path, api: KubeAPI, tmp_path: Path) -> None:
    for name in ("manifest-ns-headlamp", "manifest-ns-kyverno"):
        api.add("kustomizations", {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                   "metadata": {"name": name, "namespace": "flux-system", "labels": LABELS},
                                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    api.declare("helm.toolkit.fluxcd.io/v2/helmreleases", "HelmRelease")
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    process = subprocess.Popen([sys.executable, "-m", "kaddons", "cluster", "addons", "list", "--watch", "--engine",
                                "flux", "-o", "json"], cwd=repo, env={**os.environ, "KUBECONFIG": str(config)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _Lines(process)
        assert lines.next_state("headlamp")[0] == "Unknown"  # not applied yet
        api.add("helmreleases", _helm_release(None))
        assert lines.next_state("headlamp") == ("Pending", "queued: Flux has not reconciled it yet")
        api.update("helmreleases", _helm_release([{"type": "Ready", "status": "Unknown"},
                                                  {"type": "Reconciling", "status": "True",
                                                   "message": "Running 'install' action"}]))
        assert lines.next_state("headlamp") == ("Deploying", "Running 'install' action")
        release = installed_release("headlamp", "0.45.0", "headlamp", "headlamp", pods=2)
        _load(api, release)
        api.update("helmreleases", _helm_release([{"type": "Ready", "status": "True", "reason": "InstallSucceeded",
                                                   "message": "Helm install succeeded"}]))
        assert lines.next_state("headlamp") == ("Synced", "Helm install succeeded")
        api.update("pods", crashing_pod(release, 1))  # Flux still says Ready; the Pod says otherwise
        state, reason = lines.next_state("headlamp")
        assert state == "Degraded"
        assert reason.startswith("Deployment/headlamp: ReplicaSet/headlamp-7d9c5b8f6: Pod/headlamp-7d9c5b8f6-p001: ")
        api.update("pods", crashing_pod(release, 1, crash=False))
        assert lines.next_state("headlamp")[0] == "Synced"
        api.compact()  # the server forgets history: kaddons lists again and carries on
        api.update("helmreleases", _helm_release([{"type": "Ready", "status": "False", "reason": "UpgradeFailed",
                                                   "message": "context deadline exceeded"}]))
        assert lines.next_state("headlamp") == ("Degraded", "UpgradeFailed: context deadline exceeded")
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C is how a watch ends
        process.wait(10)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def test_sync_asks_argo_cd_for_an_operation_and_flux_for_a_reconcile(repo: Path, api: KubeAPI,
                                                                      tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    missing = _kaddons(repo, config, "sync", "headlamp")
    assert missing.returncode == 3 and "no Application argocd/addon-headlamp" in missing.stderr
    app = _application("addon-headlamp", {"sync": {"status": "OutOfSync"}})
    app["spec"] = {"sources": [{"repoURL": "https://git.example.com/gitops.git", "targetRevision": "main",
                                "ref": "values"},
                               {"repoURL": "https://kubernetes-sigs.github.io/headlamp/", "chart": "headlamp",
                                "targetRevision": "0.45.0"}]}
    api.add("applications", app)
    done = _kaddons(repo, config, "sync", "headlamp")
    assert done.returncode == 0, done.stderr
    [(key, patch)] = api.emulator.patches
    assert key == ("argoproj.io/v1alpha1/applications", "argocd", "addon-headlamp")
    assert patch["operation"]["sync"] == {"revision": "0.45.0"}  # the chart's, not the values ref's
    assert patch["operation"]["initiatedBy"] == {"username": "kaddons"}
    again = _kaddons(repo, config, "sync", "headlamp")  # the operation is still there: Argo CD has not run it
    assert again.returncode == 5 and "operation running" in again.stderr and len(api.emulator.patches) == 1

    api.add("helmreleases", _helm_release(None))
    flux = _kaddons(repo, config, "sync", "headlamp", "--engine", "flux")
    assert flux.returncode == 0, flux.stderr
    key, patch = api.emulator.patches[-1]
    assert key == ("helm.toolkit.fluxcd.io/v2/helmreleases", "flux-system", "headlamp")
    assert set(patch["metadata"]["annotations"]) == {"reconcile.fluxcd.io/requestedAt"}


def test_sync_of_a_catalog_addon_reconciles_what_delivers_it(repo: Path, api: KubeAPI, tmp_path: Path) -> None:
    """A catalog addon (``spec.kaddons.catalog``, as ``enable`` writes it): Flux gets the reconcile request on its
    member Kustomization and on each Kustomization applying a folder of the artifact; Argo CD an operation on its
    Application."""
    digest = "sha256:" + "a" * 64
    document = repo / "clusters" / "edge" / "cluster.yaml"
    document.write_text(document.read_text().replace("spec:\n", (
        "spec:\n  kaddons:\n    catalog:\n      - {name: metrics, addon: metrics, implementation: metrics, "
        f"stack: platform, registry: 'oci://registry.example', tag: v1.0.0, digest: '{digest}', "
        "paths: ['.', extra], namespace: monitoring}\n"), 1))
    folder = repo / "clusters" / "edge" / "catalog" / "metrics"
    folder.mkdir(parents=True)
    (folder / "artifact.json").write_text(json.dumps({"digest": digest, "paths": [".", "extra"],
                                                      "namespace": "monitoring"}))
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    names = ["catalog-metrics", "catalog-metrics-manifests", "catalog-metrics-extra"]
    inventories = {"catalog-metrics": [f"flux-system_{n}_kustomize.toolkit.fluxcd.io_Kustomization" for n in names[1:]],
                   "catalog-metrics-manifests": ["monitoring_metrics-server_apps_Deployment"],
                   "catalog-metrics-extra": ["monitoring_metrics-extra_apps_Deployment"]}
    for name in names:
        api.add("kustomizations", {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                   "metadata": {"name": name, "namespace": "flux-system", "labels": LABELS},
                                   "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                              "inventory": {"entries": [{"id": i, "v": "v1"}
                                                                        for i in inventories[name]]}}})
    api.add("deployments", {"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "metrics-server", "namespace": "monitoring", "generation": 1,
                                         "uid": "0d1e2f30-0000-4000-8000-000000000001"},
                            "spec": {"replicas": 1},
                            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                       "availableReplicas": 0, "readyReplicas": 0,
                                       "conditions": [{"type": "Available", "status": "False",
                                                       "reason": "MinimumReplicasUnavailable"}]}})
    flux = _kaddons(repo, config, "sync", "metrics", "--engine", "flux")
    assert flux.returncode == 0, flux.stderr
    assert "catalog addon metrics: sync asked of Kustomization flux-system/catalog-metrics," in flux.stderr
    patched = [(key[0], key[2]) for key, _patch in api.emulator.patches]
    assert patched == [("kustomize.toolkit.fluxcd.io/v1/kustomizations", name) for name in names]
    assert all(set(p["metadata"]["annotations"]) == {"reconcile.fluxcd.io/requestedAt"}
               for _key, p in api.emulator.patches)

    api.add("applications", _application("catalog-metrics", None))
    argo = _kaddons(repo, config, "sync", "metrics")
    assert argo.returncode == 0, argo.stderr
    key, patch = api.emulator.patches[-1]
    assert key == ("argoproj.io/v1alpha1/applications", "argocd", "catalog-metrics") and "sync" in patch["operation"]
    unknown = _kaddons(repo, config, "sync", "nope")
    assert unknown.returncode == 3 and "catalog addons: metrics" in unknown.stderr

    got = _kaddons(repo, config, "get", "metrics", "--engine", "flux", "-o", "json")
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert data["kind"] == "catalog" and data["paths"] == [".", "extra"] and "values" not in data
    assert data["artifact"] == f"oci://registry.example/addons/metrics:v1.0.0@{digest}"
    assert data["engine"]["name"] == "catalog-metrics" and data["engine"]["kind"] == "Kustomization"
    # The map goes through the Kustomizations applying the artifact's folders to the addon's own objects.
    shown = {(r["kind"], r["name"]): r for r in data["resources"]}
    assert set(shown) == {("Deployment", "metrics-server"), ("Deployment", "metrics-extra")}
    assert shown[("Deployment", "metrics-server")]["health"] == "Progressing"
    assert shown[("Deployment", "metrics-extra")]["health"] is None  # listed by Flux, not in the cluster
    assert data["state"] == "Deploying" and data["reason"].startswith("Deployment/metrics-server: Waiting for rollout")
    table = _kaddons(repo, config, "get", "metrics", "--offline")
    assert table.returncode == 0 and table.stdout.startswith("Catalog addon metrics (stack platform)\n  artifact")
    values = _kaddons(repo, config, "values", "metrics")
    assert values.returncode == 2 and "catalog/metrics/chart.yaml" in values.stderr
