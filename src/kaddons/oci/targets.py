"""Open the store a :class:`~kaddons.oci.reference.Reference` points at.

The one place that maps the three reference forms onto the three store implementations, so the
CLI, copy and (later) sync never branch on the kind of a reference themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from kaddons.oci.archive import ArchiveStore
from kaddons.oci.layout import LayoutStore
from kaddons.oci.reference import ARCHIVE, LAYOUT, REGISTRY, Reference
from kaddons.oci.registry import Registry, RegistryOptions
from kaddons.oci.store import Store

__all__ = ["open_store"]


@contextlib.contextmanager
def open_store(ref: Reference, *, write: bool = False, options: RegistryOptions | None = None) -> Iterator[Store]:
    """Yield the store of ``ref``: a registry repository, a layout directory or an archive.

    ``write=True`` prepares the store to receive content: a layout directory is created if absent,
    and an archive is staged and written atomically when the block exits without an exception
    (an exception leaves an existing archive untouched). ``options`` configure registry access.
    Raises :class:`~kaddons.errors.NotFoundError` / :class:`~kaddons.errors.LayoutError` for a
    missing or invalid layout or archive when reading.
    """
    if ref.kind == REGISTRY:
        assert ref.repository is not None
        with Registry(ref.location, options) as registry:
            yield registry.repository(ref.repository)
    elif ref.kind == LAYOUT:
        yield LayoutStore(Path(ref.location), create=write)
    elif ref.kind == ARCHIVE:
        with ArchiveStore(Path(ref.location), mode="w" if write else "r") as archive:
            yield archive
    else:  # pragma: no cover - Reference.kind is a closed set
        raise ValueError(ref.kind)
