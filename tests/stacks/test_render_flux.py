"""The Flux tree of a cluster document: every Flux object valid against Flux's own CRD schemas, strictly (a
misspelt field is an error); core objects valid against Kubernetes' schemas; every folder built by the real
`kubectl kustomize`; the same bytes for the same document; parents as health-gated dependsOn across kinds;
stacks in deploy-wave order; settings mapped."""

from __future__ import annotations

import copy
import shutil
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from kaddons.errors import ClusterDocumentError
from kaddons.stacks.load import load_cluster
from kaddons.stacks.render_flux import FluxOptions, render_flux
from tests.gitops.k8s import kustomize_build, validate
from tests.helpers.crds import crd_validator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"
GIT = "https://git.example.com/platform/gitops.git"
BASE = "clusters/edge/flux"
CRDS = {
    "HelmRelease": ("helm.toolkit.fluxcd.io_helmreleases.yaml", "v2"),
    "Kustomization": ("kustomize.toolkit.fluxcd.io_kustomizations.yaml", "v1"),
    "HelmRepository": ("source.toolkit.fluxcd.io_helmrepositories.yaml", "v1"),
}


@pytest.fixture(scope="module")
def validators(testdata: Path) -> dict[str, jsonschema.Draft7Validator]:
    return {kind: crd_validator(testdata.parent / "crds" / "flux" / file, version)
            for kind, (file, version) in CRDS.items()}


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    loaded = load_cluster(EXAMPLE / "clusters" / "edge" / "cluster.yaml", repository=EXAMPLE)
    return render_flux(loaded, FluxOptions(repo_url=GIT))


@pytest.fixture(scope="module")
def built(tree: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flux")
    for path, data in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def _docs(data: bytes) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(data.decode()) if d is not None]


def _flux_objects(tree: dict[str, bytes]) -> list[dict[str, Any]]:
    return [doc for path, data in tree.items() if not path.endswith("/manifest.yaml")
            and not path.endswith("values.yaml") for doc in _docs(data) if doc.get("kind") in CRDS
            and "toolkit.fluxcd.io" in doc.get("apiVersion", "")]


def test_every_flux_object_is_valid_against_fluxs_crds(tree: dict[str, bytes],
                                                      validators: dict[str, jsonschema.Draft7Validator]) -> None:
    objects = _flux_objects(tree)
    kinds = sorted(o["kind"] for o in objects)
    # 2 HelmRepositories, 2 HelmReleases, 4 member Kustomizations + 2 wave Kustomizations.
    assert kinds == ["HelmRelease"] * 2 + ["HelmRepository"] * 2 + ["Kustomization"] * 6
    for obj in objects:
        validators[obj["kind"]].validate(obj)
    release = copy.deepcopy(next(o for o in objects if o["kind"] == "HelmRelease"))
    release["spec"]["driftDetection"]["mod"] = "enabled"  # a misspelt field must not pass
    with pytest.raises(jsonschema.ValidationError):
        validators["HelmRelease"].validate(release)


def test_every_folder_builds_with_kustomize_and_core_objects_are_valid(built: Path) -> None:
    top = kustomize_build(built / BASE)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in top) == [
        ("HelmRepository", "headlamp"), ("HelmRepository", "kyverno"),
        ("Kustomization", "kaddons-edge-wave-1"), ("Kustomization", "kaddons-edge-wave-2")]
    wave1 = kustomize_build(built / BASE / "waves" / "1")
    assert sorted(o["metadata"]["name"] for o in wave1) == ["addon-headlamp", "manifest-ns-headlamp",
                                                           "manifest-ns-kyverno"]
    member = kustomize_build(built / BASE / "members" / "addon-headlamp")
    configmap = next(o for o in member if o["kind"] == "ConfigMap")
    validate(configmap)
    assert configmap["metadata"]["name"] == "headlamp-values"  # the name valuesFrom names
    assert configmap["metadata"]["labels"]["reconcile.fluxcd.io/watch"] == "Enabled"
    assert "baseURL: https://edge.example.org/headlamp" in configmap["data"]["values.yaml"]
    [namespace] = kustomize_build(built / BASE / "members" / "manifest-ns-headlamp")
    validate(namespace)


def test_parents_are_health_gated_dependencies_and_waves_chain(tree: dict[str, bytes]) -> None:
    [headlamp] = _docs(tree[f"{BASE}/waves/1/addon-headlamp.yaml"])
    assert headlamp["spec"]["dependsOn"] == [{"name": "manifest-ns-headlamp"}]  # a manifest -> add-on edge
    assert headlamp["spec"]["wait"] is True and headlamp["spec"]["path"] == f"./{BASE}/members/addon-headlamp"
    [kyverno] = _docs(tree[f"{BASE}/waves/2/addon-kyverno.yaml"])
    assert kyverno["spec"]["dependsOn"] == [{"name": "manifest-ns-kyverno"}]  # across stacks and waves
    first, second = _docs(tree[f"{BASE}/waves.yaml"])
    assert "dependsOn" not in first["spec"] and first["spec"]["wait"] is True
    assert second["spec"]["dependsOn"] == [{"name": "kaddons-edge-wave-1"}]


def test_releases_take_the_pinned_chart_and_map_the_settings(tree: dict[str, bytes]) -> None:
    [release] = _docs(tree[f"{BASE}/members/addon-headlamp/helmrelease.yaml"])
    spec = release["spec"]
    assert spec["chart"]["spec"]["chart"] == "headlamp" and spec["chart"]["spec"]["version"] == "0.45.0"
    assert spec["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "headlamp",
                                                  "namespace": "flux-system"}
    assert (spec["releaseName"], spec["targetNamespace"]) == ("headlamp", "headlamp")
    assert spec["install"] == {"createNamespace": True, "remediation": {"retries": 5}}
    assert spec["driftDetection"] == {"mode": "enabled"}  # self_heal
    assert spec["valuesFrom"] == [{"kind": "ConfigMap", "name": "headlamp-values", "valuesKey": "values.yaml"}]
    [kyverno] = _docs(tree[f"{BASE}/waves/2/addon-kyverno.yaml"])
    assert kyverno["spec"]["retryInterval"] == "10s"


def test_the_same_document_gives_the_same_bytes(tree: dict[str, bytes]) -> None:
    loaded = load_cluster(EXAMPLE / "clusters" / "edge" / "cluster.yaml", repository=EXAMPLE)
    assert render_flux(loaded, FluxOptions(repo_url=GIT)) == tree
    assert all(data.startswith(b"# ") and b"do not edit" in data.split(b"\n", 1)[0] for data in tree.values())


def test_an_oci_source_is_a_helmrepository_of_type_oci(tmp_path: Path,
                                                       validators: dict[str, jsonschema.Draft7Validator]) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    document = repo / "clusters" / "edge" / "cluster.yaml"
    document.write_text(document.read_text().replace(
        "https://kubernetes-sigs.github.io/headlamp/", "oci://ghcr.io/headlamp-k8s/charts"))
    files = render_flux(load_cluster(document, repository=repo), FluxOptions(repo_url=GIT))
    sources = {o["metadata"]["name"]: o for o in _docs(files[f"{BASE}/sources.yaml"])}
    assert sources["headlamp"]["spec"] == {"url": "oci://ghcr.io/headlamp-k8s/charts", "interval": "1h",
                                           "type": "oci"}
    validators["HelmRepository"].validate(sources["headlamp"])


def test_a_stack_name_that_is_no_label_value_is_read_and_left_out_of_the_labels(tmp_path: Path) -> None:
    """Ankra sets no rule for a stack's name; Kubernetes refuses a label value with a space. The document is read
    (with a warning) and both engines' objects go without the ``kaddons.io/stack`` label; the others keep it."""
    from kaddons.stacks.render_argocd import ArgoOptions, render_argocd

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    document = repo / "clusters" / "edge" / "cluster.yaml"
    document.write_text(document.read_text().replace("    - name: platform\n", "    - name: Platform Stack\n"))
    loaded = load_cluster(document, repository=repo)
    assert any("spec.stacks[0].name: 'Platform Stack' is not a Kubernetes label value" in w for w in loaded.warnings)
    trees = (render_flux(loaded, FluxOptions(repo_url=GIT)), render_argocd(loaded, ArgoOptions(repo_url=GIT)))
    for tree in trees:
        labelled = [o for data in tree.values() for o in _docs(data)  # the add-ons' objects
                    if isinstance(o, dict) and (o.get("metadata", {}).get("labels") or {}).get("kaddons.io/kind")
                    == "addon"]
        headlamp = [o for o in labelled if "headlamp" in o["metadata"]["name"]]
        kyverno = [o for o in labelled if "kyverno" in o["metadata"]["name"]]
        assert headlamp and all("kaddons.io/stack" not in o["metadata"]["labels"] for o in headlamp)
        assert kyverno and all(o["metadata"]["labels"]["kaddons.io/stack"] == "policy" for o in kyverno)


def test_a_cluster_name_with_capitals_gives_lowercase_object_names(tmp_path: Path) -> None:
    """Ankra's cluster name may hold capitals (letters, digits and '-'); Kubernetes object names may not: the
    objects named after the cluster (Argo CD's root Application, Flux's wave Kustomizations) take it in lowercase."""
    import re

    from kaddons.stacks.render_argocd import ArgoOptions, render_argocd

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    (repo / "clusters" / "edge").rename(repo / "clusters" / "Edge-1")
    document = repo / "clusters" / "Edge-1" / "cluster.yaml"
    document.write_text(document.read_text().replace("  name: edge\n", "  name: Edge-1\n", 1))
    loaded = load_cluster(document, repository=repo)
    subdomain = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    names = [o["metadata"]["name"] for tree in (render_flux(loaded, FluxOptions(repo_url=GIT)),
                                                render_argocd(loaded, ArgoOptions(repo_url=GIT)))
             for data in tree.values() for o in _docs(data) if isinstance(o, dict) and "metadata" in o]
    assert "kaddons-edge-1" in names and "kaddons-edge-1-wave-1" in names
    assert [n for n in names if not subdomain.fullmatch(n)] == []


def test_a_parent_in_a_later_wave_is_refused(tmp_path: Path) -> None:
    document = tmp_path / "cluster.yaml"
    document.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ImportCluster
        metadata: {name: c1}
        spec:
          stacks:
            - name: early
              deploy_wave: 1
              manifests:
                - name: child
                  manifest: "{apiVersion: v1, kind: Namespace, metadata: {name: a}}"
                  parents: [{manifest: late}]
            - name: later
              deploy_wave: 2
              manifests:
                - {name: late, manifest: "{apiVersion: v1, kind: Namespace, metadata: {name: b}}"}
        """))
    (tmp_path / ".git").mkdir()
    with pytest.raises(ClusterDocumentError) as caught:
        load_cluster(document)
    assert "spec.stacks[0].manifests[0].parents[0]: manifest 'late' is in stack 'later' (deploy_wave 2)" in str(
        caught.value)


def test_the_reader_rbac_is_read_only_and_valid(tree: dict[str, bytes]) -> None:
    objects = _docs(tree[f"{BASE}/bootstrap/kaddons-reader-rbac.yaml"])
    assert [o["kind"] for o in objects] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    for obj in objects:
        validate(obj)
    verbs = {verb for rule in objects[1]["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    assert not any("secrets" in rule["resources"] or "*" in rule["resources"] for rule in objects[1]["rules"])
