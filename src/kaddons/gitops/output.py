"""Write generated files into an output directory, replacing only what kaddons wrote there before.

An output directory can hold files of its owner (a ``README``, an overlay's ``apps/``) beside what
kaddons generated. kaddons records what it wrote in :data:`OWNED_FILE` at the top of the directory,
in ``sha256sum`` format (``<hex>  <relative path>`` per line, so ``sha256sum -c`` checks it), and
only ever replaces or removes a file recorded there whose bytes are still what kaddons wrote:

* a file kaddons is about to write that exists and is not recorded (not kaddons'), or is recorded
  but was edited since, is a conflict: nothing is written, and the one-line error names the files;
  ``force`` overwrites edited kaddons files, never files that are not kaddons';
* a recorded file the new output no longer has is removed (``prune``), with its directories once
  empty; an edited one is a conflict unless ``force``;
* a non-empty directory without a record is refused unless ``force`` (then kaddons' files are added
  beside what is there); a directory an older kaddons rendered (no record, its ``kustomization.yaml``
  carries kaddons' header) is taken over with ``force``: the files at kaddons' paths are replaced;
* a file whose bytes already are the new ones is taken over as is (a run that stopped half-way is
  completed by the next one).

Each file is written atomically (temporary file beside it, then renamed); the record is written last.
Every path stays inside the directory: a symlink on the way is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kaddons.errors import UsageError
from kaddons.oci._layoutcore import atomic_file

__all__ = ["OWNED_FILE", "WriteResult", "owned_files", "write_tree"]

OWNED_FILE = ".kaddons-owned"
"""The record of the files kaddons wrote in an output directory (``sha256sum`` format)."""
_LEGACY_HEADERS = (b"# addon-sync for ", b"# addon-sync registration of ")
_MAX_LISTED = 5


@dataclass
class WriteResult:
    """What :func:`write_tree` did: relative POSIX paths ``written`` (new or changed), ``unchanged`` and
    ``removed``, and the ``directory``."""

    directory: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_relative(rel: str) -> PurePosixPath | None:
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or any(part in ("", ".", "..") for part in rel.split("/")):
        return None
    return path


def owned_files(directory: str | Path) -> dict[str, str]:
    """The record of ``directory``: relative POSIX path -> sha256 hex of the bytes kaddons wrote.

    ``{}`` when there is no record. Raises :class:`UsageError` when the record is unreadable, or names a
    path outside the directory (the record is input like any other).
    """
    path = Path(directory) / OWNED_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is unreadable ({exc}): remove it only if nothing in {directory} is kaddons'") \
            from None
    owned: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        hexdigest, sep, rel = line.partition("  ")
        if not line.strip():
            continue
        if not sep or len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest) \
                or _check_relative(rel) is None:
            raise UsageError(f"{path} line {number} is not '<sha256>  <relative path>': fix or remove the line")
        owned[rel] = hexdigest
    return owned


def _inside(directory: Path, rel: str) -> Path:
    """``directory/rel`` after checking that no existing component on the way is a symlink."""
    current = directory
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            raise UsageError(f"{current} is a symbolic link: kaddons writes only inside {directory}; "
                             "replace the link with a directory or choose another --output-dir")
    return current


def _read(path: Path) -> bytes | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise UsageError(f"{path} is in the way of a generated file and is not a file: move it away or choose "
                         "another --output-dir")
    return path.read_bytes()


def _is_legacy(directory: Path) -> bool:
    """An output of kaddons before the record existed: its kustomization.yaml starts with kaddons' header."""
    try:
        with open(directory / "kustomization.yaml", "rb") as handle:
            head = handle.read(200)
    except OSError:
        return False
    return head.startswith(_LEGACY_HEADERS)


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MAX_LISTED])
    return shown + (f" and {len(paths) - _MAX_LISTED} more" if len(paths) > _MAX_LISTED else "")


def _check_target(directory: Path) -> bool:
    """Whether ``directory`` exists; raises :class:`UsageError` when it is not a directory."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise UsageError(f"output {directory} exists and is not a directory: choose another --output-dir")
    return directory.exists()


def _remove_empty_parents(directory: Path, rel: str) -> None:
    parent = (directory / rel).parent
    while parent != directory:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def write_tree(files: Mapping[str, bytes], directory: str | Path, *, force: bool = False,
               prune: bool = True) -> WriteResult:
    """Write ``files`` (POSIX relative path -> bytes) into ``directory``, touching only kaddons' files.

    See the module for the rules. ``prune``: remove recorded files that ``files`` does not have (a
    render); without it, recorded files are kept (``register`` adds to a directory). Parents are
    created. Nothing is written when any file is in conflict. Raises :class:`UsageError` (one line
    naming the files and the way out) for conflicts, a target that is not a directory, a symlink on
    the way, or a damaged record; ``OSError`` for file-system failures.
    """
    target = Path(directory)
    exists = _check_target(target)
    owned = owned_files(target) if exists else {}
    legacy = exists and not owned and _is_legacy(target)
    if exists and not owned and not force and any(target.iterdir()):
        kind = "an earlier kaddons output without a record of its files" if legacy else "not empty"
        raise UsageError(f"output directory {target} is {kind}: pass --force to add kaddons' files beside what is "
                         "there (files that are not kaddons' are never changed), or choose a new --output-dir")
    plan: dict[str, bytes] = {}
    result = WriteResult(target)
    foreign: list[str] = []
    edited: list[str] = []
    for rel, data in sorted(files.items()):
        if _check_relative(rel) is None or rel == OWNED_FILE:
            raise ValueError(f"generated path {rel!r} is not a relative path inside the output")
        current = _read(_inside(target, rel)) if exists else None
        if current is None:
            plan[rel] = data
        elif current == data:
            result.unchanged.append(rel)
        elif rel in owned and _sha256(current) == owned[rel]:
            plan[rel] = data
        elif rel in owned or legacy:
            edited.append(rel)
            plan[rel] = data
        else:
            foreign.append(rel)
    stale = [rel for rel in sorted(owned) if rel not in files] if prune else []
    remove: list[str] = []
    for rel in stale:
        current = _read(_inside(target, rel))
        if current is None:
            continue
        if _sha256(current) != owned[rel]:
            edited.append(rel)
        remove.append(rel)
    if foreign:
        raise UsageError(f"output directory {target}: {_listed(foreign)} would be overwritten and "
                         f"{'is' if len(foreign) == 1 else 'are'} not kaddons': move "
                         f"{'it' if len(foreign) == 1 else 'them'} away or choose another --output-dir")
    if edited and not force:
        raise UsageError(f"output directory {target}: {_listed(sorted(edited))} "
                         f"{'was' if len(edited) == 1 else 'were'} changed since kaddons wrote "
                         f"{'it' if len(edited) == 1 else 'them'}: pass --force to replace the changes, or keep "
                         "them elsewhere first")
    target.mkdir(parents=True, exist_ok=True)
    for rel, data in plan.items():
        path = target.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as out:
            out.write(data)
        result.written.append(rel)
    for rel in remove:
        path = target.joinpath(*rel.split("/"))
        path.unlink(missing_ok=True)
        _remove_empty_parents(target, rel)
        result.removed.append(rel)
    record = {rel: owned[rel] for rel in owned if rel not in stale and rel not in files}
    record.update({rel: _sha256(data) for rel, data in files.items()})
    with atomic_file(target / OWNED_FILE) as out:
        out.write("".join(f"{digest}  {rel}\n" for rel, digest in sorted(record.items())).encode("utf-8"))
    return result
