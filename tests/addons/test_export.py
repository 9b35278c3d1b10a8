"""``kaddons export`` on the real K2s addons: the archive layout of §2, layer contents of §2.4, determinism."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kaddons.addons.export import ExportOptions, archive_file_name, export_addons
from kaddons.errors import NotFoundError, UsageError
from kaddons.oci.archive import ArchiveStore
from tests.addons.conftest import ADDON_NAMES, writable_copy
from tests.helpers.k2s_facts import FORMAT as fmt

OMIT = ExportOptions(omit_images=True, omit_packages=True)
EXPORT_NAMES = ["dashboard", "dicom", "ingress-nginx", "ingress-traefik", "ingress-nginx-gw", "metrics",
                "rollout-argocd", "rollout-fluxcd", "storage-smb"]
GZIP_KINDS = [k for k in fmt.LAYERS if k.gzip]


class Exported:
    """An exported archive opened for inspection: index, manifests by export name, layer members."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw_index = _member(path, "index.json")
        self.index = json.loads(self.raw_index)
        self.store = ArchiveStore(path)
        self.store.validate(deep=True)
        self.manifests: dict[str, dict[str, Any]] = {}
        self.descriptors: dict[str, dict[str, Any]] = {}
        for desc in self.index["manifests"]:
            name = desc["annotations"][fmt.ANN_EXPORT_NAME]
            self.descriptors[name] = desc
            self.manifests[name] = json.loads(self.blob(desc["digest"]))

    def blob(self, digest: str) -> bytes:
        return _member(self.path, f"blobs/sha256/{digest.removeprefix('sha256:')}")

    def layer(self, export_name: str, title: str) -> dict[str, bytes]:
        """Regular-file members of a layer, name -> content; directories must all be real directories."""
        desc = next(d for d in self.manifests[export_name]["layers"] if d["annotations"][fmt.ANN_TITLE] == title)
        data = self.blob(desc["digest"])
        mode = "r:gz" if title.endswith(".gz") else "r:"
        files = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
            for info in tar:
                assert info.isfile() or info.isdir(), info.name
                assert not info.name.startswith(("/", "./")) and ".." not in info.name.split("/")
                assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
                if info.isfile():
                    files[info.name] = tar.extractfile(info).read()  # type: ignore[union-attr]
        return files

    def titles(self, export_name: str) -> list[str]:
        return [d["annotations"][fmt.ANN_TITLE] for d in self.manifests[export_name]["layers"]]


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def exported_all(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    out = tmp_path_factory.mktemp("export-all")
    result = export_addons(testdata, [], out, OMIT)
    assert [i.export_name for i in result.implementations] == EXPORT_NAMES
    return Exported(result.path)


def test_all_addons_export_with_the_k2s_file_name_and_one_manifest_per_implementation(exported_all: Exported) -> None:
    assert exported_all.path.name == "K2s-0.0.0-addons-all.oci.tar"  # no VERSION file: never kaddons' version
    assert list(exported_all.manifests) == EXPORT_NAMES
    ann = exported_all.index["annotations"]
    assert ann[fmt.ANN_ADDON_COUNT] == str(len(EXPORT_NAMES)) and ann[fmt.ANN_EXPORT_TYPE] == "all"
    assert {fmt.ANN_K2S_VERSION, fmt.ANN_EXPORT_DATE, fmt.ANN_CREATED} <= set(ann)
    assert exported_all.index["schemaVersion"] == 2
    assert exported_all.index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    # The oci-layout file and the member order K2s's importer and oras expect.
    with tarfile.open(exported_all.path) as tar:
        names = tar.getnames()
    assert names[:4] == ["oci-layout", "index.json", "blobs", "blobs/sha256"]
    assert json.loads(_member(exported_all.path, "oci-layout")) == {"imageLayoutVersion": "1.0.0"}


@pytest.mark.parametrize("export_name", EXPORT_NAMES)
def test_manifest_and_index_entry_carry_the_k2s_annotations(exported_all: Exported, export_name: str) -> None:
    manifest = exported_all.manifests[export_name]
    desc = exported_all.descriptors[export_name]
    addon, _, impl = export_name.partition("-")
    impl = impl or addon
    assert manifest["artifactType"] == desc["artifactType"] == "application/vnd.k2s.addon.v1"
    assert manifest["mediaType"] == desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.k2s.addon.config.v1+json"
    config = json.loads(exported_all.blob(manifest["config"]["digest"]))
    assert config["name"] == addon and config["implementation"] == impl and config["version"] == "1.0.0"
    assert set(config) == {"name", "version", "implementation", "description", "k2sVersion", "exportDate"}
    ann = manifest["annotations"]
    assert ann[fmt.ANN_ADDON_NAME] == addon and ann[fmt.ANN_IMPLEMENTATION] == impl
    assert ann[fmt.ANN_EXPORT_NAME] == ann[fmt.ANN_TITLE] == export_name
    assert ann[fmt.ANN_VERSION] == "1.0.0" and ann[fmt.ANN_VENDOR] == "Siemens Healthineers AG"
    assert ann[fmt.ANN_CREATED] == ann[fmt.ANN_EXPORT_DATE] == "1970-01-01T00:00:00Z"
    assert ann[fmt.ANN_DESCRIPTION] and ann[fmt.ANN_EXPORT_TYPE] == "all"
    assert desc["annotations"] == {
        fmt.ANN_REF_NAME: "v1.0.0", fmt.ANN_TITLE: export_name, fmt.ANN_VERSION: "1.0.0",
        fmt.ANN_ADDON_NAME: addon, fmt.ANN_IMPLEMENTATION: impl, fmt.ANN_EXPORT_NAME: export_name,
    }
    specs = {s.title: s for s in fmt.LAYERS}
    titles = exported_all.titles(export_name)
    assert titles == sorted(titles, key=lambda t: specs[t].number), "layers in the order of §2.9"
    for layer in manifest["layers"]:
        assert layer["mediaType"] == specs[layer["annotations"][fmt.ANN_TITLE]].media_type


def test_layers_present_per_addon(exported_all: Exported) -> None:
    layers = {name: exported_all.titles(name) for name in EXPORT_NAMES}
    assert layers["dashboard"] == ["config.tar.gz", "manifests.tar.gz", "charts.tar.gz", "scripts.tar.gz"]
    for name in EXPORT_NAMES:
        if name != "dashboard":
            assert layers[name] == ["config.tar.gz", "manifests.tar.gz", "scripts.tar.gz"], name


def test_config_layer_rules(exported_all: Exported, testdata: Path) -> None:
    dicom = exported_all.layer("dicom", "config.tar.gz")
    assert sorted(dicom) == ["addon.manifest.yaml", "orthanc.json"]  # §2.4 0 (d): flat, from manifests/dicom/
    assert dicom["orthanc.json"] == (testdata / "dicom/manifests/dicom/orthanc.json").read_bytes()
    assert dicom["addon.manifest.yaml"] == (testdata / "dicom/addon.manifest.yaml").read_bytes()  # verbatim
    smb = exported_all.layer("storage-smb", "config.tar.gz")
    assert sorted(smb) == ["addon.manifest.yaml", "config/SmbStorage.json", "config/SmbStorage.json.license"]


def test_multi_implementation_manifest_is_filtered_to_its_implementation(exported_all: Exported) -> None:
    from kaddons.addons import parse_manifest_bytes

    for name, impl in (("ingress-nginx", "nginx"), ("ingress-nginx-gw", "nginx-gw"), ("rollout-fluxcd", "fluxcd")):
        text = exported_all.layer(name, "config.tar.gz")["addon.manifest.yaml"]
        manifest = parse_manifest_bytes(text)
        assert [i.name for i in manifest.spec.implementations] == [impl]
        assert b"SPDX-License-Identifier" in text  # the header comments are kept
        assert not text.startswith(b"\xef\xbb\xbf")


def test_rollout_bom_manifest_exports(exported_all: Exported, testdata: Path) -> None:
    assert (testdata / "rollout/addon.manifest.yaml").read_bytes().startswith(b"\xef\xbb\xbf")
    text = exported_all.layer("rollout-argocd", "config.tar.gz")["addon.manifest.yaml"]
    assert b"name: rollout" in text


def test_charts_layer_holds_the_chart_folder_which_stays_in_the_manifests_layer(exported_all: Exported,
                                                                                 testdata: Path) -> None:
    charts = exported_all.layer("dashboard", "charts.tar.gz")
    assert sorted(charts) == ["headlamp-0.45.0.tgz", "headlamp-0.45.0.tgz.license", "headlamp-service-account.yaml",
                              "values.yaml"]
    chart = testdata / "dashboard/manifests/chart/headlamp-0.45.0.tgz"
    assert charts["headlamp-0.45.0.tgz"] == chart.read_bytes()
    manifests = exported_all.layer("dashboard", "manifests.tar.gz")
    assert manifests["chart/headlamp-0.45.0.tgz"] == chart.read_bytes()


def _source_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("export_name", EXPORT_NAMES)
def test_manifests_layer_is_the_manifests_tree_plus_gitops_sync(exported_all: Exported, testdata: Path,
                                                              export_name: str) -> None:
    addon, _, impl = export_name.partition("-")
    impl_dir = testdata / addon / impl if impl else testdata / addon
    files = exported_all.layer(export_name, "manifests.tar.gz")
    source = {f for f in _source_files(impl_dir / "manifests") if not f.startswith("gitops-sync/")}
    assert set(files) == source | {"gitops-sync/kustomization.yaml", "gitops-sync/sync-job.yaml"}
    for name in source:
        assert files[name] == (impl_dir / "manifests" / name).read_bytes()
    # The gitops-sync contract (§2.5, §7.1): the Job of this export, no placeholder left.
    job = files["gitops-sync/sync-job.yaml"].decode()
    assert f"name: addon-sync-{export_name}\n" in job and f"- {export_name}\n" in job
    assert "PLACEHOLDER" not in job and "PLACEHOLDER" not in files["gitops-sync/kustomization.yaml"].decode()
    assert 'k2s.io/export-timestamp: "1970-01-01T00:00:00Z"' in job
    assert "sync-job.yaml" in files["gitops-sync/kustomization.yaml"].decode()


@pytest.mark.parametrize("export_name", EXPORT_NAMES)
def test_scripts_layer_rules(exported_all: Exported, testdata: Path, export_name: str) -> None:
    addon, _, impl = export_name.partition("-")
    impl_dir = testdata / addon / impl if impl else testdata / addon
    files = set(exported_all.layer(export_name, "scripts.tar.gz"))
    suffixes = (".ps1", ".psm1", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".drawio", ".md", ".ndjson", ".json",
                ".license")
    expected = {f for f in _source_files(impl_dir)
                if (f.lower().endswith(suffixes) or f.split("/")[-1].lower().startswith("dockerfile"))
                and f.split("/")[-1].lower() != "readme.md"}
    if (impl_dir / "README.md").exists():
        expected.add("README.md")
    assert files == expected
    assert not any(f.endswith("README.md") and f != "README.md" for f in files)  # nested READMEs dropped


def test_scripts_layer_examples(exported_all: Exported) -> None:
    dashboard = set(exported_all.layer("dashboard", "scripts.tar.gz"))
    assert "README.md" in dashboard and "build/README.md" not in dashboard
    assert not any(f.endswith(".tar.gz") for f in dashboard)  # build/plugins/*.tar.gz are dropped
    smb = set(exported_all.layer("storage-smb", "scripts.tar.gz"))
    assert {"build/Dockerfile.smbplugin", "build/Dockerfile.csi-node-driver-registrar"} <= smb


def test_export_is_byte_identical_twice(testdata: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first = export_addons(testdata, [], one, OMIT).path
    second = export_addons(testdata, [], two, OMIT).path
    assert first.read_bytes() == second.read_bytes()
    assert sorted(os.listdir(one)) == [first.name]  # the staging directory is gone


def test_source_date_epoch_sets_every_timestamp_in_utc(testdata: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01T00:00:00Z
    path = export_addons(testdata, ["metrics"], tmp_path, OMIT).path
    exported = Exported(path)
    assert exported.index["annotations"][fmt.ANN_EXPORT_DATE] == "2026-01-01T00:00:00Z"
    assert exported.manifests["metrics"]["annotations"][fmt.ANN_CREATED] == "2026-01-01T00:00:00Z"
    job = exported.layer("metrics", "manifests.tar.gz")["gitops-sync/sync-job.yaml"].decode()
    assert 'k2s.io/export-timestamp: "2026-01-01T00:00:00Z"' in job
    with tarfile.open(path) as tar:
        assert {m.mtime for m in tar} == {1767225600}
    desc = exported.manifests["metrics"]["layers"][1]
    assert gzip.decompress(exported.blob(desc["digest"]))  # a valid gzip stream
    assert exported.blob(desc["digest"])[4:8] == b"\0\0\0\0"  # gzip header mtime 0


def _content_digest(exported: Exported, name: str) -> str:
    job = exported.layer(name, "manifests.tar.gz")["gitops-sync/sync-job.yaml"].decode()
    return job.split('kaddons.io/content-digest: "')[1].split('"')[0]


def test_pod_template_digest_follows_the_content_only(addons_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    for step in range(3):
        if step == 1:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # only the time changes
        if step == 2:
            (addons_dir / "metrics/manifests/metrics-server.yaml").write_text("kind: ConfigMap\n")
        out = tmp_path / str(step)
        out.mkdir()
        runs.append(_content_digest(Exported(export_addons(addons_dir, ["metrics"], out, OMIT).path), "metrics"))
    assert runs[0].startswith("sha256:") and runs[0] == runs[1] != runs[2]


def test_name_selection_and_file_names(testdata: Path, tmp_path: Path) -> None:
    cases = {
        ("metrics",): ["metrics"],
        ("ingress nginx",): ["ingress-nginx"],
        ("ingress", "nginx"): ["ingress-nginx"],
        ("metrics", "ingress", "traefik"): ["metrics", "ingress-traefik"],
        ("ingress",): ["ingress-nginx", "ingress-traefik", "ingress-nginx-gw"],
        ("storage",): ["storage-smb"],
        ("storage-smb",): ["storage-smb"],  # the export name, as import takes it and push prints it
        ("ingress-nginx-gw", "metrics"): ["ingress-nginx-gw", "metrics"],
    }
    for names, expected in cases.items():
        out = tmp_path / "-".join(names).replace(" ", "_")
        out.mkdir()
        result = export_addons(testdata, list(names), out, OMIT)
        assert [i.export_name for i in result.implementations] == expected, names
        assert result.path.name == archive_file_name("0.1.0", expected, all_addons=False).replace(
            "0.1.0", result.path.name.split("-")[1])
        assert Exported(result.path).index["annotations"][fmt.ANN_EXPORT_TYPE] == "specific"
    assert archive_file_name("2.0.0", ["registry", "ingress-nginx"], all_addons=False) == \
        "K2s-2.0.0-addons-registry-ingress-nginx.oci.tar"


def test_k2s_version_from_the_install_dir_or_the_option(testdata: Path, tmp_path: Path) -> None:
    install = tmp_path / "k2s"
    install.mkdir()
    writable_copy(testdata / "metrics", install / "addons" / "metrics")
    (install / "VERSION").write_text("\ufeff2.0.0\r\n")
    out = tmp_path / "out"
    out.mkdir()
    result = export_addons(install / "addons", ["metrics"], out, OMIT)
    assert result.path.name == "K2s-2.0.0-addons-metrics.oci.tar"
    assert Exported(result.path).manifests["metrics"]["annotations"][fmt.ANN_K2S_VERSION] == "2.0.0"
    result = export_addons(install / "addons", ["metrics"], out, ExportOptions(True, True, k2s_version="1.5.0"))
    assert result.path.name == "K2s-1.5.0-addons-metrics.oci.tar"
    with pytest.raises(UsageError, match="--k2s-version"):
        export_addons(install / "addons", ["metrics"], out, ExportOptions(True, True, k2s_version="../x"))


def test_unknown_names_are_errors_and_nothing_is_written(testdata: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no addon named 'nope'.*metrics"):
        export_addons(testdata, ["nope"], tmp_path, OMIT)
    with pytest.raises(NotFoundError, match=r"no implementation 'foo'.*nginx, traefik, nginx-gw"):
        export_addons(testdata, ["ingress", "foo"], tmp_path, OMIT)
    with pytest.raises(NotFoundError, match="no addon named 'nope'"):  # a bad name creates no -d folder either
        export_addons(testdata, ["nope"], tmp_path / "new" / "out", OMIT)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        export_addons(testdata, [], tmp_path / "file", OMIT)
    assert os.listdir(tmp_path) == ["file"]


def test_a_missing_output_directory_is_created_as_k2s_does(testdata: Path, tmp_path: Path) -> None:
    result = export_addons(testdata, ["metrics"], tmp_path / "exports" / "2026", OMIT)
    assert result.path.parent == tmp_path / "exports" / "2026" and result.path.is_file()


def test_no_valid_addon_lists_a_bounded_number_of_problems(tmp_path: Path) -> None:
    addons = tmp_path / "addons"
    for i in range(200):
        (addons / f"broken{i:03}").mkdir(parents=True)
        (addons / f"broken{i:03}" / "addon.manifest.yaml").write_text("kind: NotAnAddon\n")
    with pytest.raises(UsageError) as caught:
        export_addons(addons, [], tmp_path / "out", OMIT)
    message = str(caught.value)
    assert "(200 invalid: " in message and "and 195 more (kaddons ls --addons-dir" in message
    assert len(message) < 2000 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "manifests" / "link.yaml").symlink_to("/etc/hostname"), "symbolic link leaving"),
    (lambda d: (d / "manifests" / "sub").symlink_to(d / "manifests", target_is_directory=True), "link to a dir"),
    (lambda d: (d / "manifests" / "Metrics-Server.yaml").write_text("x"), "differ only in case"),
    (lambda d: (d / "manifests" / "a:b.yaml").write_text("x"), "not a valid file name"),
    (lambda d: (d / "manifests" / "con.yaml").write_text("x"), "not a valid file name"),
])
def test_unexportable_files_are_named_and_nothing_is_written(addons_dir: Path, tmp_path: Path, make: Any,
                                                             message: str) -> None:
    make(addons_dir / "metrics")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError, match=message):
        export_addons(addons_dir, ["metrics"], out, OMIT)
    assert os.listdir(out) == []


def test_symlink_to_a_file_inside_the_addon_is_exported_as_the_file(addons_dir: Path, tmp_path: Path) -> None:
    metrics = addons_dir / "metrics"
    (metrics / "manifests" / "copy.yaml").symlink_to(metrics / "manifests" / "metrics-server.yaml")
    exported = Exported(export_addons(addons_dir, ["metrics"], tmp_path, OMIT).path)
    files = exported.layer("metrics", "manifests.tar.gz")
    assert files["copy.yaml"] == files["metrics-server.yaml"]


def test_skopeo_reads_the_exported_archive(testdata: Path, tmp_path: Path) -> None:
    import shutil

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    exported = Exported(export_addons(testdata, ["metrics"], tmp_path, OMIT).path)
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{exported.path}:v1.0.0"],
                         capture_output=True, check=True, timeout=60).stdout
    assert raw == exported.blob(exported.descriptors["metrics"]["digest"])


def test_cli_export_prints_the_archive_and_exit_codes(testdata: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", "export", *args], capture_output=True, text=True,
                              timeout=120)

    ok = run("ingress", "nginx", "--addons-dir", str(testdata), "-d", str(tmp_path), "--omit-images",
             "--omit-packages", "-o", "json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert Path(data["path"]).name.endswith("-addons-ingress-nginx.oci.tar")
    assert [(i["exportName"], i["tag"]) for i in data["implementations"]] == [("ingress-nginx", "v1.0.0")]
    bad = run("nope", "--addons-dir", str(testdata), "-d", str(tmp_path))
    assert bad.returncode == 3 and bad.stderr.startswith("error: no addon named 'nope'")
    assert "Traceback" not in bad.stderr
    missing = run("--addons-dir", str(testdata))
    assert missing.returncode == 2 and "-d DIR" in missing.stderr


def test_every_test_data_addon_is_covered() -> None:
    assert {n.partition("-")[0] for n in EXPORT_NAMES} == set(ADDON_NAMES)


def test_files_k2s_leaves_out_are_reported_not_dropped_silently(testdata: Path, tmp_path: Path) -> None:
    source = writable_copy(testdata, tmp_path / "addons")
    metrics = source / "metrics"
    (metrics / "helper.sh").write_text("#!/bin/sh\n")
    (metrics / "NOTES.txt").write_text("notes\n")
    (metrics / "docs").mkdir()
    (metrics / "docs" / "README.md").write_text("docs\n")
    (metrics / "manifests" / "values.yml").write_text("a: 1\n")  # manifests/ holds every file: not left out
    warnings: list[str] = []
    result = export_addons(source, ["metrics"], tmp_path / "out", dataclasses.replace(OMIT, warn=warnings.append))
    [impl] = result.implementations
    assert impl.left_out == [("NOTES.txt", "matches no layer rule"),
                             ("docs/README.md", "only the top README.md is kept"),
                             ("helper.sh", "matches no layer rule")]
    assert warnings == ["metrics: 3 file(s) left out by K2s's layer rules: NOTES.txt (matches no layer rule), "
                        "docs/README.md (only the top README.md is kept), helper.sh (matches no layer rule)"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", "export", "metrics", "--addons-dir", str(source),
                               "-d", str(tmp_path / "cli"), "--omit-images", "--omit-packages", *args],
                              capture_output=True, text=True, timeout=120)

    text = run()
    assert text.returncode == 0 and "warning: metrics: 3 file(s) left out" in text.stderr
    assert "warning:" not in run("--quiet").stderr
    as_json = run("-o", "json")
    assert "warning:" not in as_json.stderr
    assert json.loads(as_json.stdout)["implementations"][0]["leftOut"][0] == {"path": "NOTES.txt",
                                                                             "reason": "matches no layer rule"}
