"""kaddons.oci.copy between the real registry, layout directories and archives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaddons.errors import DigestMismatchError, NotFoundError
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore
from kaddons.oci.copy import CopyOptions, copy
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import Descriptor, parse_index, parse_manifest
from kaddons.oci.registry import Registry, RegistryOptions
from kaddons.oci.store import ReadOnlyStore, fetch_bytes
from tests.helpers.content import make_artifact
from tests.helpers.registry import RunningRegistry

PLAIN = RegistryOptions(insecure=True)


def graph_digests(store: ReadOnlyStore, root: Descriptor) -> dict[str, str]:
    """Every digest reachable from ``root``, mapped to its media type, each fetched and verified."""
    found: dict[str, str] = {}

    def walk(desc: Descriptor) -> None:
        found[desc.digest] = desc.media_type
        if desc.media_type in mt.INDEX_TYPES:
            for child in parse_index(fetch_bytes(store, desc)).manifests:
                walk(child)
        elif desc.media_type in mt.MANIFEST_TYPES:
            manifest = parse_manifest(fetch_bytes(store, desc))
            for child in (manifest.config, *manifest.layers):
                walk(child)
        else:
            with store.fetch(desc) as stream:
                stream.verify_to_end()

    walk(root)
    return found


class CountingStore:
    """Wraps a real store and counts the calls copy makes on it (a spy, not a stand-in)."""

    def __init__(self, inner: LayoutStore) -> None:
        self.inner = inner
        self.fetched: list[str] = []
        self.pushed: list[str] = []

    def resolve(self, reference: str) -> Descriptor:
        return self.inner.resolve(reference)

    def exists(self, desc: Descriptor) -> bool:
        return self.inner.exists(desc)

    def fetch(self, desc: Descriptor):  # type: ignore[no-untyped-def]
        self.fetched.append(desc.digest)
        return self.inner.fetch(desc)

    def push(self, desc: Descriptor, content) -> None:  # type: ignore[no-untyped-def]
        self.pushed.append(desc.digest)
        self.inner.push(desc, content)

    def tag(self, desc: Descriptor, reference: str) -> None:
        self.inner.tag(desc, reference)


def test_round_trip_layout_registry_archive_layout_keeps_every_digest(
        tmp_path: Path, registry: RunningRegistry) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    root = make_artifact(source, "1.0.0")
    expected = graph_digests(source, root)
    assert len([t for t in expected.values() if t in mt.MANIFEST_TYPES]) == 2

    with Registry(registry.host, PLAIN) as client:
        repo = client.repository("roundtrip/artifact")
        assert copy(source, "1.0.0", repo, "1.0.0").root == root
        assert repo.resolve("1.0.0").digest == root.digest
        assert graph_digests(repo, repo.resolve("1.0.0")) == expected
        with ArchiveStore(tmp_path / "a.oci.tar", mode="w") as archive:
            copy(repo, "1.0.0", archive, "1.0.0")

    with ArchiveStore(tmp_path / "a.oci.tar") as archive:
        assert archive.resolve("1.0.0").digest == root.digest
        back = LayoutStore(tmp_path / "back", create=True)
        copy(archive, "1.0.0", back, "v1")
    assert back.tags() == ["v1"]
    assert graph_digests(back, back.resolve("v1")) == expected
    # The index keeps artifactType and annotations: it is the same bytes.
    assert fetch_bytes(back, root) == fetch_bytes(source, root)


def test_second_copy_fetches_nothing_the_target_has(tmp_path: Path) -> None:
    source = CountingStore(LayoutStore(tmp_path / "src", create=True))
    make_artifact(source.inner, "1.0.0")
    target = LayoutStore(tmp_path / "dst", create=True)
    first = copy(source, "1.0.0", target, "1.0.0")
    assert first.copied > 0
    source.fetched.clear()
    second = copy(source, "1.0.0", target, "again")
    assert source.fetched == []  # the root exists, so its whole graph is skipped
    assert second.copied == 0
    assert target.tags() == ["1.0.0", "again"]


def test_existing_blobs_are_skipped_not_refetched(tmp_path: Path) -> None:
    source = CountingStore(LayoutStore(tmp_path / "src", create=True))
    root = make_artifact(source.inner, "1.0.0")
    target = LayoutStore(tmp_path / "dst", create=True)
    index = parse_index(fetch_bytes(source.inner, root))
    first_manifest = index.manifests[0]
    copy(source.inner, first_manifest.digest, target, None)  # one manifest and its blobs are there
    have = set(graph_digests(target, first_manifest))
    copy(source, "1.0.0", target, "1.0.0")
    assert have.isdisjoint(source.fetched)
    assert set(graph_digests(target, root)) == set(graph_digests(source.inner, root))


def test_corrupt_source_blob_leaves_no_tag_in_registry(tmp_path: Path, registry: RunningRegistry) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    root = make_artifact(source, "1.0.0")
    manifest_desc = parse_index(fetch_bytes(source, root)).manifests[0]
    layer = parse_manifest(fetch_bytes(source, manifest_desc)).layers[0]
    blob = tmp_path / "src" / "blobs" / "sha256" / layer.digest.split(":")[1]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))

    with Registry(registry.host, PLAIN) as client:
        repo = client.repository("copy/corrupt")
        with pytest.raises(DigestMismatchError):
            copy(source, "1.0.0", repo, "1.0.0")
        assert not repo.exists(layer)
        with pytest.raises(NotFoundError):
            repo.resolve("1.0.0")


def test_corrupt_source_blob_leaves_layout_index_untouched(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    root = make_artifact(source, "1.0.0")
    manifest_desc = parse_index(fetch_bytes(source, root)).manifests[1]
    config = parse_manifest(fetch_bytes(source, manifest_desc)).config
    blob = tmp_path / "src" / "blobs" / "sha256" / config.digest.split(":")[1]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b" ")
    target = LayoutStore(tmp_path / "dst", create=True)
    before = (tmp_path / "dst" / "index.json").read_bytes()
    with pytest.raises(DigestMismatchError):
        copy(source, "1.0.0", target, "1.0.0")
    assert (tmp_path / "dst" / "index.json").read_bytes() == before
    assert not target.exists(config)
    assert json.loads(before)["manifests"] == []


def test_missing_source_blob_is_a_clear_not_found(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    root = make_artifact(source, "1.0.0")
    manifest_desc = parse_index(fetch_bytes(source, root)).manifests[0]
    layer = parse_manifest(fetch_bytes(source, manifest_desc)).layers[0]
    (tmp_path / "src" / "blobs" / "sha256" / layer.digest.split(":")[1]).unlink()
    target = LayoutStore(tmp_path / "dst", create=True)
    with pytest.raises(NotFoundError, match=layer.digest):
        copy(source, "1.0.0", target, "1.0.0")
    assert target.tags() == []


def test_registry_to_registry_mounts_blobs_across_repositories(tmp_path: Path, registry: RunningRegistry) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    root = make_artifact(source, "1.0.0")
    graph = graph_digests(source, root)
    blobs = [d for d, t in graph.items() if t not in mt.ALL_MANIFEST_TYPES]
    with Registry(registry.host, PLAIN) as client:
        first = client.repository("mount/source")
        copy(source, "1.0.0", first, "1.0.0")
        second = client.repository("mount/target")
        result = copy(first, "1.0.0", second, "1.0.0", CopyOptions(concurrency=2))
        assert result.mounted == len(blobs)
        manifest_bytes = sum(len(fetch_bytes(source, source.resolve(d))) for d, t in graph.items()
                             if t in mt.ALL_MANIFEST_TYPES)
        assert result.bytes_copied == manifest_bytes  # no blob byte went through kaddons
        assert second.resolve("1.0.0").digest == root.digest


def test_copy_by_digest_to_layout_records_the_root_untagged(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    root = make_artifact(source, "1.0.0")
    target = LayoutStore(tmp_path / "dst", create=True)
    copy(source, root.digest, target, None)
    assert target.tags() == []
    assert [d.digest for d in target.index().manifests] == [root.digest]
    assert target.resolve(root.digest).digest == root.digest
