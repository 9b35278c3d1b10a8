"""Add-on lifecycle as commits (issue 14, first part): ``upgrade``, ``history``, ``rollback`` of one add-on.

Each operation edits the file that declares the add-on (comments and layout kept, :mod:`ruamel.yaml` round
trip) and its values file, then runs :func:`~kaddons.operations.apply.apply_cluster` with a message saying
what changed: validated, preflighted, rendered, committed and pushed, or nothing at all. A failure puts the
edited files back as they were, so the working copy is left as the user had it.

* ``upgrade NAME --chart-version X``: the add-on's ``chart_version``.
* ``history NAME``: the commits of the branch that changed the add-on's declaring file or its values file,
  newest first (revision, time, author, subject).
* ``rollback NAME [--to REVISION]``: the add-on's ``chart_version``, ``settings`` and values as they were at
  REVISION (default: before the newest commit that changed them), as a new commit; the history stays.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

from kaddons.errors import NotFoundError, UsageError
from kaddons.repo import WorkingCopy
from kaddons.stacks.load import LoadedCluster, MemberSource, load_cluster

from .apply import ApplyOptions, ApplyResult, Preflight, apply_cluster

__all__ = ["Change", "addon_history", "rollback_addon", "upgrade_addon"]


@dataclass(frozen=True)
class Change:
    """One commit that changed an add-on: ``revision`` (hex), ``time`` (ISO 8601, UTC), ``author``, ``subject``."""

    revision: str
    time: str
    author: str
    subject: str


def _source(loaded: LoadedCluster, name: str) -> MemberSource:
    source = loaded.sources.get(("addon", name))
    if source is None:
        known = sorted(n for k, n in loaded.sources if k == "addon")
        raise NotFoundError(f"{loaded.path}: no add-on named {name!r} (add-ons: {', '.join(known) or 'none'})")
    return source


def _entry(data: Any, path: tuple[str | int, ...]) -> Any:
    node = data
    for step in path:
        node = node[step]
    return node


def _dump(yaml: Any, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.kaddons-tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _edit_and_apply(document: Path, files: dict[Path, str], options: ApplyOptions,
                    preflight: Preflight | None) -> ApplyResult:
    """Write ``files`` (path -> new text), apply; on any failure put every file back."""
    before = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in files}
    try:
        for path, text in files.items():
            _write(path, text)
        result = apply_cluster(document, options, preflight=preflight)
        if options.dry_run:
            raise _DryRun(result)
        return result
    except _DryRun as done:
        _restore(before)
        return done.result
    except BaseException:
        _restore(before)
        raise


class _DryRun(Exception):
    def __init__(self, result: ApplyResult) -> None:
        super().__init__("dry run")
        self.result = result


def _restore(before: dict[Path, str | None]) -> None:
    for path, text in before.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            _write(path, text)


def upgrade_addon(document: Path, name: str, version: str, *, options: ApplyOptions,
                  preflight: Preflight | None = None) -> ApplyResult:
    """Set add-on ``name``'s ``chart_version`` to ``version`` and apply (see the module)."""
    from kaddons.addons._yaml import round_trip_yaml

    loaded = load_cluster(document)
    source = _source(loaded, name)
    yaml = round_trip_yaml()
    data = yaml.load(source.file.read_text(encoding="utf-8"))
    entry = _entry(data, source.path)
    old = str(entry.get("chart_version"))
    if old == version:
        raise UsageError(f"add-on {name!r} is at chart version {version} already")
    entry["chart_version"] = version
    message = options.message or f"kaddons: upgrade add-on {name} from chart version {old} to {version}\n"
    return _edit_and_apply(document, {source.file: _dump(yaml, data)},
                           ApplyOptions(options.engine, options.git_url, message, options.dry_run), preflight)


def _paths(loaded: LoadedCluster, source: MemberSource) -> list[str]:
    root = loaded.repository.resolve()
    files = [source.file.resolve(), *([source.content_file.resolve()] if source.content_file else [])]
    return [f.relative_to(root).as_posix() for f in files]


def addon_history(document: Path, name: str, *, limit: int = 1000) -> list[Change]:
    """The commits that changed add-on ``name``'s files, newest first (at most ``limit``)."""
    loaded = load_cluster(document)
    paths = _paths(loaded, _source(loaded, name))
    copy = WorkingCopy(document.absolute().parent)
    try:
        return _history(copy, paths, limit)
    finally:
        copy.close()


def _history(copy: WorkingCopy, paths: list[str], limit: int) -> list[Change]:
    head = copy.head()
    if head is None:
        return []
    changes: list[Change] = []
    walker = copy.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    walker.simplify_first_parent()
    for commit in walker:
        parent = commit.parents[0].id if commit.parents else None
        if any(copy.file_at(commit.id, p) != copy.file_at(parent, p) for p in paths):
            when = datetime.fromtimestamp(commit.commit_time, UTC).isoformat().replace("+00:00", "Z")
            changes.append(Change(str(commit.id), when, f"{commit.author.name} <{commit.author.email}>",
                                  commit.message.splitlines()[0] if commit.message else ""))
            if len(changes) >= limit:
                break
    return changes


def rollback_addon(document: Path, name: str, *, to: str | None = None, options: ApplyOptions,
                   preflight: Preflight | None = None) -> tuple[str, ApplyResult]:
    """Restore add-on ``name``'s chart version, settings and values as at revision ``to`` (default: before its
    newest change) in a new commit; returns the revision restored and the apply result."""
    from kaddons.addons._yaml import round_trip_yaml

    loaded = load_cluster(document)
    source = _source(loaded, name)
    paths = _paths(loaded, source)
    copy = WorkingCopy(document.absolute().parent)
    try:
        changes = _history(copy, paths, 1000)
        revision = _revision(copy, changes, to, name)
        declaring, content = paths[0], paths[1] if len(paths) > 1 else None
        old_text = copy.file_at(revision, declaring)
        if old_text is None:
            raise NotFoundError(f"{declaring} does not exist at {str(revision)[:12]}: rollback goes no further back "
                                "than the add-on's first revision")
        old_values = copy.file_at(revision, content) if content else None
    finally:
        copy.close()
    yaml = round_trip_yaml()
    old_data = yaml.load(old_text.decode("utf-8"))
    old_entry = _find(old_data, name)
    if old_entry is None:
        raise NotFoundError(f"add-on {name!r} was not declared in {declaring} at {str(revision)[:12]}: rollback goes "
                            "no further back than its first revision")
    data = yaml.load(source.file.read_text(encoding="utf-8"))
    entry = _entry(data, source.path)
    for key in ("chart_version", "settings", "configuration"):
        if key in old_entry:
            entry[key] = old_entry[key]
        elif key in entry:
            del entry[key]
    files = {source.file: _dump(yaml, data)}
    if source.content_file is not None and old_values is not None:
        files[source.content_file] = old_values.decode("utf-8")
    message = options.message or (f"kaddons: roll back add-on {name} to its state at {str(revision)[:12]}\n\n"
                                  f"Chart version {old_entry.get('chart_version')}, settings and values as they were "
                                  f"at {revision}.\n")
    result = _edit_and_apply(document, files, ApplyOptions(options.engine, options.git_url, message,
                                                           options.dry_run), preflight)
    return str(revision), result


def _revision(copy: WorkingCopy, changes: list[Change], to: str | None, name: str) -> pygit2.Oid:
    if to is None:
        if not changes:
            raise NotFoundError(f"add-on {name!r} has no committed change to roll back")
        newest = copy.repo[changes[0].revision].peel(pygit2.Commit)
        if not newest.parents:
            raise UsageError(f"add-on {name!r} has one revision only: nothing to roll back to")
        parent: pygit2.Oid = newest.parents[0].id
        return parent
    try:
        commit = copy.repo.revparse_single(to).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise NotFoundError(f"--to {to!r} is not a revision of this repository: kaddons cluster addons history "
                            f"{name} lists them") from None
    return commit.id


def _find(data: Any, name: str) -> Any:
    """The add-on entry named ``name`` anywhere in a document or an included file's data."""
    candidates: list[Any] = []
    if isinstance(data, dict) and isinstance(data.get("spec"), dict):
        for stack in data["spec"].get("stacks") or []:
            if isinstance(stack, dict):
                candidates.extend(stack.get("addons") or [])
    elif isinstance(data, list):
        candidates = data
    elif isinstance(data, dict):
        candidates = [data]
    return next((c for c in candidates if isinstance(c, dict) and c.get("name") == name), None)

