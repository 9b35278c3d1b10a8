"""Unpack one addon implementation from any OCI store into a staging folder (spec §3.5-3.6, §4.7-4.8).

Shared by import (an ``.oci.tar``) and sync (a registry repository, an OCI layout): the layers of an
:class:`~kaddons.addons.artifact.AddonEntry` are routed by media type through the layer table
(:mod:`kaddons.addons.format`) and extracted safely (:mod:`kaddons.addons.extract`) while they stream
from the store, each verified against its digest. The staging folder then holds::

    impl/            the implementation folder as it will be installed (layers 1-3, config files)
    images/          the ``*.tar`` members of layers 4-5 (import only)
    packages/        the content of layer 6 (import only)

and :func:`stage_entry` returns the ``addon.manifest.yaml`` of the config layer, checked against the
annotations. Layers whose kind is not asked for are skipped without a single byte fetched (sync asks
for layers 0-3 only, §8.26).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

from kaddons.errors import AddonManifestError, ContentError
from kaddons.oci import mediatypes as mt
from kaddons.oci.store import ReadOnlyStore

from .artifact import AddonEntry
from .extract import ExtractLimits, extract_tar
from .format import LAYERS, LayerKind, LayerSpec, layer_for_media_type
from .install import merge_tree
from .manifest import MANIFEST_FILE, MAX_MANIFEST_SIZE, parse_manifest_bytes

__all__ = ["ALL_KINDS", "CATALOG_KINDS", "IMAGES_FOLDER", "IMPL_FOLDER", "PACKAGES_FOLDER", "catalog_layers",
           "stage_entry"]

Log = Callable[[str], None]
ALL_KINDS: frozenset[LayerKind] = frozenset(spec.kind for spec in LAYERS)
"""Every layer kind: what import unpacks."""
CATALOG_KINDS: frozenset[LayerKind] = frozenset(
    {LayerKind.CONFIG, LayerKind.MANIFESTS, LayerKind.CHARTS, LayerKind.SCRIPTS})
"""Layers 0-3, what the addons directory holds: what sync fetches (§8.26)."""
IMPL_FOLDER = "impl"


def catalog_layers(entry: AddonEntry) -> tuple[str, ...]:
    """``<media type>@<digest>`` of each layer 0-3 of ``entry``, in manifest order: what its files in an
    addons directory are made of. Two manifests with the same tuple put the same files in place."""
    found = []
    for layer in entry.manifest.layers:
        spec = layer_for_media_type(layer.media_type)
        if spec is not None and spec.kind in CATALOG_KINDS:
            found.append(f"{layer.media_type}@{layer.digest}")
    return tuple(found)
IMAGES_FOLDER = "images"
PACKAGES_FOLDER = "packages"
_CONFIG_FOLDER = "config"
_CONFIG_SUBDIR = "config"
_STAGED_MANIFEST = "manifest.yaml"


def _destination(spec: LayerSpec, staging: Path) -> Path:
    """Where a layer is extracted in the staging folder (§3.5)."""
    if spec.kind is LayerKind.CONFIG:
        return staging / _CONFIG_FOLDER
    if spec.kind in (LayerKind.IMAGES_LINUX, LayerKind.IMAGES_WINDOWS):
        return staging / IMAGES_FOLDER
    if spec.kind is LayerKind.PACKAGES:
        return staging / PACKAGES_FOLDER
    return staging / IMPL_FOLDER / (spec.target or ".")


def _stage_layers(store: ReadOnlyStore, entry: AddonEntry, staging: Path, limits: ExtractLimits,
                  kinds: Collection[LayerKind], log: Log, warn: Log) -> None:
    name = entry.export_name
    for desc in entry.manifest.layers:
        if desc.media_type == mt.OCI_EMPTY:
            continue
        spec = layer_for_media_type(desc.media_type)
        if spec is None:
            warn(f"{name}: skipping layer {desc.digest} of unknown media type {desc.media_type!r}")
            continue
        if spec.kind not in kinds:
            log(f"{name}: layer {spec.number} ({spec.kind.value}) SKIPPED, not needed in the addons directory")
            continue
        dest = _destination(spec, staging)
        # A plain tar cannot expand beyond its own size (sparse members are refused): allow that much.
        layer_limits = limits if spec.gzip else replace(limits, max_bytes=max(limits.max_bytes, desc.size))
        what = f"{name}: {spec.kind.value} layer {desc.digest}"
        with store.fetch(desc) as stream:
            files = extract_tar(stream, dest, gzip=spec.gzip, limits=layer_limits, what=what)
        log(f"{name}: layer {spec.number} ({spec.kind.value}): {len(files)} file(s)")
        if spec.kind in (LayerKind.IMAGES_LINUX, LayerKind.IMAGES_WINDOWS):
            bad = next((f for f in files if "/" in f or not f.lower().endswith(".tar")), None)
            if bad is not None:
                raise ContentError(f"{what}: member {bad!r} is not a top-level .tar image archive, as the format "
                                   "requires: refusing the layer")
        if spec.kind is LayerKind.CONFIG and (dest / MANIFEST_FILE).is_file():
            # Out of the tree at once: K2s's unlimited-depth discovery must never see a second manifest.
            (dest / MANIFEST_FILE).replace(staging / _STAGED_MANIFEST)


def _staged_manifest(entry: AddonEntry, staging: Path, where: str) -> bytes:
    """The config layer's ``addon.manifest.yaml``: parsed, and for the annotated addon and implementation."""
    name = entry.export_name
    path = staging / _STAGED_MANIFEST
    if not path.is_file():
        raise ContentError(f"{where}: {name} has no config layer with an {MANIFEST_FILE}: cannot install it")
    if path.stat().st_size > MAX_MANIFEST_SIZE:
        raise AddonManifestError(f"{where}: {name}: {MANIFEST_FILE}", f"larger than {MAX_MANIFEST_SIZE} bytes")
    data = path.read_bytes()
    source = f"{where}: {name}: {MANIFEST_FILE}"
    manifest = parse_manifest_bytes(data, source)
    if manifest.metadata.name != entry.addon:
        raise AddonManifestError(source, f"metadata.name is {manifest.metadata.name!r} but the artifact is "
                                         f"annotated as addon {entry.addon!r}: refusing it")
    implementations = [impl.name for impl in manifest.spec.implementations]
    if entry.implementation not in implementations:
        raise AddonManifestError(source, f"spec.implementations has no {entry.implementation!r}, the implementation "
                                         f"the artifact is annotated with (it has: {', '.join(implementations)})")
    return data


def _move_config_files(entry: AddonEntry, staging: Path, warn: Log) -> None:
    """Top-level config files go to the implementation folder, ``config/`` to ``<impl>/config/`` (§3.6 item 2)."""
    config = staging / _CONFIG_FOLDER
    if not config.is_dir():
        return
    for path in sorted(config.iterdir()):
        if path.is_dir() and path.name != _CONFIG_SUBDIR:
            warn(f"{entry.export_name}: config layer folder {path.name!r} ignored (only top-level files and "
                 f"{_CONFIG_SUBDIR}/ are installed)")
            shutil.rmtree(path)
    merge_tree(config, staging / IMPL_FOLDER, what=f"{entry.export_name}: config layer")


def stage_entry(store: ReadOnlyStore, entry: AddonEntry, staging: Path, *, where: str,
                limits: ExtractLimits | None = None, kinds: Collection[LayerKind] = ALL_KINDS,
                log: Log | None = None, warn: Log | None = None) -> bytes:
    """Unpack ``entry`` from ``store`` into the empty folder ``staging`` (see the module); return its manifest.

    Only layers of ``kinds`` are fetched; each blob is streamed, verified and extracted within ``limits``
    (default :class:`ExtractLimits`). ``where`` names the source in messages; ``log``/``warn`` receive one
    line per step and per oddity (unknown layer types are skipped with a warning). Returns the bytes of
    the config layer's ``addon.manifest.yaml`` (kept out of ``impl/``).

    Raises :class:`~kaddons.errors.ContentError` when there is no config layer with a manifest or an
    images layer holds other than top-level ``.tar`` files, :class:`~kaddons.errors.AddonManifestError`
    when the manifest is invalid or names another addon or lacks the implementation,
    :class:`~kaddons.errors.UnsafeContentError` (hostile members, limits), what fetching raises
    (:class:`~kaddons.errors.DigestMismatchError`, registry errors) and ``OSError``. ``staging`` is left
    partly filled on error: the caller removes it.
    """
    emit: Log = log or (lambda _line: None)
    complain: Log = warn or emit
    (staging / IMPL_FOLDER).mkdir(parents=True, exist_ok=True)
    _stage_layers(store, entry, staging, limits or ExtractLimits(), kinds, emit, complain)
    manifest = _staged_manifest(entry, staging, where)
    _move_config_files(entry, staging, complain)
    return manifest
