"""One commit of computed file changes on the tracked branch: fetch, build on the newest commit, push, retry.

The changes are computed from the base commit itself (``changes(base)``), not from the working copy, so a
change someone else pushed meanwhile is built upon, not lost. The commit is built in memory; the branch moves
last (see :mod:`kaddons.operations.apply` for the crash-safety argument, the same here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock
from pygit2 import Oid

from kaddons.errors import GitError, PushRejectedError
from kaddons.repo import WorkingCopy

__all__ = ["CommitResult", "commit_changes"]

ATTEMPTS = 4

Changes = Callable[[WorkingCopy, Oid | None], dict[str, bytes | None]]


@dataclass
class CommitResult:
    """The commit pushed (hex; ``None`` when the changes changed nothing), the files it changed, and ``kept``:
    files the working tree keeps because they have local changes."""

    commit: str | None = None
    changed: list[str] = field(default_factory=list)
    upstream: str = ""
    kept: list[str] = field(default_factory=list)


def commit_changes(start: Path, changes: Changes, message: str) -> CommitResult:
    """Commit ``changes(copy, base)`` (path -> bytes, ``None`` removes) on top of the newest of the local and
    the remote branch, push it, and bring the working copy along. Raises :class:`~kaddons.errors.GitError` and
    :class:`~kaddons.errors.GitRemoteError` as apply does."""
    copy = WorkingCopy(start)
    try:
        scratch = Path(copy.repo.path) / "kaddons"
        scratch.mkdir(exist_ok=True)
        with FileLock(str(scratch / "apply.lock")):
            upstream = copy.upstream()
            for attempt in range(1, ATTEMPTS + 1):
                remote = copy.fetch(upstream)
                local = copy.head()
                if remote is None or local is None or copy.is_ancestor(local, remote):
                    base = remote if remote is not None else local
                elif copy.is_ancestor(remote, local):
                    base = local
                else:
                    raise GitError(f"the local branch {copy.branch} and {upstream} have diverged: git pull --rebase "
                                   "first")
                edits = changes(copy, base)
                tree = copy.build_tree(base, edits)
                new = base if tree == copy.tree_of(base) else copy.commit(tree, base, message)
                result = CommitResult(changed=copy.changed_paths(remote, new), upstream=str(upstream))
                if new is not None and new != remote:
                    try:
                        copy.push(upstream, new)
                    except PushRejectedError:
                        if attempt == ATTEMPTS:
                            raise
                        continue
                    result.commit = str(new)
                if new is not None and new != local:
                    result.kept = copy.advance(new, owned=[], base=base)
                return result
            raise AssertionError("unreachable")  # pragma: no cover
    finally:
        copy.close()
