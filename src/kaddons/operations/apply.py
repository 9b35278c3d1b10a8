"""``kaddons cluster apply`` and ``diff``: validate a cluster document, render it, commit and push (issue 11).

One apply, as a list of steps:

1. Load and validate the document from the working copy (:func:`~kaddons.stacks.load.load_cluster`); the
   files it reads are its *inputs*. Every value named in ``encrypted_paths`` must be SOPS ciphertext
   (:func:`~kaddons.secrets.guard.check_encrypted`): plaintext never reaches a commit.
2. Fetch the tracked branch. The *base* of the new commit is the newest of the local branch and the remote
   one (they must not have diverged).
3. The *edits*: inputs whose working-copy bytes differ from the local commit. An input that the remote
   changed too, differently, is a conflict (nothing is written).
4. Render from the base plus the edits (when the base is the remote's commit, from a copy of it, so a change
   someone else pushed is rendered too) into ``clusters/<cluster>/<engine>/``, which is replaced whole.
5. Build the commit in memory: base tree + edits + rendered tree. The same tree as the base: no commit.
6. Push (a fast-forward). Refused because someone pushed first: fetch and start again from 2, at most
   :data:`ATTEMPTS` times.
7. Move the local branch, the index and the working tree to the commit.

Up to date: the tree records what built it, ``clusters/<cluster>/<engine>/.kaddons-inputs.json`` (the
document's path, the sha256 of every input, the files of included folders, the options and kaddons' version).
When the local branch is the remote's and that record matches the working copy, apply ends there: nothing is
loaded, no chart source is asked, nothing is committed.

Crash safety: objects are written before any reference; the remote's branch moves atomically; the local
branch moves last. A kill at any point leaves either no commit anywhere or a complete one, and the next apply
finishes the job (it pushes a local commit the remote lacks and brings the working tree along).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from filelock import FileLock
from pygit2 import Oid

from kaddons import __version__
from kaddons.errors import ClusterDocumentError, GitError, PushRejectedError, UsageError
from kaddons.repo import Upstream, WorkingCopy
from kaddons.secrets.guard import check_encrypted
from kaddons.stacks.load import LoadedCluster, load_cluster

__all__ = ["ATTEMPTS", "ENGINES", "ApplyOptions", "ApplyResult", "apply_cluster", "document_repo_url",
           "namespace_changes", "render_tree", "rendered_again", "unified_diff"]

ATTEMPTS = 4
"""Pushes tried before an apply gives up because the remote keeps moving."""
RECORD = ".kaddons-inputs.json"
"""The file of the generated tree that records what built it."""
ENGINES = ("argocd", "flux")


@dataclass(frozen=True)
class ApplyOptions:
    """``engine`` (``argocd``/``flux``; ``None``: the document's, else ``argocd``), ``git_url`` (the repository
    as the cluster's engine clones it; ``None``: see :class:`~kaddons.stacks.document.KaddonsSettings`),
    ``message`` (the commit message; ``None``: one naming the cluster), ``dry_run`` (compute, write nothing),
    ``removed`` (repository paths the commit deletes besides, such as an uninstalled add-on's values file),
    ``confirm_destructive`` (let a change of an add-on's namespace through: see :func:`namespace_changes`)."""

    engine: str | None = None
    git_url: str | None = None
    message: str | None = None
    dry_run: bool = False
    removed: tuple[str, ...] = ()
    confirm_destructive: bool = False


@dataclass
class ApplyResult:
    """What an apply did: the ``cluster``, the ``engine``, the ``commit`` pushed (hex; ``None`` when nothing
    changed), the ``changed`` files against the remote branch, and for a diff their ``before``/``after``
    bytes. ``kept``: files the working tree keeps with local changes (the commit has the remote's version)."""

    cluster: str
    engine: str
    upstream: str
    commit: str | None = None
    changed: list[str] = field(default_factory=list)
    before: dict[str, bytes | None] = field(default_factory=dict)
    after: dict[str, bytes | None] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    attempts: int = 1
    warnings: list[str] = field(default_factory=list)


Preflight = Callable[[LoadedCluster], None]


def apply_cluster(document: Path, options: ApplyOptions, *, preflight: Preflight | None = None) -> ApplyResult:
    """Validate, render, commit and push the cluster ``document`` (see the module for the steps).

    ``preflight`` runs on every loaded document before anything is committed (chart checks); it raises to
    stop. Raises :class:`~kaddons.errors.ClusterDocumentError` (exit 2) for the document,
    :class:`~kaddons.errors.GitError` for the working copy (exit 1), and
    :class:`~kaddons.errors.GitRemoteError` (exit 5) when the remote cannot be reached or keeps refusing.
    """
    copy = WorkingCopy(document.absolute().parent)
    try:
        state = copy.repo.path  # the .git folder: kaddons' lock and scratch space live there
        scratch = Path(state) / "kaddons"
        scratch.mkdir(exist_ok=True)
        with FileLock(str(scratch / "apply.lock")):
            for leftover in scratch.glob("base-*"):  # from a killed apply
                shutil.rmtree(leftover, ignore_errors=True)
            return _apply(copy, document.absolute(), options, preflight, scratch)
    finally:
        copy.close()


def _apply(copy: WorkingCopy, document: Path, options: ApplyOptions, preflight: Preflight | None,
           scratch: Path) -> ApplyResult:
    try:
        relative = document.resolve().relative_to(copy.root).as_posix()
    except ValueError:
        raise UsageError(f"{document} is not inside the working copy {copy.root}") from None
    done = _up_to_date(copy, relative, options)
    if done is not None:
        return done
    loaded = load_cluster(document, repository=copy.root)
    check_encrypted(loaded)
    spec = loaded.document.spec
    engine = options.engine or spec.kaddons.engine
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use argocd or flux")
    if spec.git_repository is not None and spec.git_repository.branch != copy.branch:
        raise GitError(f"{relative}: spec.git_repository.branch is {spec.git_repository.branch!r} but the working "
                       f"copy is on {copy.branch!r}: git switch {spec.git_repository.branch}")
    upstream = copy.upstream()
    if preflight is not None:
        preflight(loaded)
    inputs: dict[str, bytes] = {}
    for path, digest in loaded.files.items():
        data = path.read_bytes()
        if _sha256(data) != digest:
            raise GitError(f"{path} changed while kaddons was reading it: apply again")
        inputs[path.relative_to(copy.root).as_posix()] = data
    ids = {path: copy.blob_id(data) for path, data in inputs.items()}
    cluster = loaded.document.metadata.name
    generated = f"clusters/{cluster}/{engine}"
    result = ApplyResult(cluster, engine, str(upstream), warnings=list(loaded.warnings))
    for attempt in range(1, ATTEMPTS + 1):
        result.attempts = attempt
        remote = copy.fetch(upstream)
        local = copy.head()
        base = _base(copy, local, remote, upstream)
        edits: dict[str, bytes | None] = {path: data for path, data in inputs.items()
                                          if ids[path] != copy.file_id(local, path)}
        edits.update({path: None for path in options.removed if copy.file_at(base, path) is not None})
        _check_conflicts(copy, edits, local, base, upstream)
        if base == local:
            current = loaded
        else:  # render what the remote has, with this working copy's edits on top
            assert base is not None
            current = _load_at(copy, base, edits, relative, scratch)
            check_encrypted(current)
            if preflight is not None:
                preflight(current)
        files = render_tree(current, engine, _repo_url(options, current, upstream), upstream.branch)
        moved = namespace_changes(copy, base, files, generated)
        if moved and options.dry_run:
            result.warnings.extend(f"{change}: destructive (a new install; the old namespace's objects are deleted)"
                                   for change in moved)
        elif moved and not options.confirm_destructive:
            raise UsageError(f"{'; '.join(moved)}: a new namespace is a new install there and a delete of "
                             "everything in the old one, its volumes' data too; apply with --confirm-destructive "
                             "to go ahead")
        files[f"{generated}/{RECORD}"] = _record(current, relative, engine, options, upstream,
                                                 copy.root if current is loaded else current.repository)
        tree = copy.build_tree(base, {**edits, **files}, replace=[generated])
        new = base
        if tree != copy.tree_of(base):
            new = copy.commit(tree, base, options.message or _message(cluster, engine, relative))
        result.changed = copy.changed_paths(remote, new)
        if options.dry_run:
            result.before = {p: copy.file_at(remote, p) for p in result.changed}
            result.after = {p: copy.file_at(new, p) for p in result.changed}
            return result
        if new is not None and new != remote:
            try:
                copy.push(upstream, new)
            except PushRejectedError:
                if attempt == ATTEMPTS:
                    raise PushRejectedError(f"{upstream.url} kept refusing the push to {upstream.branch} "
                                            f"({ATTEMPTS} attempts, someone else keeps pushing): apply again "
                                            "later") from None
                continue
            result.commit = str(new)
        if new is not None and new != local:
            result.kept = copy.advance(new, owned=[generated, *edits], base=base)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


_ENGINE_OBJECTS = re.compile(r"/(apps/(addon|catalog)-[^/]+\.yaml|members/addon-[^/]+/helmrelease\.yaml)$")


def namespace_changes(copy: WorkingCopy, base: Oid | None, files: dict[str, bytes], generated: str) -> list[str]:
    """``add-on NAME: namespace A -> B`` for each add-on (or catalog addon) whose engine object in the new tree
    ``files`` installs into another namespace than at commit ``base``: Argo CD's ``spec.destination.namespace``,
    Flux's ``spec.targetNamespace``. Helm cannot move a release: it installs anew and the old one is deleted."""
    if base is None:
        return []
    changes = []
    for path, data in sorted(files.items()):
        if not path.startswith(f"{generated}/") or not _ENGINE_OBJECTS.search(path):
            continue
        old_id = copy.file_id(base, path)
        if old_id is None or old_id == copy.blob_id(data):  # new, or unchanged: nothing moved
            continue
        old = copy.file_at(base, path)
        if old is None:
            continue
        before, after = _target_namespace(old), _target_namespace(data)
        if before is not None and after is not None and before != after:
            name = path.rsplit("/", 2)[-2 if path.endswith("helmrelease.yaml") else -1].removesuffix(".yaml")
            kind, _, member = name.partition("-")
            changes.append(f"{'catalog addon' if kind == 'catalog' else 'add-on'} {member}: namespace {before} -> "
                           f"{after}")
    return changes


def _target_namespace(data: bytes) -> str | None:
    from kaddons.addons._yaml import parse_yaml

    try:
        documents = parse_yaml(data.decode("utf-8"), "rendered", error=ClusterDocumentError, documents=True)
    except (ClusterDocumentError, UnicodeDecodeError):
        return None
    for doc in documents:
        spec = doc.get("spec") if isinstance(doc, dict) else None
        if isinstance(spec, dict):
            found = spec.get("targetNamespace") or (spec.get("destination") or {}).get("namespace")
            if isinstance(found, str):
                return found
    return None


def _base(copy: WorkingCopy, local: Oid | None, remote: Oid | None, upstream: Upstream) -> Oid | None:
    if remote is None:
        return local
    if local is None or copy.is_ancestor(local, remote):
        return remote
    if copy.is_ancestor(remote, local):
        return local
    raise GitError(f"the local branch {copy.branch} and {upstream} have diverged: git pull --rebase, then apply "
                   "again")


def _check_conflicts(copy: WorkingCopy, edits: dict[str, bytes | None], local: Oid | None, base: Oid | None,
                     upstream: Upstream) -> None:
    if base == local:
        return
    both = [p for p, data in edits.items()
            if copy.file_id(base, p) not in (copy.file_id(local, p), None if data is None else copy.blob_id(data))]
    if both:
        raise GitError(f"{', '.join(sorted(both))} changed both here and on {upstream}: commit your change, "
                       "git pull --rebase, then apply again")


def _load_at(copy: WorkingCopy, base: Oid, edits: dict[str, bytes | None], relative: str,
             scratch: Path) -> LoadedCluster:
    folder = Path(tempfile.mkdtemp(prefix="base-", dir=scratch))
    try:
        copy.export(base, folder)
        for path, data in edits.items():
            target = folder / path
            if data is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        loaded = load_cluster(folder / relative, repository=folder)
        loaded.path = copy.root / relative
        return loaded
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record(loaded: LoadedCluster, relative: str, engine: str, options: ApplyOptions, upstream: Upstream,
            root: Path) -> bytes:
    """What built the tree (see the module), as canonical JSON."""
    record = {
        "kaddons": __version__, "document": relative, "engine": engine, "engineOption": options.engine,
        "gitUrlOption": options.git_url, "remote": upstream.url, "branch": upstream.branch,
        "inputs": {p.relative_to(root).as_posix(): digest for p, digest in loaded.files.items()},
        "folders": {p.relative_to(root).as_posix(): names for p, names in loaded.folders.items()},
    }
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def rendered_again(copy: WorkingCopy, base: Oid, edits: dict[str, bytes | None]) -> dict[str, bytes | None]:
    """The generated trees of commit ``base`` rendered again from its inputs with ``edits`` on top (repository
    path -> bytes; ``None``: a generated file that goes), each with its record, as the apply that made it would
    render them now: for a commit that changes inputs without an apply (a key rotation re-encrypting values
    files), so that the next apply has nothing to do. A tree whose document no longer loads is left out (the
    caller's own edits of it stand)."""
    upstream = copy.upstream()
    scratch = Path(copy.repo.path) / "kaddons"
    scratch.mkdir(exist_ok=True)
    found: dict[str, bytes | None] = {}
    for path, data in copy.records(base, RECORD):
        try:
            record = json.loads(data)
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("document"), str) \
                or record.get("engine") not in ENGINES:
            continue
        relative, engine = record["document"], str(record["engine"])
        written = PurePosixPath(relative)
        if written.is_absolute() or ".." in written.parts or not relative.endswith((".yaml", ".yml")):
            continue  # a record names its document inside the repository: anything else is not followed
        options = ApplyOptions(engine=record.get("engineOption"), git_url=record.get("gitUrlOption"))
        generated = path.rsplit("/", 1)[0]
        try:
            current = _load_at(copy, base, edits, relative, scratch)
        except ClusterDocumentError:
            continue
        files: dict[str, bytes | None] = dict(render_tree(current, engine, _repo_url(options, current, upstream),
                                                          upstream.branch))
        files[path] = _record(current, relative, engine, options, upstream, current.repository)
        old = copy.file_ids_under(base, generated)
        found.update({p: None for p in old if p not in files})
        found.update(files)
    return found


def _up_to_date(copy: WorkingCopy, relative: str, options: ApplyOptions) -> ApplyResult | None:
    """The result of an apply with nothing to do, when the local branch is the remote's and a record in it
    matches the working copy; else ``None`` (the full apply runs)."""
    local = copy.head()
    if local is None:
        return None
    upstream = copy.upstream()
    for path, data in copy.records(local, RECORD):
        try:
            record = json.loads(data)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("document") != relative:
            continue
        wanted = {"kaddons": __version__, "engineOption": options.engine, "gitUrlOption": options.git_url,
                  "remote": upstream.url, "branch": upstream.branch}
        if any(record.get(key) != value for key, value in wanted.items()):
            continue
        if options.engine is not None and record.get("engine") != options.engine:
            continue
        if not _inputs_match(copy.root, record):
            continue
        remote = copy.fetch(upstream)
        if remote != local:
            return None
        cluster = path.split("/")[1]
        return ApplyResult(cluster, str(record.get("engine")), str(upstream))
    return None


def _inputs_match(root: Path, record: dict[str, object]) -> bool:
    inputs, folders = record.get("inputs"), record.get("folders")
    if not isinstance(inputs, dict) or not isinstance(folders, dict):
        return False
    for path, digest in inputs.items():
        try:
            if _sha256((root / path).read_bytes()) != digest:
                return False
        except OSError:
            return False
    for path, names in folders.items():
        folder = root / path
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.suffix in (".yaml", ".yml") and p.is_file()) if folder.is_dir() else None
        if found != names:
            return False
    return True


def document_repo_url(loaded: LoadedCluster) -> str | None:
    """The GitOps repository's URL as the document gives it: ``spec.kaddons.repo_url``, else the GitHub URL of
    ``spec.git_repository``, else ``None``."""
    spec = loaded.document.spec
    if spec.kaddons.repo_url:
        return spec.kaddons.repo_url
    if spec.git_repository is not None and spec.git_repository.provider == "github":
        return f"https://github.com/{spec.git_repository.repository}.git"
    return None


def _repo_url(options: ApplyOptions, loaded: LoadedCluster, upstream: Upstream) -> str:
    return options.git_url or document_repo_url(loaded) or upstream.url


def render_tree(loaded: LoadedCluster, engine: str, repo_url: str, revision: str) -> dict[str, bytes]:
    """The generated tree of ``loaded`` for ``engine`` (``argocd``/``flux``): ``{repository path: bytes}``."""
    if engine == "flux":
        from kaddons.stacks.render_flux import FluxOptions, render_flux

        return render_flux(loaded, FluxOptions(repo_url=repo_url, revision=revision))
    from kaddons.stacks.render_argocd import ArgoOptions, render_argocd

    return render_argocd(loaded, ArgoOptions(repo_url=repo_url, revision=revision))


def _message(cluster: str, engine: str, document: str) -> str:
    return (f"kaddons: apply cluster {cluster} ({engine})\n\nRendered from {document} by kaddons cluster apply; "
            f"clusters/{cluster}/{engine}/ is generated.\n")


def unified_diff(result: ApplyResult) -> str:
    """The changes of a dry-run ``result`` as a unified diff (``a/`` the remote branch, ``b/`` the apply)."""
    out: list[str] = []
    for path in result.changed:
        before, after = result.before.get(path), result.after.get(path)
        old = before.decode("utf-8", "replace").splitlines(keepends=True) if before is not None else []
        new = after.decode("utf-8", "replace").splitlines(keepends=True) if after is not None else []
        out.extend(difflib.unified_diff(old, new, f"a/{path}" if before is not None else "/dev/null",
                                        f"b/{path}" if after is not None else "/dev/null"))
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
    return "".join(out)
