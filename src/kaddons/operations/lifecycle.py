"""Add-on lifecycle as commits (issue 14): ``upgrade``, ``update`` (settings) and ``rollback`` of one add-on.

Each operation edits the add-on's entry in the file that declares it (comments and layout kept: only the entry's
lines are written again, :mod:`kaddons.operations.splice`) and its values file, then runs
:func:`~kaddons.operations.apply.apply_cluster` with a message saying what changed: validated, preflighted,
rendered, committed and pushed, or nothing at all. A failure puts the edited files back as they were, so the
working copy is left as the user had it.

* ``upgrade NAME --chart-version X``: the add-on's ``chart_version`` (and values, parents, namespace).
* ``rollback NAME [--to REVISION]``: the add-on's ``chart_version``, ``settings`` and values as they were at
  REVISION (default: before the newest commit that changed them, :mod:`kaddons.operations.history`), as a new
  commit; the history stays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kaddons.errors import NotFoundError, UsageError, known
from kaddons.repo import WorkingCopy
from kaddons.stacks.load import LoadedCluster, MemberSource, load_cluster, member_kind

from .apply import ApplyOptions, ApplyResult, Preflight
from .edit import dump_yaml, edit_and_apply, parent_key, restore_keys
from .history import member_history, revision_to_restore, watched, with_rollback_trailer
from .splice import EntryEditor

__all__ = ["ParentEdit", "rollback_addon", "update_settings", "upgrade_addon"]


def _source(loaded: LoadedCluster, name: str) -> MemberSource:
    source = loaded.sources.get(("addon", name))
    if source is None:
        names = sorted(n for k, n in loaded.sources if k == "addon")
        raise NotFoundError(f"{loaded.path}: no add-on named {name!r} ({known('add-ons', names, name)}): "
                            "see kaddons cluster addons list")
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


def rollback_addon(document: Path, name: str, *, to: str | None = None, options: ApplyOptions,
                   preflight: Preflight | None = None) -> tuple[str, ApplyResult]:
    """Restore add-on ``name``'s chart version, settings and values as at revision ``to`` (default: before its
    newest change) in a new commit; returns the revision restored and the apply result. A catalog addon is
    rolled back by :func:`~kaddons.operations.catalog.rollback_catalog`."""
    loaded = load_cluster(document)
    if member_kind(loaded, name) == "catalog":
        from .catalog import rollback_catalog

        return rollback_catalog(loaded, name, to=to, options=options, preflight=preflight)
    source = _source(loaded, name)
    tracked = watched(loaded, ("addon", name))
    copy = WorkingCopy(document.absolute().parent)
    try:
        changes = member_history(copy, tracked, 1000)
        revision = revision_to_restore(copy, changes, to, name)
        declaring, content = tracked[0].path, tracked[1].path if len(tracked) > 1 else None
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
    restore_keys(entry, old_entry, ("chart_version", "settings", "configuration"))
    files = {source.file: editor.text()}
    if source.content_file is not None and old_values is not None:
        files[source.content_file] = old_values.decode("utf-8")
    message = options.message or (f"kaddons: roll back add-on {name} to its state at {str(revision)[:12]}\n\n"
                                  f"Chart version {old_entry.get('chart_version')}, settings and values as they were "
                                  f"at {revision}.\n")
    result = edit_and_apply(document, files, ApplyOptions(options.engine, options.git_url,
                                                           with_rollback_trailer(message, name, revision),
                                                           options.dry_run), preflight)
    return str(revision), result


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
