"""Which commits changed a member (issue 14): ``history`` of an add-on, a catalog addon or a stack, read from the
branch's first-parent log, and the "rolled back to" signal of the add-on list.

A member's files are the file declaring it, its values or manifest file (``from_file``) and, for a catalog
addon, its folder ``catalog/<name>/``. A commit changed the member when one of them differs from the commit's
first parent; for the declaring file, only when the member's own entry there differs
(:func:`~kaddons.operations.splice.entry_digests`), because one document declares many members and an upgrade of
one is not a change of the others. Entry digests are computed once per file version (its blob id) and kept on
disk (:class:`~kaddons._memo.DiskMemo` ``entries``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from kaddons._memo import DiskMemo
from kaddons.errors import NotFoundError, UsageError, known
from kaddons.repo import WorkingCopy
from kaddons.stacks.load import LoadedCluster, load_cluster, member_kind, unknown_member

__all__ = [
    "ROLLBACK_TRAILER",
    "Change",
    "LastChange",
    "Watched",
    "addon_history",
    "last_changes",
    "list_changes",
    "member_history",
    "revision_to_restore",
    "stack_history",
    "watched",
]

ROLLBACK_TRAILER = "Kaddons-Rolled-Back-To"
"""The trailer of a rollback commit: ``Kaddons-Rolled-Back-To: <add-on>@<revision>``."""
ENTRIES = DiskMemo("entries", max_files=65536, max_bytes=256 * 1024 * 1024)
HISTORY = DiskMemo("history", max_files=4096, max_bytes=256 * 1024 * 1024)


@dataclass(frozen=True)
class Change:
    """One commit that changed a member: ``revision`` (hex), ``time`` (ISO 8601, UTC), ``author``, ``subject``."""

    revision: str
    time: str
    author: str
    subject: str


@dataclass(frozen=True)
class Watched:
    """A member's file or ``folder`` (``path``, repository-relative); for its declaring file, the ``entry``
    (``"<kind>:<name>"``, as :func:`~kaddons.operations.splice.entry_digests` names it) whose text decides."""

    path: str
    entry: str | None = None
    folder: bool = False


def watched(loaded: LoadedCluster, key: tuple[str, str]) -> list[Watched]:
    """The files (and a catalog addon's folder) of member ``key`` (``(kind, name)``), the declaring file first."""
    kind, name = key
    source = loaded.sources[key]
    root = loaded.repository.resolve()

    def relative(path: Path) -> str:
        return path.resolve().relative_to(root).as_posix()

    in_document = source.file.resolve() == loaded.path.resolve()
    found = [Watched(relative(source.file), f"{kind}:{name}" if in_document else f"*:{name}")]
    if source.content_file is not None:
        found.append(Watched(relative(source.content_file)))
    if kind == "catalog" and name in loaded.catalog:
        found.append(Watched(relative(loaded.catalog[name].folder), folder=True))
    return found


class _Entries:
    """Entry digests per blob of one repository, remembered in the process and on disk."""

    def __init__(self, copy: WorkingCopy) -> None:
        self.copy = copy
        self.known: dict[pygit2.Oid, dict[str, str] | None] = {}

    def of(self, blob: pygit2.Oid) -> dict[str, str] | None:
        if blob not in self.known:
            key = hashlib.sha256(b"kaddons entries 1\0" + blob.raw).hexdigest()
            kept = ENTRIES.get(key)
            digests: dict[str, str] | None
            if kept is not None:
                digests = json.loads(kept)
            else:
                from .splice import entry_digests  # on a miss only: its YAML event reader is not needed otherwise

                data = self.copy.repo[blob].peel(pygit2.Blob).data
                digests = entry_digests(data.decode("utf-8", "replace"))
                ENTRIES.put(key, json.dumps(digests).encode())
            self.known[blob] = digests
        return self.known[blob]

    def differ(self, new: pygit2.Oid | None, old: pygit2.Oid | None, entry: str) -> bool:
        """Whether ``entry`` differs between two versions of a file (``None``: the file is absent)."""
        if new == old:
            return False
        new_digests = self.of(new) if new is not None else {}
        old_digests = self.of(old) if old is not None else {}
        if new_digests is None or old_digests is None:
            return True  # a version that does not read as YAML: counted as a change
        return new_digests.get(entry) != old_digests.get(entry)


def _tree_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None


def _first_parents(copy: WorkingCopy, head: pygit2.Oid) -> pygit2.Walker:
    """The branch's commits from ``head`` back along first parents, newest first."""
    walker = copy.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    walker.simplify_first_parent()
    return walker


def _history_key(copy: WorkingCopy, files: list[Watched]) -> str:
    watched_files = [[w.path, w.entry, w.folder] for w in files]
    spec = json.dumps([str(copy.root.resolve()), watched_files], separators=(",", ":"))
    return hashlib.sha256(b"kaddons history 1\0" + spec.encode()).hexdigest()


def _kept_history(key: str) -> tuple[pygit2.Oid, list[Change], bool] | None:
    """The walk kept for ``key``: the branch head it started at, its changes, and whether they reach the first
    commit (else the walk stopped at its limit); ``None`` when there is none or it does not read."""
    data = HISTORY.get(key)
    if data is None:
        return None
    try:
        kept = json.loads(data)
        return pygit2.Oid(hex=kept["head"]), [Change(*c) for c in kept["changes"]], bool(kept["complete"])
    except (ValueError, KeyError, TypeError):
        return None


def member_history(copy: WorkingCopy, files: list[Watched], limit: int) -> list[Change]:
    """The commits of ``copy``'s branch (first parents, newest first, at most ``limit``) that changed ``files``.

    The walk is kept on disk (:class:`~kaddons._memo.DiskMemo` ``history``, by the working copy and the files): a
    later one stops where it meets the head the kept one started at and takes the kept changes from there, so
    only the commits made since are read. Commits are named by their content, so the kept changes of a commit met
    again are still true; a head never met (history rewritten) means a full walk."""
    head = copy.head()
    if head is None:
        return []
    key = _history_key(copy, files)
    kept = _kept_history(key)
    entries = _Entries(copy)
    paths = [w.path for w in files]
    changes: list[Change] = []
    walker = _first_parents(copy, head)
    folders = sorted({p.rsplit("/", 1)[0] if "/" in p else "" for p in paths})
    split = [(folders.index(p.rsplit("/", 1)[0] if "/" in p else ""), p.rsplit("/", 1)[-1]) for p in paths]
    folder_ids: dict[pygit2.Oid, tuple[pygit2.Oid | None, ...]] = {}
    path_ids: dict[pygit2.Oid, tuple[pygit2.Oid | None, ...]] = {}

    def in_folders(commit: pygit2.Commit) -> tuple[pygit2.Oid | None, ...]:
        # Each commit is met twice (as a child, then as a parent): its trees are read once.
        if commit.id not in folder_ids:
            tree = commit.tree
            folder_ids[commit.id] = tuple(tree.id if not f else _tree_id(tree, f) for f in folders)
        return folder_ids[commit.id]

    def in_paths(commit: pygit2.Commit) -> tuple[pygit2.Oid | None, ...]:
        if commit.id not in path_ids:  # each file looked up in its folder's tree, found above
            trees = [copy.repo[t].peel(pygit2.Tree) if t is not None else None for t in in_folders(commit)]
            path_ids[commit.id] = tuple(_tree_id(tree, name) if (tree := trees[f]) is not None else None
                                        for f, name in split)
        return path_ids[commit.id]

    complete, merged = True, False
    for commit in walker:
        if kept is not None and commit.id == kept[0] and (kept[2] or len(changes) + len(kept[1]) >= limit):
            changes += kept[1][:limit - len(changes)]  # the rest of the branch, as the kept walk found it
            complete, merged = kept[2] and len(changes) < limit, True
            break
        parent = commit.parents[0] if commit.parents else None
        if parent is not None and in_folders(commit) == in_folders(parent):
            continue  # the folders holding the files are the same trees: no lookup below them
        now = in_paths(commit)
        before = in_paths(parent) if parent is not None else (None,) * len(paths)
        if not any(entries.differ(a, b, w.entry) if w.entry is not None else a != b
                   for w, a, b in zip(files, now, before, strict=True)):
            continue
        when = datetime.fromtimestamp(commit.commit_time, UTC).isoformat().replace("+00:00", "Z")
        changes.append(Change(str(commit.id), when, f"{commit.author.name} <{commit.author.email}>",
                              commit.message.splitlines()[0] if commit.message else ""))
        if len(changes) >= limit:
            complete = False
            break
    if not (merged and kept is not None and kept[0] == head):  # else the kept walk is this one
        HISTORY.put(key, json.dumps({"head": str(head), "complete": complete,
                                     "changes": [[c.revision, c.time, c.author, c.subject] for c in changes]},
                                    separators=(",", ":")).encode())
    return changes


def revision_to_restore(copy: WorkingCopy, changes: list[Change], to: str | None, name: str) -> pygit2.Oid:
    """The commit a rollback of member ``name`` restores: ``to`` (any revision Git reads), else the parent of its
    newest change (``changes``, newest first). Raises NotFoundError (no change, no such revision), UsageError (one
    revision only)."""
    if to is None:
        if not changes:
            raise NotFoundError(f"{name!r} has no committed change to roll back")
        newest = copy.repo[changes[0].revision].peel(pygit2.Commit)
        if not newest.parents:
            raise UsageError(f"{name!r} has one revision only: nothing to roll back to")
        parent: pygit2.Oid = newest.parents[0].id
        return parent
    try:
        commit = copy.repo.revparse_single(to).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise NotFoundError(f"--to {to!r} is not a revision of this repository: kaddons cluster addons history "
                            f"{name} lists them") from None
    return commit.id



def member_key(loaded: LoadedCluster, name: str) -> tuple[str, str]:
    """``("addon", name)`` or ``("catalog", name)``: the member ``name`` has a history of. Raises NotFoundError
    naming both kinds' members."""
    kind = member_kind(loaded, name)
    if kind is None:
        raise unknown_member(loaded, name)
    return kind, name


def addon_history(document: Path, name: str, *, limit: int = 1000) -> list[Change]:
    """The commits that changed add-on (or catalog addon) ``name``, newest first (at most ``limit``). Raises
    NotFoundError naming the members."""
    loaded = load_cluster(document)
    files = watched(loaded, member_key(loaded, name))
    copy = WorkingCopy(document.absolute().parent)
    try:
        return member_history(copy, files, limit)
    finally:
        copy.close()


def stack_history(document: Path, stack: str, *, limit: int = 1000) -> list[Change]:
    """The commits that changed stack ``stack``: its members' entries, values and manifest files and catalog
    folders, newest first (at most ``limit``). Raises NotFoundError naming the stacks."""
    loaded = load_cluster(document)
    names = [s.name for s in loaded.document.spec.stacks]
    if stack not in names:
        raise NotFoundError(f"no stack {stack!r} in {document} ({known('stacks', names, stack)})")
    files = [w for key, member in loaded.graph.members.items() if member.stack == stack
             for w in watched(loaded, key)]
    if not files:  # a stack without members: its entry in the document
        root = loaded.repository.resolve()
        files = [Watched(loaded.path.resolve().relative_to(root).as_posix())]
    copy = WorkingCopy(document.absolute().parent)
    try:
        return member_history(copy, files, limit)
    finally:
        copy.close()


@dataclass(frozen=True)
class LastChange:
    """A member's newest change: the commit's ``revision`` (hex) and ``time`` (ISO 8601, UTC), and the revision
    it ``rolled_back_to`` when that commit is a rollback of the member (else ``None``)."""

    revision: str
    time: str
    rolled_back_to: str | None

    @property
    def mark(self) -> str | None:
        """The lists' "rolled back to": the revision in 12 digits, until the member's next change."""
        return self.rolled_back_to[:12] if self.rolled_back_to is not None else None


def last_changes(loaded: LoadedCluster, *, limit: int = 1000) -> dict[str, LastChange]:
    """Member name -> its newest change among the branch's last ``limit`` commits, for each add-on and catalog
    addon (one changed before them is left out): the lists' "last updated" and "rolled back to". One walk of the
    first-parent history, each commit diffed once against its parent; ``{}`` for an empty repository."""
    owners: dict[str, list[tuple[str, str | None]]] = {}
    folders: dict[str, list[str]] = {}
    for key in loaded.sources:
        if key[0] in ("addon", "catalog"):
            for w in watched(loaded, key):
                if w.folder:
                    folders.setdefault(w.path + "/", []).append(key[1])
                else:
                    owners.setdefault(w.path, []).append((key[1], w.entry))
    found: dict[str, LastChange] = {}
    wanted = {name for entries in owners.values() for name, _entry in entries}
    copy = WorkingCopy(loaded.path.absolute().parent)
    try:
        head = copy.head()
        if head is None:
            return {}
        entries = _Entries(copy)
        for number, commit in enumerate(_first_parents(copy, head)):
            if number >= limit or len(found) == len(wanted):
                break
            parent = commit.parents[0] if commit.parents else None
            changed: set[str] = set()
            for path in copy.changed_paths(parent.id if parent is not None else None, commit.id):
                candidates = list(owners.get(path, []))
                if folders:
                    candidates += [(name, None) for folder, names in folders.items() if path.startswith(folder)
                                   for name in names]
                for name, entry in candidates:
                    if name in found or name in changed:
                        continue
                    if entry is None or entries.differ(_tree_id(commit.tree, path),
                                                       _tree_id(parent.tree, path) if parent is not None else None,
                                                       entry):
                        changed.add(name)
            if changed:
                trailers = _rollback_trailers(commit.message or "")
                when = datetime.fromtimestamp(commit.commit_time, UTC).isoformat().replace("+00:00", "Z")
                for name in changed:
                    found[name] = LastChange(str(commit.id), when, trailers.get(name))
    finally:
        copy.close()
    return found


def with_rollback_trailer(message: str, name: str, revision: object) -> str:
    """``message`` ending with the trailer that marks a rollback of ``name`` to ``revision``."""
    return f"{message.rstrip()}\n\n{ROLLBACK_TRAILER}: {name}@{revision}\n"


def list_changes(loaded: LoadedCluster) -> dict[str, LastChange]:
    """:func:`last_changes`, or nothing outside a Git working copy (the lists show no "last updated" then)."""
    from kaddons.errors import KaddonsError

    try:
        return last_changes(loaded)
    except KaddonsError:
        return {}


def _rollback_trailers(message: str) -> dict[str, str]:
    found = {}
    for line in message.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() == ROLLBACK_TRAILER:
            name, at, revision = value.strip().partition("@")
            if at:
                found[name] = revision
    return found
