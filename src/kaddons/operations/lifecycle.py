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

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

from kaddons.errors import NotFoundError, UsageError
from kaddons.repo import WorkingCopy
from kaddons.stacks.load import LoadedCluster, MemberSource, load_cluster

from .apply import ApplyOptions, ApplyResult, Preflight
from .edit import dump_yaml, edit_and_apply, parent_key
from .splice import EntryEditor

__all__ = ["Change", "ParentEdit", "addon_history", "rollback_addon", "rollback_marks", "rolled_back", "stack_history",
           "update_settings", "upgrade_addon"]


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


@dataclass(frozen=True)
class ParentEdit:
    """How ``upgrade`` changes an add-on's parents: ``add`` and ``remove`` ``(kind, name)`` edges, or ``replace``
    them all (``None``: keep)."""

    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[tuple[str, str], ...] = ()
    replace: tuple[tuple[str, str], ...] | None = None

    def __bool__(self) -> bool:
        return bool(self.add or self.remove or self.replace is not None)


def upgrade_addon(document: Path, name: str, version: str | None, *, options: ApplyOptions,
                  preflight: Preflight | None = None, sets: tuple[tuple[str, Any], ...] = (),
                  values: str | None = None, parents: ParentEdit | None = None,
                  namespace: str | None = None) -> ApplyResult:
    """Change add-on ``name`` and apply (see the module): its ``chart_version`` to ``version`` (``None``: keep);
    each ``(path, value)`` of ``sets`` in its values (:func:`~kaddons.stacks.values_edit.set_value`), or its values
    replaced by the YAML text ``values``; its ``parents`` (:class:`ParentEdit`); its ``namespace``, which the
    apply refuses unless ``options.confirm_destructive`` (a new install). Values in a values file are edited
    there, inline ones in the entry; a key named in ``encrypted_paths`` is refused for ``sets`` (set it with
    ``kaddons cluster encrypt addon NAME --set``, which encrypts it first), and replaced values must hold those
    keys encrypted (checked before any commit). Raises UsageError, NotFoundError (unknown add-on or parent)."""
    from kaddons.addons._yaml import round_trip_yaml

    if version is None and not sets and values is None and not parents and namespace is None:
        raise UsageError(f"nothing to change on add-on {name!r}: give --chart-version, --set, --values-from-file, "
                         "a parent or --namespace")
    if sets and values is not None:
        raise UsageError("give --set or --values-from-file/--values, not both: --set changes the values, the other "
                         "replaces them")
    loaded = load_cluster(document)
    source = _source(loaded, name)
    yaml = round_trip_yaml()
    editor: EntryEditor | None = None
    if version is None and not parents and namespace is None and source.content_file is not None:
        # Only the values file changes: the declaring file is not read for editing at all.
        declared = next(a for s in loaded.document.spec.stacks for a in s.addons if a.name == name)
        entry: Any = {"configuration": declared.configuration.model_dump() if declared.configuration else None}
    else:
        editor = EntryEditor.of(source.file, source.path)
        entry = editor.entry
    old = str(entry.get("chart_version"))
    changes: list[str] = []
    entry_changed = False
    if version is not None:
        if old == version and not (sets or values is not None or parents or namespace):
            raise UsageError(f"add-on {name!r} is at chart version {version} already")
        if old != version:
            entry["chart_version"] = version
            changes.append(f"from chart version {old} to {version}")
            entry_changed = True
    files: dict[Path, str] = {}
    if sets:
        _set_values(yaml, entry, source, name, sets, files)
        changes.append(f"values {', '.join(path for path, _value in sets)}")
    if values is not None:
        _replace_values(yaml, entry, source, name, values, files)
        changes.append("values replaced")
    if parents:
        changes.append(_edit_parents(loaded, entry, name, parents))
        entry_changed = True
    if namespace is not None and namespace != entry.get("namespace"):
        changes.append(f"namespace {entry.get('namespace')} -> {namespace}")
        entry["namespace"] = namespace
        entry_changed = True
    if not changes:
        raise UsageError(f"add-on {name!r} has that already: nothing to change")
    if editor is not None and (entry_changed or source.content_file is None):  # the entry itself changed
        files[source.file] = editor.text()
    message = options.message or f"kaddons: upgrade add-on {name}: {'; '.join(changes)}\n"
    if changes == [f"from chart version {old} to {version}"] and not options.message:
        message = f"kaddons: upgrade add-on {name} from chart version {old} to {version}\n"
    return edit_and_apply(document, files, replace(options, message=message), preflight)


def update_settings(document: Path, name: str, *, settings: str | None = None, profile: str | None = None,
                    options: ApplyOptions, preflight: Preflight | None = None) -> ApplyResult:
    """Replace add-on ``name``'s ``settings`` with the YAML text ``settings`` (validated as Ankra's settings,
    §3.3), or set the five settings of ``profile`` (:mod:`kaddons.stacks.profiles`) keeping the rest; apply.
    Raises UsageError (both or neither given, an unknown profile, settings that are not valid), NotFoundError."""
    from pydantic import ValidationError

    from kaddons.addons._yaml import describe_error, parse_yaml, round_trip_yaml
    from kaddons.errors import ClusterDocumentError
    from kaddons.stacks.document import AddonSettings
    from kaddons.stacks.profiles import PROFILES, apply_profile

    if (settings is None) == (profile is None):
        raise UsageError("give --settings FILE or --profile NAME (one of them)")
    if profile is not None and profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: use one of {', '.join(PROFILES)}")
    loaded = load_cluster(document)
    source = _source(loaded, name)
    yaml = round_trip_yaml()
    editor = EntryEditor.of(source.file, source.path)
    entry = editor.entry
    if settings is not None:
        parsed = parse_yaml(settings, f"the new settings of add-on {name}", error=ClusterDocumentError) or {}
        if not isinstance(parsed, dict):
            raise UsageError(f"the new settings of add-on {name} are a {type(parsed).__name__}: settings are a "
                             "YAML mapping")
        parsed.pop("profile", None)  # as `addons settings` prints it: the profile is read, not written
        try:
            AddonSettings.model_validate(parsed)
        except ValidationError as err:
            raise UsageError(f"the new settings of add-on {name}: "
                             f"{describe_error(err.errors(include_url=False)[0], parsed)}") from None
        new = yaml.load(settings) or {}
        new.pop("profile", None)
        entry["settings"] = new
        what = "settings replaced"
    else:
        assert profile is not None
        apply_profile(entry, profile)
        what = f"settings profile {profile}"
    message = options.message or f"kaddons: update add-on {name}: {what}\n"
    return edit_and_apply(document, {source.file: editor.text()}, replace(options, message=message), preflight)


def _replace_values(yaml: Any, entry: Any, source: MemberSource, name: str, text: str,
                    files: dict[Path, str]) -> None:
    from ruamel.yaml.scalarstring import LiteralScalarString

    from kaddons.addons._yaml import parse_yaml
    from kaddons.errors import ClusterDocumentError

    parsed = parse_yaml(text, f"the new values of add-on {name}", error=ClusterDocumentError)
    if parsed is not None and not isinstance(parsed, dict):
        raise UsageError(f"the new values of add-on {name} are a {type(parsed).__name__}: values are a YAML mapping")
    text = text if text.endswith("\n") or not text else text + "\n"
    if source.content_file is not None:
        files[source.content_file] = text
        return
    configuration = entry.get("configuration")
    if configuration is None:
        from ruamel.yaml.comments import CommentedMap

        configuration = entry["configuration"] = CommentedMap()
    configuration.pop("values_base64", None)
    configuration["values"] = LiteralScalarString(text)


def _edit_parents(loaded: LoadedCluster, entry: Any, name: str, edit: ParentEdit) -> str:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    for kind, parent in [*edit.add, *(edit.replace or ())]:
        if (kind, parent) not in loaded.graph.members:
            raise NotFoundError(f"no {kind} named {parent!r} in {loaded.path}: a parent must be a member")
    current = [p for p in (parent_key(p) for p in entry.get("parents") or []) if p is not None]
    wanted = list(edit.replace) if edit.replace is not None else list(current)
    for key in edit.remove:
        if key not in wanted:
            have = ", ".join(f"{k}:{n}" for k, n in wanted) or "none"
            raise UsageError(f"add-on {name!r} has no parent {key[0]}:{key[1]} (its parents: {have})")
        wanted.remove(key)
    wanted.extend(key for key in edit.add if key not in wanted)
    entry["parents"] = CommentedSeq([CommentedMap({kind: parent}) for kind, parent in dict.fromkeys(wanted)])
    return f"parents {', '.join(f'{k}:{n}' for k, n in wanted) or 'none'}"


def _set_values(yaml: Any, entry: Any, source: MemberSource, name: str, sets: tuple[tuple[str, Any], ...],
                files: dict[Path, str]) -> None:
    from ruamel.yaml.scalarstring import LiteralScalarString

    from kaddons.stacks.values_edit import parse_path, set_value

    configuration = entry.get("configuration") or {}
    secret = {str(k).split(".")[-1] for k in configuration.get("encrypted_paths") or []}
    for path, _value in sets:
        keys = [step for step in parse_path(path) if isinstance(step, str)]
        if keys and keys[-1] in secret:
            raise UsageError(f"add-on {name}: {path} is an encrypted key: set it with kaddons cluster encrypt addon "
                             f"{name} --set {path}=..., which encrypts it before it is written")
    if configuration.get("values_base64") is not None:
        raise UsageError(f"add-on {name}: its values are values_base64: edit them as a file (from_file) to use --set")
    if source.content_file is not None:
        values = yaml.load(source.content_file.read_text(encoding="utf-8"))
        for path, value in sets:
            values = set_value(values, path, value)
        files[source.content_file] = dump_yaml(yaml, values)
        return
    text = configuration.get("values") if configuration else None
    values = yaml.load(str(text)) if text else None
    for path, value in sets:
        values = set_value(values, path, value)
    if "configuration" not in entry or entry["configuration"] is None:
        entry["configuration"] = {}
    entry["configuration"]["values"] = LiteralScalarString(dump_yaml(yaml, values))


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


def stack_history(document: Path, stack: str, *, limit: int = 1000) -> list[Change]:
    """The commits that changed stack ``stack``: the files declaring its members and their values and manifest
    files, newest first (at most ``limit``). Raises NotFoundError naming the stacks."""
    loaded = load_cluster(document)
    names = [s.name for s in loaded.document.spec.stacks]
    if stack not in names:
        raise NotFoundError(f"no stack {stack!r} in {document} (stacks: {', '.join(names) or 'none'})")
    paths = sorted({path for key, member in loaded.graph.members.items() if member.stack == stack
                    for path in _paths(loaded, loaded.sources[key])} or {_relative(loaded, loaded.path)})
    copy = WorkingCopy(document.absolute().parent)
    try:
        return _history(copy, paths, limit)
    finally:
        copy.close()


def _relative(loaded: LoadedCluster, path: Path) -> str:
    return path.resolve().relative_to(loaded.repository.resolve()).as_posix()


def _history(copy: WorkingCopy, paths: list[str], limit: int) -> list[Change]:
    head = copy.head()
    if head is None:
        return []
    changes: list[Change] = []
    walker = copy.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    walker.simplify_first_parent()
    folders = sorted({p.rsplit("/", 1)[0] for p in paths if "/" in p})
    folder_ids: dict[pygit2.Oid, tuple[pygit2.Oid | None, ...]] = {}
    path_ids: dict[pygit2.Oid, tuple[pygit2.Oid | None, ...]] = {}

    def ids(commit: pygit2.Commit, names: list[str], memo: dict[pygit2.Oid, tuple[pygit2.Oid | None, ...]]
            ) -> tuple[pygit2.Oid | None, ...]:
        # Each commit is met twice (as a child, then as a parent): its tree is read once.
        if commit.id not in memo:
            memo[commit.id] = tuple(_tree_id(commit.tree, name) for name in names)
        return memo[commit.id]

    for commit in walker:
        parent = commit.parents[0] if commit.parents else None
        if parent is None:
            changed = any(i is not None for i in ids(commit, paths, path_ids))
        elif folders and ids(commit, folders, folder_ids) == ids(parent, folders, folder_ids):
            changed = False  # the folders holding the paths are the same trees: no lookup below them
        else:
            changed = ids(commit, paths, path_ids) != ids(parent, paths, path_ids)
        if changed:
            when = datetime.fromtimestamp(commit.commit_time, UTC).isoformat().replace("+00:00", "Z")
            changes.append(Change(str(commit.id), when, f"{commit.author.name} <{commit.author.email}>",
                                  commit.message.splitlines()[0] if commit.message else ""))
            if len(changes) >= limit:
                break
    return changes


def _tree_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None


def rollback_addon(document: Path, name: str, *, to: str | None = None, options: ApplyOptions,
                   preflight: Preflight | None = None) -> tuple[str, ApplyResult]:
    """Restore add-on ``name``'s chart version, settings and values as at revision ``to`` (default: before its
    newest change) in a new commit; returns the revision restored and the apply result."""

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
    from kaddons._parsed import parse

    old_document = old_text.decode("utf-8")
    old_path = _find(parse(old_document, f"{declaring} at {str(revision)[:12]}"), name)
    if old_path is None:
        raise NotFoundError(f"add-on {name!r} was not declared in {declaring} at {str(revision)[:12]}: rollback goes "
                            "no further back than its first revision")
    old_entry = EntryEditor(old_document, old_path, declaring).entry
    editor = EntryEditor.of(source.file, source.path)
    entry = editor.entry
    for key in ("chart_version", "settings", "configuration"):
        if key in old_entry:
            entry[key] = old_entry[key]
        elif key in entry:
            del entry[key]
    files = {source.file: editor.text()}
    if source.content_file is not None and old_values is not None:
        files[source.content_file] = old_values.decode("utf-8")
    message = options.message or (f"kaddons: roll back add-on {name} to its state at {str(revision)[:12]}\n\n"
                                  f"Chart version {old_entry.get('chart_version')}, settings and values as they were "
                                  f"at {revision}.\n")
    message = f"{message.rstrip()}\n\n{ROLLBACK_TRAILER}: {name}@{revision}\n"
    result = edit_and_apply(document, files, ApplyOptions(options.engine, options.git_url, message,
                                                           options.dry_run), preflight)
    return str(revision), result


ROLLBACK_TRAILER = "Kaddons-Rolled-Back-To"
"""The trailer of a rollback commit: ``Kaddons-Rolled-Back-To: <add-on>@<revision>``."""


def rolled_back(loaded: LoadedCluster, *, limit: int = 1000) -> dict[str, str]:
    """Add-on name -> the revision it was rolled back to, for each add-on whose newest change (among the
    branch's last ``limit`` commits) is a rollback: what the add-on list shows until the next change. One walk of
    the first-parent history, each commit diffed once against its parent."""
    owners: dict[str, str] = {}
    for (kind, name), source in loaded.sources.items():
        if kind == "addon":
            for path in _paths(loaded, source):
                owners[path] = name
    found: dict[str, str | None] = {}
    copy = WorkingCopy(loaded.path.absolute().parent)
    try:
        head = copy.head()
        if head is None:
            return {}
        walker = copy.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
        walker.simplify_first_parent()
        wanted = set(owners.values())
        for number, commit in enumerate(walker):
            if number >= limit or len(found) == len(wanted):
                break
            parent = commit.parents[0].id if commit.parents else None
            changed = {owners[p] for p in copy.changed_paths(parent, commit.id) if p in owners} - set(found)
            trailers = _rollback_trailers(commit.message or "")
            for name in changed:
                found[name] = trailers.get(name)
    finally:
        copy.close()
    return {name: revision for name, revision in found.items() if revision is not None}


def rollback_marks(loaded: LoadedCluster) -> dict[str, str]:
    """:func:`rolled_back` as the add-on lists show it: revisions of 12 digits; nothing outside a Git working
    copy."""
    from kaddons.errors import KaddonsError

    try:
        return {name: revision[:12] for name, revision in rolled_back(loaded).items()}
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


def _find(data: Any, name: str) -> tuple[str | int, ...] | None:
    """The YAML path of the add-on entry named ``name`` in a document's or an included file's data."""
    candidates: list[tuple[tuple[str | int, ...], Any]] = []
    if isinstance(data, dict) and isinstance(data.get("spec"), dict):
        for s_index, stack in enumerate(data["spec"].get("stacks") or []):
            if isinstance(stack, dict):
                candidates.extend((("spec", "stacks", s_index, "addons", a_index), addon)
                                  for a_index, addon in enumerate(stack.get("addons") or []))
    elif isinstance(data, list):
        candidates = [((index,), item) for index, item in enumerate(data)]
    elif isinstance(data, dict):
        candidates = [((), data)]
    return next((path for path, c in candidates if isinstance(c, dict) and c.get("name") == name), None)
