"""Editing the files of a cluster document as one change (issue 14): the helpers every lifecycle operation
shares. An operation computes the new text of each file, :func:`edit_and_apply` writes them (each atomically),
applies (:func:`~kaddons.operations.apply.apply_cluster`: validated, rendered, committed, pushed) and, on any
failure or a dry run, puts every file back as it was.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .apply import ApplyOptions, ApplyResult, Preflight, apply_cluster

if TYPE_CHECKING:
    from kaddons.stacks.load import LoadedCluster

__all__ = ["dump_yaml", "edit_and_apply", "edit_and_apply_removing", "entry_at", "parent_key", "prune_empty",
           "restore_files", "restore_keys", "write_atomic"]


def entry_at(data: Any, path: tuple[str | int, ...]) -> Any:
    """The node of ``data`` at the YAML ``path`` (keys and indexes, as :class:`~kaddons.stacks.load.MemberSource`
    records it)."""
    node = data
    for step in path:
        node = node[step]
    return node


def dump_yaml(yaml: Any, data: Any) -> str:
    """``data`` (a ruamel round-trip tree) as text, through ``yaml`` (the loader that read it)."""
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and a rename; folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.kaddons-tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def restore_files(before: dict[Path, str | None]) -> None:
    """Put each file back to its text in ``before`` (``None``: it did not exist, so it is removed)."""
    for path, text in before.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, text)


class _DryRun(Exception):
    def __init__(self, result: ApplyResult) -> None:
        super().__init__("dry run")
        self.result = result


def edit_and_apply(document: Path, files: dict[Path, str], options: ApplyOptions,
                   preflight: Preflight | None) -> ApplyResult:
    """Write ``files`` (path -> new text), apply; on any failure, or a dry run, put every file back (a file that
    was new is removed, with the folders left empty). Returns the apply's result."""
    before = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in files}
    try:
        for path, text in files.items():
            write_atomic(path, text)
        result = apply_cluster(document, options, preflight=preflight)
        if options.dry_run:
            raise _DryRun(result)
        return result
    except _DryRun as done:
        restore_files(before)
        return done.result
    except BaseException:
        restore_files(before)
        raise
    finally:
        prune_empty({path.parent for path, text in before.items() if text is None and not path.exists()},
                    document.absolute().parent)


def prune_empty(folders: set[Path], root: Path) -> None:
    """Remove the folders of ``folders`` (and their parents below ``root``) that are left empty."""
    root = root.resolve()
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        current = folder.resolve()
        while current != root and current.is_relative_to(root):
            try:
                current.rmdir()
            except OSError:
                break
            current = current.parent


def restore_keys(entry: Any, old: Any, keys: tuple[str, ...]) -> None:
    """Make each of ``keys`` of mapping ``entry`` what it is in ``old``: copied when there, removed when not."""
    for key in keys:
        if key in old:
            entry[key] = old[key]
        elif key in entry:
            del entry[key]


def parent_key(parent: Any) -> tuple[str, str] | None:
    """``(kind, name)`` of a parent as a document writes it (``{addon: x}`` or ``{kind: addon, name: x}``), or
    ``None`` for anything else."""
    if not isinstance(parent, dict):
        return None
    if "kind" in parent and "name" in parent:
        return str(parent["kind"]).lower(), str(parent["name"])
    for kind in ("addon", "manifest", "catalog"):
        if kind in parent:
            return kind, str(parent[kind])
    return None


def edit_and_apply_removing(loaded: LoadedCluster, files: dict[Path, str], removed: list[Path],
                            options: ApplyOptions, message: str, preflight: Preflight | None) -> ApplyResult:
    """:func:`edit_and_apply` with ``message``, the files of ``removed`` deleted too (put back on a failure or a
    dry run; the folders they leave empty pruned) and the deletions staged."""
    root = loaded.repository.resolve()
    repo_removed = tuple(p.resolve().relative_to(root).as_posix() for p in removed)
    before: dict[Path, str | None] = {path: path.read_text(encoding="utf-8") for path in removed}
    for path in removed:
        path.unlink()
    try:
        result = edit_and_apply(loaded.path, files, ApplyOptions(options.engine, options.git_url, message,
                                                                 options.dry_run, repo_removed), preflight)
    except BaseException:
        restore_files(before)
        raise
    if options.dry_run:
        restore_files(before)
    else:
        prune_empty({path.parent for path in removed}, root)
    return result


