"""Offline import of an addon archive into an addons directory (``kaddons import``, spec §3).

:func:`import_archive` reads an ``.oci.tar`` in place (:class:`~kaddons.oci.archive.ArchiveStore`,
which validates the layout and verifies every blob it streams), lists the addon implementations of
its ``index.json`` (:func:`read_entries`), selects them by the name forms of §3.3
(:func:`select_entries`), and imports each one: its layers are routed by media type through the
layer table (:mod:`kaddons.addons.format`) and extracted safely (:mod:`kaddons.addons.extract`) into
a staging folder, its manifest is checked, and :mod:`kaddons.addons.install` moves it into place.

Differences from K2s's ``Import.ps1``, on purpose:

* the file name need not end in ``.oci.tar`` (K2s insists): the content is what is validated;
* a manifest blob that is missing or does not verify is an error, not a warning; so is a layer blob
  whose size differs from its descriptor (K2s warns, §3.5);
* annotations are taken key by key, the manifest's over the index's (§3.3, §7.5 item 1); names must
  pass the name rule (§8.18), and the implementation annotation is required ([COMPAT] §2.11);
* an existing implementation entry is updated (§8.5), its folder replaced (§8.22);
* images layers (``*.tar`` members) are kept under ``<addons-dir>/.images/<addon>/`` and loaded with
  ``ctr``/``nerdctl`` when one is on ``PATH`` (failures are warnings, as in K2s §3.7); packages are
  placed under ``<addons-dir>/.packages/<addon>/`` and not installed on nodes (K2s does, §3.8).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaddons.errors import DigestMismatchError, KaddonsError, LayoutError, NotFoundError, UsageError
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore

from .artifact import AddonEntry, read_entries
from .extract import ExtractLimits
from .install import (
    IMAGES_DIR,
    PACKAGES_DIR,
    StagedImplementation,
    catalog_lock,
    install_implementation,
    install_shared,
    new_staging,
    recover,
)
from .names import is_single_implementation
from .unpack import IMAGES_FOLDER, IMPL_FOLDER, PACKAGES_FOLDER, stage_entry

__all__ = ["ImportResult", "ImportedImplementation", "import_archive", "read_entries",
           "select_entries"]

Log = Callable[[str], None]
_LOADERS = (("ctr", ("-n", "k8s.io", "images", "import")), ("nerdctl", ("-n", "k8s.io", "load", "-i")))


@dataclass(frozen=True)
class ImportedImplementation:
    """An imported implementation: ``directory`` and ``files`` (relative POSIX paths) as installed,
    ``digest`` of its image manifest, and the image archives and package files placed for it
    (relative to ``<addons-dir>/.images/<addon>/`` and ``<addons-dir>/.packages/<addon>/``)."""

    addon: str
    implementation: str
    export_name: str
    version: str
    digest: str
    directory: Path
    files: list[str]
    images: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``kaddons import -o json`` prints (keys as ``kaddons ls -o json``)."""
        single = is_single_implementation(self.addon, self.implementation)
        return {"name": self.addon, "implementation": None if single else self.implementation,
                "exportName": self.export_name, "version": self.version, "digest": self.digest,
                "directory": str(self.directory), "files": self.files, "images": self.images,
                "packages": self.packages}


@dataclass
class ImportResult:
    """What :func:`import_archive` did: the implementations in import order, and the warnings."""

    archive: Path
    addons_dir: Path
    implementations: list[ImportedImplementation]
    warnings: list[str] = field(default_factory=list)


def select_entries(entries: Sequence[AddonEntry], names: Sequence[str], where: str) -> list[AddonEntry]:
    """The entries ``names`` select, by the forms of §3.3; all of ``entries`` when ``names`` is empty.

    Left to right: ``"a b"`` (one argument) is addon ``a``, implementation ``b`` (more words joined
    with ``-``); ``a b`` (two arguments) is such a pair if the archive holds it; ``a`` is every
    implementation of addon ``a``; else ``a-b`` is matched against export names (the legacy form).
    Case is ignored. The selection is de-duplicated and sorted by addon and implementation. Raises
    :class:`~kaddons.errors.NotFoundError` listing what the archive holds,
    :class:`~kaddons.errors.UsageError` for an empty name.
    """
    if not names:
        return list(entries)
    chosen: dict[tuple[str, str], AddonEntry] = {}
    position = 0
    while position < len(names):
        requested = names[position]
        words = requested.lower().split()
        if not words:
            raise UsageError("an empty addon name was given: name addons as NAME, 'NAME IMPLEMENTATION' or NAME-IMPL")
        if len(words) > 1:
            addon, implementation = words[0], "-".join(words[1:])
            matches = [e for e in entries if (e.addon, e.implementation) == (addon, implementation)]
        else:
            following = names[position + 1].strip().lower() if position + 1 < len(names) else None
            matches = [e for e in entries if (e.addon, e.implementation) == (words[0], following)]
            if matches:
                position += 1
            else:
                matches = ([e for e in entries if e.addon == words[0]]
                           or [e for e in entries if e.export_name == words[0]])
        if not matches:
            held = ", ".join(e.cli_name for e in entries)
            raise NotFoundError(f"addon {requested!r} not found in {where}; it holds: {held}")
        chosen.update(((e.addon, e.implementation), e) for e in matches)
        position += 1
    return [chosen[key] for key in sorted(chosen)]


def _check_layer_sizes(store: ArchiveStore, entry: AddonEntry, where: str) -> None:
    for desc in entry.manifest.layers:
        if desc.media_type == mt.OCI_EMPTY:
            continue
        actual = store.stat_blob(desc.digest).size
        if actual != desc.size:
            raise DigestMismatchError(f"{where}: {entry.export_name}: layer {desc.digest} is {actual} bytes, its "
                                      f"descriptor says {desc.size}: refusing it")


IMAGE_LOADER_ENV = "KADDONS_IMAGE_LOADER"
"""The command that loads an image archive into the node's container runtime, the archive's path appended
(e.g. ``nerdctl -n k8s.io load -i``); ``none``: place the archives only. Unset: ``ctr`` or ``nerdctl`` on PATH."""


def image_loader() -> tuple[str, tuple[str, ...]] | None:
    """The program and arguments that load one image archive (its path is appended), or ``None``: from
    :data:`IMAGE_LOADER_ENV` when set, else the first of ``ctr``, ``nerdctl`` found on ``PATH``.
    Raises :class:`~kaddons.errors.UsageError` for a variable that is not a command."""
    configured = os.environ.get(IMAGE_LOADER_ENV)
    if configured is not None:
        if configured.strip().lower() == "none":
            return None
        try:
            words = shlex.split(configured)
        except ValueError as err:
            raise UsageError(f"{IMAGE_LOADER_ENV} {configured!r} is not a command ({err})") from None
        if not words:
            raise UsageError(f"{IMAGE_LOADER_ENV} is empty: give a command, or none")
        return words[0], tuple(words[1:])
    return next(((found, args) for tool, args in _LOADERS if (found := shutil.which(tool)) is not None), None)


def _load_images(entry: AddonEntry, directory: Path, images: list[str], log: Log, warn: Log) -> None:
    loader = image_loader()
    if loader is None:
        why = (f"{IMAGE_LOADER_ENV} is none" if os.environ.get(IMAGE_LOADER_ENV) is not None
               else "no ctr or nerdctl on PATH")
        log(f"{entry.export_name}: {len(images)} image archive(s) placed in {directory}; {why}, so they were not "
            "loaded")
        return
    program, args = loader
    for image in images:
        try:
            proc = subprocess.run([program, *args, str(directory / image)], capture_output=True, text=True,
                                  timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            warn(f"{entry.export_name}: loading {image} with {program} failed: {err}")
            continue
        if proc.returncode != 0:
            detail = " ".join((proc.stderr or proc.stdout).split())[:300]
            warn(f"{entry.export_name}: loading {image} with {program} failed (exit {proc.returncode}): {detail}")
        else:
            log(f"{entry.export_name}: loaded {image} with {program}")


def _import_one(store: ArchiveStore, entry: AddonEntry, addons_dir: Path, where: str, limits: ExtractLimits,
                log: Log, warn: Log) -> ImportedImplementation:
    name = entry.export_name
    log(f"{name}: importing {entry.version} ({entry.descriptor.digest})")
    _check_layer_sizes(store, entry, where)
    staging = new_staging(addons_dir, name)
    try:
        manifest = stage_entry(store, entry, staging, where=where, limits=limits, log=log, warn=warn)
        shared = [(area, staging / folder) for area, folder in ((IMAGES_DIR, IMAGES_FOLDER),
                                                                (PACKAGES_DIR, PACKAGES_FOLDER))
                  if (staging / folder).is_dir()]
        for area, folder in shared:  # preflight: nothing is moved unless everything can be
            install_shared(addons_dir, area, entry.addon, folder, dry_run=True)
        installed = install_implementation(addons_dir, StagedImplementation(
            addon=entry.addon, implementation=entry.implementation, directory=staging / IMPL_FOLDER,
            manifest=manifest))
        placed = {area: install_shared(addons_dir, area, entry.addon, folder) for area, folder in shared}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    images, packages = placed.get(IMAGES_DIR, []), placed.get(PACKAGES_DIR, [])
    if images:
        _load_images(entry, addons_dir / IMAGES_DIR / entry.addon, images, log, warn)
    if packages:
        log(f"{name}: {len(packages)} package file(s) placed in {addons_dir / PACKAGES_DIR / entry.addon} "
            "(K2s installs them on its nodes; kaddons only places them)")
    log(f"{name}: installed in {installed.directory}")
    return ImportedImplementation(addon=entry.addon, implementation=entry.implementation, export_name=name,
                                  version=entry.version, digest=entry.descriptor.digest,
                                  directory=installed.directory, files=installed.files, images=images,
                                  packages=packages)


def _failed(err: Exception, entry: AddonEntry, done: list[ImportedImplementation]) -> KaddonsError:
    """``err`` (the same class for a KaddonsError) with what happened to the import in its message."""
    kept = (f"already imported and kept: {', '.join(i.export_name for i in done)}" if done
            else "nothing was imported")
    if isinstance(err, KaddonsError):
        message = str(err)
        prefix = "" if entry.export_name in message else f"{entry.export_name}: "
        err.args = (f"{prefix}{message}; import of {entry.export_name} aborted, nothing of it installed; {kept}",)
        return err
    detail = f"{getattr(err, 'strerror', None) or err}"
    filename = getattr(err, "filename", None)
    return KaddonsError(f"{entry.export_name}: {detail}{f': {filename}' if filename else ''}; import of "
                        f"{entry.export_name} aborted; {kept}")


def import_archive(archive: str | Path, addons_dir: str | Path, names: Sequence[str] = (), *,
                   limits: ExtractLimits | None = None, log: Log | None = None,
                   lock_timeout: float = 600.0) -> ImportResult:
    """Import the addon implementations ``names`` selects (all when empty) from ``archive`` into ``addons_dir``.

    ``archive`` is an OCI image layout tar (any file name); ``addons_dir`` must exist. ``limits`` bound
    every layer's extraction (default :class:`ExtractLimits`: 4 GiB, 100 000 members; plain-tar image
    layers may always expand to their own size). ``log`` receives one line per step; warnings are
    passed to it prefixed ``warning:`` and collected in :attr:`ImportResult.warnings`. The catalog lock
    is held throughout (waiting up to ``lock_timeout`` seconds), and a swap a crash interrupted is
    repaired first (:func:`~kaddons.addons.install.recover`).

    Implementations are imported one by one, each staged completely and validated before it is moved
    into place. When one fails, the import stops with the error of its cause, extended with what was
    kept: nothing of the failing implementation is installed, the ones before it stay. Raises
    :class:`~kaddons.errors.NotFoundError` (missing archive, addons directory or selected addon),
    :class:`~kaddons.errors.LayoutError` (not an OCI layout tar, no addons),
    :class:`~kaddons.errors.DigestMismatchError`, :class:`~kaddons.errors.UnsafeContentError`,
    :class:`~kaddons.errors.AddonManifestError`, :class:`~kaddons.errors.ContentError`,
    :class:`~kaddons.errors.KaddonsError` (file-system failures, the lock).
    """
    archive, addons_dir = Path(archive), Path(addons_dir)
    limits = limits or ExtractLimits()
    emit: Log = log or (lambda _line: None)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        emit(f"warning: {message}")

    if not addons_dir.is_dir():
        raise NotFoundError(f"addons directory {addons_dir} does not exist or is not a directory")
    image_loader()  # a bad KADDONS_IMAGE_LOADER fails before anything is installed
    where = str(archive)
    done: list[ImportedImplementation] = []
    try:
        opened = ArchiveStore(archive)
    except LayoutError as err:
        raise LayoutError(f"not an OCI image layout archive: {err}") from None
    with opened as store:
        selected = select_entries(read_entries(store, where, warn), names, where)
        with catalog_lock(addons_dir, timeout=lock_timeout):
            for restored in recover(addons_dir):
                warn(f"restored the previous version of {restored}, which an interrupted install had moved away")
            for entry in selected:
                try:
                    done.append(_import_one(store, entry, addons_dir, where, limits, emit, warn))
                except (KaddonsError, OSError) as err:
                    raise _failed(err, entry, done) from None
    return ImportResult(archive=archive, addons_dir=addons_dir, implementations=done, warnings=warnings)
