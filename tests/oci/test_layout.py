"""LayoutStore: an OCI image layout directory on real files (image-spec image-layout.md)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from kaddons.addons.format import ANN_EXPORT_NAME
from kaddons.errors import (
    AmbiguousReferenceError,
    DigestMismatchError,
    InvalidReferenceError,
    LayoutError,
    NotFoundError,
    UnsupportedDigestError,
    UsageError,
)
from kaddons.oci import mediatypes as mt
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import Descriptor
from kaddons.oci.store import Store, TagLister
from tests.helpers.content import build_artifact, graph, index_json, make_artifact, push_bytes, read_all

SKOPEO = shutil.which("skopeo")


@pytest.fixture
def layout(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "layout", create=True)


def blob_file(store: LayoutStore, desc: Descriptor) -> Path:
    return store.root / "blobs" / "sha256" / desc.digest.removeprefix("sha256:")


def test_create_writes_an_empty_spec_layout(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "new" / "layout", create=True)
    assert isinstance(store, Store) and isinstance(store, TagLister)
    assert json.loads((store.root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert index_json(store.root) == {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    assert (store.root / "blobs" / "sha256").is_dir()
    assert store.tags() == []


def test_push_tag_reopen_resolve_fetch(layout: LayoutStore) -> None:
    art = build_artifact(layout, "1.0.0")
    reopened = LayoutStore(layout.root)
    resolved = reopened.resolve("1.0.0")
    assert resolved == art.index  # every field as tagged; ref.name stays in index.json
    assert resolved.artifact_type == art.index.artifact_type == "application/vnd.k2s.addon.v1"
    entry = reopened.index().manifests[0]
    assert entry.annotations == {**(art.index.annotations or {}), mt.ANNOTATION_REF_NAME: "1.0.0"}
    for desc in art.blobs:
        assert reopened.exists(desc)
        assert read_all(reopened, desc) == read_all(layout, desc)
    assert {d.digest for d in graph(reopened, resolved)} == art.digests
    reopened.validate(deep=True)


def test_tags_sorted_and_retag_moves_the_tag(layout: LayoutStore) -> None:
    first = make_artifact(layout, "b", salt="1")
    second = make_artifact(layout, "a", salt="2")
    layout.tag(first, "c")
    assert layout.tags() == ["a", "b", "c"]
    layout.tag(second, "b")
    reopened = LayoutStore(layout.root)
    assert reopened.resolve("b").digest == second.digest
    assert reopened.resolve("c").digest == first.digest
    assert [d["annotations"][mt.ANNOTATION_REF_NAME] for d in index_json(layout.root)["manifests"]] == ["a", "c", "b"]


def test_index_json_is_canonical_and_keeps_unknown_fields(layout: LayoutStore) -> None:
    doc = index_json(layout.root) | {"annotations": {"x": "y"}, "vendor.extra": [1]}
    (layout.root / "index.json").write_text(json.dumps(doc, indent=2))
    store = LayoutStore(layout.root)
    make_artifact(store, "1")
    raw = (layout.root / "index.json").read_bytes()
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    assert json.loads(raw)["vendor.extra"] == [1] and json.loads(raw)["annotations"] == {"x": "y"}


def test_resolve_digests_in_index_and_below(layout: LayoutStore) -> None:
    art = build_artifact(layout, "1")
    assert layout.resolve(art.index.digest) == art.index
    child = layout.resolve(art.manifests[1].digest)
    assert child == art.manifests[1]  # the descriptor as the index lists it: platform, artifactType
    layer = art.blobs[1]
    assert layout.resolve(layer.digest) == layer
    stray = push_bytes(layout, b"unreferenced", "application/octet-stream")
    with pytest.raises(NotFoundError, match=r"not in index\.json nor reachable"):
        layout.resolve(stray.digest)
    with pytest.raises(UnsupportedDigestError):
        layout.resolve("sha256:abc")


def test_stat_blob_describes_any_blob_file(layout: LayoutStore) -> None:
    stray = push_bytes(layout, b"unreferenced", "application/x-whatever")
    found = layout.stat_blob(stray.digest)
    assert (found.digest, found.size, found.media_type) == (stray.digest, 12, "application/octet-stream")
    assert read_all(layout, found) == b"unreferenced"
    with pytest.raises(NotFoundError, match=r"blob sha256:0+ not found"):
        layout.stat_blob("sha256:" + "0" * 64)
    with pytest.raises(UnsupportedDigestError):
        layout.stat_blob("md5:abc")


def test_resolve_unknown_tag_lists_tags(layout: LayoutStore) -> None:
    make_artifact(layout, "v1")
    make_artifact(layout, "v2", salt="x")
    with pytest.raises(NotFoundError, match=r"'v3' not found .* tags: v1, v2"):
        layout.resolve("v3")


def test_a_tag_on_several_manifests_is_ambiguous(layout: LayoutStore) -> None:
    """What every K2s multi-addon export holds: each addon's manifest tagged v1.0.0 in one index.json."""
    one, two = make_artifact(layout, salt="1"), make_artifact(layout, salt="2")
    names = {one.digest: "metrics", two.digest: "dicom"}
    entries = [d.model_copy(update={"annotations": {mt.ANNOTATION_REF_NAME: "v1.0.0",
                                                    "vnd.k2s.addon.export-name": names[d.digest]}}).to_json_dict()
               for d in (one, two)]
    (layout.root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [*entries, entries[0]]}))
    store = LayoutStore(layout.root)
    with pytest.raises(AmbiguousReferenceError) as caught:
        store.resolve("v1.0.0")
    message = str(caught.value)
    assert f"tag 'v1.0.0' names 2 different manifests in OCI layout {layout.root}" in message
    assert f"metrics {one.digest}; dicom {two.digest}" in message and "@sha256:" in message
    assert caught.value.candidates == [(one.digest, "metrics"), (two.digest, "dicom")]
    assert store.resolve(two.digest).digest == two.digest  # the way out
    assert store.tags() == ["v1.0.0"]
    same = [entries[0], entries[0]]  # the same manifest listed twice is no ambiguity
    (layout.root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": same}))
    assert LayoutStore(layout.root).resolve("v1.0.0").digest == one.digest


def test_the_oci_layer_names_candidates_with_the_addon_format_export_name_key() -> None:
    assert ANN_EXPORT_NAME in mt.NAME_ANNOTATIONS


def test_add_to_index_is_untagged_and_idempotent(layout: LayoutStore) -> None:
    desc = make_artifact(layout)
    layout.add_to_index(desc)
    layout.add_to_index(desc)
    entries = index_json(layout.root)["manifests"]
    assert [e["digest"] for e in entries] == [desc.digest]
    assert mt.ANNOTATION_REF_NAME not in entries[0].get("annotations", {})
    assert layout.tags() == []
    layout.tag(desc, "t")  # the tagged entry replaces the untagged one
    assert [e["digest"] for e in index_json(layout.root)["manifests"]] == [desc.digest]


def test_unknown_files_and_media_types_are_allowed(layout: LayoutStore) -> None:
    (layout.root / "README").write_text("hello")
    (layout.root / "blobs" / "sha512").mkdir()
    odd = push_bytes(layout, b"odd", "application/x-unknown+json", artifactType="x/y")
    layout.tag(odd, "odd")
    store = LayoutStore(layout.root)
    assert store.resolve("odd").media_type == "application/x-unknown+json"
    store.validate(deep=True)


def test_create_opens_existing_layout_and_refuses_foreign_dir(layout: LayoutStore, tmp_path: Path) -> None:
    desc = make_artifact(layout, "keep")
    assert LayoutStore(layout.root, create=True).resolve("keep").digest == desc.digest
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(LayoutError, match="not empty and has no oci-layout"):
        LayoutStore(foreign, create=True)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_missing_or_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        LayoutStore(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        LayoutStore(tmp_path / "file")


@pytest.mark.parametrize(
    ("file", "content", "error", "message"),
    [
        ("oci-layout", None, LayoutError, "missing oci-layout"),
        ("oci-layout", b'{"imageLayoutVersion":"2.0.0"}', LayoutError, "imageLayoutVersion is '2.0.0'.*'1.0.0'"),
        ("oci-layout", b"not json", LayoutError, "oci-layout is not JSON"),
        ("index.json", None, LayoutError, "missing index.json"),
        ("index.json", b"{nope", LayoutError, "index.json is not valid JSON"),
        ("index.json", b'{"manifests":[]}', LayoutError, "index.json is not a valid image index: schemaVersion"),
        ("index.json", b"[]", LayoutError, "index.json is not a JSON object"),
        ("index.json", json.dumps({"schemaVersion": 2, "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": "sha512:" + "a" * 128, "size": 1}]}).encode(),
         UnsupportedDigestError, "index.json: unsupported digest algorithm 'sha512'"),
    ],
)
def test_invalid_layouts(layout: LayoutStore, file: str, content: bytes | None, error: type[Exception],
                         message: str) -> None:
    path = layout.root / file
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    with pytest.raises(error, match=message) as info:
        LayoutStore(layout.root)
    assert str(layout.root) in str(info.value)
    with pytest.raises(error):
        LayoutStore(layout.root, create=True)


def test_corrupt_blob_fails_fetch_and_deep_validation(layout: LayoutStore) -> None:
    art = build_artifact(layout, "1")
    layer = art.blobs[1]
    data = bytearray(blob_file(layout, layer).read_bytes())
    data[0] ^= 0xFF
    blob_file(layout, layer).write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match=layer.digest.removeprefix("sha256:")):
        read_all(layout, layer)
    layout.validate()  # shallow validation does not read blobs
    with pytest.raises(DigestMismatchError, match="digest mismatch"):
        layout.validate(deep=True)


def test_missing_blob(layout: LayoutStore) -> None:
    art = build_artifact(layout, "1")
    layer = art.blobs[4]
    blob_file(layout, layer).unlink()
    assert not layout.exists(layer)
    with pytest.raises(NotFoundError, match=f"{layer.digest} not found in OCI layout"):
        layout.fetch(layer)
    with pytest.raises(LayoutError, match=f"{layer.digest.removeprefix('sha256:')}.*referenced by .*manifest"):
        layout.validate(deep=True)


@pytest.mark.parametrize("content", [b"wrong bytes!", b"short", b"longer than twelve bytes"])
def test_push_mismatch_leaves_nothing_behind(layout: LayoutStore, content: bytes) -> None:
    desc = Descriptor.for_bytes(b"right bytes!", mt.OCI_MANIFEST)
    index_before = (layout.root / "index.json").read_bytes()
    with pytest.raises(DigestMismatchError):
        layout.push(desc, io.BytesIO(content))
    assert not blob_file(layout, desc).exists()
    assert list((layout.root / "blobs" / "sha256").iterdir()) == []
    assert list((layout.root / ".ingest").iterdir()) == []
    assert (layout.root / "index.json").read_bytes() == index_before
    with pytest.raises(NotFoundError):
        layout.tag(desc, "nope")
    assert (layout.root / "index.json").read_bytes() == index_before


def test_push_existing_blob_is_skipped_and_content_not_closed(layout: LayoutStore) -> None:
    desc = push_bytes(layout, b"data", "application/octet-stream")
    stream = io.BytesIO(b"data")
    layout.push(desc, stream)
    assert stream.tell() == 0 and not stream.closed
    empty = push_bytes(layout, b"", "application/octet-stream")
    assert blob_file(layout, empty).read_bytes() == b""


def test_tag_that_does_not_parse(layout: LayoutStore) -> None:
    desc = make_artifact(layout)
    before = (layout.root / "index.json").read_bytes()
    for bad in ("-lead", "has space", "x" * 129, "a:b", ""):
        with pytest.raises(InvalidReferenceError):
            layout.tag(desc, bad)
    assert (layout.root / "index.json").read_bytes() == before


def test_concurrent_pushes_and_tags(layout: LayoutStore) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            push_bytes(layout, b"shared by every thread", "application/octet-stream")
            make_artifact(layout, f"t{i}", salt=str(i), layer_size=200_000)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = LayoutStore(layout.root)
    assert store.tags() == [f"t{i}" for i in range(8)]
    assert len(index_json(layout.root)["manifests"]) == 8
    store.validate(deep=True)
    assert list((layout.root / ".ingest").iterdir()) == []


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo)")
def test_skopeo_copies_our_layout_and_we_read_its_layout(layout: LayoutStore, tmp_path: Path) -> None:
    art = build_artifact(layout, "1.0.0")
    other = tmp_path / "other"
    subprocess.run([SKOPEO, "copy", "--quiet", "--all", f"oci:{layout.root}:1.0.0", f"oci:{other}:1.0.0"],
                   check=True, capture_output=True)
    theirs = LayoutStore(other)
    top = theirs.resolve("1.0.0")  # skopeo rewrites the index (drops artifactType): compare the children
    children = graph(theirs, top)
    assert {d.digest for d in children if d.media_type == mt.OCI_MANIFEST} == {m.digest for m in art.manifests}
    for manifest in art.manifests:
        assert read_all(theirs, manifest) == read_all(layout, manifest)
    theirs.validate(deep=True)
