"""Plaintext that Git's history already holds (issue 12: "a plaintext secret never reaches Git, not even in
history").

Encrypting a key now does not take its earlier plaintext out of the commits that hold it. Before ``encrypt``
writes, :func:`plaintext_in_history` looks for each plaintext value it is about to encrypt in every version of
every file the branch's history changed (each blob read once), so the user learns that the secret itself must
be changed (rotated at its source), since only a rewrite of history would remove it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MIN_LENGTH", "plaintext_in_history", "secret_values"]

MIN_LENGTH = 6
"""Shorter values (``true``, ``1234``) are not looked for: they would be found everywhere."""
MAX_BLOB = 4 * 1024 * 1024


def secret_values(documents: list[Any], names: set[str]) -> set[str]:
    """The plaintext scalars held under the keys named in ``names`` (matched anywhere, Ankra's rule), at least
    :data:`MIN_LENGTH` characters long, as text."""
    from .detect import ENCRYPTED_VALUE, named_scalars

    texts = (str(value) for _name, value in named_scalars(documents, names)
             if value is not None and not isinstance(value, bool))
    return {text for text in texts if len(text) >= MIN_LENGTH and not ENCRYPTED_VALUE.match(text)}


def plaintext_in_history(start: Path, values: set[str], *, limit: int = 5000) -> list[tuple[str, str]]:
    """``(revision, path)`` of each commit (newest first, among the branch's last ``limit``) that added a file
    version holding one of ``values``; empty outside a Git working copy or when nothing is found."""
    import pygit2

    from kaddons.errors import KaddonsError
    from kaddons.repo import WorkingCopy

    if not values:
        return []
    try:
        copy = WorkingCopy(start)
    except KaddonsError:
        return []
    needles = [value.encode("utf-8") for value in values]
    seen: dict[pygit2.Oid, bool] = {}
    absent = pygit2.Oid(hex="0" * 40)  # the new side of a deleted file
    hits: list[tuple[str, str]] = []
    try:
        head = copy.head()
        if head is None:
            return []
        for number, commit in enumerate(copy.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL)):
            if number >= limit:
                break
            parent = commit.parents[0].tree if commit.parents else None
            diff = parent.diff_to_tree(commit.tree) if parent is not None else commit.tree.diff_to_tree(swap=True)
            for delta in diff.deltas:
                blob = delta.new_file.id
                if blob == absent:
                    continue
                if blob not in seen:  # each version once; a large one (not values) is not read at all
                    _kind, size = copy.repo.odb.read_header(blob)
                    data = copy.repo[blob].peel(pygit2.Blob).data if size <= MAX_BLOB else b""
                    seen[blob] = any(needle in data for needle in needles)
                if seen[blob]:
                    hits.append((str(commit.id), delta.new_file.path))
    finally:
        copy.close()
    return hits
