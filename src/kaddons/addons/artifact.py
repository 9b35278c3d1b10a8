"""The addons an OCI store holds: index entries read as addon manifests (spec §3.3, §4.6, §7.5).

Each ``index.json`` entry that is an image manifest becomes an :class:`AddonEntry`. Name,
implementation and version come from the manifest blob's annotations, which override the index
descriptor's (they are the only ones that survive a registry round trip, §2.16), and fall back to
them. Names are validated against the addon name rule before anyone builds a path from them (§8.18).
"""

from __future__ import annotations

from dataclasses import dataclass

from kaddons.errors import UnsafeContentError
from kaddons.oci.mediatypes import MANIFEST_TYPES
from kaddons.oci.models import Descriptor, ImageManifest, parse_manifest
from kaddons.oci.store import ReadOnlyStore, fetch_bytes

from . import format as fmt
from .names import check_name, export_name

__all__ = ["AddonEntry", "addon_entries", "read_entry"]


@dataclass(frozen=True)
class AddonEntry:
    """One addon implementation of a store: its manifest ``descriptor`` and parsed ``manifest``,
    ``name``/``implementation`` (validated), ``export_name``, ``version`` (``None`` when unset) and
    ``tag`` (the entry's ``ref.name``, else ``v<version>``, else ``None``)."""

    descriptor: Descriptor
    manifest: ImageManifest
    name: str
    implementation: str
    export_name: str
    version: str | None
    tag: str | None


def read_entry(store: ReadOnlyStore, desc: Descriptor, *, where: str) -> AddonEntry | None:
    """Fetch (verified) and read the manifest ``desc`` names; ``None`` when it carries no addon name.

    Raises :class:`InvalidManifestError` when the blob is not an image manifest and
    :class:`UnsafeContentError` when a name breaks the name rule; digest errors pass through.
    """
    raw = fetch_bytes(store, desc)
    manifest = parse_manifest(raw, what=f"manifest {desc.digest} in {where}")
    index_ann = desc.annotations or {}
    blob_ann = manifest.annotations or {}
    source = blob_ann if blob_ann.get(fmt.ANN_ADDON_NAME) else index_ann
    name = source.get(fmt.ANN_ADDON_NAME)
    if not name:
        return None
    implementation = source.get(fmt.ANN_IMPLEMENTATION) or name
    for value, what in ((name, "addon name"), (implementation, "implementation name")):
        problem = check_name(value, what)
        if problem:
            raise UnsafeContentError(f"{where}: manifest {desc.digest}: {problem}; refusing to use it as a path")
    version = source.get(fmt.ANN_VERSION) or index_ann.get(fmt.ANN_VERSION) or None
    tag = desc.ref_name or (f"v{version}" if version else None)
    return AddonEntry(desc, manifest, name, implementation, export_name(name, implementation), version, tag)


def addon_entries(store: ReadOnlyStore, index_manifests: list[Descriptor], *, where: str,
                  warn: list[str] | None = None) -> list[AddonEntry]:
    """The addon entries among ``index_manifests``, in order.

    Entries that are not image manifests, or carry no ``vnd.k2s.addon.name`` anywhere, are skipped
    and described in ``warn`` when given (§7.5 item 2). Raises what :func:`read_entry` raises.
    """
    entries = []
    for desc in index_manifests:
        if desc.media_type not in MANIFEST_TYPES:
            if warn is not None:
                warn.append(f"{where}: skipping {desc.short()}: not an image manifest")
            continue
        entry = read_entry(store, desc, where=where)
        if entry is None:
            if warn is not None:
                warn.append(f"{where}: skipping manifest {desc.digest}: no {fmt.ANN_ADDON_NAME} annotation")
            continue
        entries.append(entry)
    return entries

