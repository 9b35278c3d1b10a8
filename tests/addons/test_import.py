"""``kaddons import`` over archives built the way K2s builds them, from the real test-data addons.

Every refusal is checked the same way: the error is the expected one, and the catalog (a copy of the
real addons, plus everything next to it) is exactly as before, with no staging left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kaddons.addons import discover
from kaddons.addons.extract import ExtractLimits
from kaddons.addons.format import ANN_ADDON_NAME, ANN_IMPLEMENTATION, LayerKind, layer_spec
from kaddons.addons.importer import import_archive, read_entries, select_entries
from kaddons.errors import (
    AddonManifestError,
    ContentError,
    DigestMismatchError,
    KaddonsError,
    LayoutError,
    NotFoundError,
    UnsafeContentError,
    UsageError,
)
from kaddons.oci.archive import ArchiveStore
from tests.addons.conftest import writable_copy
from tests.helpers.k2s_archive import (
    MTIME,
    Artifact,
    Layer,
    addon_artifact,
    digest,
    filtered_manifest,
    k2s_tar,
    layer,
    raw_tar,
    snapshot,
    write_k2s_archive,
)

HEADER = "# SPDX-FileCopyrightText: © 2026 Siemens Healthineers AG\n#\n# SPDX-License-Identifier: MIT\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``<tmp>/root``: holds the addons directory, so writes next to it are seen too."""
    path = tmp_path / "root"
    (path / "addons").mkdir(parents=True)
    return path


@pytest.fixture
def addons(root: Path) -> Path:
    return root / "addons"


def archive(tmp_path: Path, *artifacts: Artifact, name: str = "K2s-2.0.0-addons-test.oci.tar",
            **options: object) -> Path:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    return write_k2s_archive(folder / name, list(artifacts), **options)  # type: ignore[arg-type]


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def stray_manifests(addons: Path) -> list[str]:
    """Manifests K2s's unlimited-depth discovery would find below the addon folders (§1.5)."""
    return sorted(p.relative_to(addons).as_posix() for p in addons.rglob("addon.manifest.yaml")
                  if len(p.relative_to(addons).parts) != 2)


def implementations(addons: Path, addon: str) -> list[str]:
    return [impl.name for impl in discover(addons).find(addon).implementations]


def test_metrics_into_an_empty_directory(tmp_path: Path, addons: Path, testdata: Path) -> None:
    metrics = addon_artifact(testdata, "metrics")
    result = import_archive(archive(tmp_path, metrics), addons)
    [imported] = result.implementations
    assert (imported.addon, imported.implementation, imported.export_name, imported.version) == \
           ("metrics", "metrics", "metrics", "1.0.0")
    assert imported.digest == digest(metrics.manifest_blob())
    assert imported.directory == addons / "metrics"
    assert files(addons / "metrics") == metrics.files
    for path in ("Enable.ps1", "Disable.ps1", "Get-Status.ps1", "README.md", "metrics.module.psm1",
                 "manifests/metrics-server.yaml", "addon.manifest.yaml"):
        assert files(addons / "metrics")[path] == (testdata / "metrics" / path).read_bytes()
    assert b"name: addon-sync-metrics" in files(addons / "metrics")["manifests/gitops-sync/sync-job.yaml"]
    assert imported.files == sorted(metrics.files)
    assert (addons / "metrics" / "Enable.ps1").stat().st_mtime == MTIME
    catalog = discover(addons)
    assert [a.name for a in catalog.addons] == ["metrics"] and catalog.problems == []
    assert result.warnings == []
    assert sorted(os.listdir(addons / ".kaddons" / "staging")) == []


def test_ingress_nginx_then_traefik_merges_the_manifest(tmp_path: Path, addons: Path, testdata: Path) -> None:
    nginx = archive(tmp_path, addon_artifact(testdata, "ingress", "nginx"), name="nginx.oci.tar")
    traefik = archive(tmp_path, addon_artifact(testdata, "ingress", "traefik"), name="traefik.oci.tar")
    import_archive(nginx, addons)
    assert implementations(addons, "ingress") == ["nginx"]
    import_archive(traefik, addons)
    assert implementations(addons, "ingress") == ["nginx", "traefik"]
    text = (addons / "ingress" / "addon.manifest.yaml").read_text(encoding="utf-8")
    assert text.startswith(HEADER) and "SPDX-License-Identifier" in text
    assert stray_manifests(addons) == []
    for impl in ("nginx", "traefik"):
        enable = files(addons / "ingress" / impl)["Enable.ps1"]
        assert enable == (testdata / "ingress" / impl / "Enable.ps1").read_bytes()
    assert not (addons / "ingress" / "README.md").exists()  # the base README is never exported


def test_both_ingress_implementations_in_one_archive(tmp_path: Path, addons: Path, testdata: Path) -> None:
    """With unfiltered manifests (``export ingress nginx traefik``, §8.9) only what is installed is listed."""
    artifacts = [addon_artifact(testdata, "ingress", impl, filtered=False) for impl in ("traefik", "nginx")]
    result = import_archive(archive(tmp_path, *artifacts), addons)
    assert [i.export_name for i in result.implementations] == ["ingress-traefik", "ingress-nginx"]
    assert implementations(addons, "ingress") == ["traefik", "nginx"]
    assert stray_manifests(addons) == []
    assert not (addons / "ingress" / "nginx-gw").exists()


def test_reimport_updates_the_entry_and_drops_files_no_longer_shipped(tmp_path: Path, testdata: Path,
                                                                       root: Path) -> None:
    addons = writable_copy(testdata, root / "k2s" / "addons")
    nginx_before = snapshot(addons / "ingress" / "nginx")
    assert (addons / "ingress" / "traefik" / "manifests" / "service.yaml").exists()
    traefik = addon_artifact(testdata, "ingress", "traefik", version="3.0.0")
    manifest = (testdata / "ingress" / "addon.manifest.yaml").read_text(encoding="utf-8")
    changed = filtered_manifest(manifest, "traefik").replace("uses traefik as", "uses traefik 3 as")
    traefik.layers[0] = layer(LayerKind.CONFIG, {"addon.manifest.yaml": changed.encode()})
    shipped = {p: d for p, d in files(testdata / "ingress" / "traefik" / "manifests").items() if p != "service.yaml"}
    traefik.layers[1] = layer(LayerKind.MANIFESTS, shipped)
    result = import_archive(archive(tmp_path, traefik), addons)
    assert result.implementations[0].version == "3.0.0"
    assert not (addons / "ingress" / "traefik" / "manifests" / "service.yaml").exists()
    assert (addons / "ingress" / "traefik" / "manifests" / "deployment.yaml").exists()
    addon = discover(addons).find("ingress")
    assert [i.name for i in addon.implementations] == ["nginx", "traefik", "nginx-gw"]
    assert addon.implementations[1].description.endswith("uses traefik 3 as a reverse proxy")
    assert snapshot(addons / "ingress" / "nginx") == nginx_before
    assert stray_manifests(addons) == []


def test_registry_round_trip_layout_imports(tmp_path: Path, addons: Path, testdata: Path) -> None:
    """After ``oras copy --to-oci-layout`` the index entry has only a ref name (§2.16): the manifest tells."""
    path = archive(tmp_path, addon_artifact(testdata, "ingress", "nginx"), round_trip=True)
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("./index.json").read())  # type: ignore[union-attr]
    assert list(index["manifests"][0]["annotations"]) == ["org.opencontainers.image.ref.name"]
    assert "annotations" not in index
    [imported] = import_archive(path, addons).implementations
    assert imported.export_name == "ingress-nginx"
    assert implementations(addons, "ingress") == ["nginx"]


def test_config_files_images_and_packages_are_routed(tmp_path: Path, addons: Path, testdata: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KADDONS_IMAGE_LOADER", "none")  # never the host's ctr or nerdctl
    smb = addon_artifact(testdata, "storage", "smb", images={"registry.k8s.io_sig-storage_smbplugin_v1.tar": b"L"},
                         windows_images={"windows_registry.k8s.io_smbplugin_v1.tar": b"W"},
                         packages={"debianpackages/samba/samba_4.deb": b"deb", "linuxpackages/tool": b"t"})
    logged: list[str] = []
    [imported] = import_archive(archive(tmp_path, smb), addons, log=logged.append).implementations
    impl = addons / "storage" / "smb"
    assert (impl / "config" / "SmbStorage.json").read_bytes() == \
           (testdata / "storage" / "smb" / "config" / "SmbStorage.json").read_bytes()
    assert (impl / "config" / "SmbStorage.json.license").is_file()
    assert (impl / "build" / "Dockerfile.smbplugin").is_file()
    assert (impl / "hooks" / "Setup-SmbShare.AfterStart.ps1").is_file()
    assert not (addons / "storage" / "config").exists()
    assert files(impl) == smb.files
    assert files(addons / ".images" / "storage") == {"registry.k8s.io_sig-storage_smbplugin_v1.tar": b"L",
                                                      "windows_registry.k8s.io_smbplugin_v1.tar": b"W"}
    assert imported.images == ["registry.k8s.io_sig-storage_smbplugin_v1.tar",
                               "windows_registry.k8s.io_smbplugin_v1.tar"]
    assert files(addons / ".packages" / "storage") == {"debianpackages/samba/samba_4.deb": b"deb",
                                                        "linuxpackages/tool": b"t"}
    assert any("KADDONS_IMAGE_LOADER is none, so they were not loaded" in line for line in logged)
    assert any("kaddons only places them" in line for line in logged)
    assert [a.name for a in discover(addons).addons] == ["storage"]


def test_images_are_loaded_with_the_configured_runtime_command(tmp_path: Path, addons: Path, testdata: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The seam that stands for ``ctr -n k8s.io images import``: a recording command, never the host's runtime."""
    calls = tmp_path / "calls.txt"
    recorder = tmp_path / "recorder.py"
    recorder.write_text("import sys\nwith open(sys.argv[1], 'a') as f:\n    f.write(' '.join(sys.argv[2:]) + '\\n')\n"
                        "sys.exit(3 if sys.argv[-1].endswith('bad.tar') else 0)\n")
    monkeypatch.setenv("KADDONS_IMAGE_LOADER", f"{sys.executable} {recorder} {calls} -n k8s.io images import")
    smb = addon_artifact(testdata, "storage", "smb", images={"good.tar": b"L", "bad.tar": b"B"})
    logged: list[str] = []
    import_archive(archive(tmp_path, smb), addons, log=logged.append)
    images = addons / ".images" / "storage"
    assert sorted(calls.read_text().splitlines()) == [f"-n k8s.io images import {images / 'bad.tar'}",
                                                      f"-n k8s.io images import {images / 'good.tar'}"]
    assert any("loaded good.tar with" in line for line in logged)
    assert any("loading bad.tar with" in line and "failed (exit 3)" in line for line in logged)
    monkeypatch.setenv("KADDONS_IMAGE_LOADER", "'unterminated")
    with pytest.raises(UsageError, match="KADDONS_IMAGE_LOADER"):
        import_archive(archive(tmp_path, smb), addons)


def test_charts_layer_goes_below_manifests(tmp_path: Path, addons: Path, testdata: Path) -> None:
    dashboard = addon_artifact(testdata, "dashboard")
    assert layer_spec(LayerKind.CHARTS).media_type in [item.media_type for item in dashboard.layers]
    import_archive(archive(tmp_path, dashboard), addons)
    chart = addons / "dashboard" / "manifests" / "chart" / "headlamp-0.45.0.tgz"
    assert chart.read_bytes() == (testdata / "dashboard" / "manifests" / "chart" / "headlamp-0.45.0.tgz").read_bytes()
    assert files(addons / "dashboard") == dashboard.files
    assert not list((addons / "dashboard").rglob("*.tar.gz"))  # plugin archives are not exported (§2.4)


@pytest.fixture
def three(tmp_path: Path, testdata: Path) -> Path:
    return archive(tmp_path, addon_artifact(testdata, "metrics"), addon_artifact(testdata, "ingress", "nginx"),
                   addon_artifact(testdata, "ingress", "traefik"))


@pytest.mark.parametrize(("names", "selected"), [
    ([], ["metrics", "ingress-nginx", "ingress-traefik"]),
    (["metrics"], ["metrics"]),
    (["ingress"], ["ingress-nginx", "ingress-traefik"]),
    (["ingress traefik"], ["ingress-traefik"]),
    (["ingress", "traefik"], ["ingress-traefik"]),
    (["ingress-traefik"], ["ingress-traefik"]),
    (["Ingress-Traefik"], ["ingress-traefik"]),
    (["metrics", "ingress", "nginx"], ["ingress-nginx", "metrics"]),
    (["ingress traefik", "ingress", "metrics", "metrics"], ["ingress-nginx", "ingress-traefik", "metrics"]),
])
def test_name_selection_forms(three: Path, names: list[str], selected: list[str]) -> None:
    with ArchiveStore(three) as store:
        entries = read_entries(store, str(three), lambda _message: None)
    assert [e.export_name for e in select_entries(entries, names, "x")] == selected


def test_unknown_name_lists_what_the_archive_holds(three: Path, addons: Path) -> None:
    with pytest.raises(NotFoundError, match=r"addon 'ingress contour' not found in .*; it holds: metrics, "
                                            r"ingress nginx, ingress traefik$"):
        import_archive(three, addons, ["metrics", "ingress contour"])
    with pytest.raises(UsageError, match="empty addon name"):
        import_archive(three, addons, [" "])
    assert snapshot(addons) == {}


def test_selected_names_are_the_only_ones_imported(three: Path, addons: Path) -> None:
    result = import_archive(three, addons, ["ingress", "traefik"])
    assert [i.export_name for i in result.implementations] == ["ingress-traefik"]
    assert [a.name for a in discover(addons).addons] == ["ingress"]
    assert implementations(addons, "ingress") == ["traefik"]


# --- refusals: each leaves the catalog exactly as it was -------------------------------------------


@pytest.fixture
def catalog(testdata: Path, root: Path) -> Path:
    """An installed catalog (a copy of the real addons) to protect."""
    return writable_copy(testdata, root / "k2s" / "addons")


def refused(path: Path, catalog: Path, root: Path, error: type[KaddonsError], match: str,
            **options: object) -> KaddonsError:
    before = snapshot(root)
    with pytest.raises(error, match=match) as caught:
        import_archive(path, catalog, **options)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert snapshot(root) == before
    staging = catalog / ".kaddons" / "staging"
    assert not staging.exists() or os.listdir(staging) == []
    return caught.value


def with_layer(testdata: Path, kind: LayerKind, data: bytes, addon: str = "metrics",
               implementation: str | None = None) -> Artifact:
    artifact = addon_artifact(testdata, addon, implementation)
    spec = layer_spec(kind)
    position = next(i for i, item in enumerate(artifact.layers) if item.media_type == spec.media_type)
    artifact.layers[position] = Layer(spec.media_type, data, spec.title)
    return artifact


def member(name: str, data: bytes | None = b"x", kind: bytes = tarfile.REGTYPE,
           link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if data else 0
    return info, data


HOSTILE_LAYERS = {
    "absolute": (LayerKind.MANIFESTS, [member("/tmp/kaddons-evil-absolute")], "absolute name"),
    "dot-dot": (LayerKind.SCRIPTS, [member("./../../../../evil")], "contains '..'"),
    "symlink": (LayerKind.SCRIPTS, [member("./Enable.ps1", None, tarfile.SYMTYPE, "/etc/passwd")], "symbolic link"),
    "hardlink": (LayerKind.MANIFESTS, [member("./a"), member("./b", None, tarfile.LNKTYPE, "../../../evil")],
                 "hard link"),
    "device": (LayerKind.CONFIG, [member("./null", None, tarfile.CHRTYPE)], "a device"),
    "case": (LayerKind.SCRIPTS, [member("./Enable.ps1"), member("./ENABLE.ps1")], "collides with"),
    "images-nested": (LayerKind.IMAGES_LINUX, [member("./images/x.tar")], "not a top-level .tar"),
    "images-not-tar": (LayerKind.IMAGES_LINUX, [member("./x.txt")], "not a top-level .tar"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_LAYERS))
def test_hostile_layer_members(tmp_path: Path, testdata: Path, catalog: Path, root: Path, case: str) -> None:
    kind, members, expected = HOSTILE_LAYERS[case]
    artifact = addon_artifact(testdata, "metrics", images={"ok.tar": b"i"})
    artifact.layers = [item for item in artifact.layers if item.media_type != layer_spec(kind).media_type]
    artifact.layers.append(Layer(layer_spec(kind).media_type, raw_tar(members, gzip=layer_spec(kind).gzip)))
    error = ContentError if case.startswith("images") else UnsafeContentError
    message = str(refused(archive(tmp_path, artifact), catalog, root, error, expected))
    assert message.startswith("metrics: ") and "nothing of it installed; nothing was imported" in message
    assert not Path("/tmp/kaddons-evil-absolute").exists()


@pytest.mark.parametrize(("key", "value"), [(ANN_ADDON_NAME, "../lib"), (ANN_ADDON_NAME, "Metrics"),
                                            (ANN_IMPLEMENTATION, "..\\..\\lib"), (ANN_IMPLEMENTATION, "a/b")])
def test_invalid_names_in_annotations(tmp_path: Path, testdata: Path, catalog: Path, root: Path, key: str,
                                      value: str) -> None:
    artifact = addon_artifact(testdata, "metrics")
    artifact.manifest_annotations[key] = value
    refused(archive(tmp_path, artifact), catalog, root, UnsafeContentError, f"annotation {key}: .* is not a valid")


def test_digest_mismatch(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    scripts = artifact.layers[2].data
    tampered = scripts[:100] + bytes([scripts[100] ^ 1]) + scripts[101:]
    path = archive(tmp_path, artifact, replace_blobs={digest(scripts): tampered})
    refused(path, catalog, root, DigestMismatchError, "digest mismatch")


def test_manifest_blob_digest_mismatch(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    blob = artifact.manifest_blob()
    path = archive(tmp_path, artifact, replace_blobs={digest(blob): blob.replace(b"metrics", b"metricz")})
    refused(path, catalog, root, DigestMismatchError, "digest mismatch")


def test_layer_bigger_than_its_descriptor(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    manifests = artifact.layers[1].data
    path = archive(tmp_path, artifact, replace_blobs={digest(manifests): manifests + b"\0" * 1024})
    refused(path, catalog, root, DigestMismatchError, f"{len(manifests) + 1024} bytes, its descriptor says "
                                                      f"{len(manifests)}")


def test_decompression_bomb(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    bomb = k2s_tar({f"part{i}.yaml": bytes(1024**2) for i in range(8)})
    assert len(bomb) < 100_000
    path = archive(tmp_path, with_layer(testdata, LayerKind.MANIFESTS, bomb))
    refused(path, catalog, root, UnsafeContentError, "expands to more than 4 MiB", limits=ExtractLimits(4 * 1024**2))
    assert import_archive(path, catalog, limits=ExtractLimits(16 * 1024**2)).implementations  # a limit, not a ban


@pytest.mark.parametrize("case", ["random", "gzip", "no-oci-layout", "no-index", "layout-version", "directory",
                                  "empty-index"])
def test_not_an_oci_layout(tmp_path: Path, catalog: Path, root: Path, case: str) -> None:
    path = tmp_path / "in" / "bad.oci.tar"
    path.parent.mkdir()
    good = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": b'{"schemaVersion": 2, "manifests": []}'}
    error: type[KaddonsError] = LayoutError
    match = "not an OCI image layout archive"
    if case == "random":
        path.write_bytes(os.urandom(4096))
    elif case == "gzip":
        path.write_bytes(k2s_tar(good))
    elif case == "no-oci-layout":
        path.write_bytes(k2s_tar({"index.json": good["index.json"]}, gzip=False))
    elif case == "no-index":
        path.write_bytes(k2s_tar({"oci-layout": good["oci-layout"]}, gzip=False))
    elif case == "layout-version":
        path.write_bytes(k2s_tar(good | {"oci-layout": b'{"imageLayoutVersion": "1.1.0"}'}, gzip=False))
    elif case == "directory":
        path.mkdir()
        error, match = UsageError, "is a directory"
    else:
        path.write_bytes(k2s_tar(good, gzip=False))
        match = "no addons found"
    refused(path, catalog, root, error, match)


def test_missing_archive(tmp_path: Path, catalog: Path, root: Path) -> None:
    refused(tmp_path / "nope.oci.tar", catalog, root, NotFoundError, "does not exist")


def test_missing_implementation_annotation(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    artifact = addon_artifact(testdata, "ingress", "nginx")
    del artifact.manifest_annotations[ANN_IMPLEMENTATION]
    path = archive(tmp_path, artifact, round_trip=True)  # nothing in the index either
    refused(path, catalog, root, ContentError, f"addon 'ingress'.* has no {ANN_IMPLEMENTATION} annotation")


def test_missing_name_annotation(tmp_path: Path, testdata: Path, catalog: Path, root: Path, addons: Path) -> None:
    nameless = addon_artifact(testdata, "ingress", "nginx")
    del nameless.manifest_annotations[ANN_ADDON_NAME]
    refused(archive(tmp_path, nameless, round_trip=True, name="alone.oci.tar"), catalog, root, LayoutError,
            "no addons found")
    result = import_archive(archive(tmp_path, nameless, addon_artifact(testdata, "metrics"), round_trip=True),
                            addons)
    assert [i.export_name for i in result.implementations] == ["metrics"]
    assert len(result.warnings) == 1 and f"skipped, it has no {ANN_ADDON_NAME} annotation" in result.warnings[0]


def test_index_annotations_are_the_fallback(tmp_path: Path, testdata: Path, addons: Path) -> None:
    artifact = addon_artifact(testdata, "ingress", "nginx")
    del artifact.manifest_annotations[ANN_ADDON_NAME], artifact.manifest_annotations[ANN_IMPLEMENTATION]
    [imported] = import_archive(archive(tmp_path, artifact), addons).implementations
    assert imported.export_name == "ingress-nginx"


def test_manifest_must_match_the_annotations(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    artifact.manifest_annotations[ANN_ADDON_NAME] = artifact.index_annotations[ANN_ADDON_NAME] = "dashboard"
    artifact.manifest_annotations[ANN_IMPLEMENTATION] = "dashboard"
    refused(archive(tmp_path, artifact), catalog, root, AddonManifestError,
            "metadata.name is 'metrics' but the artifact is annotated as addon 'dashboard'")


def test_missing_config_layer(tmp_path: Path, testdata: Path, catalog: Path, root: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    del artifact.layers[0]
    refused(archive(tmp_path, artifact), catalog, root, ContentError, "no config layer with an addon.manifest.yaml")


def test_unknown_and_empty_layers_are_skipped(tmp_path: Path, testdata: Path, addons: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    artifact.layers += [Layer("application/vnd.oci.empty.v1+json", b"{}"), Layer("application/x-unknown", b"zz")]
    result = import_archive(archive(tmp_path, artifact), addons)
    assert files(addons / "metrics") == artifact.files
    assert len(result.warnings) == 1 and "unknown media type 'application/x-unknown'" in result.warnings[0]


def test_a_failing_addon_keeps_the_ones_already_imported(tmp_path: Path, testdata: Path, addons: Path) -> None:
    bad = addon_artifact(testdata, "ingress", "nginx")
    scripts = bad.layers[2].data
    path = archive(tmp_path, addon_artifact(testdata, "metrics"), bad,
                   replace_blobs={digest(scripts): scripts[:-1] + bytes([scripts[-1] ^ 1])})
    with pytest.raises(DigestMismatchError) as caught:
        import_archive(path, addons)
    assert str(caught.value).endswith("import of ingress-nginx aborted, nothing of it installed; already imported "
                                      "and kept: metrics")
    assert [a.name for a in discover(addons).addons] == ["metrics"]
    assert not (addons / "ingress").exists()


def test_file_name_need_not_end_in_oci_tar(tmp_path: Path, testdata: Path, addons: Path) -> None:
    path = archive(tmp_path, addon_artifact(testdata, "metrics"), name="metrics-export.tar")
    assert import_archive(path, addons).implementations[0].export_name == "metrics"


# --- the command ---------------------------------------------------------------------------------


def kaddons(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "KADDONS_ADDONS_DIR"}
    return subprocess.run([sys.executable, "-m", "kaddons", "import", *args], capture_output=True, text=True,
                          env=environ, timeout=120)


def test_cli_text_and_json(three: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    proc = kaddons(str(three), "metrics", "ingress nginx", "--addons-dir", str(first))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:2]] == [["Imported", "ingress-nginx", "1.0.0"],
                                                       ["Imported", "metrics", "1.0.0"]]
    assert lines[0].split()[3].startswith("sha256:")
    assert lines[2] == f"Imported 2 implementation(s) from {three} into {first}"
    assert "ingress-nginx: installed in" in proc.stderr
    proc = kaddons(str(three), "--addons-dir", str(second), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["name"], r["implementation"], r["exportName"]) for r in rows] == [
        ("metrics", None, "metrics"), ("ingress", "nginx", "ingress-nginx"), ("ingress", "traefik", "ingress-traefik")]
    assert rows[0]["directory"] == str(second / "metrics") and "Enable.ps1" in rows[0]["files"]
    listed = subprocess.run([sys.executable, "-m", "kaddons", "ls", "--addons-dir", str(second), "-o", "json"],
                            capture_output=True, text=True, timeout=60)
    assert [(r["name"], r["implementation"]) for r in json.loads(listed.stdout)] == [
        ("ingress", "nginx"), ("ingress", "traefik"), ("metrics", None)]
    assert listed.stderr == ""


def test_cli_errors_are_one_line(tmp_path: Path, testdata: Path) -> None:
    addons = tmp_path / "addons"
    addons.mkdir()
    bomb = archive(tmp_path, with_layer(testdata, LayerKind.MANIFESTS, k2s_tar({"big": bytes(3 * 1024**2)})))
    for args, code, text in [
        ((str(bomb), "--addons-dir", str(addons), "--max-expanded-size", "1MiB"), 4, "expands to more than 1 MiB"),
        ((str(bomb), "--addons-dir", str(addons), "--max-expanded-size", "lots"), 2, "'lots' is not a size"),
        ((str(bomb), "nope", "--addons-dir", str(addons)), 3, "addon 'nope' not found"),
        ((str(tmp_path / "missing.oci.tar"), "--addons-dir", str(addons)), 3, "does not exist"),
        ((str(bomb), "--addons-dir", str(tmp_path / "none")), 3, "addons directory"),
    ]:
        proc = kaddons(*args)
        assert proc.returncode == code, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and text in lines[-1] and "Traceback" not in proc.stderr
    assert snapshot(addons) == {}
