"""Stack membership as commits (issue 14; ankra-addons.md §6.1, §6.2): ``install`` adds a chart add-on to a
stack, ``uninstall`` takes one off the cluster, ``restore`` brings an uninstalled one back. Each edits the
document (comments kept) and applies: validated, rendered, committed and pushed, or nothing at all.

``uninstall`` follows Ankra's ``delete_permanently`` (default false): the add-on leaves its stack, so the engine
deletes its objects from the cluster (and whatever data its chart deletes with them), but its definition (the entry
as written, and its values file) is kept in kaddons' block of the document, ``spec.kaddons.uninstalled``, with the
stack it was in; ``restore`` puts it back there. ``uninstall --delete`` removes the definition and the values file
for good (the repository's history still has them). Members that name the add-on as parent are an error naming
them, or (``force``) are re-attached to its parents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaddons.errors import NotFoundError, UsageError
from kaddons.stacks.load import LoadedCluster, load_cluster

from .apply import ApplyOptions, ApplyResult, Preflight
from .edit import dump_yaml, edit_and_apply, edit_and_apply_removing, entry_at, parent_key

__all__ = ["NewAddon", "install_addon", "remove_member", "restore_addon", "uninstall_addon"]


@dataclass(frozen=True)
class NewAddon:
    """What ``install`` adds: the add-on's ``name``, ``chart`` and ``version``, its ``source`` (a registry name of
    ``spec.helm_registries`` or a URL), ``namespace``, ``parents`` (``(kind, name)``), and a ``values`` file to
    copy into the repository (``None``: no values)."""

    name: str
    chart: str
    version: str
    source: str
    namespace: str
    parents: tuple[tuple[str, str], ...] = ()
    values: Path | None = None


def install_addon(document: Path, stack: str, addon: NewAddon, *, options: ApplyOptions,
                  preflight: Preflight | None = None) -> ApplyResult:
    """Add ``addon`` to ``stack`` of the document (the stack is created when new, in the deploy wave of its
    parents' stacks), its values copied to ``values/<name>.yaml`` beside the document, and apply."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from kaddons.addons._yaml import round_trip_yaml
    from kaddons.stacks.document import check_member_name, check_namespace

    for check, value, flag in ((lambda v: check_member_name("add-on", v), addon.name, "--name"),
                               (check_namespace, addon.namespace, "--namespace")):
        try:  # before anything is named after them: the values file, the rendered objects
            check(value)
        except ValueError as err:
            raise UsageError(f"{err}: give another with {flag}") from None
    loaded = load_cluster(document)
    if ("addon", addon.name) in loaded.sources:
        raise UsageError(f"an add-on named {addon.name!r} exists already: kaddons cluster addons upgrade "
                         f"{addon.name} changes it")
    if ("uninstalled", addon.name) in loaded.sources:
        raise UsageError(f"add-on {addon.name!r} was uninstalled with its definition kept: kaddons cluster addons "
                         f"restore {addon.name} brings it back, uninstall {addon.name} --delete forgets it")
    registries = {r.name: r.url for r in loaded.document.spec.helm_registries}
    entry = CommentedMap()
    entry["name"] = addon.name
    entry["chart_name"] = addon.chart
    entry["chart_version"] = addon.version
    if addon.source in registries:
        entry["registry_name"] = addon.source
        entry["registry_url"] = registries[addon.source]
    elif addon.source.startswith(("http://", "https://", "oci://")):
        entry["registry_url"] = addon.source
    else:
        known = ", ".join(sorted(registries)) or "none"
        raise UsageError(f"--source {addon.source!r} is neither a registry of spec.helm_registries ({known}) nor a "
                         "URL (https://, oci://)")
    entry["namespace"] = addon.namespace
    if addon.parents:
        entry["parents"] = CommentedSeq([CommentedMap({kind: name}) for kind, name in addon.parents])
    files: dict[Path, str] = {}
    if addon.values is not None:
        try:
            text = addon.values.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--values {addon.values}: cannot read it ({getattr(err, 'strerror', None) or err})"
                             ) from None
        target = document.parent / "values" / f"{addon.name}.yaml"
        if target.exists():
            raise UsageError(f"{target} exists already: move it away or give the add-on another --name")
        files[target] = text
        entry["configuration"] = CommentedMap({"from_file": f"values/{addon.name}.yaml"})
    yaml = round_trip_yaml()
    data = yaml.load(document.read_text(encoding="utf-8"))
    _stack_addons(data, loaded, stack, addon.parents).append(entry)
    files[document] = dump_yaml(yaml, data)
    message = options.message or (f"kaddons: install add-on {addon.name} (chart {addon.chart} {addon.version}) in "
                                  f"stack {stack}\n")
    return edit_and_apply(document, files, ApplyOptions(options.engine, options.git_url, message, options.dry_run),
                           preflight)


def _stack_addons(data: Any, loaded: LoadedCluster, stack: str, parents: tuple[tuple[str, str], ...]) -> Any:
    """The ``addons`` list of ``stack`` in the document's round-trip ``data``; a new stack is appended, in the
    deploy wave of its members' ``parents``' stacks (it deploys no earlier than they do)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    stacks = data["spec"].setdefault("stacks", CommentedSeq())
    found = next((s for s in stacks if isinstance(s, dict) and s.get("name") == stack), None)
    if found is None:
        found = CommentedMap({"name": stack})
        waves = [loaded.graph.waves.get(loaded.graph.members[p].stack) for p in parents if p in loaded.graph.members]
        if any(w is not None for w in waves):
            found["deploy_wave"] = max(w for w in waves if w is not None)
        found["addons"] = CommentedSeq()
        stacks.append(found)
    if found.get("addons") is None:
        found["addons"] = CommentedSeq()
    return found["addons"]


def uninstall_addon(document: Path, name: str, *, delete: bool = False, force: bool = False,
                    options: ApplyOptions, preflight: Preflight | None = None) -> ApplyResult:
    """Take add-on ``name`` off the cluster and apply (see the module): its definition is kept in
    ``spec.kaddons.uninstalled`` unless ``delete``, which removes it and its values file (also for an add-on
    uninstalled before). Members naming it as parent are re-attached to its parents with ``force``, else an error
    naming them. Raises NotFoundError (no such add-on), UsageError (children without ``force``; uninstalled
    already, without ``delete``)."""
    loaded = load_cluster(document)
    if ("uninstalled", name) in loaded.sources:
        if not delete:
            raise UsageError(f"add-on {name!r} is uninstalled already, its definition kept: kaddons cluster addons "
                             f"restore {name} brings it back, uninstall {name} --delete forgets it")
        return _forget(loaded, name, options=options, preflight=preflight)
    if delete:
        return remove_member(document, ("addon", name), force=force, options=options, preflight=preflight,
                             message=f"kaddons: uninstall add-on {name} and delete its definition\n", loaded=loaded)
    return remove_member(document, ("addon", name), force=force, options=options, preflight=preflight,
                         message=f"kaddons: uninstall add-on {name} (definition kept: kaddons cluster addons restore "
                                 f"{name})\n", keep=True, loaded=loaded)


def restore_addon(document: Path, name: str, *, stack: str | None = None, options: ApplyOptions,
                  preflight: Preflight | None = None) -> ApplyResult:
    """Put the kept definition of uninstalled add-on ``name`` back into ``stack`` (default: the stack it was
    uninstalled from; created when gone) and apply: the engine installs it again with its values. Raises
    NotFoundError (nothing kept under that name), UsageError (it is installed)."""
    from kaddons.addons._yaml import round_trip_yaml

    loaded = load_cluster(document)
    source = loaded.sources.get(("uninstalled", name))
    if source is None:
        if ("addon", name) in loaded.sources:
            raise UsageError(f"add-on {name!r} is installed: nothing to restore")
        kept = sorted(n for k, n in loaded.sources if k == "uninstalled")
        raise NotFoundError(f"{loaded.path}: no uninstalled add-on named {name!r} (kept: {', '.join(kept) or 'none'})")
    yaml = round_trip_yaml()
    data = yaml.load(source.file.read_text(encoding="utf-8"))
    item = _take(data, source.path)
    entry = item["addon"]
    target = stack or str(item["stack"])
    parents = tuple(key for key in (parent_key(p) for p in entry.get("parents") or []) if key is not None)
    _stack_addons(data, loaded, target, parents).append(entry)
    message = options.message or f"kaddons: restore add-on {name} in stack {target}\n"
    return edit_and_apply(document, {source.file: dump_yaml(yaml, data)},
                          ApplyOptions(options.engine, options.git_url, message, options.dry_run), preflight)


def _take(data: Any, path: tuple[str | int, ...]) -> Any:
    """Remove and return the item of ``spec.kaddons.uninstalled`` at ``path``; the list (and the ``kaddons``
    block) go when left empty."""
    items = entry_at(data, path[:-1])
    item = items[path[-1]]
    del items[path[-1]]
    block = data["spec"]["kaddons"]
    if not items:
        del block["uninstalled"]
    if not block:
        del data["spec"]["kaddons"]
    return item


def _forget(loaded: LoadedCluster, name: str, *, options: ApplyOptions, preflight: Preflight | None) -> ApplyResult:
    """Delete the kept definition of uninstalled add-on ``name`` and its values file; apply."""
    from kaddons.addons._yaml import round_trip_yaml

    source = loaded.sources[("uninstalled", name)]
    yaml = round_trip_yaml()
    data = yaml.load(source.file.read_text(encoding="utf-8"))
    _take(data, source.path)
    removed = [source.content_file] if source.content_file is not None else []
    return edit_and_apply_removing(loaded, {source.file: dump_yaml(yaml, data)}, removed, options,
                          options.message or f"kaddons: delete the kept definition of add-on {name}\n", preflight)


def remove_member(document: Path, key: tuple[str, str], *, force: bool, options: ApplyOptions,
                  preflight: Preflight | None, message: str, files_too: tuple[Path, ...] = (),
                  keep: bool = False, loaded: LoadedCluster | None = None) -> ApplyResult:
    """Remove member ``key`` (``(kind, name)``) from the file that declares it, with its values or manifest file
    and ``files_too``; its children get its parents (``force``, else an error naming them); apply. ``keep`` (an
    add-on): its entry moves to ``spec.kaddons.uninstalled`` with its stack, and its values file stays.
    ``loaded``: the document as the caller loaded it just before (else it is loaded here)."""
    from ruamel.yaml.comments import CommentedMap

    from kaddons.addons._yaml import round_trip_yaml

    loaded = loaded if loaded is not None else load_cluster(document)
    kind, name = key
    what = {"catalog": "catalog addon", "addon": "add-on"}.get(kind, kind)
    source = loaded.sources.get(key)
    if source is None:
        known = sorted(n for k, n in loaded.sources if k == kind)
        raise NotFoundError(f"{loaded.path}: no {what} named {name!r} ({what}s: {', '.join(known) or 'none'})")
    member = loaded.graph.members[key]
    children = sorted((m for m in loaded.graph.members.values() if key in m.parents), key=lambda m: (m.kind, m.name))
    if children and not force:
        names = ", ".join(f"{c.kind} {c.name}" for c in children)
        raise UsageError(f"{what} {name!r} is the parent of {names}: --force re-attaches them to its parents")
    yaml = round_trip_yaml()
    texts: dict[Path, Any] = {}

    def data_of(path: Path) -> Any:
        if path not in texts:
            texts[path] = yaml.load(path.read_text(encoding="utf-8"))
        return texts[path]

    for child in children:
        child_source = loaded.sources[(child.kind, child.name)]
        entry = entry_at(data_of(child_source.file), child_source.path)
        kept = [p for p in entry.get("parents") or [] if parent_key(p) != key]
        for parent_kind, parent in member.parents:
            if all(parent_key(p) != (parent_kind, parent) for p in kept):
                kept.append(CommentedMap({parent_kind: parent}))
        entry["parents"] = kept
    container = data_of(source.file)
    for step in source.path[:-1]:
        container = container[step]
    if source.path:
        entry = container[source.path[-1]]
        del container[source.path[-1]]
    else:  # an included file holding this one member: the file goes, and the include item naming it
        entry = texts[source.file]
        texts[source.file] = None
        _drop_include(data_of(loaded.path.absolute()), loaded.path.absolute().parent, source.file)
    if keep:
        _keep(data_of(loaded.path.absolute()), entry, member.stack, loaded.path.resolve().parent, source.content_file)
    files = {path: dump_yaml(yaml, data) for path, data in texts.items() if data is not None}
    removed = [path for path, data in texts.items() if data is None]
    if source.content_file is not None and not keep:
        removed.append(source.content_file)
    removed.extend(files_too)
    return edit_and_apply_removing(loaded, files, removed, options, options.message or message, preflight)


def _drop_include(data: Any, base: Path, file: Path) -> None:
    """Remove from the document's round-trip ``data`` each ``include`` item of a stack that names ``file`` itself
    (an included folder lists what it holds, so its item stays)."""
    for stack in data.get("spec", {}).get("stacks") or []:
        for kind in ("manifests", "addons", "applications"):
            items = stack.get(kind) if isinstance(stack, dict) else None
            if not isinstance(items, list):
                continue
            for index in reversed(range(len(items))):
                item = items[index]
                if isinstance(item, dict) and isinstance(item.get("include"), str) and \
                        (base / item["include"]).resolve() == file.resolve():
                    del items[index]


def _keep(data: Any, entry: Any, stack: str, document_folder: Path, content_file: Path | None) -> None:
    """Append ``entry`` (an add-on as written) with its ``stack`` to ``spec.kaddons.uninstalled`` of the document's
    round-trip ``data``; a ``from_file`` written relative to an included file is rewritten relative to the
    document."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    configuration = entry.get("configuration")
    if content_file is not None and isinstance(configuration, dict) and "from_file" in configuration:
        configuration["from_file"] = Path(os.path.relpath(content_file.resolve(), document_folder)).as_posix()
    block = data["spec"].get("kaddons")
    if block is None:
        block = data["spec"]["kaddons"] = CommentedMap()
    if block.get("uninstalled") is None:
        block["uninstalled"] = CommentedSeq()
    block["uninstalled"].append(CommentedMap([("stack", stack), ("addon", entry)]))
