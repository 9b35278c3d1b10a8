"""The addon catalog: which addons an addons directory holds (spec §1.5, §6.1) and where they came from (§4.4).

Discovery is K2s's PowerShell one (``Find-AddonManifests``, used by Export): exactly
``<addons dir>/*/addon.manifest.yaml``, depth 1. ``common/`` and dot-directories (``.addon-sync-digests``,
``.images``, staging dirs) are never addons; a stray manifest inside an implementation folder (depth 2)
is ignored, as Export ignores it. Unlike K2s's Go loader, one invalid manifest never hides the others
(§8.23): it is reported in :attr:`Catalog.problems` and skipped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from kaddons.errors import AddonManifestError, NotFoundError

from .manifest import MANIFEST_FILE, AddonImplementation, AddonManifest, load_manifest
from .names import check_name, export_name, is_single_implementation, is_valid_name

__all__ = [
    "DEFAULT_VERSION", "DIGESTS_DIR", "SKIPPED_DIRS", "Addon", "Catalog", "CatalogProblem", "Implementation",
    "SyncRecord", "digest_path", "discover", "sidecar_path", "sync_record",
]

DEFAULT_VERSION = "1.0.0"
"""An implementation's version when its manifest sets none (§2.13)."""
DIGESTS_DIR = ".addon-sync-digests"
"""Where K2s's ``Sync-Addons.ps1`` records the digest of each synced repository (§4.4)."""
SKIPPED_DIRS = frozenset({"common"})
"""Folders of the addons directory that are never addons (besides every dot-directory)."""
_DIGEST = re.compile(r"^sha256:[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class SyncRecord:
    """Provenance of a synced addon: the manifest ``digest`` (``sha256:<hex>``), and the registry
    ``reference`` it was pulled from when kaddons recorded it (``None`` after a K2s sync)."""

    digest: str
    reference: str | None = None


@dataclass(frozen=True)
class Implementation:
    """One implementation as installed (§0).

    ``addon`` is the addon's ``metadata.name``; ``single`` is true when ``name == addon`` (files in
    the addon's directory, which is then ``directory``; else ``directory`` is ``<addon dir>/<name>``).
    ``description`` is the implementation's, or the addon's when the manifest gives none; ``version``
    is the manifest's ``version`` or ``"1.0.0"`` (§2.13); ``export_name`` is also the repository name.
    """

    addon: str
    name: str
    description: str
    version: str
    directory: Path
    export_name: str
    single: bool
    spec: AddonImplementation


@dataclass(frozen=True)
class Addon:
    """An addon: its manifest, the directory holding it, and its implementations in manifest order."""

    name: str
    description: str
    directory: Path
    manifest_path: Path
    manifest: AddonManifest
    implementations: list[Implementation]


@dataclass(frozen=True)
class CatalogProblem:
    """An ``addon.manifest.yaml`` that was skipped, and why (one line, without the file name)."""

    file: Path
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class Catalog:
    """The valid addons of ``addons_dir`` sorted by name, and the manifests that were skipped."""

    addons_dir: Path
    addons: list[Addon] = field(default_factory=list)
    problems: list[CatalogProblem] = field(default_factory=list)

    @overload
    def find(self, name: str, implementation: None = None) -> Addon: ...
    @overload
    def find(self, name: str, implementation: str) -> Implementation: ...

    def find(self, name: str, implementation: str | None = None) -> Addon | Implementation:
        """The addon ``name`` (case-insensitive, as Export.ps1 matches), or one of its implementations.

        For a single-implementation addon, ``implementation`` may be its own name. Raises
        :class:`~kaddons.errors.NotFoundError` naming the known addons or implementations.
        """
        addon = next((a for a in self.addons if a.name.lower() == name.lower()), None)
        if addon is None:
            known = ", ".join(a.name for a in self.addons) or "none"
            raise NotFoundError(f"no addon {name!r} in {self.addons_dir} (known addons: {known})")
        if implementation is None:
            return addon
        impl = next((i for i in addon.implementations if i.name.lower() == implementation.lower()), None)
        if impl is None:
            known = ", ".join(i.name for i in addon.implementations)
            raise NotFoundError(f"addon {addon.name!r} has no implementation {implementation!r} "
                                f"(known implementations: {known})")
        return impl


def digest_path(addons_dir: str | Path, repo: str) -> Path:
    """K2s's digest file of registry repository ``addons/<repo>``: ``<addons dir>/.addon-sync-digests/<repo>``."""
    return Path(addons_dir) / DIGESTS_DIR / repo


def sidecar_path(addons_dir: str | Path, repo: str) -> Path:
    """kaddons' provenance sidecar next to the digest file: ``<repo>.kaddons.json``, holding
    ``{"digest": "sha256:...", "reference": "HOST/addons/REPO:TAG"}``. K2s never reads it, and no valid
    repository name contains a dot, so it cannot clash with a digest file."""
    return Path(addons_dir) / DIGESTS_DIR / f"{repo}.kaddons.json"


def sync_record(addons_dir: str | Path, export_name: str) -> SyncRecord | None:
    """Where the implementation exported as ``export_name`` was synced from, or ``None`` if it was not.

    Reads the K2s digest file (§4.4, [COMPAT]: BOM and surrounding whitespace stripped, hex compared
    case-insensitively, stored lowercase). A missing, unreadable or malformed file means not synced.
    The ``reference`` comes from the kaddons sidecar, and only when the sidecar's digest is the digest
    file's: a later K2s sync rewrites the digest file, not the sidecar, which is then stale.
    """
    if not is_valid_name(export_name):
        return None
    try:
        with open(digest_path(addons_dir, export_name), "rb") as file:
            digest = file.read(1024).decode("utf-8-sig").strip().lower()
    except (OSError, UnicodeDecodeError):
        return None
    if not _DIGEST.match(digest):
        return None
    try:
        sidecar = json.loads(sidecar_path(addons_dir, export_name).read_bytes())
    except (OSError, ValueError):
        sidecar = None
    reference = None
    if isinstance(sidecar, dict) and str(sidecar.get("digest", "")).lower() == digest:
        reference = sidecar.get("reference") if isinstance(sidecar.get("reference"), str) else None
    return SyncRecord(digest=digest, reference=reference)


def _name_problem(manifest: AddonManifest) -> str | None:
    problem = check_name(manifest.metadata.name, "addon name")
    if problem:
        return f"metadata.name: {problem}"
    for index, impl in enumerate(manifest.spec.implementations):
        problem = check_name(impl.name, "implementation name")
        if problem:
            return f"spec.implementations[{index}].name: {problem}"
    return None


def _addon(directory: Path, manifest_path: Path, manifest: AddonManifest) -> Addon:
    name = manifest.metadata.name
    implementations = []
    for impl in manifest.spec.implementations:
        single = is_single_implementation(name, impl.name)
        implementations.append(Implementation(
            addon=name, name=impl.name, description=impl.description or manifest.metadata.description,
            version=impl.version or DEFAULT_VERSION, directory=directory if single else directory / impl.name,
            export_name=export_name(name, impl.name), single=single, spec=impl,
        ))
    return Addon(name=name, description=manifest.metadata.description, directory=directory,
                 manifest_path=manifest_path, manifest=manifest, implementations=implementations)


def discover(addons_dir: str | Path) -> Catalog:
    """Load every ``<addons_dir>/*/addon.manifest.yaml`` (§1.5) into a :class:`Catalog`.

    Folders are visited in name order. A manifest that does not load, has a name that breaks the
    name rule (:mod:`kaddons.addons.names`) or repeats an addon name already seen becomes a
    :class:`CatalogProblem`; the others are still found. Folders without a manifest are not addons.
    Raises :class:`~kaddons.errors.NotFoundError` if ``addons_dir`` is not a directory, ``OSError`` if
    it cannot be listed.
    """
    root = Path(addons_dir)
    if not root.is_dir():
        raise NotFoundError(f"addons directory {root} does not exist or is not a directory")
    catalog = Catalog(addons_dir=root)
    seen: dict[str, Addon] = {}
    with os.scandir(root) as entries:
        folders = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    for folder in folders:
        manifest_path = root / folder / MANIFEST_FILE
        if folder in SKIPPED_DIRS or not manifest_path.exists():
            continue
        try:
            manifest = load_manifest(manifest_path)
        except AddonManifestError as err:
            catalog.problems.append(CatalogProblem(manifest_path, err.detail))
            continue
        problem = _name_problem(manifest)
        first = seen.get(manifest.metadata.name)
        if problem is None and first is not None:
            problem = f"duplicate addon name {manifest.metadata.name!r}, already defined by {first.manifest_path}"
        if problem is not None:
            catalog.problems.append(CatalogProblem(manifest_path, problem))
            continue
        seen[manifest.metadata.name] = _addon(root / folder, manifest_path, manifest)
    catalog.addons = sorted(seen.values(), key=lambda addon: addon.name)
    return catalog
