"""An OCI image layout directory as a store (image-spec v1.1 image-layout.md).

::

    ROOT/oci-layout            {"imageLayoutVersion":"1.0.0"}
    ROOT/index.json            an image index; tags are org.opencontainers.image.ref.name annotations
    ROOT/blobs/sha256/<hex>    content, named by digest
    ROOT/.ingest/              kaddons' temporary files while a push is verified (unknown files are allowed)

Blobs are written as oras-go v2 ``content/oci`` does: streamed into a temporary file inside the
layout, verified (size and sha256), then renamed into place, so nothing unverified is ever visible
under a digest. ``index.json`` is rewritten atomically (temporary file, then ``os.replace``) under a
lock, as canonical JSON. Several threads may push and tag concurrently; several *processes* writing
one layout are not coordinated.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from kaddons.errors import LayoutError, NotFoundError, UsageError
from kaddons.oci._layoutcore import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_FILE,
    IndexedContent,
    atomic_file,
    blob_name,
    empty_index,
    layout_header,
    parse_index_file,
    parse_layout_header,
    with_entry,
    with_tag,
)
from kaddons.oci.digest import VerifyingReader, verifying
from kaddons.oci.models import MAX_MANIFEST_BYTES, Descriptor, ImageIndex, canonical_json
from kaddons.oci.reference import validate_tag

__all__ = ["LayoutStore"]

_INGEST = ".ingest"
_CHUNK = 1 << 20


class LayoutStore(IndexedContent):
    """An OCI image layout directory: a :class:`~kaddons.oci.store.Store` and a ``TagLister``.

    ``create=False``: ``root`` must already be a valid layout. Raises :class:`NotFoundError` when it
    does not exist, :class:`UsageError` when it is not a directory, :class:`LayoutError` when
    ``oci-layout`` is missing or not version 1.0.0, or ``index.json`` is missing or not an image index.
    ``create=True``: a missing or empty directory becomes an empty layout; an existing layout is
    opened as is; a non-empty directory that is not a layout raises :class:`LayoutError`.
    """

    def __init__(self, root: str | Path, *, create: bool = False) -> None:
        self.root = Path(root)
        self._where = f"OCI layout {self.root}"
        self._lock = threading.Lock()
        if create:
            self._create()
        self._index = self._load()

    def _create(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} is not a directory: an OCI layout is a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if (self.root / LAYOUT_FILE).exists():
                return
            if any(self.root.iterdir()):
                raise LayoutError(
                    f"{self.root} is not empty and has no {LAYOUT_FILE} file: refusing to turn it into an OCI layout"
                )
            (self.root / BLOBS_DIR).mkdir(parents=True)
            self._write(INDEX_FILE, canonical_json(empty_index()))
            self._write(LAYOUT_FILE, layout_header())
        except PermissionError as exc:
            raise UsageError(f"cannot create OCI layout {self.root}: {exc.strerror} ({exc.filename})") from None

    def _write(self, name: str, data: bytes) -> None:
        with atomic_file(self.root / name) as out:
            out.write(data)

    def _load(self) -> ImageIndex:
        if not self.root.exists():
            raise NotFoundError(f"OCI layout {self.root} does not exist: check the path (or create a layout there)")
        if not self.root.is_dir():
            raise UsageError(f"{self.root} is not a directory: an OCI layout is a directory (a tar: oci-archive:)")
        parse_layout_header(self._read_file(LAYOUT_FILE), str(self.root / LAYOUT_FILE))
        return parse_index_file(self._read_file(INDEX_FILE), str(self.root / INDEX_FILE))

    def _read_file(self, name: str) -> bytes:
        try:
            with open(self.root / name, "rb") as handle:
                data = handle.read(MAX_MANIFEST_BYTES + 1)
            if len(data) > MAX_MANIFEST_BYTES:
                raise LayoutError(f"{self.root}: {name} is larger than the {MAX_MANIFEST_BYTES} bytes allowed for a "
                                  "manifest or index: refusing it")
            return data
        except FileNotFoundError:
            raise LayoutError(f"{self.root}: missing {name} file, required by image-layout.md") from None
        except OSError as exc:
            raise LayoutError(f"{self.root}: cannot read {name}: {exc.strerror}") from None

    def _current_index(self) -> ImageIndex:
        with self._lock:
            return self._index

    def _blob_path(self, desc: Descriptor) -> Path:
        return self.root / blob_name(desc.digest)

    def fetch(self, desc: Descriptor) -> VerifyingReader:
        """A verified stream of the blob ``desc`` names (``blobs/sha256/<hex>``); the caller closes it.

        Raises :class:`NotFoundError` when the blob file is absent; reading raises
        :class:`~kaddons.errors.DigestMismatchError` naming the file when size or digest differ.
        """
        path = self._blob_path(desc)
        try:
            raw = path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {desc.digest} not found in {self._where} ({blob_name(desc.digest)})") from None
        except OSError as exc:
            raise LayoutError(f"{path}: cannot read blob: {exc.strerror}") from None
        return VerifyingReader(raw, desc.digest, desc.size, what=str(path))

    def _blob_size(self, digest: str) -> int | None:
        try:
            st = (self.root / blob_name(digest)).stat()
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def push(self, desc: Descriptor, content: BinaryIO) -> None:
        """Store ``content`` (exactly ``desc.size`` bytes of digest ``desc.digest``) as a blob.

        Streamed into ``.ingest/`` in chunks of 1 MiB, verified, fsynced and renamed into
        ``blobs/sha256/<hex>``. A blob already present is not read again. ``content`` is not closed.
        Raises :class:`~kaddons.errors.DigestMismatchError` (nothing is left behind) on a mismatch.
        Thread-safe: concurrent pushes of the same or different blobs are fine.
        """
        if self.exists(desc):
            return
        target = self._blob_path(desc)
        ingest = self.root / _INGEST
        ingest.mkdir(exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        reader = verifying(content, desc.digest, desc.size, what=f"{desc.short()} pushed to {self._where}")
        with atomic_file(target, tmp_dir=ingest) as out:
            while chunk := reader.read(_CHUNK):
                out.write(chunk)

    def tag(self, desc: Descriptor, reference: str) -> None:
        """Point tag ``reference`` at ``desc`` in ``index.json`` (moving it if it pointed elsewhere).

        Raises :class:`~kaddons.errors.InvalidReferenceError` for a tag that does not parse and
        :class:`NotFoundError` when ``desc``'s blob is absent. Atomic and thread-safe.
        """
        validate_tag(reference)
        self._require(desc)
        self._update(lambda index: with_tag(index, desc, reference))

    def add_to_index(self, desc: Descriptor) -> None:
        """Add ``desc`` to ``index.json`` untagged (digest-only copies); no-op when its digest is listed.

        Raises :class:`NotFoundError` when ``desc``'s blob is absent.
        """
        self._require(desc)
        self._update(lambda index: with_entry(index, desc))

    def _require(self, desc: Descriptor) -> None:
        if not self.exists(desc):
            raise NotFoundError(f"cannot add {desc.short()} to {self._where}: its blob is not in the layout")

    def _update(self, change: Callable[[ImageIndex], ImageIndex | None]) -> None:
        with self._lock:
            new = change(self._index)
            if new is not None:
                self._write(INDEX_FILE, canonical_json(new))
                self._index = new

    def validate(self, *, deep: bool = False) -> None:
        """Re-read and check ``oci-layout`` and ``index.json`` (image-layout.md).

        ``deep=True`` also checks that every blob reachable from ``index.json`` exists
        (:class:`LayoutError` naming the blob and what references it) and verifies
        (:class:`~kaddons.errors.DigestMismatchError` naming the file).
        """
        index = self._load()
        with self._lock:
            self._index = index
        if deep:
            self._validate_graph()
