"""Which files of an addon implementation go into which layer (spec §2.4, layers 0-3).

A pure function of the directory tree: :func:`layer_entries` returns, for the config, manifests,
charts and scripts layers, the sorted list of :class:`~kaddons.addons.tarball.Entry` (member name ->
source). K2s's PowerShell wildcards are case-insensitive; kaddons matches them case-insensitively too,
but on exact suffixes (no 8.3 short-name quirks such as ``*.ps1`` matching ``*.ps1xml``, §8.30).

Writers must not emit symlinks, Windows-reserved names or names that collide ignoring case (§2.9
[COMPAT]): a symlink to a file is exported as the file it points to (it must stay inside the
addon's directory), a symlink to a directory, a reserved name or a collision is an error naming the
file. The ``gitops-sync/`` directory is not chosen here: export injects it (§2.5).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from kaddons.errors import UsageError

from .format import LayerKind
from .manifest import MANIFEST_FILE
from .tarball import Entry

__all__ = ["CONFIG_ROOT_PATTERNS", "SCRIPT_PATTERNS", "check_member_names", "layer_entries", "left_out",
           "walk_files"]

CONFIG_ROOT_PATTERNS = ("values.yaml", "values-*.yaml", "settings.json", "*.config.json", "*.config.yaml")
"""Layer 0 (b): files directly in the implementation directory copied to the config root."""
SCRIPT_PATTERNS = ("*.ps1", "*.psm1", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.drawio", "*.drawio.png",
                   "*.md", "*.ndjson", "*.json", "*.license", "dockerfile*")
"""Layer 3 (b, c): script, documentation and asset files, recursive, relative paths kept."""
_JSON_EXCLUDED_PREFIXES = ("package", "tsconfig", "eslint", "babel")
_API_VERSION = re.compile(rb'"apiVersion"\s*:\s*"')
_RESERVED_CHARS = re.compile(r'[<>:"|?*\\\x00-\x1f]')
_RESERVED_NAMES = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in patterns)


def walk_files(root: Path, *, confine: Path) -> Iterator[tuple[str, Path]]:
    """Every file under ``root`` as (relative POSIX path, path), sorted, dot-files included.

    Symlinks to files are followed when their target lies inside ``confine``; a symlink that
    leaves it, a symlink to a directory, or anything that is not a regular file raises
    :class:`UsageError` naming it.
    """
    confine = confine.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in list(dirnames):
            if (base / name).is_symlink():
                raise UsageError(f"{base / name} is a symbolic link to a directory: addon artifacts cannot hold "
                                 "links; replace it with a real directory")
        dirnames.sort()
        for name in sorted(filenames):
            path = base / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(confine):
                    raise UsageError(f"{path} is a symbolic link leaving the addon directory ({target}): "
                                     "copy the file into the addon instead")
            if not path.is_file():
                raise UsageError(f"{path} is not a regular file: addon artifacts hold regular files only")
            yield path.relative_to(root).as_posix(), path


def _config_entries(impl_dir: Path, addon_name: str, manifest: Entry | None, confine: Path) -> list[Entry]:
    entries: dict[str, Entry] = {}
    if manifest is not None:
        entries[MANIFEST_FILE] = manifest
    for child in sorted(impl_dir.iterdir()):
        if child.is_file() and _matches(child.name, CONFIG_ROOT_PATTERNS):
            entries[child.name] = Entry(child.name, child)
    config = impl_dir / "config"
    if config.is_dir():
        for rel, path in walk_files(config, confine=confine):
            entries[f"config/{rel}"] = Entry(f"config/{rel}", path)
    # (d) addon-specific JSON: recursive *.json whose parent folder is named like the addon, copied flat.
    for _rel, path in walk_files(impl_dir, confine=confine):
        if path.parent.name != addon_name or not path.name.lower().endswith(".json"):
            continue
        if path.name.lower().startswith(_JSON_EXCLUDED_PREFIXES):
            continue
        with path.open("rb") as f:
            if _API_VERSION.search(f.read()):
                continue
        entries[path.name] = Entry(path.name, path)
    return list(entries.values())


def _tree(root: Path, confine: Path, prefix: str = "") -> list[Entry]:
    return [Entry(prefix + rel, path) for rel, path in walk_files(root, confine=confine)] if root.is_dir() else []


def _script_entries(impl_dir: Path, confine: Path) -> list[Entry]:
    entries: list[Entry] = []
    readme = impl_dir / "README.md"
    if readme.is_file():
        entries.append(Entry("README.md", readme))
    for rel, path in walk_files(impl_dir, confine=confine):
        if path.name.lower() == "readme.md":
            continue  # only the top README is kept (§2.4 layer 3 (c))
        if _matches(path.name, SCRIPT_PATTERNS):
            entries.append(Entry(rel, path))
    return entries


def layer_entries(impl_dir: Path, addon_name: str, *, manifest: Entry | None,
                  gitops_sync: dict[str, bytes] | None = None) -> dict[LayerKind, list[Entry]]:
    """The members of layers 0-3 for the implementation in ``impl_dir`` (§2.4).

    ``addon_name`` is ``metadata.name`` (rule 0 (d)); ``manifest`` the ``addon.manifest.yaml``
    entry of the config root (the caller decides whether it is filtered); ``gitops_sync`` the files
    injected under ``gitops-sync/`` in the manifests layer, replacing any the addon has. A kind is
    absent from the result when its layer is not built (charts without ``manifests/chart/``, an
    empty config or scripts layer); the manifests layer is always present. Raises
    :class:`UsageError` for links, special files, reserved names and case collisions.
    """
    confine = impl_dir
    manifests_dir = impl_dir / "manifests"
    manifests = [e for e in _tree(manifests_dir, confine) if not e.name.startswith("gitops-sync/")]
    for name, data in sorted((gitops_sync or {}).items()):
        manifests.append(Entry(f"gitops-sync/{name}", data))
    layers: dict[LayerKind, list[Entry]] = {
        LayerKind.CONFIG: _config_entries(impl_dir, addon_name, manifest, confine),
        LayerKind.MANIFESTS: manifests,
        LayerKind.CHARTS: _tree(manifests_dir / "chart", confine),
        LayerKind.SCRIPTS: _script_entries(impl_dir, confine),
    }
    result = {}
    for kind, entries in layers.items():
        if entries or kind is LayerKind.MANIFESTS or (kind is LayerKind.CHARTS and (manifests_dir / "chart").is_dir()):
            result[kind] = sorted(entries, key=lambda e: e.name)
            check_member_names([e.name for e in entries], f"{kind.value} layer of {impl_dir}")
    return result


def left_out(impl_dir: Path, layers: dict[LayerKind, list[Entry]], *, skip: Iterable[Path] = ()) -> list[
        tuple[str, str]]:
    """The files of ``impl_dir`` that none of ``layers`` holds, as ``(relative POSIX path, why)``, sorted.

    K2s's rules [COMPAT] leave them out of the artifact; export reports them so that nothing is dropped
    without a word. ``skip``: paths not to report (other implementations' folders below the addon's).
    """
    taken = {entry.source.resolve() for entries in layers.values() for entry in entries
             if isinstance(entry.source, Path)}
    skipped = [path.resolve() for path in skip]
    missing = []
    for rel, path in walk_files(impl_dir, confine=impl_dir):
        resolved = path.resolve()
        if resolved in taken or rel == MANIFEST_FILE or any(resolved.is_relative_to(s) for s in skipped):
            continue
        if rel.startswith("manifests/gitops-sync/"):
            why = "replaced by the generated gitops-sync/"
        elif path.name.lower() == "readme.md":
            why = "only the top README.md is kept"
        else:
            why = "matches no layer rule"
        missing.append((rel, why))
    return sorted(missing)


def check_member_names(names: Iterable[str], where: str) -> None:
    """Raise :class:`UsageError` for a member name a writer must not emit (§2.9 [COMPAT]): absolute,
    ``..``, Windows-reserved characters or names, or two names equal ignoring case."""
    seen: dict[str, str] = {}
    for name in names:
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts:
            raise UsageError(f"{where}: member {name!r} is absolute or contains '..'")
        for part in parts:
            if _RESERVED_CHARS.search(part) or _RESERVED_NAMES.match(part) or part.endswith((" ", ".")):
                raise UsageError(f"{where}: {name!r} is not a valid file name on Windows nodes "
                                 "(reserved name or one of <>:\"|?*\\): rename it")
        folded = name.casefold()
        if folded in seen and seen[folded] != name:
            raise UsageError(f"{where}: {seen[folded]!r} and {name!r} differ only in case: rename one of them")
        seen[folded] = name
