"""The Argo CD tree of a cluster document: every Application valid against Argo CD's own CRD schema, strictly
(a misspelt field is an error), the tree built by the real `kubectl kustomize`, the same bytes for the same
document, waves that order parents before children and stacks by deploy_wave."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from kaddons.stacks.load import load_cluster
from kaddons.stacks.render_argocd import ArgoOptions, render_argocd
from tests.gitops.k8s import kustomize_build
from tests.helpers.crds import crd_validator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"
GIT = "https://git.example.com/platform/gitops.git"


@pytest.fixture(scope="module")
def application_schema(testdata: Path) -> jsonschema.Draft7Validator:
    return crd_validator(testdata.parent / "crds" / "argocd" / "application-crd.yaml", "v1alpha1")


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    loaded = load_cluster(EXAMPLE / "clusters" / "edge" / "cluster.yaml", repository=EXAMPLE)
    return render_argocd(loaded, ArgoOptions(repo_url=GIT))


def _docs(data: bytes) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(data.decode()) if d is not None]


def test_every_application_is_valid_against_argo_cds_crd(tree: dict[str, bytes],
                                                         application_schema: jsonschema.Draft7Validator) -> None:
    applications = [doc for path, data in tree.items() for doc in _docs(data) if doc.get("kind") == "Application"]
    assert len(applications) == 5  # root, two add-ons, two manifests
    for app in applications:
        application_schema.validate(app)
    broken = copy.deepcopy(applications[1])
    broken["spec"]["syncPolicy"]["automated"]["selfheal"] = True  # a misspelt field must not pass
    with pytest.raises(jsonschema.ValidationError):
        application_schema.validate(broken)


def test_addons_take_the_chart_from_its_source_and_the_values_from_git(tree: dict[str, bytes]) -> None:
    [app] = _docs(tree["clusters/edge/argocd/apps/addon-headlamp.yaml"])
    chart, values = app["spec"]["sources"]
    assert (chart["repoURL"], chart["chart"], chart["targetRevision"]) == (
        "https://kubernetes-sigs.github.io/headlamp/", "headlamp", "0.45.0")
    assert chart["helm"]["valueFiles"] == ["$values/clusters/edge/argocd/values/headlamp.yaml"]
    assert values == {"repoURL": GIT, "targetRevision": "main", "ref": "values"}
    assert "baseURL: https://edge.example.org/headlamp" in tree["clusters/edge/argocd/values/headlamp.yaml"].decode()
    assert app["spec"]["destination"]["namespace"] == "headlamp"
    [kyverno] = _docs(tree["clusters/edge/argocd/apps/addon-kyverno.yaml"])
    assert kyverno["spec"]["syncPolicy"]["retry"] == {"limit": 3, "backoff": {"duration": "10s", "factor": 2,
                                                                             "maxDuration": "5m"}}


def test_waves_put_parents_first_and_stacks_in_their_deploy_wave_order(tree: dict[str, bytes]) -> None:
    waves = {doc["metadata"]["name"]: int(doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
             for path, data in tree.items() if "/apps/" in path for doc in _docs(data) if doc["kind"] == "Application"}
    assert waves["manifest-ns-headlamp"] < waves["addon-headlamp"]
    assert waves["manifest-ns-kyverno"] < waves["addon-kyverno"]
    assert waves["addon-headlamp"] < waves["addon-kyverno"]  # stack platform is wave 1, policy wave 2


def test_the_same_document_gives_the_same_bytes_and_kustomize_builds_it(tree: dict[str, bytes],
                                                                        tmp_path: Path) -> None:
    loaded = load_cluster(EXAMPLE / "clusters" / "edge" / "cluster.yaml", repository=EXAMPLE)
    assert render_argocd(loaded, ArgoOptions(repo_url=GIT)) == tree
    for path, data in tree.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    apps = kustomize_build(tmp_path / "clusters" / "edge" / "argocd" / "apps")
    assert sorted(a["metadata"]["name"] for a in apps) == ["addon-headlamp", "addon-kyverno",
                                                          "manifest-ns-headlamp", "manifest-ns-kyverno"]
    [root] = kustomize_build(tmp_path / "clusters" / "edge" / "argocd")
    assert root["spec"]["source"]["path"] == "clusters/edge/argocd/apps"


def test_cli_render_writes_only_its_own_tree(tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    mine = repo / "clusters" / "edge" / "argocd" / "NOTES.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("ours\n")
    args = [sys.executable, "-m", "kaddons", "cluster", "render", "--git-url", GIT, "--write", "--force"]
    done = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (repo / "clusters" / "edge" / "argocd" / "root.yaml").is_file() and mine.read_text() == "ours\n"
    again = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "0 written" in again.stderr  # an unchanged document changes nothing
