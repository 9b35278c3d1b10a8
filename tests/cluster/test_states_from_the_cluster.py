"""``kaddons cluster addons list`` with the states read from the cluster, as a user runs it. The Kubernetes API
is kmock's emulator (``tests/helpers/kube.py``: a documented STAND-IN; no API server runs here) loaded with
engine objects in each state; the client path (kubeconfig, context, LIST per kind) is kaddons' real one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers.kube import KubeAPI, run_kube_api, write_kubeconfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


def _app(name: str, status: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                           "metadata": {"name": name, "namespace": "argocd", "labels": {"kaddons.io/cluster": "edge"}}}
    if status is not None:
        obj["status"] = status
    return obj


def _list(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaddons", "cluster", "addons", "list", *args], cwd=repo,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False)


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    return repo


def test_argocd_states_parents_first(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with run_kube_api() as api:
        api.add("applications", _app("manifest-ns-headlamp", {"sync": {"status": "Synced"},
                                                              "health": {"status": "Healthy"}}))
        api.add("applications", _app("addon-headlamp", {
            "sync": {"status": "Synced"}, "health": {"status": "Degraded"},
            "resources": [{"kind": "Deployment", "name": "headlamp",
                           "health": {"status": "Degraded", "message": "exceeded its progress deadline"}}]}))
        api.add("applications", _app("addon-kyverno", {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}))
        # manifest-ns-kyverno is not in the cluster (yet)
        api.add("applications", {**_app("addon-other", None), "metadata": {
            "name": "addon-other", "namespace": "argocd", "labels": {"kaddons.io/cluster": "elsewhere"}}})
        config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        done = _list(repo, "-o", "json", env={"KUBECONFIG": str(config)})
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert (rows["headlamp"]["state"], rows["headlamp"]["reason"]) == (
        "Degraded", "Deployment/headlamp: exceeded its progress deadline")
    assert (rows["kyverno"]["state"], rows["kyverno"]["reason"]) == ("Pending",
                                                                     "waiting on parents: manifest ns-kyverno")


def test_flux_states(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    release: dict[str, Any] = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                               "metadata": {"name": "headlamp", "namespace": "flux-system", "generation": 3,
                                            "labels": {"kaddons.io/cluster": "edge"}}}
    with run_kube_api() as api:
        for name in ("manifest-ns-headlamp", "manifest-ns-kyverno"):
            api.add("kustomizations", {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                       "metadata": {"name": name, "namespace": "flux-system",
                                                    "labels": {"kaddons.io/cluster": "edge"}},
                                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        api.add("helmreleases", {**release, "status": {"observedGeneration": 3, "conditions": [
            {"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": "context deadline exceeded"}]}})
        api.add("helmreleases", {**release, "metadata": {**release["metadata"], "name": "kyverno"},
                                 "status": {"observedGeneration": 2, "conditions": [
                                     {"type": "Ready", "status": "True", "reason": "UpgradeSucceeded"}]}})
        config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        done = _list(repo, "--engine", "flux", env={"KUBECONFIG": str(config)})
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert lines["headlamp"].split()[5:] == ["Degraded", "UpgradeFailed:", "context", "deadline", "exceeded"]
    assert lines["kyverno"].split()[5] == "OutOfSync" and lines["kyverno"].endswith(
        "Git changed; Flux has not applied the new spec yet")


def test_no_cluster_and_an_unreachable_one(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    none = _list(repo, env={"KUBECONFIG": str(tmp_path / "absent"), "HOME": str(tmp_path)})
    assert none.returncode == 0 and "warning: no kubeconfig" in none.stderr and "STATE" not in none.stdout
    config = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1", context="edge-prod")
    gone = _list(repo, env={"KUBECONFIG": str(config)})
    assert gone.returncode == 5
    [line] = gone.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the cluster of context edge-prod (http://127.0.0.1:1)")
    offline = _list(repo, "--offline", env={"KUBECONFIG": str(config)})
    assert offline.returncode == 0 and "STATE" not in offline.stdout


def test_emulator_is_a_real_http_api(tmp_path: Path) -> None:
    with run_kube_api() as api:
        assert isinstance(api, KubeAPI) and api.url.startswith("http://127.0.0.1:")


def test_events_newest_first_from_both_apis(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with run_kube_api() as api:
        api.add("events", {"apiVersion": "v1", "kind": "Event",
                           "metadata": {"name": "e1", "namespace": "headlamp"},
                           "involvedObject": {"kind": "Pod", "name": "headlamp-abc", "namespace": "headlamp"},
                           "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
                           "count": 7, "lastTimestamp": "2026-12-03T10:00:00Z"})
        api.add("events", {"apiVersion": "events.k8s.io/v1", "kind": "Event",
                           "metadata": {"name": "e2", "namespace": "headlamp"},
                           "regarding": {"kind": "Deployment", "name": "headlamp", "namespace": "headlamp"},
                           "type": "Normal", "reason": "ScalingReplicaSet", "note": "Scaled up to 2",
                           "eventTime": "2026-12-03T10:05:00.000000Z"})
        api.add("events", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e3", "namespace": "other"},
                           "involvedObject": {"kind": "Pod", "name": "x", "namespace": "other"},
                           "type": "Warning", "reason": "Failed", "message": "not ours"})
        config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        env = {**os.environ, "KUBECONFIG": str(config)}

        def events(*args: str) -> list[dict[str, Any]]:
            done = subprocess.run([sys.executable, "-m", "kaddons", "cluster", "events", "-o", "json", *args],
                                  cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, done.stderr
            return list(json.loads(done.stdout))

        every = events()
        warnings = events("--type", "Warning")
        one = events("--for", "Deployment/headlamp")
    assert [e["reason"] for e in every] == ["ScalingReplicaSet", "BackOff"]  # newest first; "other" is not ours
    assert [(e["object"], e["count"]) for e in warnings] == [("Pod/headlamp-abc", 7)]
    assert [e["message"] for e in one] == ["Scaled up to 2"]
