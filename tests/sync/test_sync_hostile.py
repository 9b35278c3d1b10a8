"""Hostile artifacts arriving through the registry (§8.18-8.19, §4.6): each fails that addon with a one-line
reason, writes nothing (inside or outside the catalog), and leaves the other addons synced."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import pytest

from kaddons.addons.extract import ExtractLimits
from kaddons.addons.format import ANN_ADDON_NAME, ANN_IMPLEMENTATION, LayerKind, layer_spec
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore
from kaddons.oci.copy import copy
from kaddons.oci.models import Descriptor, canonical_json
from kaddons.oci.registry import Registry
from kaddons.sync import sync_addons
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.k2s_archive import Artifact, Layer, addon_artifact, k2s_tar, raw_tar, snapshot, write_k2s_archive
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import PLAIN, Lines, config, tree


def push_artifact(tmp: Path, registry: str, repository: str, artifact: Artifact, tag: str = "v1.0.0") -> Descriptor:
    """Push ``artifact`` as it is (no validation on the way) to ``registry/repository:tag``."""
    path = write_k2s_archive(tmp / f"{uuid.uuid4().hex}.oci.tar", [artifact])
    with ArchiveStore(path) as store, Registry(registry, PLAIN) as client:
        return copy(store, store.index().manifests[0].digest, client.repository(repository), tag).root


@pytest.fixture
def prefix(registry: RunningRegistry) -> str:
    return f"hostile-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``<tmp>/root`` holding the catalog ``root/addons``: writes next to the catalog are seen too."""
    path = tmp_path / "root"
    (path / "addons").mkdir(parents=True)
    return path


def member(name: str, data: bytes | None = b"x", kind: bytes = tarfile.REGTYPE,
           link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if data else 0
    return info, data


def with_layer(artifact: Artifact, kind: LayerKind, data: bytes) -> Artifact:
    spec = layer_spec(kind)
    artifact.layers = [item for item in artifact.layers if item.media_type != spec.media_type]
    artifact.layers.append(Layer(spec.media_type, data, spec.title))
    return artifact


def hostile(testdata: Path, case: str) -> tuple[str, Artifact, str]:
    """(repository name, artifact, expected fragment of the reason)."""
    metrics = addon_artifact(testdata, "metrics")
    if case == "name with ..":
        metrics.manifest_annotations[ANN_ADDON_NAME] = "../lib"
        return "metrics", metrics, "'../lib' is not a valid addon name"
    if case == "implementation with /":
        ingress = addon_artifact(testdata, "ingress", "nginx")
        ingress.manifest_annotations[ANN_IMPLEMENTATION] = "nginx/../../x"
        return "ingress-nginx", ingress, "is not a valid implementation name"
    if case == "no name":
        del metrics.manifest_annotations[ANN_ADDON_NAME]
        return "metrics", metrics, "has no vnd.k2s.addon.name annotation"
    if case == "no layers 0-3":
        metrics.layers = [Layer("application/x-unknown", b"zz")]
        return "metrics", metrics, "no config layer with an addon.manifest.yaml"
    if case == "another addon's repository":
        return "dicom", metrics, "holds addon 'metrics' (export name metrics), not dicom"
    if case == "manifest not matching the annotations":
        metrics.manifest_annotations[ANN_ADDON_NAME] = "dicom"
        metrics.manifest_annotations[ANN_IMPLEMENTATION] = "dicom"
        return "dicom", metrics, "metadata.name is 'metrics' but the artifact is annotated as addon 'dicom'"
    members = {
        "tar member with ..": (LayerKind.SCRIPTS, [member("./../../../../evil")], "contains '..'"),
        "absolute tar member": (LayerKind.MANIFESTS, [member("/tmp/kaddons-sync-evil")], "absolute name"),
        "symlink member": (LayerKind.SCRIPTS, [member("./Enable.ps1", None, tarfile.SYMTYPE, "/etc/passwd")],
                           "symbolic link"),
        "hard link member": (LayerKind.MANIFESTS, [member("./a"), member("./b", None, tarfile.LNKTYPE, "../../x")],
                             "hard link"),
        "names colliding ignoring case": (LayerKind.SCRIPTS, [member("./Enable.ps1"), member("./ENABLE.ps1")],
                                          "collides with"),
    }
    kind, tar_members, expected = members[case]
    return "metrics", with_layer(metrics, kind, raw_tar(tar_members, gzip=layer_spec(kind).gzip)), expected


CASES = ["name with ..", "implementation with /", "no name", "no layers 0-3", "another addon's repository",
         "manifest not matching the annotations", "tar member with ..", "absolute tar member", "symlink member",
         "hard link member", "names colliding ignoring case"]


@pytest.mark.parametrize("case", CASES)
def test_hostile_artifact_fails_cleanly(testdata: Path, registry: RunningRegistry, prefix: str, root: Path,
                                        tmp_path: Path, case: str) -> None:
    repository, artifact, expected = hostile(testdata, case)
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/{repository}", artifact)
    good = addon_artifact(testdata, "storage", "smb")
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/storage-smb", good)
    catalog = root / "addons"
    before = snapshot(root)
    lines = Lines()
    report = sync_addons(config(f"oci://{registry.host}/{prefix}", catalog), log=lines.log())
    outcome = {r.repository: r for r in report.results}
    assert outcome["storage-smb"].status == "synced"
    failed = outcome[repository]
    assert failed.status == "failed" and expected in failed.reason and "\n" not in failed.reason, failed.reason
    after = snapshot(root)
    ours = ("storage", "addon-sync-digests", ".kaddons/previous")  # the good addon and kaddons' bookkeeping for it
    assert {k: v for k, v in after.items() if not any(part in k for part in ours)} == before
    assert not Path("/tmp/kaddons-sync-evil").exists() and not (root / "evil").exists()
    assert sorted(p.name for p in (catalog / ".addon-sync-digests").iterdir()) == ["storage-smb",
                                                                                   "storage-smb.kaddons.json"]
    assert f"[AddonSync][ERROR] Failed to sync '{repository}': " in lines.text


def test_an_index_where_a_manifest_is_expected(testdata: Path, registry: RunningRegistry, prefix: str,
                                               catalog: Path, tmp_path: Path) -> None:
    repository = f"{prefix}/addons/metrics"
    manifest = push_artifact(tmp_path, registry.host, repository, addon_artifact(testdata, "metrics"))
    index = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [manifest.to_json_dict()]})
    desc = Descriptor.for_bytes(index, mt.OCI_INDEX)
    with Registry(registry.host, PLAIN) as client:
        client.repository(repository).push(desc, io.BytesIO(index))
        client.repository(repository).tag(desc, "v1.0.1")
    report = sync_addons(config(f"oci://{registry.host}/{prefix}", catalog))
    [result] = report.results
    assert result.status == "failed" and "is an image index" in result.reason
    assert result.reason.endswith("push each implementation as its own manifest (kaddons push)")
    assert not (catalog / "metrics").exists()


def test_a_decompression_bomb_is_refused_within_limits(testdata: Path, registry: RunningRegistry, prefix: str,
                                                       catalog: Path, tmp_path: Path) -> None:
    bomb = k2s_tar({f"part{i}.yaml": bytes(1024**2) for i in range(8)})
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics",
                  with_layer(addon_artifact(testdata, "metrics"), LayerKind.MANIFESTS, bomb))
    cfg = config(f"oci://{registry.host}/{prefix}", catalog, limits=ExtractLimits(4 * 1024**2))
    [result] = sync_addons(cfg).results
    assert result.status == "failed" and "expands to more than 4 MiB" in result.reason
    assert not (catalog / "metrics").exists()


def test_images_and_packages_are_never_downloaded(testdata: Path, registry: RunningRegistry, prefix: str,
                                                  catalog: Path, tmp_path: Path) -> None:
    artifact = addon_artifact(testdata, "metrics", images={"big.tar": b"i" * 200_000},
                              windows_images={"win.tar": b"w" * 1000}, packages={"debianpackages/p.deb": b"d"})
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/metrics", artifact)
    skipped = {item.digest for item in artifact.layers[-3:]}
    with FaultProxy(registry.url) as proxy:
        lines = Lines()
        [result] = sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog), log=lines.log()).results
    assert result.status == "synced"
    fetched = [path for method, path, _ in proxy.requests if method == "GET" and "/blobs/" in path]
    assert len(fetched) == 3 and not any(digest in path for digest in skipped for path in fetched)
    assert "layer 4 (images-linux) SKIPPED" in lines.text and "layer 6 (packages) SKIPPED" in lines.text
    assert tree(catalog / "metrics") == artifact.files
    assert not (catalog / ".images").exists() and not (catalog / ".packages").exists()
