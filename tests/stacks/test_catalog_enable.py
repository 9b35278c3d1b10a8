"""``kaddons cluster addons enable|disable``: catalog addons (K2s-format artifacts of phase 1) as stack members.

Real components: the K2s test addons exported and published to the real registry (distribution 2.8 on
127.0.0.1), the real Git remote (``git daemon``), the CLI in a subprocess, ``kubectl kustomize`` building what
Argo CD and Flux would build, the Helm SDK rendering the dashboard's chart, and the engines' own CRD schemas.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from kaddons.addons.format import LayerKind, layer_spec
from kaddons.cluster.health import Health, HealthRules
from kaddons.cluster.health.assess import assess
from kaddons.cluster.view import ClusterView
from kaddons.stacks.load import load_cluster
from tests.gitops.k8s import kustomize_build
from tests.helpers.crds import crd_validator
from tests.helpers.git_remote import GitDaemon, git
from tests.helpers.registry import RunningRegistry
from tests.stacks.test_apply import _charts, _log, _seeded, daemon, kaddons  # noqa: F401  (fixtures: daemon, mirrored charts)
from tests.sync.conftest import export_copy, publish

CLUSTER = "clusters/edge"
WIDGET_RULE = """hs = {status = "Degraded", message = "widget says " .. obj.status.phase}
if obj.status.phase == "Ready" then hs.status = "Healthy" end
return hs
"""


@dataclass
class Published:
    registry: str  # oci://HOST/PREFIX
    digests: dict[str, str]  # export name -> digest of v1.0.0
    metrics_v2: str  # digest of metrics v1.0.1


@pytest.fixture(scope="module")
def published(testdata: Path, registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """metrics, dashboard (a chart), ingress (three implementations) and dicom at v1.0.0, metrics also at v1.0.1
    (its README changed), and addons/impostor holding metrics' artifact; below a prefix of their own."""
    tmp = tmp_path_factory.mktemp("enable")
    prefix = f"enable-{uuid.uuid4().hex[:8]}"
    names = ["metrics", "dashboard", "ingress", "dicom"]

    def with_a_rule(source: Path) -> None:  # dicom carries the health rule of a CRD it would install
        rule = source / "dicom" / "manifests" / "health" / "example.com" / "Widget" / "health.lua"
        rule.parent.mkdir(parents=True)
        rule.write_text(WIDGET_RULE)

    _source, archive = export_copy(testdata, tmp, names, with_a_rule, label="v1")
    first = publish(archive, f"{registry.host}/{prefix}")

    def v2(source: Path) -> None:
        (source / "metrics" / "README.md").write_text("metrics v2\n")

    _source2, archive2 = export_copy(testdata, tmp, ["metrics"], v2, "v2")
    second = publish(archive2, f"{registry.host}/{prefix}", tag="v1.0.1")
    _copy_manifest(registry.host, f"{prefix}/addons/metrics", f"{prefix}/addons/impostor", "v1.0.0")
    return Published(f"oci://{registry.host}/{prefix}", {n: p.digest for n, p in first.items()},
                     second["metrics"].digest)


def _copy_manifest(host: str, source: str, target: str, tag: str) -> None:
    """Put ``source:tag``'s manifest (and its blobs, by mount) under ``target:tag`` with the registry API."""
    accept = "application/vnd.oci.image.manifest.v1+json"
    with httpx.Client(base_url=f"http://{host}") as client:
        response = client.get(f"/v2/{source}/manifests/{tag}", headers={"Accept": accept})
        response.raise_for_status()
        manifest = response.json()
        for blob in [manifest["config"], *manifest["layers"]]:
            client.post(f"/v2/{target}/blobs/uploads/", params={"mount": blob["digest"], "from": source})
        client.put(f"/v2/{target}/manifests/{tag}", content=response.content,
                   headers={"Content-Type": accept}).raise_for_status()


def _flux_seed(seed: Path) -> None:
    document = seed / CLUSTER / "cluster.yaml"
    text = document.read_text()
    document.write_text(text.replace("spec:\n", "spec:\n  kaddons:\n    engine: flux\n", 1))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


def _enable(work: Path, published: Published, *args: str) -> Any:
    return kaddons("addons", "enable", *args, "--registry", published.registry, "--insecure", cwd=work)


def _pull(work: Path) -> None:
    git("pull", "--quiet", cwd=work)


def test_enable_on_flux_pins_the_digest_and_the_cluster_pulls_the_manifests_layer(
        daemon: GitDaemon, tmp_path: Path, published: Published, testdata: Path,  # noqa: F811
        registry: RunningRegistry) -> None:
    url, work = _seeded(daemon, tmp_path, "enable-flux", _flux_seed)
    done = _enable(work, published, "metrics", "--stack", "catalog", "--tag", "v1.0.0")
    assert done.returncode == 0, done.stderr
    assert _log(url, tmp_path)[0].startswith("kaddons: enable catalog addon metrics (")
    folder = work / CLUSTER / "flux" / "members" / "catalog-metrics"
    (repository,) = _docs(folder / "ocirepository.yaml")
    (kustomization,) = _docs(folder / "kustomizations.yaml")
    crds = testdata.parent / "crds" / "flux"
    crd_validator(crds / "source.toolkit.fluxcd.io_ocirepositories.yaml", "v1").validate(repository)
    crd_validator(crds / "kustomize.toolkit.fluxcd.io_kustomizations.yaml", "v1").validate(kustomization)
    spec = repository["spec"]
    assert spec["ref"] == {"digest": published.digests["metrics"]}
    assert spec["url"] == f"{published.registry}/addons/metrics" and spec["insecure"] is True
    media_type = layer_spec(LayerKind.MANIFESTS).media_type
    assert spec["layerSelector"] == {"mediaType": media_type, "operation": "extract"}
    assert kustomization["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "catalog-metrics"}
    assert kustomization["spec"]["path"] == "./"
    # What source-controller does with that: pull the manifest by digest, take the first layer of that media
    # type, extract it, drop what spec.ignore names; kustomize-controller then builds the path.
    host = published.registry.removeprefix("oci://").split("/", 1)
    with httpx.Client(base_url=f"http://{host[0]}") as client:
        manifest = client.get(f"/v2/{host[1]}/addons/metrics/manifests/{spec['ref']['digest']}",
                              headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
        layer = next(layer for layer in manifest["layers"] if layer["mediaType"] == media_type)
        blob = client.get(f"/v2/{host[1]}/addons/metrics/blobs/{layer['digest']}", follow_redirects=True).content
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        members = {m.name for m in tar.getmembers() if m.isfile()}
    ignored = [line.strip("/") for line in spec["ignore"].splitlines()]
    assert "gitops-sync" in ignored and any(m.startswith("gitops-sync/") for m in members)
    delivered = {m for m in members if m.split("/")[0] not in ignored}
    assert delivered == {"metrics-server.yaml"}
    assert (testdata / "metrics" / "manifests" / "metrics-server.yaml").read_bytes() == tar_bytes(blob,
                                                                                                "metrics-server.yaml")
    # The member is in its stack's wave, and the Flux tree builds.
    built = kustomize_build(work / CLUSTER / "flux")
    assert any(o["kind"] == "Kustomization" and o["metadata"]["name"] == "kaddons-edge-wave-0" for o in built)
    members_built = kustomize_build(folder)
    assert sorted(o["kind"] for o in members_built) == ["Kustomization", "OCIRepository"]
    # A chart-only addon: nothing to pull; its rendered chart is in the member's folder.
    chart = _enable(work, published, "dashboard", "--stack", "catalog", "--parent", "catalog:metrics")
    assert chart.returncode == 0, chart.stderr
    dashboard = work / CLUSTER / "flux" / "members" / "catalog-dashboard"
    assert not (dashboard / "ocirepository.yaml").exists()
    assert {o["kind"] for o in kustomize_build(dashboard)} >= {"Namespace", "Deployment", "Service"}
    (member,) = _docs(work / CLUSTER / "flux" / "waves" / "0" / "catalog-dashboard.yaml")
    assert member["spec"]["dependsOn"] == [{"name": "catalog-metrics"}]
    listed = kaddons("addons", "list", "--offline", "-o", "json", cwd=work)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["metrics"]["version"] == "v1.0.0" and rows["dashboard"]["parents"] == "catalog:metrics"


def tar_bytes(blob: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def test_enable_on_argocd_writes_the_rendered_chart_into_git_and_it_builds(
        daemon: GitDaemon, tmp_path: Path, published: Published, testdata: Path) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "enable-argo")
    done = _enable(work, published, "dashboard", "--stack", "tools", "--parent", "addon:kyverno")
    assert done.returncode == 0, done.stderr
    assert "v1.0.0" in done.stderr
    folder = work / CLUSTER / "catalog" / "dashboard"
    record = json.loads((folder / "artifact.json").read_text())
    assert record["digest"] == published.digests["dashboard"] and record["charts"] == ["headlamp-0.45.0.tgz"]
    assert record["paths"] == [] and record["namespace"] == "dashboard"
    objects = kustomize_build(folder)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Namespace", "dashboard") in kinds and ("Deployment", "headlamp") in kinds
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "dashboard"
    # The chart's values.yaml of the addon, as K2s installs it.
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/headlamp-k8s/headlamp:v0.45.0"
    assert not (folder / "manifests" / "chart").exists() and not (folder / "manifests" / "gitops-sync").exists()
    (app,) = _docs(work / CLUSTER / "argocd" / "apps" / "catalog-dashboard.yaml")
    crd_validator(testdata.parent / "crds" / "argocd" / "application-crd.yaml", "v1alpha1").validate(app)
    assert app["spec"]["source"]["path"] == f"{CLUSTER}/catalog/dashboard"
    assert app["spec"]["destination"]["namespace"] == "dashboard"
    (kyverno,) = _docs(work / CLUSTER / "argocd" / "apps" / "addon-kyverno.yaml")
    wave = "argocd.argoproj.io/sync-wave"  # after its parent
    assert int(app["metadata"]["annotations"][wave]) == int(kyverno["metadata"]["annotations"][wave]) + 1
    document = YAML(typ="safe").load((work / CLUSTER / "cluster.yaml").read_text())
    entry = document["spec"]["kaddons"]["catalog"][0]
    assert entry["digest"] == published.digests["dashboard"] and entry["parents"] == [{"addon": "kyverno"}]
    assert {"name": "tools", "deploy_wave": 2} in document["spec"]["stacks"]  # no earlier than its parent's
    # The same enable again: nothing changes, no commit.
    commits = len(_log(url, tmp_path))
    again = _enable(work, published, "dashboard", "--stack", "tools", "--parent", "addon:kyverno")
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr and len(_log(url, tmp_path)) == commits


def test_a_newer_tag_updates_the_pin_and_disable_removes_everything(
        daemon: GitDaemon, tmp_path: Path, published: Published) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "enable-update")
    assert _enable(work, published, "metrics", "--stack", "catalog", "--tag", "v1.0.0").returncode == 0
    newest = _enable(work, published, "metrics", "--stack", "catalog")  # no --tag: the highest release
    assert newest.returncode == 0, newest.stderr
    assert _log(url, tmp_path)[0].startswith("kaddons: update catalog addon metrics (")
    record = json.loads((work / CLUSTER / "catalog" / "metrics" / "artifact.json").read_text())
    assert record["digest"] == published.metrics_v2 and record["tag"] == "v1.0.1"
    assert (work / CLUSTER / "catalog" / "metrics" / "manifests" / "metrics-server.yaml").is_file()
    moved = _enable(work, published, "metrics", "--stack", "elsewhere")
    assert moved.returncode != 0 and "disable it first" in moved.stderr

    history = kaddons("addons", "history", "metrics", "-o", "json", cwd=work)
    assert history.returncode == 0, history.stderr
    subjects = [row["subject"] for row in json.loads(history.stdout)]
    assert [s.split(" (")[0] for s in subjects] == ["kaddons: update catalog addon metrics",
                                                    "kaddons: enable catalog addon metrics"]
    back = kaddons("addons", "rollback", "metrics", cwd=work)  # to before the update: v1.0.0, from Git
    assert back.returncode == 0, back.stderr
    record = json.loads((work / CLUSTER / "catalog" / "metrics" / "artifact.json").read_text())
    assert record["digest"] == published.digests["metrics"] and record["tag"] == "v1.0.0"
    assert f"digest: {published.digests['metrics']}" in (work / CLUSTER / "cluster.yaml").read_text()
    assert _log(url, tmp_path)[0].startswith("kaddons: roll back catalog addon metrics to its state at ")
    rows = {r["name"]: r for r in json.loads(kaddons("addons", "list", "--offline", "-o", "json", cwd=work).stdout)}
    assert rows["metrics"]["rolled_back_to"] is not None and rows["metrics"]["version"] == "v1.0.0"
    assert git("status", "--porcelain", cwd=work) == ""
    gone = kaddons("addons", "disable", "metrics", cwd=work)
    assert gone.returncode == 0, gone.stderr
    assert _log(url, tmp_path)[0] == "kaddons: disable catalog addon metrics"
    assert not (work / CLUSTER / "catalog").exists()
    assert not (work / CLUSTER / "argocd" / "apps" / "catalog-metrics.yaml").exists()
    check = tmp_path / "after"
    git("clone", "--quiet", url, str(check))
    assert not (check / CLUSTER / "catalog").exists()
    spec = YAML(typ="safe").load((check / CLUSTER / "cluster.yaml").read_text())["spec"]
    assert not (spec.get("kaddons") or {}).get("catalog")


def test_paths_choose_what_a_multi_folder_addon_delivers(daemon: GitDaemon, tmp_path: Path,  # noqa: F811
                                                       published: Published) -> None:
    url, work = _seeded(daemon, tmp_path, "enable-paths")
    ambiguous = _enable(work, published, "dicom", "--stack", "apps")
    assert ambiguous.returncode != 0
    assert "--path" in ambiguous.stderr and "pv-default" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    wrong = _enable(work, published, "dicom", "--stack", "apps", "--path", "gitops-sync")
    assert wrong.returncode != 0 and "not a folder of its manifests/" in wrong.stderr
    commits = len(_log(url, tmp_path))
    done = _enable(work, published, "dicom", "--stack", "apps", "--path", "dicom", "--path", "pv-default",
                   "--namespace", "dicom")
    assert done.returncode == 0, done.stderr
    assert len(_log(url, tmp_path)) == commits + 1
    objects = kustomize_build(work / CLUSTER / "catalog" / "dicom")
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= kinds
    assert not any(o["kind"] == "Ingress" for o in objects)  # the ingress variants were not chosen
    again = _enable(work, published, "dicom", "--stack", "apps")  # an update keeps the chosen folders
    assert again.returncode == 0 and "nothing changed" in again.stderr, again.stderr
    # The health rule the addon carries reached the repository, and the cluster view assesses with it.
    assert (work / CLUSTER / "catalog" / "dicom" / "manifests" / "health" / "example.com" / "Widget" /
            "health.lua").read_text() == WIDGET_RULE
    view = ClusterView(load_cluster(work / CLUSTER / "cluster.yaml"), "argocd")
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "status": {"phase": "Broken"}}
    assert assess(widget, view.rules) == Health("Degraded", "widget says Broken")
    mine = HealthRules()
    mine.add("example.com", "Widget", 'return {status = "Suspended", message = "mine"}')
    assert assess(widget, ClusterView(view.loaded, "argocd", mine).rules) == Health("Suspended", "mine")


@pytest.mark.parametrize(("args", "expected"), [
    (["nosuch", "--stack", "s"], "addons/nosuch"),
    (["ingress", "foo", "--stack", "s"], "addons/ingress-nginx"),
    (["impostor", "--stack", "s"], "holds addon 'metrics'"),
    (["metrics", "--stack", "s", "--tag", "v9.9.9"], "v9.9.9"),
    (["Metrics", "--stack", "s"], "not a valid addon name"),
    (["metrics", "--stack", "s", "--parent", "addon:nope"], "no addon named 'nope'"),
])
def test_bad_enables_are_one_line_errors_and_commit_nothing(daemon: GitDaemon, tmp_path: Path,  # noqa: F811
                                                            published: Published, args: list[str],
                                                            expected: str) -> None:
    url, work = _seeded(daemon, tmp_path, f"enable-bad-{uuid.uuid4().hex[:6]}")
    before = (work / CLUSTER / "cluster.yaml").read_text()
    done = _enable(work, published, *args)
    assert done.returncode != 0
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert (work / CLUSTER / "cluster.yaml").read_text() == before
    assert not (work / CLUSTER / "catalog").exists()
    assert len(_log(url, tmp_path)) == 1
    assert git("status", "--porcelain", cwd=work) == ""


def test_a_hand_edited_pin_that_the_folder_does_not_match_is_refused(daemon: GitDaemon, tmp_path: Path,  # noqa: F811
                                                                    published: Published) -> None:
    _url, work = _seeded(daemon, tmp_path, "enable-stale")
    assert _enable(work, published, "metrics", "--stack", "catalog", "--tag", "v1.0.0").returncode == 0
    unknown = kaddons("addons", "disable", "nosuch", cwd=work)
    assert unknown.returncode != 0 and "no catalog addon named 'nosuch' (catalog addons: metrics)" in unknown.stderr
    document = work / CLUSTER / "cluster.yaml"
    document.write_text(document.read_text().replace(published.digests["metrics"], published.metrics_v2))
    done = kaddons("apply", cwd=work)
    assert done.returncode != 0
    assert "catalog/metrics/ was taken with" in done.stderr and "kaddons cluster addons enable metrics" in done.stderr
