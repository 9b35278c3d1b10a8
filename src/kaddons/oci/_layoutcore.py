"""What an OCI image layout directory and an ``.oci.tar`` archive share (image-spec image-layout.md).

The on-disk names, parsing of ``oci-layout`` and ``index.json``, and the index bookkeeping: tags as
``org.opencontainers.image.ref.name`` annotations, resolving references, adding entries, and the walk
of everything reachable from ``index.json``. Both :class:`~kaddons.oci.layout.LayoutStore` and
:class:`~kaddons.oci.archive.ArchiveStore` build on :class:`IndexedContent`; index documents are
immutable :class:`ImageIndex` values, updated by the pure functions :func:`with_tag`/:func:`with_entry`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from kaddons.errors import (
    AmbiguousReferenceError,
    InvalidManifestError,
    LayoutError,
    NotFoundError,
    UnsupportedDigestError,
)
from kaddons.oci import mediatypes as mt
from kaddons.oci.digest import VerifyingReader, encoded, validate_digest
from kaddons.oci.layout_names import INDEX_FILE, LAYOUT_FILE, LAYOUT_VERSION
from kaddons.oci.models import MAX_MANIFEST_BYTES, Descriptor, ImageIndex, canonical_json, parse_index, successors
from kaddons.oci.store import fetch_bytes

__all__ = [
    "BLOBS_DIR",
    "INDEX_FILE",
    "LAYOUT_FILE",
    "LAYOUT_VERSION",
    "OCTET_STREAM",
    "IndexedContent",
    "atomic_file",
    "blob_name",
    "empty_index",
    "layout_header",
    "parse_index_file",
    "parse_layout_header",
    "with_entry",
    "with_tag",
    "without_ref_name",
]

OCTET_STREAM = "application/octet-stream"
#: The one blob directory kaddons reads and writes (sha256 is the only supported algorithm).
BLOBS_DIR = "blobs/sha256"
_RULE = "image-layout.md"


def blob_name(digest: str) -> str:
    """``blobs/sha256/<hex>``: where a blob lives relative to the layout root (validates the digest)."""
    return f"{BLOBS_DIR}/{encoded(digest)}"


@contextlib.contextmanager
def atomic_file(path: Path, *, tmp_dir: Path | None = None) -> Iterator[IO[bytes]]:
    """Write ``path`` atomically: yield a temporary file (in ``tmp_dir``, default ``path``'s directory,
    which must be on the same file system); on success it is fsynced, made 0644 and renamed onto
    ``path``; on any exception it is removed and ``path`` is untouched.
    """
    fd, tmp = tempfile.mkstemp(dir=tmp_dir or path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def layout_header() -> bytes:
    """The canonical ``oci-layout`` file content, ``{"imageLayoutVersion":"1.0.0"}``."""
    return canonical_json({"imageLayoutVersion": LAYOUT_VERSION})


def empty_index() -> ImageIndex:
    """An ``index.json`` without entries."""
    return ImageIndex(schemaVersion=2, mediaType=mt.OCI_INDEX, manifests=[])


def parse_layout_header(raw: bytes, where: str) -> dict[str, Any]:
    """Check an ``oci-layout`` file; ``where`` names it in messages. Raises :class:`LayoutError`."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{where} is not JSON ({exc}): {_RULE} requires {layout_header().decode()}") from None
    version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
    if version != LAYOUT_VERSION:
        raise LayoutError(
            f"{where}: imageLayoutVersion is {version!r}, {_RULE} requires {LAYOUT_VERSION!r}"
        )
    return dict(doc)


def parse_index_file(raw: bytes, where: str) -> ImageIndex:
    """Parse ``index.json``; raises :class:`LayoutError` (or :class:`UnsupportedDigestError`) naming ``where``."""
    try:
        return parse_index(raw, what=where)
    except InvalidManifestError as exc:
        raise LayoutError(f"{exc} ({_RULE}: index.json must be an image index)") from None
    except UnsupportedDigestError as exc:
        raise UnsupportedDigestError(f"{where}: {exc}") from None


def with_tag(index: ImageIndex, desc: Descriptor, tag: str) -> ImageIndex:
    """``index`` with ``tag`` pointing at ``desc`` (appended last, with ``ref.name`` = ``tag``).

    Other entries carrying that ``ref.name`` are removed, as is an untagged entry of the same digest
    (the tagged one replaces it). Every other field of ``desc`` is kept.
    """
    annotations = {**(desc.annotations or {}), mt.ANNOTATION_REF_NAME: tag}
    entry = desc.model_copy(update={"annotations": annotations})
    kept = [
        d for d in index.manifests
        if d.ref_name != tag and not (d.ref_name is None and d.digest == desc.digest)
    ]
    return index.model_copy(update={"manifests": [*kept, entry]})


def describe(desc: Descriptor) -> str | None:
    """A name for ``desc`` from its annotations, for messages: the first of :data:`~.mediatypes.NAME_ANNOTATIONS`."""
    annotations = desc.annotations or {}
    return next((annotations[key] for key in mt.NAME_ANNOTATIONS if annotations.get(key)), None)


def ambiguous_tag(where: str, tag: str, matches: list[Descriptor]) -> AmbiguousReferenceError:
    """The error for ``tag`` carried by manifests of different digests in ``where``."""
    candidates = list(dict.fromkeys((desc.digest, describe(desc)) for desc in matches))
    shown = "; ".join(f"{label} {digest}" if label else digest for digest, label in candidates[:10])
    more = f"; and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    return AmbiguousReferenceError(
        f"tag {tag!r} names {len(candidates)} different manifests in {where}: {shown}{more}; name one by digest "
        f"instead of the tag (…@sha256:<hex>)", candidates)


def without_ref_name(desc: Descriptor) -> Descriptor:
    """``desc`` without the ``ref.name`` annotation (``annotations`` ``None`` when nothing is left)."""
    if desc.ref_name is None:
        return desc
    annotations = {k: v for k, v in (desc.annotations or {}).items() if k != mt.ANNOTATION_REF_NAME}
    return desc.model_copy(update={"annotations": annotations or None})


def with_entry(index: ImageIndex, desc: Descriptor) -> ImageIndex | None:
    """``index`` plus an untagged entry for ``desc``; ``None`` when an entry of that digest exists."""
    if any(d.digest == desc.digest for d in index.manifests):
        return None
    return index.model_copy(update={"manifests": [*index.manifests, without_ref_name(desc)]})


class IndexedContent:
    """Resolve, tags and validation over an ``index.json`` plus blobs; subclasses give fetch/exists.

    ``_where`` names the layout or archive in messages; :meth:`_current_index` returns ``index.json``.
    """

    _where: str

    @property
    def where(self) -> str:
        """The layout or archive, as messages name it."""
        return self._where

    def fetch(self, desc: Descriptor) -> VerifyingReader:
        raise NotImplementedError

    def _blob_size(self, digest: str) -> int | None:
        """The size in bytes of blob ``digest`` if it is present as a regular file, else ``None``."""
        raise NotImplementedError

    def exists(self, desc: Descriptor) -> bool:
        """Whether ``blobs/sha256/<hex>`` is present with ``desc.size`` bytes (the digest is checked on fetch)."""
        return self._blob_size(desc.digest) == desc.size

    def stat_blob(self, digest: str) -> Descriptor:
        """A descriptor for the blob file ``digest`` names, whether or not ``index.json`` reaches it:
        media type ``application/octet-stream``, the file's size. Raises :class:`NotFoundError`
        when absent, :class:`UnsupportedDigestError` for a malformed digest.
        """
        size = self._blob_size(validate_digest(digest))
        if size is None:
            raise NotFoundError(f"blob {digest} not found in {self._where} ({blob_name(digest)})")
        return Descriptor(mediaType=OCTET_STREAM, digest=digest, size=size)

    def _current_index(self) -> ImageIndex:
        raise NotImplementedError

    def index(self) -> ImageIndex:
        """The current ``index.json`` as an :class:`ImageIndex` (unknown fields kept)."""
        return self._current_index()

    def tags(self) -> list[str]:
        """Every ``ref.name`` annotation of ``index.json``, sorted, without duplicates."""
        return sorted({d.ref_name for d in self._current_index().manifests if d.ref_name is not None})

    def resolve(self, reference: str) -> Descriptor:
        """The descriptor a tag or a digest names (image-layout.md §index.json).

        A tag is looked up in the ``ref.name`` annotations of ``index.json``; when entries of different
        digests carry it (a K2s multi-addon export tags every addon ``v1.0.0``), the tag names nothing
        for sure and :class:`~kaddons.errors.AmbiguousReferenceError` lists the candidates. The entry
        is returned as it was tagged: every field as stored except
        the ``ref.name`` annotation, which belongs to ``index.json`` only (as oras-go v2 does).
        A digest (anything with a ``:``) is looked up among the ``index.json`` entries, then among the
        descriptors reachable from them (children of indexes and manifests, breadth first); a blob
        present on disk but unreachable is not found. Raises :class:`NotFoundError` listing the tags,
        :class:`UnsupportedDigestError` for a malformed digest.
        """
        index = self._current_index()
        if ":" in reference:
            validate_digest(reference)
            for desc, _parent in self._walk(index, skip_missing=True):
                if desc.digest == reference:
                    return without_ref_name(desc)
            raise NotFoundError(f"{reference} not found in {self._where}: not in index.json nor reachable from it")
        matches = [desc for desc in index.manifests if desc.ref_name == reference]
        digests = list(dict.fromkeys(desc.digest for desc in matches))
        if len(digests) > 1:
            raise ambiguous_tag(self._where, reference, matches)
        if matches:
            return without_ref_name(matches[-1])
        tags = ", ".join(self.tags()) or "(none)"
        raise NotFoundError(f"tag {reference!r} not found in {self._where}; tags: {tags}")

    def _walk(self, index: ImageIndex, *, skip_missing: bool) -> Iterator[tuple[Descriptor, str]]:
        """Every descriptor reachable from ``index.json``, once per digest, with what references it.

        Manifests and indexes are fetched (verified) to find their children. A missing one is
        skipped when ``skip_missing``, else raises :class:`LayoutError` naming the blob and its parent.
        """
        queue = [(d, f"{self._where}/index.json") for d in index.manifests]
        seen: set[str] = set()
        while queue:
            desc, parent = queue.pop(0)
            if desc.digest in seen:
                continue
            seen.add(desc.digest)
            yield desc, parent
            if not (desc.is_manifest and desc.size <= MAX_MANIFEST_BYTES):
                continue
            if not self.exists(desc):
                if skip_missing:
                    continue
                raise LayoutError(self._missing(desc, parent))
            raw = fetch_bytes(self, desc)
            queue.extend((child, f"{desc.media_type} {desc.digest}") for child in successors(desc, raw))

    def _missing(self, desc: Descriptor, parent: str) -> str:
        return f"{self._where}: blob {blob_name(desc.digest)} ({desc.media_type}, {desc.size} bytes) " \
               f"referenced by {parent} is missing or has the wrong size"

    def validate(self, *, deep: bool = False) -> None:
        """``deep=True``: every blob reachable from ``index.json`` exists (else :class:`LayoutError`
        naming it and its parent) and verifies (else :class:`~kaddons.errors.DigestMismatchError`).
        """
        if deep:
            self._validate_graph()

    def _validate_graph(self) -> None:
        """Every blob reachable from ``index.json`` exists and verifies (digest and size)."""
        for desc, parent in self._walk(self._current_index(), skip_missing=False):
            if not self.exists(desc):
                raise LayoutError(self._missing(desc, parent))
            with self.fetch(desc) as stream:
                stream.verify_to_end()
