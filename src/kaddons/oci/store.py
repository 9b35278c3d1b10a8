"""The store interface: what copy and sync need from a registry, a layout or an archive.

Small protocols composed, as oras-go v2's ``content`` package does it. Every identity is a
:class:`~kaddons.oci.models.Descriptor`; references (tags or digests) are resolved once, and
everything after uses the digest.

- :class:`ReadOnlyStore`: ``resolve`` a reference, ``fetch`` a verified stream, ``exists``.
- :class:`Store`: adds ``push`` (verified) and ``tag``.
- :class:`TagLister`: ``tags`` of the store's one repository, sorted.

Three implementations: :class:`kaddons.oci.layout.LayoutStore` (an OCI image layout directory),
:class:`kaddons.oci.archive.ArchiveStore` (an ``.oci.tar``) and
:class:`kaddons.oci.registry.Repository` (one repository of a registry).
"""

from __future__ import annotations

from typing import BinaryIO, Protocol, runtime_checkable

from kaddons.errors import ContentError
from kaddons.oci.digest import VerifyingReader
from kaddons.oci.models import MAX_MANIFEST_BYTES, Descriptor

__all__ = ["ReadOnlyStore", "Store", "TagLister", "fetch_bytes"]


@runtime_checkable
class ReadOnlyStore(Protocol):
    """Content that can be resolved and read."""

    def resolve(self, reference: str) -> Descriptor:
        """The descriptor a tag or digest names. Raises :class:`~kaddons.errors.NotFoundError`."""
        ...

    def fetch(self, desc: Descriptor) -> VerifyingReader:
        """A stream of the content ``desc`` describes, verified against its size and digest.

        The caller closes it (it is a context manager). Raises :class:`~kaddons.errors.NotFoundError`
        when the content is absent; reading raises :class:`~kaddons.errors.DigestMismatchError`.
        """
        ...

    def exists(self, desc: Descriptor) -> bool:
        """Whether the content ``desc`` describes is present."""
        ...


@runtime_checkable
class Store(ReadOnlyStore, Protocol):
    """Content that can also be written."""

    def push(self, desc: Descriptor, content: BinaryIO) -> None:
        """Store ``content``, which must match ``desc`` byte for byte.

        Nothing is visible under the digest unless size and digest verified. Manifests and indexes
        (see :attr:`Descriptor.is_manifest`) are stored as manifests, everything else as blobs.
        """
        ...

    def tag(self, desc: Descriptor, reference: str) -> None:
        """Point the tag ``reference`` at the manifest or index ``desc``, which must be present."""
        ...


@runtime_checkable
class TagLister(Protocol):
    """A store that can list its tags."""

    def tags(self) -> list[str]:
        """Every tag, sorted lexically."""
        ...


def fetch_bytes(store: ReadOnlyStore, desc: Descriptor, *, limit: int = MAX_MANIFEST_BYTES) -> bytes:
    """Fetch small content (a manifest, an index, a config) into memory, verified.

    Raises :class:`~kaddons.errors.ContentError` when ``desc.size`` exceeds ``limit`` bytes:
    blobs are streamed, never read whole.
    """
    if desc.size > limit:
        raise ContentError(f"{desc.short()}: {desc.size} bytes is more than the {limit} bytes allowed here")
    with store.fetch(desc) as stream:
        return stream.read()
