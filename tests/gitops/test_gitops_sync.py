"""The ``gitops-sync/`` directory export injects (spec §2.5, §5.3, §5.7), for both flavors: no placeholder left,
``addon-sync-<export name>``, builds and validates as Flux applies it, a content digest that follows layers
0-3, and a kaddons Job whose command really syncs the addon from a registry."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.publish import push_archive
from kaddons.errors import UsageError
from kaddons.gitops import render_gitops_sync
from kaddons.gitops.register import register_documents, register_options
from kaddons.gitops.render import render_objects, render_options
from kaddons.oci.registry import RegistryOptions
from kaddons.sync.tags import parse_tag_policy
from tests.addons.test_export import Exported
from tests.gitops.conftest import CliRun, assert_one_line_error
from tests.gitops.k8s import by_kind, container_env, flux_variables, kustomize_build, load_stream, validate
from tests.helpers.registry import RunningRegistry

FLAVORS = ["k2s", "kaddons"]
REGISTRY = "oci://registry.local:5000"


def _export(addons: Path, out: Path, names: list[str], flavor: str) -> Exported:
    out.mkdir(parents=True, exist_ok=True)
    options = ExportOptions(omit_images=True, omit_packages=True, gitops_flavor=flavor)
    return Exported(export_addons(addons, names, out, options).path)


def _gitops_sync(exported: Exported, name: str, into: Path | None = None) -> dict[str, bytes]:
    files = {k.removeprefix("gitops-sync/"): v for k, v in exported.layer(name, "manifests.tar.gz").items()
             if k.startswith("gitops-sync/")}
    if into is not None:
        into.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (into / rel).write_bytes(data)
    return files


@pytest.fixture(scope="module")
def exported(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    root = tmp_path_factory.mktemp("exports")
    return {flavor: _export(testdata, root / flavor, ["metrics", "ingress"], flavor) for flavor in FLAVORS}


def _config_values(objects: list[dict[str, Any]]) -> dict[str, str]:
    return by_kind(objects)[("ConfigMap", "addon-sync-config")]["data"]


def _flux_values(**render: Any) -> dict[str, str]:
    """What the kaddons-flavor Kustomization substitutes: the rendered ConfigMap, then its own ``substitute``."""
    semver = render.pop("semver", ">=0.0.0-0")
    values = dict(_config_values(render_objects(render_options("fluxcd", render.pop("registry", REGISTRY),
                                                                **render))))
    spec = register_documents("metrics", register_options(REGISTRY, semver=semver))[1]["spec"]
    values.update(spec["postBuild"]["substitute"])
    return values


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name", ["metrics", "ingress-nginx", "ingress-nginx-gw"])
def test_no_placeholder_is_left_and_the_job_is_named_after_the_export(exported: dict[str, Exported], flavor: str,
                                                                      name: str) -> None:
    files = _gitops_sync(exported[flavor], name)
    assert sorted(files) == ["kustomization.yaml", "sync-job.yaml"]
    assert not [k for k, v in files.items() if b"PLACEHOLDER" in v]
    [job] = load_stream(files["sync-job.yaml"].decode())
    assert job["kind"] == "Job" and job["metadata"]["name"] == f"addon-sync-{name}"
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    flag = "-AddonName" if flavor == "k2s" else "--addon"
    assert command[command.index(flag) + 1] == name
    assert job["metadata"]["annotations"]["k2s.io/export-timestamp"] == "1970-01-01T00:00:00Z"
    assert job["spec"]["template"]["metadata"]["annotations"]["kaddons.io/content-digest"].startswith("sha256:")


def test_k2s_flavor_is_k2s_job_plus_the_content_digest(exported: dict[str, Exported], k2s_addon_sync: Path,
                                                       tmp_path: Path) -> None:
    job = kustomize_build(tmp_path / "gs") if _gitops_sync(exported["k2s"], "metrics", tmp_path / "gs") else []
    text = (k2s_addon_sync / "gitops-sync" / "sync-job.yaml").read_text(encoding="utf-8")
    text = text.replace("ADDON_NAME_PLACEHOLDER", "metrics").replace("EXPORT_TIMESTAMP_PLACEHOLDER",
                                                                     "1970-01-01T00:00:00Z")
    [expected] = load_stream(text)
    [ours] = copy.deepcopy(job)
    del ours["spec"]["template"]["metadata"]["annotations"]
    assert ours == expected
    validate(job[0])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_gitops_sync_builds_and_validates_as_flux_applies_it(exported: dict[str, Exported], flavor: str,
                                                             tmp_path: Path) -> None:
    _gitops_sync(exported[flavor], "ingress-nginx", tmp_path / "gitops-sync")
    if flavor == "k2s":
        [job] = kustomize_build(tmp_path / "gitops-sync")
        assert not flux_variables(json.dumps(job))
    else:
        # Every variable (Flux substitutes the built objects) comes from the rendered ConfigMap or the
        # registered Kustomization's own substitute.
        [raw] = kustomize_build(tmp_path / "gitops-sync")
        assert flux_variables(json.dumps(raw)) == {"ADDONS_DIR", "SYNC_IMAGE", "RUN_AS_USER", "RUN_AS_NON_ROOT",
                                                   "SEMVER"}
        assert flux_variables(json.dumps(raw)) <= set(_flux_values())
        assert kustomize_build(tmp_path / "gitops-sync", {}) == kustomize_build(tmp_path / "gitops-sync",
                                                                                _flux_values())
        [job] = kustomize_build(tmp_path / "gitops-sync", {})  # the defaults alone make a valid Job
        assert "${" not in str(job)
    validate(job)
    assert job["metadata"]["namespace"] == "k2s-addon-sync"
    assert (job["spec"]["activeDeadlineSeconds"], job["spec"]["backoffLimit"]) == (300, 3)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert ("ttlSecondsAfterFinished" in job["spec"]) == (flavor == "k2s")  # kaddons: no re-create and re-run


def test_kaddons_job_takes_the_cluster_values_from_flux(exported: dict[str, Exported], tmp_path: Path) -> None:
    _gitops_sync(exported["kaddons"], "metrics", tmp_path / "gs")
    values = _flux_values(addons_dir="/srv/addons", image="reg.local/tools/kaddons:2.0", run_as_user=0,
                          semver=">=1.0.0 <2.0.0")
    [job] = kustomize_build(tmp_path / "gs", values)
    validate(job)
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 0 and pod["securityContext"]["runAsNonRoot"] is False
    assert container["image"] == "reg.local/tools/kaddons:2.0"
    assert {v["name"]: v for v in pod["volumes"]}["addons"]["hostPath"]["path"] == "/srv/addons"
    command = container["command"]
    assert command[:4] == ["kaddons", "sync", "--addons-dir", "/srv/addons"]
    # The Job syncs the tag the OCIRepository selects (same constraint), not K2s's own choice (§8.7).
    policy = command[command.index("--tag-policy") + 1]
    assert policy == "semver:>=1.0.0 <2.0.0" and str(parse_tag_policy(policy)) == policy


def test_kaddons_job_pod_spec_is_the_poller_pod_spec(exported: dict[str, Exported], tmp_path: Path) -> None:
    _gitops_sync(exported["kaddons"], "metrics", tmp_path / "gs")
    [job] = kustomize_build(tmp_path / "gs", _flux_values())
    cron = by_kind(render_objects(render_options("argocd", REGISTRY)))[("CronJob", "addon-sync-poller")]
    pods = [copy.deepcopy(job["spec"]["template"]["spec"]),
            copy.deepcopy(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"])]
    assert [p.pop("restartPolicy") for p in pods] == ["OnFailure", "Never"]
    commands = [p["containers"][0].pop("command") for p in pods]
    assert commands[0][:4] == commands[1][:4] == ["kaddons", "sync", "--addons-dir", "/var/lib/kaddons/addons"]
    assert commands[0][4:] == ["--addon", "metrics", "--tag-policy", "semver:>=0.0.0-0"]
    assert commands[1][4:] == ["--check-digest"]
    assert pods[0] == pods[1]


def _digest(exported: Exported, name: str) -> str:
    [job] = load_stream(_gitops_sync(exported, name)["sync-job.yaml"].decode())
    return job["spec"]["template"]["metadata"]["annotations"]["kaddons.io/content-digest"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_content_digest_changes_with_layers_0_to_3_only(addons_dir: Path, tmp_path: Path, flavor: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard = addons_dir / "dashboard"
    changes = {
        "config (layer 0)": lambda: (dashboard / "addon.manifest.yaml").write_text(
            (dashboard / "addon.manifest.yaml").read_text(encoding="utf-8") + "# changed\n", encoding="utf-8"),
        "chart (layer 2)": lambda: (dashboard / "manifests/chart/values.yaml").write_text("replicaCount: 2\n"),
        "scripts (layer 3)": lambda: (dashboard / "Enable.ps1").write_text("# changed\n"),
        "manifests (layer 1)": lambda: (dashboard / "manifests/headlamp/extra.yaml").write_text("kind: ConfigMap\n"),
    }
    base = _digest(_export(addons_dir, tmp_path / "base", ["dashboard"], flavor), "dashboard")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # only the export time changes: same pod template
    again = _export(addons_dir, tmp_path / "again", ["dashboard"], flavor)
    assert _digest(again, "dashboard") == base
    [job] = load_stream(_gitops_sync(again, "dashboard")["sync-job.yaml"].decode())
    assert job["metadata"]["annotations"]["k2s.io/export-timestamp"] == "2026-01-01T00:00:00Z"
    seen = {base}
    for what, change in changes.items():
        change()
        digest = _digest(_export(addons_dir, tmp_path / what.split()[0], ["dashboard"], flavor), "dashboard")
        assert digest not in seen, what
        seen.add(digest)


def test_unknown_gitops_flavor_is_refused_before_anything_is_written(testdata: Path, tmp_path: Path,
                                                                     kaddons: CliRun) -> None:
    with pytest.raises(UsageError, match="unknown gitops flavor 'linux'"):
        export_addons(testdata, ["metrics"], tmp_path, ExportOptions(omit_images=True, omit_packages=True,
                                                                     gitops_flavor="linux"))
    with pytest.raises(UsageError, match="--gitops-flavor kaddons or --gitops-flavor k2s"):
        render_gitops_sync("metrics", timestamp="t", content_digest="d", flavor="linux")
    done = kaddons("export", "metrics", "--addons-dir", testdata, "-d", tmp_path, "--omit-images",
                   "--omit-packages", "--gitops-flavor", "linux")
    assert_one_line_error(done, "unknown gitops flavor 'linux'", "--gitops-flavor kaddons")
    assert not list(tmp_path.iterdir())
    ok = kaddons("export", "metrics", "--addons-dir", testdata, "-d", tmp_path, "--omit-images", "--omit-packages",
                 "--gitops-flavor", "kaddons")
    assert ok.returncode == 0, ok.stderr
    [archive] = tmp_path.iterdir()
    [job] = load_stream(_gitops_sync(Exported(archive), "metrics")["sync-job.yaml"].decode())
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["kaddons", "sync"]


def _run_container(container: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a pod's ``kaddons`` command here, with the environment Kubernetes would give it."""
    command = container["command"]
    assert command[0] == "kaddons"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KADDONS_", "DOCKER_"))}
    return subprocess.run([sys.executable, "-m", "kaddons", *command[1:]], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_kaddons_job_and_poller_commands_sync_the_addon(fresh_registry: RunningRegistry, testdata: Path,
                                                        tmp_path: Path) -> None:
    archive = _export(testdata, tmp_path / "export", ["metrics"], "kaddons").path
    push_archive(archive, fresh_registry.host, RegistryOptions(insecure=True))
    addons = tmp_path / "node" / "addons"
    rendered = render_objects(render_options("argocd", f"oci://{fresh_registry.host}", insecure=True,
                                             addons_dir=str(addons)))
    config = _config_values(rendered)
    _gitops_sync(Exported(archive), "metrics", tmp_path / "gs")
    [job] = kustomize_build(tmp_path / "gs", {**config, "SEMVER": ">=0.0.0-0"})
    pod = job["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["addons"]["hostPath"]["type"] == "DirectoryOrCreate"
    addons.mkdir(parents=True)  # what the kubelet does for DirectoryOrCreate
    docker = {"DOCKER_CONFIG": str(tmp_path / "no-credentials")}  # the optional Secret is absent
    [container] = pod["containers"]
    env = {**container_env(container, {"addon-sync-config": config}), **docker}
    done = _run_container(container, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (addons / "metrics" / "addon.manifest.yaml").read_bytes() == (testdata / "metrics" /
                                                                          "addon.manifest.yaml").read_bytes()
    assert (addons / ".addon-sync-digests" / "metrics").is_file()
    cron = by_kind(rendered)[("CronJob", "addon-sync-poller")]
    [poller] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    polled = _run_container(poller, {**container_env(poller, {"addon-sync-config": config}), **docker})
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "Synced: 0" in polled.stdout and "Failed: 0" in polled.stdout  # digest unchanged: skipped
