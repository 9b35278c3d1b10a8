"""The addons an OCI store holds: manifests read as addon implementations (spec §2.11-2.12, §3.3, §4.6, §7.5).

The one place that reads the addon annotations, used by import, publish and sync alike:

* name, implementation and version are taken **key by key**, the manifest blob's annotation over the
  index entry's (only the manifest's survive a registry round trip, §2.16; an index entry may add
  what the manifest lacks, §7.5 item 1);
* the name (``vnd.k2s.addon.name``) is what makes a manifest an addon: without it the entry is
  skipped with a warning (§4.6, §7.5 item 2);
* the implementation annotation is REQUIRED ([COMPAT] §2.11): without it nobody can tell where the
  content goes, so the entry is refused;
* both names must pass the name rule (:mod:`.names`) before anyone builds a path from them (§8.18);
* the version defaults to ``1.0.0`` (§2.13); the tag is the entry's ``ref.name``, else
  ``v<version>`` when a version is annotated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kaddons.errors import ContentError, InvalidManifestError, LayoutError, UnsafeContentError
from kaddons.oci import mediatypes as mt
from kaddons.oci.models import Descriptor, ImageIndex, ImageManifest, parse_manifest
from kaddons.oci.store import ReadOnlyStore, fetch_bytes

from . import format as fmt
from .catalog import DEFAULT_VERSION
from .names import check_name, export_name, is_single_implementation

__all__ = ["AddonEntry", "IndexedStore", "addon_entries", "read_entries", "read_entry"]

Warn = Callable[[str], None]


class IndexedStore(ReadOnlyStore, Protocol):
    """A store with an ``index.json``: an OCI layout directory or an ``.oci.tar``."""

    def index(self) -> ImageIndex:
        """The current ``index.json``."""
        ...


@dataclass(frozen=True)
class AddonEntry:
    """One addon implementation of a store: its manifest ``descriptor`` and parsed ``manifest``,
    ``addon`` and ``implementation`` (validated names), ``version`` (``1.0.0`` when not annotated)
    and ``tag`` (the entry's ``ref.name``, else ``v<version>`` when a version is annotated, else ``None``)."""

    descriptor: Descriptor
    manifest: ImageManifest
    addon: str
    implementation: str
    version: str
    tag: str | None

    @property
    def export_name(self) -> str:
        """``metrics``, ``ingress-nginx`` (§0): also the repository name under ``addons/``."""
        return export_name(self.addon, self.implementation)

    @property
    def cli_name(self) -> str:
        """``metrics``, ``ingress nginx``: how a user names it."""
        single = is_single_implementation(self.addon, self.implementation)
        return self.addon if single else f"{self.addon} {self.implementation}"


def _annotation(key: str, *sources: dict[str, str] | None) -> str | None:
    for source in sources:
        value = (source or {}).get(key, "").strip()
        if value:
            return value
    return None


def _checked(name: str, key: str, what: str) -> str:
    problem = check_name(name, "addon name" if key == fmt.ANN_ADDON_NAME else "implementation name")
    if problem:
        raise UnsafeContentError(f"{what}: annotation {key}: {problem}: refusing the artifact")
    return name


def read_entry(store: ReadOnlyStore, desc: Descriptor, *, where: str) -> AddonEntry | None:
    """Fetch (verified) the manifest ``desc`` names and read it as an addon; ``None`` when no name is annotated.

    ``where`` names the store in messages. Raises :class:`~kaddons.errors.InvalidManifestError` when
    ``desc`` is not an image manifest (an index where a manifest is expected) or its blob does not parse,
    :class:`~kaddons.errors.UnsafeContentError` when a name breaks the name rule,
    :class:`~kaddons.errors.ContentError` when the implementation annotation is missing, and what
    fetching raises (:class:`~kaddons.errors.NotFoundError`, :class:`~kaddons.errors.DigestMismatchError`).
    """
    what = f"{where}: manifest {desc.digest}"
    if desc.media_type not in mt.MANIFEST_TYPES:
        raise InvalidManifestError(f"{what} is a {desc.media_type!r}, not an image manifest: an addon is one "
                                   "image manifest per implementation")
    manifest = parse_manifest(fetch_bytes(store, desc), what=what)
    if desc.media_type != mt.OCI_MANIFEST or manifest.media_type not in (None, mt.OCI_MANIFEST):
        given = manifest.media_type if desc.media_type == mt.OCI_MANIFEST else desc.media_type
        raise InvalidManifestError(f"{what} is a {given!r}: the addon format requires an OCI image manifest "
                                   f"({mt.OCI_MANIFEST}); re-export it")
    sources = (manifest.annotations, desc.annotations)
    addon = _annotation(fmt.ANN_ADDON_NAME, *sources)
    if addon is None:
        return None
    implementation = _annotation(fmt.ANN_IMPLEMENTATION, *sources)
    if implementation is None:
        raise ContentError(f"{what} (addon {addon!r}) has no {fmt.ANN_IMPLEMENTATION} annotation, which the format "
                           "requires: cannot tell where it goes; re-export it")
    version = _annotation(fmt.ANN_VERSION, *sources)
    tag = desc.ref_name or (f"v{version}" if version else None)
    return AddonEntry(descriptor=desc, manifest=manifest, addon=_checked(addon, fmt.ANN_ADDON_NAME, what),
                      implementation=_checked(implementation, fmt.ANN_IMPLEMENTATION, what),
                      version=version or DEFAULT_VERSION, tag=tag)


def addon_entries(store: ReadOnlyStore, descriptors: Sequence[Descriptor], *, where: str,
                  warn: Warn | None = None) -> list[AddonEntry]:
    """The addon entries among ``descriptors`` (index entries), in order, repeated ones included.

    Entries that are not image manifests, or carry no ``vnd.k2s.addon.name`` anywhere, are skipped
    and described to ``warn`` (§7.5 item 2), at most :data:`MAX_WARNINGS` of them, then one line with
    the count. Raises what :func:`read_entry` raises.
    """
    entries = []
    capped = _Capped(warn)
    for desc in descriptors:
        what = f"{where}: manifest {desc.digest}"
        if desc.media_type not in mt.MANIFEST_TYPES:
            capped(f"{what}: skipped, {desc.media_type!r} is not an image manifest")
            continue
        entry = read_entry(store, desc, where=where)
        if entry is None:
            capped(f"{what}: skipped, it has no {fmt.ANN_ADDON_NAME} annotation")
            continue
        entries.append(entry)
    capped.finish()
    return entries


MAX_WARNINGS = 20
"""Warnings about skipped index entries said one by one; the rest are counted in one line."""


class _Capped:
    """Passes the first :data:`MAX_WARNINGS` lines to ``warn`` (``None``: none); :meth:`finish` counts the rest."""

    def __init__(self, warn: Warn | None) -> None:
        self._warn = warn
        self._said = 0

    def __call__(self, line: str) -> None:
        self._said += 1
        if self._warn is not None and self._said <= MAX_WARNINGS:
            self._warn(line)

    def finish(self) -> None:
        if self._warn is not None and self._said > MAX_WARNINGS:
            self._warn(f"... and {self._said - MAX_WARNINGS} more index entries skipped likewise")


def read_entries(store: IndexedStore, where: str, warn: Warn) -> list[AddonEntry]:
    """The addon implementations ``index.json`` lists, in index order, each once (§3.3, §7.5 items 1-2).

    As :func:`addon_entries`; a pair (addon, implementation) repeated is kept once (the later entry,
    with a warning). Raises :class:`~kaddons.errors.LayoutError` when no addon is left or the index is
    not ``schemaVersion`` 2, and what :func:`read_entry` raises.
    """
    index = store.index()
    if index.schema_version != 2:
        raise LayoutError(f"{where}: index.json has schemaVersion {index.schema_version}, expected 2")
    if index.media_type not in (None, mt.OCI_INDEX):
        warn(f"{where}: index.json has media type {index.media_type!r}, expected {mt.OCI_INDEX!r}")
    found: dict[tuple[str, str], AddonEntry] = {}
    for entry in addon_entries(store, index.manifests, where=where, warn=warn):
        key = (entry.addon, entry.implementation)
        if key in found:
            warn(f"{where}: {entry.cli_name} is in the archive twice: importing the later one, "
                 f"{entry.descriptor.digest}")
            del found[key]
        found[key] = entry
    if not found:
        raise LayoutError(f"no addons found in {where}: no index.json entry names an addon "
                          f"({fmt.ANN_ADDON_NAME} annotation)")
    return list(found.values())
