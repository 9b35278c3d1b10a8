"""Catalog addons on a cluster (issue 14): ``enable`` and ``disable`` as commits.

``enable ADDON [IMPL] --stack S --registry oci://HOST[/PREFIX]`` resolves ``PREFIX/addons/<export name>`` at a
tag (given, else the highest release tag), pins the implementation manifest's digest, takes what the cluster
needs from the artifact into ``catalog/<name>/`` beside the document (:func:`~kaddons.addons.hydrate.hydrate`:
manifests, the rendered chart, a record), adds or updates the entry of ``spec.kaddons.catalog`` (the stack is
created when new) and applies: validated, rendered for the engine (:mod:`kaddons.stacks.render_flux`: the
cluster pulls the manifests layer itself; :mod:`kaddons.stacks.render_argocd`: the folder in Git), committed and
pushed, or nothing at all. ``disable NAME`` removes the entry and the folder the same way; ``rollback NAME``
restores the pin and the folder as they were at a revision, from Git.

The addon's PowerShell scripts (K2s's Windows host steps) are neither fetched nor run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaddons.addons.hydrate import Hydrated, hydrate
from kaddons.addons.names import check_name, export_name
from kaddons.errors import KaddonsError, NotFoundError, UsageError
from kaddons.oci import mediatypes as mt
from kaddons.oci.registry import RegistryOptions
from kaddons.stacks.load import CATALOG_FOLDER, LoadedCluster, load_cluster

from .apply import ApplyOptions, ApplyResult, Preflight
from .edit import edit_and_apply_removing, restore_keys
from .members import remove_member

__all__ = ["PINNED", "Enabled", "disable_addon", "enable_addon", "rollback_catalog"]

Warn = Callable[[str], None]
NEWEST_RELEASE = ">=0.0.0"
"""The tag ``enable`` takes when none is given: the highest semver release (pre-releases skipped)."""


@dataclass
class Enabled:
    """What :func:`enable_addon` did: the member ``name``, the ``tag`` and ``digest`` pinned, the ``hydrated``
    files and the apply ``result``."""

    name: str
    tag: str
    digest: str
    hydrated: Hydrated
    result: ApplyResult


def _registry_url(registry: str) -> tuple[str, str, str]:
    """``(url, host, prefix)`` of ``oci://HOST[:PORT][/PREFIX]`` (UsageError for anything else)."""
    from kaddons.sync.config import parse_registry

    if not registry.startswith("oci://"):
        raise UsageError(f"--registry {registry!r}: give oci://HOST[:PORT][/PREFIX], the registry the cluster pulls "
                         "from (an OCI layout cannot be pulled by a cluster)")
    spec = parse_registry(registry)
    return str(spec), spec.host, spec.prefix


def _implementations(source: Any, addon: str) -> list[str]:
    try:
        names = source.repositories()
    except KaddonsError:  # a registry without /v2/_catalog: the message just lists nothing
        return []
    return [n for n in names if n == addon or n.startswith(f"{addon}-")]


def enable_addon(document: Path, addon: str, implementation: str | None, *, stack: str, registry: str,
                 registry_options: RegistryOptions, tag: str | None = None, paths: Sequence[str] | None = None,
                 namespace: str | None = None, parents: Sequence[tuple[str, str]] = (), options: ApplyOptions,
                 preflight: Preflight | None = None, warn: Warn | None = None) -> Enabled:
    """Enable catalog addon ``addon`` (implementation ``implementation``, ``None``: the addon's only one) in
    ``stack``; see the module. A member of that name is updated (tag, digest, and paths, namespace and parents
    when given; else they stay). ``namespace`` defaults to the addon's name. Raises UsageError (bad names, a
    stack change, nothing to deliver), NotFoundError (no such repository, tag or implementation; another
    addon's artifact), registry and content errors; nothing is written or committed then."""
    from kaddons.sync.source import RegistrySource
    from kaddons.sync.tags import TagPolicy, select_tag

    impl = implementation or addon
    for value, what in ((addon, "addon name"), (impl, "implementation name")):
        problem = check_name(value, what)
        if problem:
            raise UsageError(problem)
    name = export_name(addon, impl)
    url, host, prefix = _registry_url(registry)
    loaded = load_cluster(document)
    existing = next((e for e in loaded.document.spec.kaddons.catalog if e.name == name), None)
    if existing is not None and existing.stack != stack:
        raise UsageError(f"catalog addon {name!r} is enabled in stack {existing.stack!r}: disable it first to move it "
                         f"to {stack!r}")
    for kind, parent in parents:
        if (kind, parent) not in loaded.graph.members:
            raise NotFoundError(f"--parent {kind}:{parent}: no {kind} named {parent!r} in {document}")
    namespace = namespace or (existing.namespace if existing is not None else addon)
    if paths is None and existing is not None:  # an update keeps the folders chosen before
        paths = existing.paths
    source = RegistrySource(host, prefix, registry_options, warn=warn)
    try:
        repository = f"{source.where}/addons/{name}"
        try:
            if tag is None:
                tag = select_tag(TagPolicy("semver", NEWEST_RELEASE), source.tags(name), repository=repository).tag
            descriptor = source.resolve(name, tag)
        except NotFoundError as err:
            found = _implementations(source, addon)
            hint = (f"the registry has {', '.join(f'addons/{n}' for n in found)}" if found else
                    f"publish it with kaddons addons publish {addon} --registry {url}")
            raise NotFoundError(f"{repository}:{tag or '<newest>'}: {err}; {hint}") from None
        if descriptor.media_type not in mt.MANIFEST_TYPES:
            raise NotFoundError(f"{repository}:{tag} is a {descriptor.media_type}, not an addon implementation's "
                                "image manifest")
        hydrated = hydrate(source.store(name), descriptor, addon=addon, implementation=impl, reference=repository,
                           tag=tag, namespace=namespace, paths=paths, warn=warn)
    finally:
        source.close()
    folder = document.absolute().parent / CATALOG_FOLDER / name
    files: dict[Path, str] = {folder / rel: data.decode("utf-8") for rel, data in hydrated.files.items()}
    stale = sorted(p for p in folder.rglob("*") if p.is_file() and p not in files) if folder.is_dir() else []
    waves = [loaded.graph.waves.get(loaded.graph.members[p].stack) for p in parents]
    wave = max((w for w in waves if w is not None), default=None)  # a new stack deploys no earlier than its parents
    files[document] = _edited_document(document, name, addon, impl, stack, url, tag, hydrated, namespace,
                                       registry_options.insecure, parents, wave)
    short = hydrated.digest.removeprefix("sha256:")[:12]
    what = f"{repository}:{tag}@sha256:{short}"
    verb = "update" if existing is not None else "enable"
    message = options.message or (
        f"kaddons: {verb} catalog addon {name} ({what}) in stack {stack}\n\n"
        f"Paths: {', '.join(hydrated.paths) or 'none'}; charts: {', '.join(hydrated.charts) or 'none'}; "
        f"pinned to {hydrated.digest}.\n")
    result = edit_and_apply_removing(loaded, files, stale, options, message, preflight)
    return Enabled(name, tag, hydrated.digest, hydrated, result)


def _edited_document(document: Path, name: str, addon: str, impl: str, stack: str, url: str, tag: str,
                     hydrated: Hydrated, namespace: str, insecure: bool, parents: Sequence[tuple[str, str]],
                     wave: int | None) -> str:
    import io

    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from kaddons.addons._yaml import round_trip_yaml

    yaml = round_trip_yaml()
    data = yaml.load(document.read_text(encoding="utf-8"))
    spec = data["spec"]
    stacks = spec.setdefault("stacks", CommentedSeq())
    if not any(isinstance(s, dict) and s.get("name") == stack for s in stacks):
        stacks.append(CommentedMap({"name": stack, **({"deploy_wave": wave} if wave is not None else {})}))
    settings = spec.setdefault("kaddons", CommentedMap())
    catalog = settings.setdefault("catalog", CommentedSeq())
    entry = next((e for e in catalog if isinstance(e, dict) and e.get("name") == name), None)
    if entry is None:
        entry = CommentedMap()
        catalog.append(entry)
    entry["name"] = name
    entry["addon"] = addon
    entry["implementation"] = impl
    entry["stack"] = stack
    entry["registry"] = url
    entry["tag"] = tag
    entry["digest"] = hydrated.digest
    if insecure:
        entry["insecure"] = True
    elif "insecure" in entry:
        del entry["insecure"]
    entry["paths"] = CommentedSeq(hydrated.paths)
    entry["namespace"] = namespace
    if parents:
        entry["parents"] = CommentedSeq([CommentedMap({kind: parent}) for kind, parent in parents])
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def disable_addon(document: Path, name: str, *, force: bool = False, options: ApplyOptions,
                  preflight: Preflight | None = None) -> ApplyResult:
    """Remove catalog addon ``name`` (its export name) from ``spec.kaddons.catalog`` and its folder
    ``catalog/<name>/``, and apply: the engine then deletes what it delivered. Members naming it as parent are
    an error unless ``force`` (they get its parents). Raises NotFoundError naming the enabled ones."""
    folder = document.absolute().parent / CATALOG_FOLDER / name
    problem = check_name(name, "catalog addon name")
    if problem:
        raise UsageError(problem)
    files = tuple(sorted(p for p in folder.rglob("*") if p.is_file())) if folder.is_dir() else ()
    return remove_member(document, ("catalog", name), force=force, options=options, preflight=preflight,
                         message=f"kaddons: disable catalog addon {name}\n", files_too=files)


PINNED = ("addon", "implementation", "registry", "tag", "digest", "insecure", "paths", "namespace")
"""What a rollback of a catalog addon restores: the artifact it is pinned to and what is taken from it."""


def rollback_catalog(loaded: LoadedCluster, name: str, *, to: str | None, options: ApplyOptions,
                     preflight: Preflight | None) -> tuple[str, ApplyResult]:
    """Restore catalog addon ``name``'s pin (:data:`PINNED`) and its folder ``catalog/<name>/`` as they were at
    revision ``to`` (default: before its newest change) in a new commit, its stack and parents kept; returns the
    revision restored and the apply result. The files come from Git, so nothing is pulled again."""
    from kaddons._parsed import parse
    from kaddons.repo import WorkingCopy

    from .history import member_history, revision_to_restore, watched, with_rollback_trailer
    from .splice import EntryEditor

    document = loaded.path
    source = loaded.sources[("catalog", name)]
    tracked = watched(loaded, ("catalog", name))
    declaring, folder_path = tracked[0].path, tracked[-1].path
    copy = WorkingCopy(document.absolute().parent)
    try:
        revision = revision_to_restore(copy, member_history(copy, tracked, 1000), to, name)
        old_text = copy.file_at(revision, declaring)
        old_files = copy.files_under(revision, folder_path)
    finally:
        copy.close()
    at = str(revision)[:12]
    old_document = (old_text or b"").decode("utf-8")
    old_data = parse(old_document, f"{declaring} at {at}") if old_text is not None else None
    entries: list[Any] = []
    if isinstance(old_data, dict):
        entries = ((old_data.get("spec") or {}).get("kaddons") or {}).get("catalog") or []
    index = next((i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("name") == name), None)
    if index is None or not old_files:
        raise NotFoundError(f"catalog addon {name!r} was not enabled at {at}: rollback goes no further back than "
                            "its first revision")
    old_entry = EntryEditor(old_document, ("spec", "kaddons", "catalog", index), declaring).entry
    editor = EntryEditor.of(source.file, source.path)
    restore_keys(editor.entry, old_entry, PINNED)
    folder = loaded.catalog[name].folder
    files: dict[Path, str] = {source.file: editor.text()}
    for relative, data in old_files.items():
        try:
            files[folder / relative] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{folder_path}/{relative} at {at} is not UTF-8 text: enable the tag again instead "
                             f"({old_entry.get('tag')})") from None
    removed = [folder / relative for relative in loaded.catalog[name].files if relative not in old_files]
    message = options.message or (f"kaddons: roll back catalog addon {name} to its state at {at}\n\n"
                                  f"Tag {old_entry.get('tag')} ({old_entry.get('digest')}) and the files taken from "
                                  f"it, as they were at {revision}.\n")
    result = edit_and_apply_removing(loaded, files, removed, options, with_rollback_trailer(message, name, revision),
                                     preflight)
    return str(revision), result
