"""The GitOps working copy: the clone of the GitOps repository kaddons renders into, commits in, and pushes from.

Built on pygit2 (libgit2). Commits are built in memory from a base commit plus a set of file changes, so a
commit always holds a complete tree: there is never a half-written tree to commit, and nothing in the working
tree or the index is touched until a commit exists. Every third-party error is translated into
:class:`~kaddons.errors.GitError` (local) or :class:`~kaddons.errors.GitRemoteError` (the remote).

Credentials for the remote (libgit2 does not run Git's credential helpers): over SSH the keys of the running
``ssh-agent``; over HTTPS ``KADDONS_GIT_USERNAME`` and ``KADDONS_GIT_PASSWORD`` (a token) from the
environment, never from Git. ``git://`` and ``file://`` need none.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode

from kaddons.errors import GitError, GitRemoteError, PushRejectedError

__all__ = ["Upstream", "WorkingCopy"]

FALLBACK_AUTHOR = ("kaddons", "kaddons@localhost")
"""Author of kaddons' commits when neither Git's configuration nor ``GIT_AUTHOR_NAME`` names one."""


@dataclass(frozen=True)
class Upstream:
    """The branch a local branch pushes to: ``remote`` (its name, ``origin``), ``branch`` (on the remote),
    ``url`` (as configured)."""

    remote: str
    branch: str
    url: str

    @property
    def tracking_ref(self) -> str:
        """The local remote-tracking reference, ``refs/remotes/<remote>/<branch>``."""
        return f"refs/remotes/{self.remote}/{self.branch}"

    def __str__(self) -> str:
        return f"{self.remote}/{self.branch}"


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials (ssh-agent, or user and token from the environment) and the remote's verdict per ref."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected: dict[str, str] = {}
        self.said = ""

    def sideband_progress(self, string: str) -> None:
        """What the remote prints (a hook's reason for declining)."""
        if len(self.said) < 2000:
            self.said += string

    def credentials(self, url: str, username_from_url: str | None, allowed_types: Any) -> Any:
        if allowed_types & pygit2.enums.CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(username_from_url or "git")
        if allowed_types & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            user = os.environ.get("KADDONS_GIT_USERNAME") or username_from_url
            password = os.environ.get("KADDONS_GIT_PASSWORD")
            if user and password:
                return pygit2.UserPass(user, password)
        raise GitRemoteError(f"{url} asks for credentials: set KADDONS_GIT_USERNAME and KADDONS_GIT_PASSWORD "
                             "(a token), or use SSH with a key in ssh-agent")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.rejected[refname] = message


class WorkingCopy:
    """A Git working copy (non-bare) holding ``start``; raises :class:`~kaddons.errors.GitError` when there is
    none.

    ``root`` is the top of the working tree; ``branch`` the checked-out branch (``main``), which may be unborn
    (no commit yet).
    """

    def __init__(self, start: Path) -> None:
        found = pygit2.discover_repository(str(start))
        if found is None:
            raise GitError(f"{start} is not inside a Git working copy: clone the GitOps repository first "
                           "(git clone URL) and run kaddons inside it")
        try:
            self.repo = pygit2.Repository(found)
        except pygit2.GitError as err:
            raise GitError(f"cannot open the Git repository at {found}: {err}") from None
        if self.repo.is_bare or self.repo.workdir is None:
            raise GitError(f"{found} is a bare repository: run kaddons in a clone with a working tree")
        self.root = Path(self.repo.workdir).resolve()
        head = self.repo.references.get("HEAD")
        target = head.target if head is not None else None
        if not isinstance(target, str) or not target.startswith("refs/heads/"):
            raise GitError(f"{self.root}: HEAD is detached: check out the branch to commit to (git switch main)")
        self.branch = target.removeprefix("refs/heads/")
        self._trees: dict[pygit2.Oid, pygit2.Tree] = {}
        self._files: dict[pygit2.Oid, dict[str, pygit2.Oid]] = {}

    def _tree(self, commit: pygit2.Oid) -> pygit2.Tree:
        """The tree of ``commit``, remembered (a commit never changes)."""
        tree = self._trees.get(commit)
        if tree is None:
            if len(self._trees) >= 16:
                self._trees.clear()
            tree = self._trees[commit] = self.repo[commit].peel(pygit2.Tree)
        return tree

    def _file_ids(self, commit: pygit2.Oid) -> dict[str, pygit2.Oid]:
        """Every file of ``commit`` (path -> blob id), listed once and remembered: comparing a rendered tree of a
        few hundred files with a commit is then a dictionary lookup per file, not a walk down the tree each."""
        ids = self._files.get(commit)
        if ids is None:
            if len(self._files) >= 4:
                self._files.clear()
            index = pygit2.Index()
            index.read_tree(self._tree(commit))
            ids = self._files[commit] = {entry.path: entry.id for entry in index if entry.mode != FileMode.COMMIT}
        return ids

    def close(self) -> None:
        """Release the repository's open files."""
        self.repo.free()

    # -- reading ---------------------------------------------------------------------------------------

    def head(self) -> pygit2.Oid | None:
        """The commit of the local branch, or ``None`` while it is unborn."""
        return _target(self.repo.references.get(f"refs/heads/{self.branch}"))

    def upstream(self) -> Upstream:
        """The branch this one pushes to: Git's ``branch.<name>.remote``/``merge`` configuration, else the only
        remote's branch of the same name. Raises :class:`~kaddons.errors.GitError` when there is no remote."""
        config = self.repo.config
        remote = _config(config, f"branch.{self.branch}.remote")
        merge = _config(config, f"branch.{self.branch}.merge")
        if remote is None or remote == ".":
            names = list(self.repo.remotes.names())
            if len(names) != 1:
                raise GitError(f"{self.root}: branch {self.branch} tracks no remote branch and there is "
                               f"{'no remote' if not names else 'more than one remote'}: "
                               f"git branch --set-upstream-to=origin/{self.branch}")
            remote = str(names[0])
        branch = merge.removeprefix("refs/heads/") if merge else self.branch
        try:
            url = self.repo.remotes[remote].url or ""
        except KeyError:
            raise GitError(f"{self.root}: branch {self.branch} tracks remote {remote!r}, which does not exist: "
                           f"git branch --set-upstream-to=origin/{self.branch}") from None
        return Upstream(remote, branch, url)

    def fetch(self, upstream: Upstream) -> pygit2.Oid | None:
        """Fetch ``upstream``'s branch into its tracking reference; its commit, or ``None`` when the remote does
        not have the branch yet. Raises :class:`~kaddons.errors.GitRemoteError` when the remote cannot be read."""
        remote = self.repo.remotes[upstream.remote]
        try:
            heads = {head.name for head in remote.list_heads(callbacks=_Callbacks())}
            if f"refs/heads/{upstream.branch}" not in heads:
                return None
            remote.fetch([f"+refs/heads/{upstream.branch}:{upstream.tracking_ref}"], callbacks=_Callbacks())
        except pygit2.GitError as err:
            raise GitRemoteError(f"cannot fetch {upstream.branch} from {upstream.url}: {_one_line(err)}") from None
        return _target(self.repo.references.get(upstream.tracking_ref))

    def is_ancestor(self, older: pygit2.Oid, newer: pygit2.Oid) -> bool:
        """``older`` is ``newer`` or one of its ancestors."""
        return older == newer or bool(self.repo.descendant_of(newer, older))

    def file_at(self, commit: pygit2.Oid | None, path: str) -> bytes | None:
        """The bytes of the file ``path`` (repository-relative, forward slashes) in ``commit``, or ``None``."""
        if commit is None:
            return None
        tree = self._tree(commit)
        try:
            entry = tree[path]
        except KeyError:
            return None
        obj = self.repo[entry.id]
        return bytes(obj.data) if isinstance(obj, pygit2.Blob) else None

    def files_under(self, commit: pygit2.Oid, folder: str) -> dict[str, bytes]:
        """The regular files below ``folder`` (repository-relative) in ``commit``: path relative to the folder ->
        bytes; empty when the folder is absent."""
        try:
            tree = self.repo[commit].peel(pygit2.Tree)[folder]
        except KeyError:
            return {}
        if tree.type_str != "tree":
            return {}
        index = pygit2.Index()
        index.read_tree(self.repo[tree.id].peel(pygit2.Tree))
        return {entry.path: bytes(self.repo[entry.id].peel(pygit2.Blob).data) for entry in index
                if entry.mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)}

    def records(self, commit: pygit2.Oid, name: str) -> list[tuple[str, bytes]]:
        """Every file called ``name`` two folders below ``clusters/`` in ``commit``
        (``clusters/<cluster>/<engine>/<name>``): its path and bytes."""
        tree = self.repo[commit].peel(pygit2.Tree)
        try:
            clusters = self.repo[tree["clusters"].id]
        except KeyError:
            return []
        found = []
        for cluster in clusters if isinstance(clusters, pygit2.Tree) else []:
            folder = self.repo[cluster.id]
            for engine in folder if isinstance(folder, pygit2.Tree) else []:
                sub = self.repo[engine.id]
                if isinstance(sub, pygit2.Tree) and name in sub:
                    blob = self.repo[sub[name].id]
                    if isinstance(blob, pygit2.Blob):
                        found.append((f"clusters/{cluster.name}/{engine.name}/{name}", bytes(blob.data)))
        return found

    def file_ids_under(self, commit: pygit2.Oid, folder: str) -> list[str]:
        """The files of ``commit`` under ``folder`` (repository-relative paths)."""
        prefix = folder.rstrip("/") + "/"
        return [path for path in self._file_ids(commit) if path.startswith(prefix)]

    def file_id(self, commit: pygit2.Oid | None, path: str) -> pygit2.Oid | None:
        """The blob id of the file ``path`` in ``commit``, or ``None``: comparing ids reads no blob."""
        if commit is None:
            return None
        return self._file_ids(commit).get(path)

    @staticmethod
    def blob_id(data: bytes) -> pygit2.Oid:
        """The id ``data`` has (or would have) as a blob."""
        return pygit2.hash(data)

    def tree_of(self, commit: pygit2.Oid | None) -> pygit2.Oid | None:
        """The tree of ``commit``, or ``None`` for no commit."""
        return None if commit is None else self.repo[commit].peel(pygit2.Tree).id

    def changed_paths(self, old: pygit2.Oid | None, new: pygit2.Oid | None) -> list[str]:
        """The files that differ between two commits (either may be ``None``: the empty tree), sorted."""
        old_tree = self.repo[old].peel(pygit2.Tree) if old is not None else None
        new_tree = self.repo[new].peel(pygit2.Tree) if new is not None else None
        if old_tree is None and new_tree is None:
            return []
        if old_tree is None:
            diff = new_tree.diff_to_tree(swap=True) if new_tree is not None else None
        else:
            diff = old_tree.diff_to_tree(new_tree) if new_tree is not None else old_tree.diff_to_tree(swap=False)
        paths: set[str] = set()
        for delta in diff.deltas if diff is not None else []:
            paths.update(p for p in (delta.old_file.path, delta.new_file.path) if p)
        return sorted(paths)

    def export(self, commit: pygit2.Oid, directory: Path) -> None:
        """Write ``commit``'s files into ``directory`` (an empty folder), leaving the working copy alone."""
        tree = self.repo[commit].peel(pygit2.Tree)
        index = pygit2.Index()
        index.read_tree(tree)
        for entry in index:
            target = directory / PurePosixPath(entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = self.repo[entry.id].peel(pygit2.Blob).data
            if entry.mode == FileMode.LINK:
                os.symlink(data.decode("utf-8", "surrogateescape"), target)
            elif entry.mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
                target.write_bytes(data)

    # -- writing ---------------------------------------------------------------------------------------

    def build_tree(self, base: pygit2.Oid | None, files: Mapping[str, bytes | None],
                   replace: Iterable[str] = ()) -> pygit2.Oid:
        """The tree of ``base`` (a commit, or ``None``) with every file under each folder of ``replace`` removed,
        then ``files`` written (``None`` removes the file); only objects are written, no reference moves."""
        index = pygit2.Index()
        if base is not None:
            index.read_tree(self.repo[base].peel(pygit2.Tree))
        for folder in replace:
            prefix = folder.rstrip("/") + "/"
            for path in [e.path for e in index if e.path.startswith(prefix)]:
                index.remove(path)
        odb = self.repo.odb
        for path, data in sorted(files.items()):
            if data is None:
                if path in index:
                    index.remove(path)
            else:
                # Most of a rendered tree is unchanged: hashing is cheap, compressing and writing is not.
                blob = pygit2.hash(data)
                if not odb.exists(blob):
                    blob = self.repo.create_blob(data)
                index.add(pygit2.IndexEntry(path, blob, FileMode.BLOB))
        return index.write_tree(self.repo)

    def commit(self, tree: pygit2.Oid, parent: pygit2.Oid | None, message: str) -> pygit2.Oid:
        """A commit object of ``tree`` on ``parent``, authored as Git's configuration says; no reference moves."""
        author = self._signature()
        return self.repo.create_commit(None, author, author, message, tree, [parent] if parent is not None else [])

    def push(self, upstream: Upstream, commit: pygit2.Oid) -> None:
        """Make ``commit`` the remote branch's commit, a fast-forward only; then the tracking reference follows.

        Raises :class:`~kaddons.errors.PushRejectedError` when the remote refuses (it moved on, or a hook
        declined), :class:`~kaddons.errors.GitRemoteError` when it cannot be reached.
        """
        temporary = f"refs/kaddons/push/{self.branch}"
        self.repo.references.create(temporary, commit, force=True)
        callbacks = _Callbacks()
        try:
            self.repo.remotes[upstream.remote].push([f"{temporary}:refs/heads/{upstream.branch}"],
                                                    callbacks=callbacks)
        except pygit2.GitError as err:
            message = _one_line(err)
            if "not present locally" in message or "non-fast-forward" in message or "rejected" in message:
                raise PushRejectedError(f"{upstream.url} refused the push to {upstream.branch}: it holds commits "
                                        "this working copy does not have") from None
            raise GitRemoteError(f"cannot push to {upstream.url}: {message}") from None
        finally:
            self.repo.references.delete(temporary)
        if callbacks.rejected:
            reason = "; ".join(callbacks.rejected.values())
            if any(word in reason for word in ("non-fast-forward", "fetch first", "stale info")):
                raise PushRejectedError(f"{upstream.url} refused the push to {upstream.branch}: it holds commits "
                                        "this working copy does not have")
            said = " ".join(callbacks.said.split())
            raise GitRemoteError(f"{upstream.url} refused the push to {upstream.branch}: {reason}"
                                 + (f" ({said})" if said else ""))
        self.repo.references.create(upstream.tracking_ref, commit, force=True)

    def advance(self, commit: pygit2.Oid, owned: Iterable[str], *, base: pygit2.Oid | None = None) -> list[str]:
        """Move the local branch to ``commit`` and bring the working tree and the index along.

        Files under the ``owned`` folders and paths (kaddons' generated trees and the inputs it just committed)
        are overwritten; every other file changed since the old commit is updated only where it has no local
        change. Returns the paths left alone because of local changes (empty when all went through).

        An advance killed before its branch moved leaves the index and the tree ahead of the branch. What it left
        is put right: an owned file whose index entry is not the commit's, and a file that is, in the index and
        in the tree, as ``base`` (the commit this one was built on) has it, are brought to ``commit`` even when
        the old commit and the new one agree on them; such a file the commit does not hold leaves the index and
        the tree.
        """
        old = self.head()
        tree = self.repo[commit].peel(pygit2.Tree)
        owned = [p.rstrip("/") for p in owned]

        def is_owned(path: str) -> bool:
            return any(path == o or path.startswith(o + "/") for o in owned)

        changed = self.changed_paths(old, commit)
        target = self._file_ids(commit)
        index = self.repo.index
        index.read()
        entries = {entry.path: entry.id for entry in index}
        stale = {path for path, blob in entries.items() if is_owned(path) and target.get(path) != blob}
        if base is not None and base != old:
            at_base = self._file_ids(base)
            stale.update(path for path in self.changed_paths(old, base)
                         if not is_owned(path) and at_base.get(path) is not None
                         and entries.get(path) == at_base[path] != target.get(path)
                         and self._tree_file_is(path, at_base[path]))
        forced = sorted({p for p in changed if is_owned(p)} | {p for p in stale if p in target})
        others = [p for p in changed if not is_owned(p) and p not in stale]
        kept: list[str] = []
        # The files first, compared with the old commit (libgit2's baseline is HEAD), then the branch.
        if forced:
            self.repo.checkout_tree(tree, paths=forced, strategy=CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
        gone = sorted(p for p in stale if p not in target)
        if gone:
            index.read()
            for path in gone:
                if path in index:
                    index.remove(path)
                (self.root / PurePosixPath(path)).unlink(missing_ok=True)
            index.write()
        for path in others:
            try:
                self.repo.checkout_tree(tree, paths=[path],  # type: ignore[no-untyped-call]
                                        strategy=CheckoutStrategy.SAFE)
            except pygit2.GitError:
                kept.append(path)
        self._move_branch(commit)
        return kept

    def _tree_file_is(self, path: str, blob: pygit2.Oid) -> bool:
        """Whether the working tree's file ``path`` holds the bytes of ``blob`` (a link is never compared)."""
        file = self.root / PurePosixPath(path)
        try:
            return not file.is_symlink() and pygit2.hash(file.read_bytes()) == blob
        except OSError:
            return False

    def _move_branch(self, commit: pygit2.Oid) -> None:
        self.repo.references.create(f"refs/heads/{self.branch}", commit, force=True)

    # -- helpers ---------------------------------------------------------------------------------------

    def _signature(self) -> pygit2.Signature:
        name = os.environ.get("GIT_AUTHOR_NAME")
        email = os.environ.get("GIT_AUTHOR_EMAIL")
        if name and email:
            return pygit2.Signature(name, email)
        try:
            return self.repo.default_signature
        except (KeyError, pygit2.GitError):
            return pygit2.Signature(*FALLBACK_AUTHOR)


def _target(ref: pygit2.Reference | None) -> pygit2.Oid | None:
    target = ref.resolve().target if ref is not None else None
    return target if isinstance(target, pygit2.Oid) else None


def _config(config: pygit2.Config, key: str) -> str | None:
    try:
        value = config[key]
    except KeyError:
        return None
    return str(value)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
