"""``kaddons gitops render``: the cluster tree (spec §5.1-5.4, e2e expectations §7.1-7.2), checked with
``kubectl kustomize``, the Kubernetes 1.32 schemas, and K2s's own files."""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kaddons import __version__
from kaddons.errors import UsageError
from kaddons.gitops._templates import template_tree
from kaddons.gitops.options import Flavor
from kaddons.gitops.output import OWNED_FILE
from kaddons.gitops.render import (
    RenderOptions,
    render_objects,
    render_options,
    render_stream,
    render_tree,
    write_rendered,
)
from tests.gitops.conftest import CliRun, assert_one_line_error
from tests.gitops.k8s import by_kind, canonical, container_env, kustomize_build, load_stream, validate

REGISTRY = "oci://registry.example.test:30500"
ENGINES = ["fluxcd", "argocd"]
FLAVORS = ["kaddons", "k2s"]
CASES = [(engine, flavor) for engine in ENGINES for flavor in FLAVORS]
NAMESPACE = "k2s-addon-sync"


def _options(engine: str, flavor: str, sync_script: Path, **kwargs: Any) -> RenderOptions:
    if flavor == "k2s":
        kwargs.setdefault("sync_script", sync_script)
    return render_options(engine, kwargs.pop("registry", REGISTRY), flavor=flavor, **kwargs)


def _render(out: Path, options: RenderOptions) -> tuple[Path, list[dict[str, Any]]]:
    path = write_rendered(render_tree(options), out).directory
    return path, kustomize_build(path)


def _poller_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    cron = by_kind(objects)[("CronJob", "addon-sync-poller")]
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize(("engine", "flavor"), CASES)
def test_every_rendered_tree_builds_and_every_object_validates(tmp_path: Path, sync_script: Path, engine: str,
                                                               flavor: str) -> None:
    options = _options(engine, flavor, sync_script, insecure=True)
    _path, objects = _render(tmp_path / "out", options)
    for obj in objects:
        validate(obj)
    # The Python build behind the printed stream is kustomize's build: same objects, same order.
    assert render_objects(options) == objects
    assert objects[0]["kind"] == "Namespace"
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert len(namespaced) >= 3 and all(o["metadata"].get("namespace") == NAMESPACE for o in namespaced)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("CronJob", "addon-sync-poller") in kinds if engine == "argocd" else not any(
        k == "CronJob" for k, _ in kinds)
    assert (("Role", "addon-sync-reconciler") in kinds) == (engine == "fluxcd" and flavor == "kaddons")


@pytest.mark.parametrize(("engine", "flavor"), CASES)
def test_the_printed_stream_is_the_kustomize_build_of_the_written_tree(kaddons: CliRun, tmp_path: Path,
                                                                       sync_script: Path, engine: str,
                                                                       flavor: str) -> None:
    args = ["gitops", "render", "--engine", engine, "--flavor", flavor, "--registry", REGISTRY]
    if flavor == "k2s":
        args += ["--sync-script", str(sync_script)]
    printed = kaddons(*args)
    assert printed.returncode == 0, printed.stderr
    written = kaddons(*args, "--output-dir", tmp_path / "tree")
    assert written.returncode == 0 and not written.stdout, written.stderr
    assert f"kubectl apply -k {tmp_path / 'tree'}" in written.stderr
    stream = load_stream(printed.stdout)
    assert canonical(stream) == canonical(kustomize_build(tmp_path / "tree"))
    assert stream[0]["kind"] == "Namespace"  # kubectl apply -f - creates it before what lives in it


@pytest.mark.parametrize("engine", ENGINES)
def test_k2s_flavor_objects_are_k2s_files_after_substitution(tmp_path: Path, k2s_addon_sync: Path,
                                                             sync_script: Path, engine: str) -> None:
    options = _options(engine, "k2s", sync_script, registry="oci://10.0.0.5:5000", insecure=False)
    path, objects = _render(tmp_path / "out", options)
    expected = kustomize_build(k2s_addon_sync / engine)
    config = by_kind(expected)[("ConfigMap", "addon-sync-config")]
    config["data"].update({"REGISTRY_URL": "oci://10.0.0.5:5000", "INSECURE": "false"})
    assert canonical(objects) == canonical(expected)
    # Every file but the edited ConfigMap is K2s's, byte for byte.
    rendered = {rel: data for rel, data in _tree(path).items() if rel != OWNED_FILE}
    for rel, data in rendered.items():
        if rel not in ("kustomization.yaml", "base/configmap.yaml"):
            assert data == (k2s_addon_sync / rel).read_bytes(), rel
    assert "fluxcd/per-addon/ocirepository-template.yaml" not in rendered  # `gitops register` replaces them


def test_packaged_k2s_templates_are_k2s_files_byte_for_byte(k2s_addon_sync: Path) -> None:
    packaged = {**template_tree(Flavor.k2s, "base"), **template_tree(Flavor.k2s, "fluxcd"),
                **template_tree(Flavor.k2s, "argocd"), **template_tree(Flavor.k2s, "gitops-sync")}
    originals = {p.relative_to(k2s_addon_sync).as_posix(): p.read_bytes()
                 for p in k2s_addon_sync.rglob("*") if p.is_file()}
    assert set(packaged) == set(originals)
    for rel, data in originals.items():
        if rel != "gitops-sync/sync-job.yaml":
            assert packaged[rel] == data, rel
    # The one kaddons change: lines added for the content digest, nothing of K2s's removed or changed.
    old, new = originals["gitops-sync/sync-job.yaml"].decode(), packaged["gitops-sync/sync-job.yaml"].decode()
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    changes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    assert changes and all(op[0] == "insert" for op in changes)
    added = [line for op in changes for line in new.splitlines()[op[3]:op[4]]]
    assert any("kaddons.io/content-digest" in line for line in added)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_argocd_poller_meets_the_e2e_expectations(tmp_path: Path, sync_script: Path, flavor: str) -> None:
    _path, objects = _render(tmp_path / "out", _options("argocd", flavor, sync_script))
    cron = by_kind(objects)[("CronJob", "addon-sync-poller")]
    assert cron["spec"]["schedule"] == "*/5 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert (cron["spec"]["successfulJobsHistoryLimit"], cron["spec"]["failedJobsHistoryLimit"]) == (3, 5)
    job = cron["spec"]["jobTemplate"]["spec"]
    assert (job["activeDeadlineSeconds"], job["backoffLimit"], job["ttlSecondsAfterFinished"]) == (300, 0, 300)
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "addon-sync-processor"
    container = pod["containers"][0]
    refs = [e["valueFrom"]["configMapKeyRef"]["name"] for e in container["env"] if "valueFrom" in e]
    assert refs and all("addon-sync-config" in name for name in refs)
    configmaps = {name: o["data"] for (kind, name), o in by_kind(objects).items() if kind == "ConfigMap"}
    container_env(container, configmaps)  # every non-optional reference resolves
    if flavor == "k2s":
        assert {"name": "sync-script", "configMap": {"name": "addon-sync-script"}} in pod["volumes"]
        assert pod["securityContext"]["windowsOptions"] == {"hostProcess": True,
                                                            "runAsUserName": "NT AUTHORITY\\SYSTEM"}
        assert container["command"][-2:] == ["-CheckDigest", "true"]
    else:
        assert container["command"][:2] == ["kaddons", "sync"] and "--check-digest" in container["command"]
        assert "--addon" not in container["command"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_fluxcd_tree_meets_the_e2e_expectations(tmp_path: Path, sync_script: Path, flavor: str) -> None:
    _path, objects = _render(tmp_path / "out", _options("fluxcd", flavor, sync_script, insecure=True))
    found = by_kind(objects)
    assert ("Namespace", NAMESPACE) in found and ("ServiceAccount", "addon-sync-processor") in found
    assert not [o for o in objects if o["kind"] == "CronJob"]  # no poller under Flux
    data = found[("ConfigMap", "addon-sync-config")]["data"]
    assert data["REGISTRY_URL"] == REGISTRY and data["INSECURE"] == "true"
    if flavor == "k2s":
        assert data["K2S_INSTALL_DIR"] == "C:\\k"
        assert found[("ConfigMap", "addon-sync-script")]["data"]["Sync-Addons.ps1"].strip()
    else:
        assert data["ADDONS_DIR"] == "/var/lib/kaddons/addons"
        assert data["SYNC_IMAGE"] == f"ghcr.io/kaddons/kaddons:{__version__}"
        assert (data["RUN_AS_USER"], data["RUN_AS_NON_ROOT"]) == ("65532", "true")
        assert "CA_FILE" not in data


def test_kaddons_poller_runs_with_least_privilege(tmp_path: Path, sync_script: Path) -> None:
    _path, objects = _render(tmp_path / "out", _options("argocd", "kaddons", sync_script))
    found = by_kind(objects)
    assert found[("ServiceAccount", "addon-sync-processor")]["automountServiceAccountToken"] is False
    pod = _poller_pod(objects)
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert not {"hostNetwork", "hostPID", "hostIPC", "tolerations"} & set(pod)
    [container] = pod["containers"]
    assert container["securityContext"] == {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["resources"] == {"requests": {"memory": "64Mi", "cpu": "50m"},
                                      "limits": {"memory": "256Mi", "cpu": "500m"}}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["addons"]["hostPath"] == {"path": "/var/lib/kaddons/addons", "type": "DirectoryOrCreate"}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    assert volumes["registry-ca"]["configMap"] == {"name": "addon-sync-ca", "optional": True}
    assert volumes["registry-credentials"]["secret"] == {
        "secretName": "addon-sync-registry", "optional": True,
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes)
    read_only = [m for name, m in mounts.items() if name not in ("addons", "tmp")]
    assert read_only and all(m.get("readOnly") for m in read_only)
    env = container_env(container, {"addon-sync-config": found[("ConfigMap", "addon-sync-config")]["data"]})
    assert env == {"KADDONS_REGISTRY": REGISTRY, "KADDONS_INSECURE": "false",
                   "DOCKER_CONFIG": mounts["registry-credentials"]["mountPath"]}
    assert not [o for o in objects if o["kind"] == "Secret"]  # credentials are the user's Secret


def test_fluxcd_reconciler_may_only_manage_jobs_in_the_namespace(tmp_path: Path, sync_script: Path) -> None:
    _path, objects = _render(tmp_path / "out", _options("fluxcd", "kaddons", sync_script))
    found = by_kind(objects)
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    role = found[("Role", "addon-sync-reconciler")]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": ["batch"], "resources": ["jobs"],
                              "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    binding = found[("RoleBinding", "addon-sync-reconciler")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "addon-sync-reconciler"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "addon-sync-reconciler",
                                    "namespace": NAMESPACE}]
    assert found[("ServiceAccount", "addon-sync-reconciler")]["automountServiceAccountToken"] is False
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "RoleBinding"] == ["addon-sync-reconciler"]


@pytest.mark.parametrize("engine", ENGINES)
def test_kaddons_render_options_reach_every_place(tmp_path: Path, sync_script: Path, ca_file: Path,
                                                  engine: str) -> None:
    options = _options(engine, "kaddons", sync_script, addons_dir="/data/k2s/addons/", image="reg.local/kaddons:9",
                       run_as_user="0", ca_file=ca_file)
    _path, objects = _render(tmp_path / "out", options)
    for obj in objects:
        validate(obj)
    assert render_objects(options) == objects and load_stream(render_stream(options)) == objects
    found = by_kind(objects)
    data = found[("ConfigMap", "addon-sync-config")]["data"]
    assert data["ADDONS_DIR"] == "/data/k2s/addons" and data["SYNC_IMAGE"] == "reg.local/kaddons:9"
    assert (data["RUN_AS_USER"], data["RUN_AS_NON_ROOT"]) == ("0", "false")
    ca = found[("ConfigMap", "addon-sync-ca")]
    assert ca["data"] == {"ca.crt": ca_file.read_text()}
    assert data["CA_FILE"] == "/etc/kaddons/ca/ca.crt"
    if engine == "argocd":
        pod = _poller_pod(objects)
        [container] = pod["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert mounts["registry-ca"] == data["CA_FILE"].rpartition("/")[0]
        assert volumes["addons"]["hostPath"]["path"] == mounts["addons"] == "/data/k2s/addons"
        assert container["command"][2:4] == ["--addons-dir", "/data/k2s/addons"]
        assert container["image"] == "reg.local/kaddons:9"
        assert pod["securityContext"]["runAsNonRoot"] is False and pod["securityContext"]["runAsUser"] == 0
        env = container_env(container, {"addon-sync-config": data})
        assert env["KADDONS_CA_FILE"] == data["CA_FILE"]


def test_k2s_flavor_needs_k2s_sync_script(sync_script: Path) -> None:
    with pytest.raises(UsageError, match="--sync-script"):
        render_options("fluxcd", REGISTRY, flavor="k2s")
    options = render_options("fluxcd", REGISTRY, flavor="k2s", sync_script=sync_script,
                             k2s_install_dir="D:\\K2s")
    data = by_kind(render_objects(options))[("ConfigMap", "addon-sync-config")]["data"]
    assert data["K2S_INSTALL_DIR"] == "D:\\K2s"


def test_k2s_script_is_carried_unchanged_in_file_and_stream(tmp_path: Path) -> None:
    script = tmp_path / "Sync-Addons.ps1"  # as PowerShell 5.1 files often are: BOM, CRLF, tabs, non-ASCII
    script.write_bytes("\ufeff# Sync-Addons.ps1 é\r\nparam([string]$RegistryUrl)\r\n\tWrite-Host 'x:  y'  \r\n"
                       .encode())
    options = render_options("argocd", REGISTRY, flavor="k2s", sync_script=script)
    path, objects = _render(tmp_path / "out", options)
    assert (path / "base/scripts/Sync-Addons.ps1").read_bytes() == script.read_bytes()
    data = by_kind(objects)[("ConfigMap", "addon-sync-script")]["data"]
    assert data == {"Sync-Addons.ps1": script.read_bytes().decode()}
    assert render_objects(options) == objects and load_stream(render_stream(options)) == objects


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_rerender_replaces_only_kaddons_files(tmp_path: Path, sync_script: Path) -> None:
    argocd, fluxcd = (render_tree(_options(engine, "kaddons", sync_script)) for engine in ("argocd", "fluxcd"))
    out = tmp_path / "parent" / "out"
    write_rendered(argocd, out)  # parents are created
    assert _tree(out).keys() == {*argocd, OWNED_FILE}
    owned = subprocess.run(["sha256sum", "--check", "--quiet", OWNED_FILE], cwd=out, capture_output=True, text=True)
    assert owned.returncode == 0, owned.stdout + owned.stderr  # the record is sha256sum's format, and true
    # The user's own files beside the output: a README, an overlay's apps/, a file in a generated folder.
    (out / "README.md").write_text("my overlay\n")
    (out / "apps").mkdir()
    (out / "apps" / "app.yaml").write_text("kind: Mine\n")
    (out / "argocd" / "notes.txt").write_text("keep\n")
    done = write_rendered(fluxcd, out)  # switching the engine: argocd/ files go, the user's stay
    assert (out / "README.md").read_text() == "my overlay\n" and (out / "apps" / "app.yaml").is_file()
    assert [p.name for p in (out / "argocd").iterdir()] == ["notes.txt"]
    assert not any(rel.startswith("argocd/") for rel in _tree(out) if rel != "argocd/notes.txt")
    assert {rel: data for rel, data in _tree(out).items() if rel in fluxcd} == fluxcd
    assert done.removed and all(rel.startswith("argocd/") for rel in done.removed)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # nothing left beside it
    again = write_rendered(fluxcd, out)  # the same render again: nothing to write, no --force needed
    assert again.written == [] and again.removed == [] and sorted(again.unchanged) == sorted(fluxcd)


def test_conflicts_write_nothing(tmp_path: Path, sync_script: Path) -> None:
    files = render_tree(_options("argocd", "kaddons", sync_script))
    out = tmp_path / "out"
    write_rendered(files, out)
    edited = out / "base" / "configmap.yaml"
    edited.write_text(edited.read_text() + "# my change\n")
    before = _tree(out)
    other = render_tree(_options("fluxcd", "kaddons", sync_script))
    with pytest.raises(UsageError, match=r"base/configmap\.yaml was changed since kaddons wrote it: pass --force"):
        write_rendered(other, out)
    assert _tree(out) == before
    write_rendered(other, out, force=True)  # --force replaces kaddons' own file edited by hand
    assert edited.read_bytes() == other["base/configmap.yaml"]
    # A user's overlay holding its own kustomization.yaml: kaddons never overwrites it, even with --force.
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: [apps]\n")
    (overlay / "README").write_text("mine\n")
    mine = _tree(overlay)
    with pytest.raises(UsageError, match="not empty: pass --force"):
        write_rendered(files, overlay)
    with pytest.raises(UsageError, match=r"kustomization\.yaml would be overwritten and is not kaddons'"):
        write_rendered(files, overlay, force=True)
    assert _tree(overlay) == mine
    with pytest.raises(UsageError, match="not a directory"):
        write_rendered(files, overlay / "README")
    link = tmp_path / "linked"
    link.mkdir()
    (link / "base").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="symbolic link"):
        write_rendered(files, link, force=True)
    assert not (tmp_path / "elsewhere").exists()


def test_an_output_of_an_older_kaddons_is_taken_over_with_force(tmp_path: Path, sync_script: Path) -> None:
    files = render_tree(_options("argocd", "kaddons", sync_script))
    out = tmp_path / "out"
    out.mkdir()
    for rel, data in files.items():  # what kaddons 0.x wrote: the same paths, no record
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data.replace(b"k2s-addon-sync", b"old-namespace"))
    (out / "README.md").write_text("mine\n")
    with pytest.raises(UsageError, match="earlier kaddons output without a record"):
        write_rendered(files, out)
    write_rendered(files, out, force=True)
    assert {rel: data for rel, data in _tree(out).items() if rel in files} == files
    assert (out / "README.md").read_text() == "mine\n"


def _not_pem(tmp_path: Path) -> Path:
    path = tmp_path / "not.pem"
    path.write_text("hello\n")
    return path


BAD_RENDER = [
    ({"--registry": "oci://registry.local/addons"}, ["'oci://registry.local/addons'", "ends in /addons",
                                                     "PREFIX/addons/<name>"]),
    ({"--registry": "oci://registry.local/team", "--flavor": "k2s", "--sync-script": "SCRIPT"},
     ["'oci://registry.local/team'", "has a path", "oci://HOST[:PORT]", "Sync-Addons.ps1 knows no prefix"]),
    ({"--registry": "oci://registry.local/Team"}, ["no valid prefix"]),
    ({"--registry": "oci://registry.local:5000/addons/metrics:v1.0.0"}, ["names a tag"]),
    ({"--registry": "oci://registry.local:latest"}, ["names a tag"]),
    ({"--registry": "oci://registry.local@sha256:" + "a" * 64}, ["names a digest"]),
    ({"--registry": "registry.local:5000"}, ["does not start with oci://"]),
    ({"--registry": "oci://registry.local:70000"}, ["invalid port"]),
    ({"--registry": "oci://bad_host!"}, ["no valid host"]),
    ({"--registry": None}, ["no registry given", "--registry oci://"]),
    ({"--engine": "flux"}, ["unknown engine 'flux'", "--engine fluxcd or --engine argocd"]),
    ({"--engine": None}, ["no engine given"]),
    ({"--flavor": "windows"}, ["unknown flavor 'windows'", "--flavor kaddons or --flavor k2s"]),
    ({"--addons-dir": "relative/addons"}, ["--addons-dir 'relative/addons'", "absolute"]),
    ({"--addons-dir": "/var/lib/../etc"}, ["--addons-dir"]),
    ({"--image": "Not An Image"}, ["--image", "e.g. ghcr.io/kaddons/kaddons"]),
    ({"--run-as-user": "root"}, ["--run-as-user 'root'", "a number"]),
    ({"--ca-file": "NOT_PEM"}, ["--ca-file", "not a PEM certificate bundle"]),
    ({"--ca-file": "MISSING"}, ["--ca-file", "No such file"]),
    ({"--flavor": "k2s", "--addons-dir": "/x"}, ["--addons-dir does not apply to the k2s flavor"]),
    ({"--sync-script": "SCRIPT"}, ["--sync-script does not apply to the kaddons flavor"]),
    ({"--flavor": "k2s"}, ["needs K2s's Sync-Addons.ps1", "--sync-script"]),
    ({"--flavor": "k2s", "--sync-script": "SCRIPT", "--k2s-install-dir": "/opt/k"}, ["--k2s-install-dir"]),
]


@pytest.mark.parametrize(("change", "needles"), BAD_RENDER, ids=[str(i) for i in range(len(BAD_RENDER))])
def test_bad_input_is_one_line_and_writes_nothing(kaddons: CliRun, tmp_path: Path, sync_script: Path,
                                                  change: dict[str, str | None], needles: list[str]) -> None:
    flags: dict[str, str | None] = {"--engine": "argocd", "--registry": "oci://registry.local:5000", **change}
    values = {"NOT_PEM": str(_not_pem(tmp_path)), "MISSING": str(tmp_path / "missing.pem"), "SCRIPT": str(sync_script)}
    args = [x for flag, value in flags.items() if value is not None for x in (flag, values.get(value, value))]
    fresh = tmp_path / "fresh"
    assert_one_line_error(kaddons("gitops", "render", *args, "--output-dir", fresh), *needles)
    assert not fresh.exists()
    earlier = tmp_path / "earlier"  # an earlier output stays as it was, even with --force
    good = ["gitops", "render", "--engine", "argocd", "--registry", "oci://registry.local:5000",
            "--output-dir", earlier]
    assert kaddons(*good).returncode == 0
    before = _tree(earlier)
    assert_one_line_error(kaddons("gitops", "render", *args, "--output-dir", earlier, "--force"), *needles)
    assert _tree(earlier) == before


def test_cli_refuses_a_non_empty_output_directory(kaddons: CliRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    done = kaddons("gitops", "render", "--engine", "fluxcd", "--registry", "oci://r.local", "--output-dir", out)
    assert_one_line_error(done, str(out), "--force")
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    added = kaddons("gitops", "render", "--engine", "fluxcd", "--registry", "oci://r.local",
                    "--output-dir", out, "--force")
    assert added.returncode == 0, added.stderr
    assert (out / "mine.txt").read_text() == "x" and (out / "kustomization.yaml").is_file()


def test_dash_o_is_a_format_and_the_old_directory_spelling_still_works(kaddons: CliRun, tmp_path: Path) -> None:
    args = ["gitops", "render", "--engine", "fluxcd", "--registry", REGISTRY]
    as_json = kaddons(*args, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == load_stream(kaddons(*args).stdout)
    assert not (tmp_path / "json").exists() and not Path("json").exists()
    assert load_stream(kaddons(*args, "-o", "yaml").stdout) == load_stream(kaddons(*args).stdout)
    old = kaddons(*args, "-o", tmp_path / "tree")  # deprecated: a directory, with a warning naming --output-dir
    assert old.returncode == 0, old.stderr
    assert f"warning: -o {tmp_path / 'tree'} as a directory is deprecated" in old.stderr
    assert (tmp_path / "tree" / "kustomization.yaml").is_file()
    both = kaddons(*args, "-o", "json", "--output-dir", tmp_path / "x")
    assert_one_line_error(both, "give one of them")
