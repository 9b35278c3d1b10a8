"""An ``.oci.tar`` archive as a store: an uncompressed tar of an OCI image layout (image-layout.md).

The layout sits at the archive root; member names may carry a leading ``./`` (GNU ``tar -C DIR .``).
Reading never extracts: the tar is scanned once and blobs are streamed from their offsets, each
:meth:`ArchiveStore.fetch` on a file handle of its own, so threads can fetch concurrently (the idea of
oras-go v2's ``oci.NewFromTar``). Writing stages a :class:`~kaddons.oci.layout.LayoutStore` next to
the target and tars it deterministically on :meth:`ArchiveStore.close` (:func:`write_archive`).
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Literal, Protocol

from kaddons.errors import LayoutError, NotFoundError, UsageError
from kaddons.oci._layoutcore import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_FILE,
    OCTET_STREAM,
    IndexedContent,
    atomic_file,
    blob_name,
    layout_header,
    parse_index_file,
    parse_layout_header,
)
from kaddons.oci._tarutil import Member, Section, copy_file, dir_info, file_info, scan, tar_mtime
from kaddons.oci.digest import VerifyingReader
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import MAX_MANIFEST_BYTES, Descriptor, ImageIndex

__all__ = ["ArchiveStore", "BlobSource", "BlobWriter", "write_archive", "write_blobs_archive"]

_HEX = re.compile(r"^[a-f0-9]{64}$")


class BlobWriter(Protocol):
    """Blob content that writes itself: ``size()`` bytes appended to a real file by ``write_to(out)``."""

    def size(self) -> int: ...

    def write_to(self, out: IO[bytes]) -> None: ...


BlobSource = bytes | Path | BlobWriter
"""Where a blob's bytes come from when an archive is written: in memory, a file, or a :class:`BlobWriter`."""


def _source_size(source: BlobSource) -> int:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, Path):
        return source.stat().st_size
    return source.size()


def write_blobs_archive(archive_path: Path, index_json: bytes, blobs: Mapping[str, BlobSource]) -> None:
    """Write an ``.oci.tar`` holding ``index_json`` and ``blobs`` (digest -> source), deterministically, atomically.

    Members, in this order: ``oci-layout`` (canonical), ``index.json`` (as given), ``blobs/``,
    ``blobs/sha256/`` and every ``blobs/sha256/<hex>`` sorted by name. Headers are PAX-format tar
    (plain USTAR unless a blob exceeds 8 GiB), mtime ``SOURCE_DATE_EPOCH`` or 0, owner 0:0 with empty
    names, modes 0644/0755: the same input gives a byte-identical archive. Files are copied in the
    kernel (``copy_file_range``) where possible. Written to a temporary file next to
    ``archive_path``, then renamed. Sources are not verified against their digests here: the caller
    computed them. Raises ``OSError`` when a source cannot be read or changed size.
    """
    mtime = tar_mtime()
    written = 0

    def put(data: bytes) -> None:
        nonlocal written
        out.write(data)
        written += len(data)

    def member(info: tarfile.TarInfo) -> None:
        put(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    with atomic_file(Path(archive_path)) as out:
        for name, data in ((LAYOUT_FILE, layout_header()), (INDEX_FILE, index_json)):
            member(file_info(name, len(data), mtime))
            put(data + _padding(len(data)))
        member(dir_info("blobs", mtime))
        member(dir_info(BLOBS_DIR, mtime))
        for digest in sorted(blobs, key=blob_name):
            source = blobs[digest]
            size = _source_size(source)
            member(file_info(blob_name(digest), size, mtime))
            if isinstance(source, bytes):
                out.write(source)
            elif isinstance(source, Path):
                copy_file(source, out, size)
            else:
                source.write_to(out)
            written += size
            put(_padding(size))
        end = 2 * tarfile.BLOCKSIZE
        put(b"\0" * (end + (-(written + end) % tarfile.RECORDSIZE)))


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def write_archive(layout_root: Path, archive_path: Path, *, index_json: bytes | None = None) -> None:
    """Tar the OCI layout at ``layout_root`` into ``archive_path`` with :func:`write_blobs_archive`.

    ``index.json`` is taken as is (or ``index_json`` instead, e.g. entries whose ``ref.name`` is a
    full image name, which :meth:`LayoutStore.tag` does not take), with every ``blobs/sha256/<hex>``
    file; other files are left out.
    Blobs are not re-verified here (``LayoutStore.validate(deep=True)`` does that). Raises what
    :class:`LayoutStore` raises for an invalid layout.
    """
    layout_root, archive_path = Path(layout_root), Path(archive_path)
    LayoutStore(layout_root)  # validates oci-layout and index.json
    blob_dir = layout_root / BLOBS_DIR
    blobs: dict[str, BlobSource] = {}
    if blob_dir.is_dir():
        blobs = {f"sha256:{p.name}": p for p in blob_dir.iterdir() if _HEX.match(p.name) and p.is_file()}
    index = index_json if index_json is not None else (layout_root / INDEX_FILE).read_bytes()
    write_blobs_archive(archive_path, index, blobs)


class _ArchiveReader(IndexedContent):
    """The read side: one scan of the tar, blobs fetched from their offsets."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._where = f"OCI archive {path}"
        if not path.exists():
            raise NotFoundError(f"OCI archive {path} does not exist: check the path")
        self._stat = path.stat()
        self.members = scan(path)
        parse_layout_header(self._read_small(LAYOUT_FILE), f"{path}:{LAYOUT_FILE}")
        self.index_raw = self._read_small(INDEX_FILE)
        self._index = parse_index_file(self.index_raw, f"{path}:{INDEX_FILE}")

    def _read_small(self, name: str) -> bytes:
        if name not in self.members:
            raise LayoutError(f"{self.path} has no {name} member: image-layout.md requires one at the archive root")
        if self.members[name].size > MAX_MANIFEST_BYTES:
            raise LayoutError(f"{self.path}: {name} is {self.members[name].size} bytes, more than the "
                              f"{MAX_MANIFEST_BYTES} bytes allowed for a manifest or index: refusing it")
        with self.open_member(self.members[name]) as f:
            return f.read()

    def open_member(self, member: Member) -> Section:
        """A stream of a member's bytes on a file handle of its own (the caller closes it)."""
        raw = self.path.open("rb")
        st = os.fstat(raw.fileno())
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (self._stat.st_size, self._stat.st_mtime_ns, self._stat.st_ino):
            raw.close()
            raise LayoutError(f"{self.path} changed since it was opened: open it again")
        raw.seek(member.offset)
        return Section(raw, member.size)

    def _current_index(self) -> ImageIndex:
        return self._index

    def fetch(self, desc: Descriptor) -> VerifyingReader:
        name = blob_name(desc.digest)
        member = self.members.get(name)
        if member is None:
            raise NotFoundError(f"blob {desc.digest} not found in {self._where} (no member {name})")
        return VerifyingReader(self.open_member(member), desc.digest, desc.size,  # type: ignore[arg-type]
                               what=f"{self.path}:{name}")

    def _blob_size(self, digest: str) -> int | None:
        member = self.members.get(blob_name(digest))
        return None if member is None else member.size


class ArchiveStore:
    """An ``.oci.tar`` file: a :class:`~kaddons.oci.store.Store` and ``TagLister``.

    ``mode="r"``: reads in place. Raises :class:`NotFoundError` for a missing file,
    :class:`LayoutError` for a file that is not an uncompressed tar, members that are absolute,
    contain ``..`` or are links/devices where layout files belong, and a missing or invalid
    ``oci-layout``/``index.json``. :meth:`push`/:meth:`tag` raise :class:`UsageError`.
    ``mode="w"``: stages a layout in a temporary directory next to ``path`` (copied, verified, from
    the existing archive if there is one, so its tags stay); :meth:`close` (or leaving the ``with``
    block normally) writes the archive with :func:`write_archive`; :meth:`abort` (or an exception in
    the ``with`` block) discards the staging and leaves ``path`` untouched.
    """

    def __init__(self, path: str | Path, *, mode: Literal["r", "w"] = "r") -> None:
        self.path = Path(path)
        self.mode = mode
        self._writer: LayoutStore | None = None
        if mode == "r":
            self._content: IndexedContent | None = _ArchiveReader(self.path)
        elif mode == "w":
            self._content = self._writer = self._stage()
        else:
            raise UsageError(f"ArchiveStore mode must be 'r' or 'w', not {mode!r}")

    def _stage(self) -> LayoutStore:
        parent = self.path.parent
        if not parent.is_dir():
            raise NotFoundError(f"cannot write {self.path}: directory {parent} does not exist")
        if self.path.is_dir():
            raise UsageError(f"{self.path} is a directory, not an .oci.tar file (for a directory use oci-layout:)")
        existing = _ArchiveReader(self.path) if self.path.exists() else None
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.path.name}.staging-"))
        self._discard = weakref.finalize(self, shutil.rmtree, staging, ignore_errors=True)
        try:
            if existing is None:
                return LayoutStore(staging, create=True)
            (staging / LAYOUT_FILE).write_bytes(layout_header())
            (staging / INDEX_FILE).write_bytes(existing.index_raw)
            layout = LayoutStore(staging)
            for name, member in sorted(existing.members.items()):
                folder, _, hexpart = name.rpartition("/")
                if folder == BLOBS_DIR and _HEX.match(hexpart):
                    desc = Descriptor(mediaType=OCTET_STREAM, digest=f"sha256:{hexpart}", size=member.size)
                    with existing.open_member(member) as stream:
                        layout.push(desc, stream)  # type: ignore[arg-type]
            return layout
        except BaseException:
            self._discard()
            raise

    def _open(self) -> IndexedContent:
        if self._content is None:
            raise UsageError(f"OCI archive {self.path} is closed")
        return self._content

    def _write(self) -> LayoutStore:
        self._open()
        if self._writer is None:
            raise UsageError(f"OCI archive {self.path} is open for reading: open it with mode='w' to push or tag")
        return self._writer

    @property
    def where(self) -> str:
        """The archive, as messages name it."""
        return f"OCI archive {self.path}"

    def resolve(self, reference: str) -> Descriptor:
        """As :meth:`LayoutStore.resolve`: a tag (an error when it names several manifests) or a digest in or
        below ``index.json``."""
        return self._open().resolve(reference)

    def fetch(self, desc: Descriptor) -> VerifyingReader:
        """A verified stream of the blob; :class:`NotFoundError` when absent."""
        return self._open().fetch(desc)

    def exists(self, desc: Descriptor) -> bool:
        """Whether ``blobs/sha256/<hex>`` is present with ``desc.size`` bytes."""
        return self._open().exists(desc)

    def stat_blob(self, digest: str) -> Descriptor:
        """As :meth:`LayoutStore.stat_blob`: the blob's size, media type ``application/octet-stream``."""
        return self._open().stat_blob(digest)

    def tags(self) -> list[str]:
        """Every tag (``ref.name``) in ``index.json``, sorted."""
        return self._open().tags()

    def index(self) -> ImageIndex:
        """The current ``index.json``."""
        return self._open().index()

    def validate(self, *, deep: bool = False) -> None:
        """``deep=True``: every blob reachable from ``index.json`` exists and verifies (see LayoutStore)."""
        self._open().validate(deep=deep)

    def push(self, desc: Descriptor, content: BinaryIO) -> None:
        """Mode "w" only: as :meth:`LayoutStore.push` into the staging layout."""
        self._write().push(desc, content)

    def tag(self, desc: Descriptor, reference: str) -> None:
        """Mode "w" only: as :meth:`LayoutStore.tag` in the staging layout."""
        self._write().tag(desc, reference)

    def add_to_index(self, desc: Descriptor) -> None:
        """Mode "w" only: as :meth:`LayoutStore.add_to_index`."""
        self._write().add_to_index(desc)

    def close(self) -> None:
        """Mode "w": write the archive (atomically), then drop the staging. Idempotent."""
        writer, self._content, self._writer = self._writer, None, None
        if writer is not None:
            try:
                write_archive(writer.root, self.path)
            finally:
                self._discard()

    def abort(self) -> None:
        """Mode "w": drop the staging without writing; ``path`` stays as it was. Idempotent."""
        writer, self._content, self._writer = self._writer, None, None
        if writer is not None:
            self._discard()

    def __enter__(self) -> ArchiveStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
