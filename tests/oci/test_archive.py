"""ArchiveStore and write_archive: .oci.tar files read in place and written deterministically."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from kaddons.errors import DigestMismatchError, LayoutError, NotFoundError, UsageError
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore, write_archive
from kaddons.oci.layout import LayoutStore
from kaddons.oci.store import Store, TagLister
from tests.helpers.content import Artifact, build_artifact, graph, make_artifact, read_all

SKOPEO = shutil.which("skopeo")
GNU_TAR = shutil.which("tar")


def write(path: Path, tag: str = "1.0.0", **options: object) -> Artifact:
    with ArchiveStore(path, mode="w") as store:
        return build_artifact(store, tag, **options)  # type: ignore[arg-type]


def layout_with_artifact(root: Path, tag: str = "1.0.0") -> tuple[LayoutStore, Artifact]:
    store = LayoutStore(root, create=True)
    return store, build_artifact(store, tag)


def tar_of(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tar_layout(layout: Path, path: Path, *, prefix: str = "", extra: list[tarfile.TarInfo] = ()) -> Path:
    """Tar a layout directory by hand with Python tarfile, names prefixed (e.g. ``./``)."""
    with tarfile.open(path, "w") as tar:
        for file in sorted(layout.rglob("*")):
            tar.add(file, arcname=prefix + file.relative_to(layout).as_posix(), recursive=False)
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_then_read_back(tmp_path: Path) -> None:
    art = write(tmp_path / "a.oci.tar")
    store = ArchiveStore(tmp_path / "a.oci.tar")
    assert isinstance(store, Store) and isinstance(store, TagLister)
    assert store.tags() == ["1.0.0"]
    assert store.resolve("1.0.0").digest == art.index.digest
    assert {d.digest for d in graph(store, store.resolve("1.0.0"))} == art.digests
    layout, _ = layout_with_artifact(tmp_path / "layout")
    for desc in art.blobs:
        assert store.exists(desc) and read_all(store, desc) == read_all(layout, desc)
    store.validate(deep=True)
    assert store.stat_blob(art.blobs[1].digest).size == art.blobs[1].size
    with pytest.raises(NotFoundError, match=r"a\.oci\.tar"):
        store.stat_blob("sha256:" + "0" * 64)
    assert files_in(tmp_path) == ["a.oci.tar", "layout"]


def test_archives_are_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "one.tar")
    layout, _ = layout_with_artifact(tmp_path / "layout")
    (layout.root / "unknown.txt").write_text("left out")
    write_archive(layout.root, tmp_path / "two.tar")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    with tarfile.open(tmp_path / "one.tar") as tar:
        infos = tar.getmembers()
    names = [i.name for i in infos]
    assert names[:4] == ["oci-layout", "index.json", "blobs", "blobs/sha256"]
    assert names[4:] == sorted(names[4:]) and len(names) == 4 + 9
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, 0, "", "")}
    assert {i.mode for i in infos if i.isdir()} == {0o755} and {i.mode for i in infos if i.isfile()} == {0o644}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    write(tmp_path / "three.tar")
    with tarfile.open(tmp_path / "three.tar") as tar:
        assert {i.mtime for i in tar.getmembers()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        write(tmp_path / "four.tar")
    assert not (tmp_path / "four.tar").exists()


@pytest.mark.parametrize("prefix", ["", "./"])
def test_reads_python_tarfile_archives(tmp_path: Path, prefix: str) -> None:
    layout, art = layout_with_artifact(tmp_path / "layout")
    unknown = tarfile.TarInfo(prefix + "docs/readme")
    unknown.size = 3
    link = tarfile.TarInfo(prefix + "docs/link")
    link.type, link.linkname = tarfile.SYMTYPE, "readme"
    store = ArchiveStore(tar_layout(layout.root, tmp_path / "x.tar", prefix=prefix, extra=[unknown, link]))
    assert store.resolve("1.0.0").digest == art.index.digest
    store.validate(deep=True)


@pytest.mark.skipif(GNU_TAR is None, reason="tar is not installed")
def test_reads_gnu_tar_dot_slash_archives(tmp_path: Path) -> None:
    layout, art = layout_with_artifact(tmp_path / "layout")
    subprocess.run([GNU_TAR, "-C", str(layout.root), "-cf", str(tmp_path / "gnu.tar"), "."], check=True)
    with tarfile.open(tmp_path / "gnu.tar") as tar:
        assert "./oci-layout" in tar.getnames()
    store = ArchiveStore(tmp_path / "gnu.tar")
    assert store.tags() == ["1.0.0"]
    assert read_all(store, art.manifests[0]) == read_all(layout, art.manifests[0])
    store.validate(deep=True)


def test_adding_a_tag_keeps_existing_tags(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    first = write(path, "1.0.0")
    second = write(path, "2.0.0", salt="second")
    with ArchiveStore(path, mode="w") as store:
        store.tag(store.resolve("1.0.0"), "stable")
    store = ArchiveStore(path)
    assert store.tags() == ["1.0.0", "2.0.0", "stable"]
    assert store.resolve("stable").digest == first.index.digest
    assert store.resolve("2.0.0").digest == second.index.digest
    store.validate(deep=True)
    assert files_in(tmp_path) == ["a.tar"]


def test_exception_leaves_existing_archive_untouched(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    write(path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), ArchiveStore(path, mode="w") as store:
        make_artifact(store, "2.0.0", salt="new")
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["a.tar"]
    with pytest.raises(RuntimeError), ArchiveStore(tmp_path / "new.tar", mode="w") as store:
        make_artifact(store, "x")
        raise RuntimeError("boom")
    assert files_in(tmp_path) == ["a.tar"]


def test_abort_and_closed_and_read_only(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    store = ArchiveStore(path, mode="w")
    make_artifact(store, "x")
    assert store.tags() == ["x"]  # visible while staged
    store.abort()
    store.abort()
    assert files_in(tmp_path) == []
    with pytest.raises(UsageError, match="closed"):
        store.tags()
    desc = write(path).index
    reader = ArchiveStore(path)
    with pytest.raises(UsageError, match="open for reading"):
        reader.tag(desc, "again")
    with pytest.raises(UsageError, match="open for reading"):
        reader.push(desc, io.BytesIO(b""))


def test_concurrent_fetches(tmp_path: Path) -> None:
    art = write(tmp_path / "a.tar", layer_size=300_000)
    store = ArchiveStore(tmp_path / "a.tar")
    expected = {d.digest: read_all(store, d) for d in art.blobs}
    results: list[bool] = []

    def worker() -> None:
        results.extend(read_all(store, d) == expected[d.digest] for d in reversed(art.blobs))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 * len(art.blobs) and all(results)


def test_archive_replaced_after_open_is_detected(tmp_path: Path) -> None:
    art = write(tmp_path / "a.tar")
    reader = ArchiveStore(tmp_path / "a.tar")
    write(tmp_path / "a.tar", "2.0.0", salt="other")
    with pytest.raises(LayoutError, match="changed since it was opened"):
        read_all(reader, art.manifests[0])


def test_corrupt_and_missing_blobs(tmp_path: Path) -> None:
    layout, art = layout_with_artifact(tmp_path / "layout")
    layer = art.blobs[1]
    blob = layout.root / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
    blob.write_bytes(blob.read_bytes()[::-1])
    store = ArchiveStore(tar_layout(layout.root, tmp_path / "corrupt.tar"))
    with pytest.raises(DigestMismatchError, match=r"corrupt\.tar:blobs/sha256/"):
        read_all(store, layer)
    with pytest.raises(DigestMismatchError):
        store.validate(deep=True)
    with pytest.raises(DigestMismatchError):  # copying into a corrupt archive verifies what it keeps
        ArchiveStore(tmp_path / "corrupt.tar", mode="w")
    assert files_in(tmp_path) == ["corrupt.tar", "layout"]
    blob.unlink()
    store = ArchiveStore(tar_layout(layout.root, tmp_path / "missing.tar"))
    assert not store.exists(layer)
    with pytest.raises(NotFoundError, match=r"missing\.tar"):
        store.fetch(layer)
    with pytest.raises(LayoutError, match=f"{layer.digest.removeprefix('sha256:')}.*is missing"):
        store.validate(deep=True)


def _info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


LAYOUT_HEADER = b'{"imageLayoutVersion":"1.0.0"}'
EMPTY_INDEX = b'{"schemaVersion":2,"manifests":[]}'


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([(_info("../evil"), b"x")], r"'../evil' contains '..'"),
        ([(_info("blobs/sha256/../../x"), b"x")], "contains '..'"),
        ([(_info("/etc/oci-layout"), b"x")], "absolute name"),
        ([(_info("blobs/sha256/" + "a" * 64, tarfile.SYMTYPE, "/etc/passwd"), None)], "symbolic link to '/etc/passwd'"),
        ([(_info("oci-layout", tarfile.LNKTYPE, "other"), None)], "hard link"),
        ([(_info("blobs/sha256/" + "b" * 64, tarfile.CHRTYPE), None)], "device"),
        ([(_info("index.json", tarfile.DIRTYPE), None)], "directory"),
        ([(_info("index.json"), EMPTY_INDEX)], "has no oci-layout member"),
        ([(_info("oci-layout"), LAYOUT_HEADER)], "has no index.json member"),
        ([(_info("oci-layout"), b'{"imageLayoutVersion":"0.9"}'), (_info("index.json"), EMPTY_INDEX)],
         "imageLayoutVersion is '0.9'"),
        ([(_info("oci-layout"), LAYOUT_HEADER), (_info("index.json"), b"<xml/>")], "index.json is not valid JSON"),
    ],
)
def test_bad_archives(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], message: str) -> None:
    path = tar_of(tmp_path / "bad.tar", members)
    with pytest.raises(LayoutError, match=message) as info:
        ArchiveStore(path)
    assert str(path) in str(info.value)
    before = path.read_bytes()
    with pytest.raises(LayoutError):
        ArchiveStore(path, mode="w")
    assert path.read_bytes() == before and files_in(tmp_path) == ["bad.tar"]


def test_not_a_tar_gzip_missing_or_a_directory(tmp_path: Path) -> None:
    (tmp_path / "text.tar").write_text("this is not a tar archive at all\n" * 40)
    with pytest.raises(LayoutError, match=r"text\.tar is not a tar archive"):
        ArchiveStore(tmp_path / "text.tar")
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(LayoutError, match="is not a tar archive"):
        ArchiveStore(tmp_path / "empty.tar")
    write(tmp_path / "a.tar")
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress((tmp_path / "a.tar").read_bytes()))
    with pytest.raises(LayoutError, match=r"gzip-compressed.*uncompressed"):
        ArchiveStore(tmp_path / "a.tar.gz")
    with pytest.raises(NotFoundError, match="does not exist"):
        ArchiveStore(tmp_path / "absent.tar")
    with pytest.raises(NotFoundError, match=r"directory .* does not exist"):
        ArchiveStore(tmp_path / "no" / "dir.tar", mode="w")
    with pytest.raises(UsageError, match="is a directory"):
        ArchiveStore(tmp_path, mode="w")
    with pytest.raises(UsageError, match="is a directory"):
        ArchiveStore(tmp_path)
    with pytest.raises(UsageError, match="mode"):
        ArchiveStore(tmp_path / "a.tar", mode="a")  # type: ignore[arg-type]


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo)")
def test_skopeo_reads_our_archive_and_we_read_its_archive(tmp_path: Path) -> None:
    art = write(tmp_path / "ours.tar", "1.0.0")
    subprocess.run([SKOPEO, "copy", "--quiet", "--all", f"oci-archive:{tmp_path / 'ours.tar'}:1.0.0",
                    f"oci-archive:{tmp_path / 'theirs.tar'}:1.0.0"], check=True, capture_output=True)
    theirs = ArchiveStore(tmp_path / "theirs.tar")
    top = theirs.resolve("1.0.0")  # skopeo re-serialises the index (drops artifactType): compare children
    children = [d for d in graph(theirs, top) if d.media_type == mt.OCI_MANIFEST]
    assert {d.digest for d in children} == {m.digest for m in art.manifests}
    ours = ArchiveStore(tmp_path / "ours.tar")
    for manifest in art.manifests:
        assert read_all(theirs, manifest) == read_all(ours, manifest)
    theirs.validate(deep=True)
