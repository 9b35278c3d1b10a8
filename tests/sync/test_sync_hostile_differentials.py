"""Hostile artifacts found by an independent adversarial run (issue 10 items 24-26): parser differentials,
resource bombs and format strictness. Each fails that addon (or archive) with a one-line reason and installs
nothing; the other addons are still synced."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kaddons.addons.format import ANN_IMPLEMENTATION, ANN_TITLE, LayerKind, layer_spec
from kaddons.addons.importer import import_archive
from kaddons.errors import LayoutError
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore
from kaddons.oci.models import Descriptor
from kaddons.oci.registry import Registry
from kaddons.sync import sync_addons
from tests.helpers.k2s_archive import addon_artifact, k2s_tar, raw_tar, snapshot, write_k2s_archive
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import PLAIN, Lines, config
from tests.sync.test_sync_hostile import member, push_artifact, with_layer

BOMB_YAML = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]) + "\n"


@pytest.fixture
def prefix() -> str:
    return f"differential-{uuid.uuid4().hex[:8]}"


def _sync_one(registry: RunningRegistry, prefix: str, catalog: Path, name: str) -> tuple[str, str, str]:
    lines = Lines()
    [result] = sync_addons(config(f"oci://{registry.host}/{prefix}", catalog, addons=(name,)),
                           log=lines.log()).results
    return result.status, result.reason, lines.text


CASES = {
    "a file twice in one layer": (LayerKind.SCRIPTS, [member("./Enable.ps1", b"reviewed"),
                                                      member("./Enable.ps1", b"evil")], "occurs twice"),
    "names equal after NFC normalization": (LayerKind.SCRIPTS, [member("./caf\u00e9.ps1"),
                                                                member("./cafe\u0301.ps1")],
                                            "Unicode normalization"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tar_differentials_are_refused(testdata: Path, registry: RunningRegistry, prefix: str, catalog: Path,
                                       tmp_path: Path, case: str) -> None:
    kind, members, expected = CASES[case]
    artifact = with_layer(addon_artifact(testdata, "metrics"), kind, raw_tar(members, gzip=layer_spec(kind).gzip))
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics", artifact)
    status, reason, _ = _sync_one(registry, prefix, catalog, "metrics")
    assert status == "failed" and expected in reason and "\n" not in reason, reason
    assert not (catalog / "metrics").exists()


def _republish(registry: RunningRegistry, repository: str, pushed: Descriptor, media_type: str,
               change: Callable[[dict[str, Any]], bytes]) -> None:
    """Push the manifest ``pushed`` again as ``change`` rewrites it, with ``media_type``, tagged v1.0.1."""
    with Registry(registry.host, PLAIN) as client:
        repo = client.repository(repository)
        with repo.fetch(pushed) as stream:
            raw = change(json.loads(stream.read()))
        desc = Descriptor.for_bytes(raw, media_type)
        repo.push(desc, io.BytesIO(raw))
        repo.tag(desc, "v1.0.1")


def test_a_manifest_with_a_key_twice_is_refused(testdata: Path, registry: RunningRegistry, prefix: str,
                                                catalog: Path, tmp_path: Path) -> None:
    repository = f"{prefix}/addons/metrics"
    pushed = push_artifact(tmp_path, registry.host, repository, addon_artifact(testdata, "metrics"))
    # A second "layers": one reader sees the real ones, another none.
    _republish(registry, repository, pushed, mt.OCI_MANIFEST,
               lambda manifest: (json.dumps(manifest)[:-1] + ', "layers": []}').encode())
    status, reason, _ = _sync_one(registry, prefix, catalog, "metrics")
    assert status == "failed" and "has the key 'layers' twice" in reason, reason


def test_a_docker_v2_manifest_is_not_an_addon(testdata: Path, registry: RunningRegistry, prefix: str,
                                              catalog: Path, tmp_path: Path) -> None:
    repository = f"{prefix}/addons/metrics"
    pushed = push_artifact(tmp_path, registry.host, repository, addon_artifact(testdata, "metrics"))
    _republish(registry, repository, pushed, mt.DOCKER_MANIFEST,
               lambda manifest: json.dumps({**manifest, "mediaType": mt.DOCKER_MANIFEST}).encode())
    status, reason, _ = _sync_one(registry, prefix, catalog, "metrics")
    assert status == "failed" and "requires an OCI image manifest" in reason, reason


def test_a_gzip_bomb_stops_at_its_ratio_long_before_the_size_limit(testdata: Path, registry: RunningRegistry,
                                                                   prefix: str, catalog: Path,
                                                                   tmp_path: Path) -> None:
    bomb = k2s_tar({"zeros.yaml": bytes(48 * 1024**2)})  # 48 MiB of zeros: about 50 KB compressed
    assert len(bomb) < 200_000
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics",
                  with_layer(addon_artifact(testdata, "metrics"), LayerKind.MANIFESTS, bomb))
    status, reason, _ = _sync_one(registry, prefix, catalog, "metrics")  # the default limits: 4 GiB, ratio 200
    assert status == "failed" and "expands more than 200 times its compressed size" in reason, reason
    assert not (catalog / "metrics").exists()


def test_an_alias_bomb_manifest_is_refused(testdata: Path, registry: RunningRegistry, prefix: str, catalog: Path,
                                           tmp_path: Path) -> None:
    artifact = addon_artifact(testdata, "metrics")
    config_files = {"addon.manifest.yaml": artifact.files["addon.manifest.yaml"] + b"\nx-bomb:\n" + "".join(
        "  " + line + "\n" for line in BOMB_YAML.splitlines()).encode()}
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics",
                  with_layer(artifact, LayerKind.CONFIG, k2s_tar(config_files)))
    status, reason, _ = _sync_one(registry, prefix, catalog, "metrics")
    assert status == "failed" and "YAML aliases expand it to more than" in reason, reason


def test_a_new_implementation_never_turns_a_single_addon_into_a_multi_one(testdata: Path, registry: RunningRegistry,
                                                                         prefix: str, catalog: Path,
                                                                         tmp_path: Path) -> None:
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics", addon_artifact(testdata, "metrics"))
    assert _sync_one(registry, prefix, catalog, "metrics")[0] == "synced"
    before = snapshot(catalog / "metrics")
    evil = addon_artifact(testdata, "metrics")
    evil.manifest_annotations[ANN_IMPLEMENTATION] = "evil"
    evil.manifest_annotations[ANN_TITLE] = "metrics-evil"
    manifest = evil.files["addon.manifest.yaml"].decode().replace("- name: metrics", "- name: evil", 1)
    evil = with_layer(evil, LayerKind.CONFIG, k2s_tar({"addon.manifest.yaml": manifest.encode()}))
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics-evil", evil)
    status, reason, _ = _sync_one(registry, prefix, catalog, "metrics-evil")
    assert status == "failed" and "refusing to add an implementation 'evil'" in reason, reason
    assert snapshot(catalog / "metrics") == before and not (catalog / "metrics" / "evil").exists()


def _archive_with(tmp_path: Path, testdata: Path, extra: list[tuple[str, bytes]]) -> Path:
    good = write_k2s_archive(tmp_path / "good.oci.tar", [addon_artifact(testdata, "metrics")])
    path = tmp_path / "evil.oci.tar"
    with tarfile.open(good) as src, tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as dst:
        for info in src:
            dst.addfile(info, src.extractfile(info) if info.isreg() else None)
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_with_two_index_files_is_refused(testdata: Path, catalog: Path, tmp_path: Path) -> None:
    path = _archive_with(tmp_path, testdata, [("index.json", b'{"schemaVersion": 2, "manifests": []}')])
    with pytest.raises(LayoutError, match=r"holds index\.json twice"):
        ArchiveStore(path)
    with pytest.raises(LayoutError, match="twice"):
        import_archive(path, catalog)
    assert sorted(p.name for p in catalog.iterdir() if not p.name.startswith(".")) == []


def test_an_oversized_index_is_refused_before_it_is_read(testdata: Path, tmp_path: Path) -> None:
    good = write_k2s_archive(tmp_path / "good.oci.tar", [addon_artifact(testdata, "metrics")])
    with tarfile.open(good) as src:
        index = json.loads(src.extractfile("./index.json").read())  # type: ignore[union-attr]
    index["padding"] = "x" * (5 * 1024**2)
    path = tmp_path / "big.oci.tar"
    with tarfile.open(good) as src, tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as dst:
        for info in src:
            if info.name.removeprefix("./") == "index.json":
                data = json.dumps(index).encode()
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))
            else:
                dst.addfile(info, src.extractfile(info) if info.isreg() else None)
    with pytest.raises(LayoutError, match=r"index\.json is \d+ bytes, more than the 4194304 bytes allowed"):
        ArchiveStore(path)
