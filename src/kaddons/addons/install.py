"""The one place that changes an addons directory (spec §3.4-3.6, §4.7-4.8; fixes §8.6, §8.22, §8.24).

Import and sync stage what they extract under ``<addons-dir>/.kaddons/staging/`` (same file system,
and a dot-directory, so discovery never sees it), then call :func:`install_implementation`, which
builds the complete new addon folder in staging and puts it in place in one atomic step:

* single-implementation addon (implementation name == addon name): the staged folder, with the
  imported ``addon.manifest.yaml`` verbatim, becomes ``<addons-dir>/<addon>/`` (K2s §3.6);
* multi-implementation: a new ``<addon>/`` is built with the other implementations hard-linked from
  the installed one (same inodes, no byte copied), the staged folder as ``<impl>/`` (never with a
  stray manifest in it, §7.5 item 6) and the merged ``addon.manifest.yaml``
  (:func:`~kaddons.addons.merge.merge_manifest`).

The new folder and the installed one are exchanged by ``renameat2(RENAME_EXCHANGE)``
(:mod:`._exchange`): at every moment a reader sees the complete old addon or the complete new one, its
manifest always listing exactly the implementations whose folders are there, and no temporary file
inside (catalog files are written with their temporary file in staging, :func:`write_catalog_file`).
A first install is one rename. On a file system without the exchange, the installed folder is renamed
away and the new one into place, with a journal that :func:`recover` uses to put the old one back after
a crash between the two. The replaced implementation is then kept as ``.kaddons/previous/<export
name>/`` (its ``addon.manifest.yaml`` renamed so that K2s's unlimited-depth discovery never sees a
duplicate), with ``previous/<export name>.kept.json`` saying what it is (its sync record; for a
multi-implementation addon, the addon manifest that listed it), for :func:`take_previous` (``kaddons
rollback``). The implementation folder is replaced, not merged into: files removed from the artifact
disappear (K2s merges, §8.22). Other implementations' files are never changed. Everything here runs
under :func:`catalog_lock`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from kaddons.errors import AddonManifestError, ContentError, KaddonsError, NotFoundError, UnsafeContentError
from kaddons.oci._layoutcore import atomic_file

from ._exchange import exchange
from .catalog import digest_path, sidecar_path
from .manifest import MANIFEST_FILE, MAX_MANIFEST_SIZE, AddonManifest, load_manifest, parse_manifest_bytes
from .merge import merge_manifest
from .names import check_name, export_name, is_single_implementation

__all__ = [
    "IMAGES_DIR", "PACKAGES_DIR", "PREVIOUS_MANIFEST", "STATE_DIR", "InstalledImplementation", "KeptVersion",
    "StagedImplementation", "catalog_lock", "install_implementation", "install_shared", "kept_path", "kept_record",
    "merge_tree", "new_staging", "put_back", "recover", "same_tree", "state_dir", "take_previous",
    "write_catalog_file",
]

STATE_DIR = ".kaddons"
"""kaddons' own folder in the addons directory: ``lock``, ``staging/``, ``previous/``."""
IMAGES_DIR = ".images"
"""``<addons-dir>/.images/<addon>/``: the image archives of an addon's images layers."""
PACKAGES_DIR = ".packages"
"""``<addons-dir>/.packages/<addon>/``: the content of an addon's packages layer."""
PREVIOUS_MANIFEST = f"{MANIFEST_FILE}.previous"
"""The name a kept previous version's manifest has, so that no discovery finds it."""
_SHARED_AREAS = (IMAGES_DIR, PACKAGES_DIR)
_KEPT_SUFFIX = ".kept.json"


def state_dir(addons_dir: Path) -> Path:
    """``<addons-dir>/.kaddons``."""
    return Path(addons_dir) / STATE_DIR


@contextlib.contextmanager
def catalog_lock(addons_dir: Path, *, timeout: float = 600.0) -> Iterator[None]:
    """Hold the catalog lock ``<addons-dir>/.kaddons/lock`` (a :mod:`filelock` file lock; §8.24).

    Waits up to ``timeout`` seconds; raises :class:`~kaddons.errors.KaddonsError` naming the lock when
    another process keeps it, ``OSError`` when the state folder cannot be created.
    """
    path = state_dir(addons_dir) / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise KaddonsError(f"another kaddons process is changing {addons_dir} (lock {path} held for more than "
                           f"{timeout:g} s): try again when it is done") from None
    try:
        yield
    finally:
        lock.release()


def new_staging(addons_dir: Path, label: str) -> Path:
    """A new empty folder ``<addons-dir>/.kaddons/staging/<label>-XXXXXXXX/`` (the caller removes it)."""
    root = state_dir(addons_dir) / "staging"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=root, prefix=f"{label}-"))


@dataclass(frozen=True)
class StagedImplementation:
    """A complete implementation in a staging folder, ready to install.

    ``directory`` holds the implementation's files (a manifest in it is replaced or dropped);
    ``manifest`` is the imported ``addon.manifest.yaml``, byte for byte.
    """

    addon: str
    implementation: str
    directory: Path
    manifest: bytes


@dataclass(frozen=True)
class InstalledImplementation:
    """Where :func:`install_implementation` put an implementation: its ``directory``, the addon's
    ``manifest_path``, and ``files``, the relative POSIX paths of the files in ``directory``, sorted.
    ``unchanged``: the same content was installed already, so nothing moved (the kept previous version
    and the sync record stay as they were)."""

    addon: str
    implementation: str
    export_name: str
    directory: Path
    manifest_path: Path
    files: list[str]
    unchanged: bool = False


def write_catalog_file(addons_dir: Path, path: Path, data: bytes) -> None:
    """Write ``path`` (a file of the catalog outside ``.kaddons/``: a sync record, an addon file) atomically,
    its temporary file in ``.kaddons/staging/`` so that no reader ever sees one beside it, even after a crash
    (:func:`recover` clears staging). Raises ``OSError``."""
    staging = state_dir(addons_dir) / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, tmp_dir=staging) as out:
        out.write(data)


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as out:
        out.write(data)


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def _entries(directory: Path) -> dict[str, bool]:
    """Relative POSIX path -> whether it is a directory, for everything under ``directory`` (links as files)."""
    return {p.relative_to(directory).as_posix(): p.is_dir() and not p.is_symlink() for p in directory.rglob("*")}


def _same_files(a: Path, b: Path) -> bool:
    """Whether two regular files have the same bytes (compared in chunks; never read whole)."""
    if a.is_symlink() or b.is_symlink() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as left, open(b, "rb") as right:
        while True:
            chunk = left.read(1 << 20)
            if chunk != right.read(1 << 20):
                return False
            if not chunk:
                return True


def same_tree(staged: Path, installed: Path) -> bool:
    """Whether ``installed`` holds exactly the files of ``staged``: the same paths, folders and bytes."""
    if installed.is_symlink() or not installed.is_dir():
        return False
    entries = _entries(staged)
    if entries != _entries(installed):
        return False
    return all(is_dir or _same_files(staged / rel, installed / rel) for rel, is_dir in entries.items())


def _record_paths(addons_dir: Path, name: str) -> tuple[Path, Path]:
    return digest_path(addons_dir, name), sidecar_path(addons_dir, name)


@contextlib.contextmanager
def _record_cleared(addons_dir: Path, name: str) -> Iterator[None]:
    """Remove the sync record of ``name`` (K2s's digest file and the sidecar) while its content changes, so
    that no record ever names content that is not on disk; put it back if the change fails. The writer
    records anew afterwards (sync), or leaves the addon unrecorded (import: not from a registry)."""
    kept: dict[Path, bytes] = {}
    for path in _record_paths(addons_dir, name):
        with contextlib.suppress(FileNotFoundError):
            kept[path] = path.read_bytes()
            path.unlink()
    try:
        yield
    except BaseException:
        for path, data in kept.items():
            with contextlib.suppress(OSError):
                write_catalog_file(addons_dir, path, data)
        raise


def _previous(addons_dir: Path) -> Path:
    return state_dir(addons_dir) / "previous"


def kept_path(addons_dir: Path, name: str) -> Path:
    """``<addons-dir>/.kaddons/previous/<name>.kept.json``: what the kept previous version of ``name`` is."""
    return _previous(Path(addons_dir)) / f"{name}{_KEPT_SUFFIX}"


def _restore(previous: Path, target: Path) -> None:
    """Move a kept version back to ``target`` (its manifest renamed back): the legacy journal's repair."""
    if (previous / PREVIOUS_MANIFEST).is_file():
        os.replace(previous / PREVIOUS_MANIFEST, previous / MANIFEST_FILE)
    os.rename(previous, target)


def _journal_target(addons_dir: Path, relative: object) -> Path | None:
    parts = relative.split("/") if isinstance(relative, str) else []
    if 1 <= len(parts) <= 2 and not any(check_name(part) for part in parts):
        return addons_dir.joinpath(*parts)
    return None


def _inside_staging(addons_dir: Path, relative: object) -> Path | None:
    """A path a journal names under ``.kaddons/staging/`` (and nowhere else), or ``None``."""
    if not isinstance(relative, str):
        return None
    root = (state_dir(addons_dir) / "staging").resolve()
    path = (addons_dir / relative).resolve()
    return path if path.is_relative_to(root) and path != root else None


def _link_tree(source: Path, target: Path) -> None:
    """A copy of ``source`` at ``target`` made of hard links (the same inodes: no byte is copied), or of real
    copies where the file system has no hard links. Symlinks are not expected in a catalog and refused."""
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        there = target / here.relative_to(source)
        there.mkdir(mode=0o755, exist_ok=True)
        for name in dirs:
            if (here / name).is_symlink():
                raise ContentError(f"{here / name} is a symbolic link: an addon folder holds none; remove it")
        for name in files:
            if (here / name).is_symlink():
                raise ContentError(f"{here / name} is a symbolic link: an addon folder holds none; remove it")
            try:
                os.link(here / name, there / name)
            except OSError:
                shutil.copy2(here / name, there / name)


def _commit(addons_dir: Path, new: Path, target: Path, name: str, impl: str | None,
            kept: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """Put the complete addon folder ``new`` at ``target`` in one atomic step, then keep what it replaced.

    ``impl``: the implementation folder of a multi-implementation addon (``None``: the whole folder is
    the implementation). A first install is one rename. Otherwise a journal (``previous/<name>.json``:
    the target, where the old folder goes, the new folder's inode) is written, the two folders are
    exchanged by ``renameat2(RENAME_EXCHANGE)`` (where the file system cannot, the old folder is renamed
    away and the new one into place; :func:`recover` undoes a crash between the two), and
    the caller then calls :func:`_finish` with the returned journal and record, which moves the replaced
    implementation to ``previous/<name>/`` and drops the rest (``None``: nothing was replaced). At no
    moment does a reader see a mix of versions, an implementation listed without its folder, or a gap.
    """
    if not target.exists() and not target.is_symlink():
        os.rename(new, target)
        return None
    previous_root = _previous(addons_dir)
    previous_root.mkdir(parents=True, exist_ok=True)
    journal = previous_root / f"{name}.json"
    old = new.with_name(f"{new.name}.replaced")
    record: dict[str, Any] = {"target": target.relative_to(addons_dir).as_posix(),
                              "new": new.relative_to(addons_dir).as_posix(), "inode": new.stat().st_ino,
                              "impl": impl, "kept": kept}
    record["old"] = record["new"]  # after the exchange, ``new``'s path holds the old folder
    _write_atomic(journal, json.dumps(record).encode())  # before: recover() tells by the inode whether it happened
    if not exchange(new, target):
        record["old"] = old.relative_to(addons_dir).as_posix()
        _write_atomic(journal, json.dumps(record).encode())
        os.rename(target, old)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(old, target)
            journal.unlink()
            raise
    return journal, record


def _finish(addons_dir: Path, journal: Path, record: dict[str, Any]) -> None:
    """The swap ``record`` describes is done: keep the replaced implementation, drop the rest, the journal last."""
    name = journal.stem
    old = _inside_staging(addons_dir, record.get("old"))
    target = _journal_target(addons_dir, record.get("target"))
    impl = record.get("impl")
    if old is not None and target is not None and old.is_dir():
        replaced = old / impl if isinstance(impl, str) and not check_name(impl) else old
        if replaced.is_dir():
            previous = _previous(addons_dir) / name
            kept_path(addons_dir, name).unlink(missing_ok=True)  # first: a half-removed old version is never "kept"
            if previous.exists():
                shutil.rmtree(previous)
            found = record.get("kept")
            kept: dict[str, Any] = found if isinstance(found, dict) else {}
            _write_atomic(kept_path(addons_dir, name), json.dumps({
                "target": record["target"] if not isinstance(impl, str) else f"{record['target']}/{impl}",
                **kept}).encode())
            if (replaced / MANIFEST_FILE).is_file():
                os.replace(replaced / MANIFEST_FILE, replaced / PREVIOUS_MANIFEST)
            os.rename(replaced, previous)
        shutil.rmtree(old, ignore_errors=True)
    journal.unlink(missing_ok=True)


def _replay_legacy(addons_dir: Path, journal: Path, record: dict[str, Any]) -> bool:
    """Undo or complete an install journaled by kaddons before the whole-folder swap; True when restored."""
    previous = journal.parent / journal.stem
    target = _journal_target(addons_dir, record.get("target"))
    if target is None:
        return False
    staged = record.get("staged")
    staged_gone = not isinstance(staged, str) or not (addons_dir / staged).exists()
    if not target.exists():
        if record.get("moved", True) and previous.is_dir():  # crashed between the two renames
            target.parent.mkdir(parents=True, exist_ok=True)
            _restore(previous, target)
            return True
        return False
    manifest = record.get("manifest")
    if staged_gone and isinstance(manifest, str) and target.parent != addons_dir:
        write_catalog_file(addons_dir, target.parent / MANIFEST_FILE, manifest.encode("utf-8"))  # finish it
    return False


def _replay(addons_dir: Path, journal: Path) -> bool:
    """Undo or complete the install ``journal`` describes; True when the previous version was put back."""
    try:
        record = json.loads(journal.read_bytes())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        return False
    if "inode" not in record:
        return _replay_legacy(addons_dir, journal, record)
    target = _journal_target(addons_dir, record.get("target"))
    old = _inside_staging(addons_dir, record.get("old"))
    if target is None or old is None:
        return False
    if not target.exists() and old.is_dir():  # renamed away, the new folder not yet in place: put it back
        os.rename(old, target)
        return True
    if target.is_dir() and target.stat().st_ino == record.get("inode"):
        _finish(addons_dir, journal, record)  # the new folder is in place: keep the old one, as the install would
    return False


def recover(addons_dir: Path) -> list[str]:
    """Repair what a crash in the middle of an install left, and drop stale staging folders.

    Call it holding :func:`catalog_lock`, before installing. For every install whose journal is still
    there: when the new folder is in place, the replaced implementation is kept as the install would
    have kept it; when the old folder had been renamed away and the new one was not yet in place (file
    systems without an atomic exchange), the old one is put back. Journals of older kaddons versions are
    replayed as they were written. Returns the export names put back to their previous version.
    """
    addons_dir = Path(addons_dir)
    restored = []
    previous_root = _previous(addons_dir)
    journals = sorted(previous_root.glob("*.json")) if previous_root.is_dir() else []
    for journal in journals:
        if check_name(journal.stem) is not None:  # <name>.kept.json and strangers
            continue
        if _replay(addons_dir, journal):
            restored.append(journal.stem)
        journal.unlink(missing_ok=True)
    staging = state_dir(addons_dir) / "staging"
    if staging.is_dir():
        for leftover in staging.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)  # a temporary file of a catalog write
    return restored


def _check_names(*names: tuple[str, str]) -> None:
    for name, what in names:
        problem = check_name(name, what)
        if problem:
            raise UnsafeContentError(f"{problem}: refusing to use it as a folder name")


def _check_manifest(staged: StagedImplementation) -> AddonManifest:
    source = f"imported {MANIFEST_FILE} of {export_name(staged.addon, staged.implementation)}"
    manifest = parse_manifest_bytes(staged.manifest, source)
    if manifest.metadata.name != staged.addon:
        raise AddonManifestError(source, f"metadata.name is {manifest.metadata.name!r}, not {staged.addon!r}")
    names = [impl.name for impl in manifest.spec.implementations]
    if staged.implementation not in names:
        raise AddonManifestError(source, f"spec.implementations has no {staged.implementation!r} "
                                         f"(it has: {', '.join(names)})")
    return manifest


def _read_manifest(path: Path) -> str | None:
    if not path.exists():
        return None
    load_manifest(path)  # size limit and a message naming the file
    return path.read_bytes()[:MAX_MANIFEST_SIZE].decode("utf-8-sig")


def install_implementation(addons_dir: Path, staged: StagedImplementation, *,
                           record: Mapping[str, Any] | None = None) -> InstalledImplementation:
    """Move ``staged`` into the catalog at ``addons_dir`` (see the module for where and how).

    The staged folder is consumed; its parent (a staging folder of the caller) is used to build the new
    addon folder. Hold :func:`catalog_lock` and call :func:`recover` first. The version it replaces is
    kept as ``.kaddons/previous/<export name>/`` (one per export name) with ``record`` (the sync record
    of the replaced version, JSON-serialisable, or ``None``) and, for a multi-implementation addon, the
    addon manifest it was listed in: :func:`take_previous` gives it back.
    Raises :class:`~kaddons.errors.UnsafeContentError` for addon or implementation names that break
    the name rule (checked before any path is built), :class:`~kaddons.errors.AddonManifestError`
    when the imported manifest is invalid or is not for this addon and implementation, or the
    installed manifest cannot be merged with it, :class:`~kaddons.errors.ContentError` when a
    single-implementation import would replace a folder holding another addon or other
    implementations, or an implementation would be added to a single-implementation addon,
    ``OSError`` for file-system failures.

    When the installed implementation already has exactly the staged files (and, multi-implementation,
    the addon manifest would not change), nothing moves: the result says ``unchanged``, the kept previous
    version and the sync record stay. Otherwise the sync record of the export name (K2s's digest file
    and kaddons' sidecar) is removed before anything moves, whoever installs: the caller records the new
    content once it is in place (sync), or leaves it unrecorded (import).
    """
    addons_dir = Path(addons_dir)
    addon, impl = staged.addon, staged.implementation
    _check_names((addon, "addon name"), (impl, "implementation name"))
    _check_manifest(staged)
    name = export_name(addon, impl)
    base = addons_dir / addon
    manifest_path = base / MANIFEST_FILE
    stray = staged.directory / MANIFEST_FILE
    if base.is_symlink() or (base.exists() and not base.is_dir()):
        raise ContentError(f"{base} exists and is not a directory: move it away and import again")
    staged.directory.chmod(0o755)
    if is_single_implementation(addon, impl):
        if manifest_path.exists():
            current = load_manifest(manifest_path)
            others = [i.name for i in current.spec.implementations if i.name != addon]
            if current.metadata.name != addon or others:
                raise ContentError(f"{base} holds addon {current.metadata.name!r} with implementations "
                                   f"{', '.join(i.name for i in current.spec.implementations)}: refusing to replace "
                                   f"it with the single-implementation addon {addon!r}; remove the folder first")
        files = sorted({*_files(staged.directory), MANIFEST_FILE})
        _write_atomic(stray, staged.manifest)
        if same_tree(staged.directory, base):
            shutil.rmtree(staged.directory)
            return InstalledImplementation(addon, impl, name, base, manifest_path, files, unchanged=True)
        with _record_cleared(addons_dir, name):
            pending = _commit(addons_dir, staged.directory, base, name, None, {"record": record, "manifest": None})
        if pending is not None:  # the new version is in place: from here on the old record must stay gone
            _finish(addons_dir, *pending)
        return InstalledImplementation(addon, impl, name, base, manifest_path, files)
    installed = _read_manifest(manifest_path)
    if installed is not None:
        current = load_manifest(manifest_path)
        listed = [i.name for i in current.spec.implementations]
        if impl not in listed and addon in listed:  # an artifact must not turn a single addon into a multi one
            raise ContentError(f"{base} holds the single-implementation addon {addon!r}: refusing to add an "
                               f"implementation {impl!r} to it; remove {base} first if that is what you want")
    merged = merge_manifest(installed, staged.manifest.decode("utf-8-sig"), only=[impl],
                            existing_source=str(manifest_path),
                            imported_source=f"imported {MANIFEST_FILE} of {name}")
    if stray.exists() or stray.is_symlink():
        stray.unlink()
    files = _files(staged.directory)
    target = base / impl
    if installed == merged and same_tree(staged.directory, target):
        shutil.rmtree(staged.directory)
        return InstalledImplementation(addon, impl, name, target, manifest_path, files, unchanged=True)
    # The whole new addon folder is built beside the staged implementation: the other implementations as
    # hard links (their files keep their inodes), this one, and the merged manifest; then one swap.
    new = staged.directory.parent / f"{addon}.addon"
    new.mkdir(mode=0o755)
    if base.is_dir():
        for entry in sorted(base.iterdir()):
            if entry.name in (impl, MANIFEST_FILE):
                continue
            if entry.is_dir() and not entry.is_symlink():
                _link_tree(entry, new / entry.name)
            elif entry.is_file() and not entry.is_symlink():
                try:
                    os.link(entry, new / entry.name)
                except OSError:
                    shutil.copy2(entry, new / entry.name)
    os.rename(staged.directory, new / impl)
    _write_atomic(new / MANIFEST_FILE, merged.encode("utf-8"))
    with _record_cleared(addons_dir, name):
        pending = _commit(addons_dir, new, base, name, impl, {"record": record, "manifest": installed})
    if pending is not None:  # the new version is in place: from here on the old record must stay gone
        _finish(addons_dir, *pending)
    return InstalledImplementation(addon, impl, name, target, manifest_path, files)


@dataclass(frozen=True)
class KeptVersion:
    """A kept previous version taken out of ``.kaddons/previous/`` by :func:`take_previous`: ``staged``
    (ready for :func:`install_implementation`), the ``record`` it was kept with, and the ``staging``
    folder holding it (the caller removes it)."""

    staged: StagedImplementation
    record: Any
    staging: Path
    info: dict[str, Any]


def _kept_info(addons_dir: Path, name: str) -> dict[str, Any]:
    try:
        info = json.loads(kept_path(addons_dir, name).read_bytes())
    except FileNotFoundError:
        info = None
    except (OSError, ValueError):
        raise ContentError(f"{kept_path(addons_dir, name)} is unreadable: the previous version of {name} cannot be "
                           "restored") from None
    if not isinstance(info, dict):
        raise NotFoundError(f"no previous version of {name} is kept in {addons_dir}: one is kept when an install "
                            "or sync replaces it")
    return info


def take_previous(addons_dir: Path, name: str) -> KeptVersion:
    """Move the kept previous version of export name ``name`` out of ``.kaddons/previous/`` into a staging folder.

    Hold :func:`catalog_lock` and call :func:`recover` first. The kept version is gone from
    ``previous/`` afterwards: install it (which keeps the version it replaces in its place) or lose it.
    Raises :class:`~kaddons.errors.NotFoundError` when none is kept,
    :class:`~kaddons.errors.ContentError` when its bookkeeping is damaged, ``OSError``.
    """
    addons_dir = Path(addons_dir)
    _check_names((name, "export name"))
    previous = _previous(addons_dir) / name
    info = _kept_info(addons_dir, name) if previous.is_dir() else None
    if info is None:
        raise NotFoundError(f"no previous version of {name} is kept in {addons_dir}: one is kept when an install "
                            "or sync replaces it")
    target = _journal_target(addons_dir, info.get("target"))
    parts = target.relative_to(addons_dir).parts if target is not None else ()
    addon, impl = (parts[0], parts[-1]) if parts else ("", "")
    if not parts or export_name(addon, impl) != name:
        raise ContentError(f"{kept_path(addons_dir, name)} does not describe {name}: cannot restore it")
    if is_single_implementation(addon, impl):
        path = previous / PREVIOUS_MANIFEST
        manifest = path.read_bytes() if path.is_file() else None
    else:
        text = info.get("manifest")
        manifest = text.encode("utf-8") if isinstance(text, str) else None
    if manifest is None:
        raise ContentError(f"the kept previous version of {name} has no {MANIFEST_FILE}: cannot restore it")
    staging = new_staging(addons_dir, f"{name}-previous")
    os.rename(previous, staging / "impl")
    kept_path(addons_dir, name).unlink(missing_ok=True)
    (staging / "impl" / PREVIOUS_MANIFEST).unlink(missing_ok=True)
    return KeptVersion(StagedImplementation(addon, impl, staging / "impl", manifest), info.get("record"), staging,
                       info)


def put_back(addons_dir: Path, kept: KeptVersion) -> None:
    """Return a version :func:`take_previous` took and that could not be installed to ``previous/``.

    Does nothing when its folder is gone (consumed by an install that then failed and rolled back).
    """
    addons_dir = Path(addons_dir)
    staged = kept.staged
    if not staged.directory.is_dir():
        return
    name = export_name(staged.addon, staged.implementation)
    previous = _previous(addons_dir) / name
    if previous.exists():
        return  # the failed install kept the version it was replacing there: that one stays
    stray = staged.directory / MANIFEST_FILE
    if stray.exists():
        stray.unlink()
    if is_single_implementation(staged.addon, staged.implementation):
        _write_atomic(staged.directory / PREVIOUS_MANIFEST, staged.manifest)
    _write_atomic(kept_path(addons_dir, name), json.dumps(kept.info).encode())
    os.rename(staged.directory, previous)


def kept_record(addons_dir: Path, name: str) -> tuple[bool, Any]:
    """Whether a previous version of ``name`` is kept, and the record it was kept with (``None`` if none)."""
    if not (_previous(Path(addons_dir)) / name).is_dir():
        return False, None
    try:
        return True, _kept_info(Path(addons_dir), name).get("record")
    except (NotFoundError, ContentError):
        return False, None


def merge_tree(source: Path, target: Path, *, what: str, dry_run: bool = False) -> list[str]:
    """Move every file of ``source`` into ``target`` (created as needed), each by an atomic rename that
    replaces a file of exactly the same name. Returns the files' relative POSIX paths, sorted.

    ``dry_run``: check only, move nothing (a preflight before anything is installed). Raises
    :class:`~kaddons.errors.UnsafeContentError` (naming ``what``) when a name collides, ignoring case,
    with a different name in ``target``, or a file meets a directory; ``OSError`` otherwise.
    """
    moved = []
    for path in sorted(source.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(source)
        destination = target
        for depth, part in enumerate(relative.parts, start=1):
            known = {entry.lower(): entry for entry in os.listdir(destination)} if destination.is_dir() else {}
            clash = known.get(part.lower())
            if clash is not None and clash != part:
                raise UnsafeContentError(f"{what}: {relative.as_posix()!r} collides with {clash!r} in {destination} "
                                         "when case is ignored: refusing it")
            destination = destination / part
            is_last = depth == len(relative.parts)
            if destination.exists() and destination.is_dir() == is_last:
                kind = "directory" if is_last else "file"
                raise UnsafeContentError(f"{what}: {relative.as_posix()!r} conflicts with the {kind} {destination}: "
                                         "refusing it")
        moved.append(relative.as_posix())
        if not dry_run:
            destination.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            os.replace(path, destination)
    return moved


def install_shared(addons_dir: Path, area: str, addon: str, staged: Path, *, dry_run: bool = False) -> list[str]:
    """Move the files of ``staged`` into ``<addons-dir>/<area>/<addon>/`` (``area`` is :data:`IMAGES_DIR`
    or :data:`PACKAGES_DIR`), shared by the implementations of ``addon``: files of the same name are
    replaced, others stay. ``dry_run`` checks only. Returns the relative paths; raises as :func:`merge_tree`, and
    :class:`~kaddons.errors.UnsafeContentError` for an invalid addon name.
    """
    if area not in _SHARED_AREAS:
        raise ValueError(f"area must be one of {_SHARED_AREAS}, not {area!r}")
    _check_names((addon, "addon name"))
    target = Path(addons_dir) / area / addon
    return merge_tree(staged, target, what=f"{area}/{addon}", dry_run=dry_run)
