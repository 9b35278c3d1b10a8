"""Write a rendered file tree to ``-o DIR`` without clobbering anything and without half-written states."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kaddons.errors import UsageError

__all__ = ["write_tree"]

MARKER = "kustomization.yaml"
"""A directory holding this file at its top is taken to be an earlier output that ``force`` may replace."""


def _check_target(directory: Path, force: bool) -> bool:
    """Whether ``directory`` exists (and may be replaced); raises :class:`UsageError` when it must not be."""
    if not directory.exists() and not directory.is_symlink():
        return False
    if not directory.is_dir() or directory.is_symlink():
        raise UsageError(f"output {directory} exists and is not a directory: choose another -o")
    if not any(directory.iterdir()):
        return True
    if not force:
        raise UsageError(f"output directory {directory} is not empty: pass --force to replace it, or another -o")
    if not (directory / MARKER).is_file():
        raise UsageError(f"output directory {directory} is not empty and holds no {MARKER}: refusing to replace "
                         "it even with --force; choose an empty or new -o directory")
    return True


def write_tree(files: Mapping[str, bytes], directory: str | Path, *, force: bool = False) -> Path:
    """Write ``files`` (POSIX relative path -> bytes) as the directory ``directory``; return its path.

    The tree is written into a temporary directory beside ``directory`` and renamed into place, so the
    directory either has the complete new tree or is as it was. An existing non-empty directory is
    refused (:class:`UsageError`) unless ``force``, and even then only if it holds a ``kustomization.yaml``
    (an earlier output), so ``--force`` cannot wipe an unrelated directory. Parents are created.
    """
    target = Path(directory)
    exists = _check_target(target, force)
    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.kaddons-"))
    old: Path | None = None
    try:
        for rel, data in sorted(files.items()):
            path = staging.joinpath(*rel.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700
        if exists:
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.old-"))
            os.replace(target, old / "tree")
        os.replace(staging, target)
    except BaseException:
        if old is not None and (old / "tree").exists() and not target.exists():
            os.replace(old / "tree", target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target
