"""Read a cluster document from a GitOps repository (ankra-addons.md §1.6-1.8, §1.11).

:func:`load_cluster` parses ``clusters/<cluster>/cluster.yaml`` (YAML 1.2, duplicate keys refused),
expands ``- include: PATH`` list items (a folder: every ``*.yaml``/``*.yml`` below it, sorted; a file:
one entry or a list of entries of the list's kind), reads ``from_file``, ``manifest_base64``,
``values_base64`` and ``description_from_file``, substitutes ``${{ ankra.NAME }}`` variables, then
validates the whole document (:mod:`.document`) and its graph (:mod:`.graph`).

Paths: relative, forward slashes, resolved against the folder of the file that names them, and confined to
the repository (the Git working copy holding the document, or ``repo``): an absolute path, a ``..`` that
leaves it and a symlink pointing out of it are refused.

Variables (§1.11), highest precedence first: the stack's ``variables``, the cluster's (``variables.yaml``
beside the cluster document), the organisation's (``variables.yaml`` at the repository root); each file a
mapping ``NAME: value``. An unresolved ``${{ ankra.NAME }}`` stays as written and is reported as a warning.

YAML is read as addon manifests are (:func:`~kaddons.addons._yaml.parse_yaml`: duplicate keys and alias
bombs refused). Every problem is a :class:`~kaddons.errors.ClusterDocumentError`: the file, the YAML
path, what was expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from kaddons._parsed import first_not_mapping, parse
from kaddons.addons._yaml import describe_error
from kaddons.errors import ClusterDocumentError, NotFoundError, known
from kaddons.secrets.detect import is_sops_encrypted, mac_only_encrypted

from .document import Addon, Application, CatalogAddon, ImportCluster, Manifest, check_variables, stack_labels
from .graph import ClusterGraph, build_graph

__all__ = ["ARTIFACT_RECORD", "CATALOG_FOLDER", "CatalogContent", "ListedMember", "LoadedCluster", "MemberSource",
           "find_repository", "listed_members", "load_cluster", "member_kind", "substitute", "unknown_member"]

MAX_FILE_SIZE = 4 * 1024 * 1024
"""Bytes a document, a values file or a manifest file may have."""
VARIABLES_FILE = "variables.yaml"
SOPS_CONFIG = ".sops.yaml"
"""The repository's SOPS recipients (:mod:`kaddons.secrets.keys`): an input, so apply commits it."""
_VARIABLE = re.compile(r"\$\{\{\s*ankra\.([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
_LISTS = ("manifests", "addons", "applications")
CATALOG_FOLDER = "catalog"
"""Beside the document, ``catalog/<name>/`` holds what ``enable`` took from a catalog addon's artifact."""
ARTIFACT_RECORD = "artifact.json"
"""In a catalog addon's folder: the artifact its files came from (reference, digest, tag, paths, namespace)."""
MAX_CATALOG_FILES = 2000


@dataclass(frozen=True)
class CatalogContent:
    """A catalog addon's folder (``catalog/<name>/`` beside the document): its ``folder``, its ``files``
    (POSIX path relative to the folder -> text) and its ``record`` (:data:`ARTIFACT_RECORD`, parsed)."""

    folder: Path
    files: dict[str, str]
    record: dict[str, Any]


@dataclass(frozen=True)
class MemberSource:
    """Where a member is written: its ``file`` and the YAML ``path`` of its entry there (keys and indexes), and
    the ``content_file`` its values or manifest come from (``from_file``), if any."""

    file: Path
    path: tuple[str | int, ...]
    content_file: Path | None


@dataclass
class LoadedCluster:
    """A validated cluster document: the ``document``, its ``graph``, the ``path`` it was read from, the
    ``repository`` root, ``warnings`` (one line each: unresolved variables ...), and ``files``: every file
    that was read (the document, included files, ``from_file`` targets, variables files), as resolved absolute
    paths, sorted, each with the sha256 (hex) of the bytes read: what the rendering depends on; ``folders``:
    each included folder with the YAML files found in it (relative names, sorted), since a file added there
    changes the document too."""

    document: ImportCluster
    graph: ClusterGraph
    path: Path
    repository: Path
    warnings: list[str] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    folders: dict[Path, list[str]] = field(default_factory=dict)
    sources: dict[tuple[str, str], MemberSource] = field(default_factory=dict)
    catalog: dict[str, CatalogContent] = field(default_factory=dict)


def member_kind(loaded: LoadedCluster, name: str) -> str | None:
    """``"addon"`` or ``"catalog"``: the kind of the member called ``name`` that add-on commands (get, history,
    rollback, sync) act on, an add-on first; ``None`` when neither is declared."""
    for kind in ("addon", "catalog"):
        if (kind, name) in loaded.sources:
            return kind
    return None


def unknown_member(loaded: LoadedCluster, name: str) -> NotFoundError:
    """The error for ``name`` when :func:`member_kind` finds neither kind: it names the add-ons and the catalog
    addons (:func:`~kaddons.errors.known`) and the way out."""
    addons = sorted(n for k, n in loaded.sources if k == "addon")
    catalog = sorted(n for k, n in loaded.sources if k == "catalog")
    return NotFoundError(f"no add-on or catalog addon {name!r} in {loaded.path} ({known('add-ons', addons, name)}; "
                         f"{known('catalog addons', catalog, name)}): see kaddons cluster addons list")


@dataclass(frozen=True)
class ListedMember:
    """An add-on or a catalog addon as the add-on lists (CLI and API) show it: ``kind`` (``addon`` | ``catalog``),
    ``name``, ``stack``, ``chart``, ``version``, ``source`` and ``namespace``; a catalog addon's artifact stands for
    a chart (``addons/<name>``, its tag as the version, its registry as the source)."""

    kind: str
    name: str
    stack: str
    chart: str
    version: str
    source: str
    namespace: str


def listed_members(loaded: LoadedCluster) -> list[ListedMember]:
    """The add-ons in document order, then the catalog addons (see :class:`ListedMember`)."""
    members = [ListedMember("addon", a.name, s.name, a.chart_name, a.chart_version, a.source_url, a.namespace)
               for s in loaded.document.spec.stacks for a in s.addons]
    return members + [ListedMember("catalog", e.name, e.stack, f"addons/{e.name}", e.tag, e.registry, e.namespace)
                      for e in loaded.document.spec.kaddons.catalog]


def find_repository(start: Path) -> Path:
    """The Git working copy holding ``start`` (the nearest folder with ``.git``), else ``start``'s folder."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder, *folder.parents]:
        if (candidate / ".git").exists():
            return candidate
    return folder


def _read(path: Path, source: str) -> tuple[str, str]:
    """The text of ``path`` and the sha256 (hex) of its bytes."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
    except OSError as err:
        raise ClusterDocumentError(source, f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > MAX_FILE_SIZE:
        raise ClusterDocumentError(source, f"{path} is larger than {MAX_FILE_SIZE} bytes")
    try:
        return data.decode("utf-8-sig"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError:
        raise ClusterDocumentError(source, f"{path} is not UTF-8 text") from None


def _parse(text: str, source: str, *, documents: bool = False) -> Any:
    """:func:`~kaddons._parsed.parse`: remembered in the process and on disk, a fresh copy each time."""
    return parse(text, source, documents=documents)


@dataclass
class _Context:
    repository: Path
    warnings: list[str]
    files: dict[Path, str] = field(default_factory=dict)
    folders: dict[Path, list[str]] = field(default_factory=dict)
    values: list[tuple[str, str, str, str]] = field(default_factory=list)
    """Values texts to check once all are read: (text, its origin, the document naming it, the YAML path)."""
    _folders: dict[Path, tuple[Path, bool]] = field(default_factory=dict)
    """Folders as written -> resolved, and whether inside the repository: each is resolved once."""

    @cached_property
    def root(self) -> Path:
        """The repository, resolved."""
        return self.repository.resolve()

    def read(self, path: Path, source: str, *, resolved: bool = False) -> str:
        """The text of ``path`` (``resolved``: already a resolved path), recorded as an input of the rendering."""
        text, digest = _read(path, source)
        self.files[path if resolved else path.resolve()] = digest
        return text

    def resolve(self, base: Path, value: object, source: str, where: str) -> Path:
        """``value`` (a repository path written in ``source`` at ``where``) as a path inside the repository."""
        if not isinstance(value, str) or not value.strip():
            raise ClusterDocumentError(source, f"{where}: expected a repository path, got {value!r}")
        if "\\" in value or value.startswith("/") or re.match(r"^[A-Za-z]:", value):
            raise ClusterDocumentError(source, f"{where}: {value!r} must be a relative path with forward slashes, "
                                               "inside the repository")
        root = self.root
        joined = base / PurePosixPath(value)
        known = self._folders.get(joined.parent)
        if known is None:
            resolved = joined.parent.resolve()
            known = self._folders[joined.parent] = (resolved, resolved.is_relative_to(root))
        folder, inside = known
        target = folder / joined.name
        mode: int | None = None
        if joined.name not in ("", ".", ".."):
            try:
                mode = os.lstat(target).st_mode
            except OSError:
                mode = None
        if mode is None or stat.S_ISLNK(mode):  # a link (or a name to look at closely): resolved in full
            target = joined.resolve()
            inside, exists = target.is_relative_to(root), target.exists()
        else:
            exists = True
        if not inside:
            raise ClusterDocumentError(source, f"{where}: {value!r} leads outside the repository {self.repository}: "
                                               "refusing it (no '..' out of it, no symlink pointing out of it)")
        if not exists:
            raise ClusterDocumentError(source, f"{where}: {value!r} does not exist (resolved against {base})")
        return target


def _b64(text: object, source: str, where: str) -> str:
    if not isinstance(text, str):
        raise ClusterDocumentError(source, f"{where}: expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ClusterDocumentError(source, f"{where}: not valid base64 of UTF-8 text") from None


def _one_of(entry: dict[str, Any], keys: tuple[str, ...], source: str, where: str, *, required: bool) -> str | None:
    given = [key for key in keys if entry.get(key) is not None]
    if len(given) > 1:
        raise ClusterDocumentError(source, f"{where}: give one of {', '.join(keys)}, not {' and '.join(given)}")
    if required and not given:
        raise ClusterDocumentError(source, f"{where}: one of {', '.join(keys)} is required")
    return given[0] if given else None


def _manifest_content(entry: dict[str, Any], base: Path, ctx: _Context, source: str, where: str) -> tuple[str,
                                                                                                          Path | None]:
    key = _one_of(entry, ("manifest", "manifest_base64", "from_file"), source, where, required=True)
    path: Path | None = None
    if key == "manifest":
        if not isinstance(entry["manifest"], str):
            raise ClusterDocumentError(source, f"{where}.manifest: expected YAML text (a string), got "
                                               f"{type(entry['manifest']).__name__}")
        text, origin = entry["manifest"], source
    elif key == "manifest_base64":
        text, origin = _b64(entry["manifest_base64"], source, f"{where}.manifest_base64"), source
    else:
        path = ctx.resolve(base, entry["from_file"], source, f"{where}.from_file")
        text, origin = ctx.read(path, source, resolved=True), str(path)
    documents = [doc for doc in _parse(text, origin, documents=True) if doc is not None]
    if not documents:
        raise ClusterDocumentError(source, f"{where}: the manifest is empty")
    for number, doc in enumerate(documents):
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ClusterDocumentError(origin, f"document {number + 1}: expected a Kubernetes object (apiVersion, "
                                               "kind)")
    return text, path


def _values(entry: dict[str, Any], base: Path, ctx: _Context, source: str, where: str) -> tuple[str, Path | None]:
    configuration = entry.get("configuration")
    path: Path | None = None
    if configuration is None:
        return "", None
    if not isinstance(configuration, dict):
        raise ClusterDocumentError(source, f"{where}.configuration: expected a mapping")
    key = _one_of(configuration, ("values", "values_base64", "from_file"), source, f"{where}.configuration",
                  required=False)
    if key is None:
        return "", None
    if key == "values":
        text, origin = configuration["values"], source
        if not isinstance(text, str):
            raise ClusterDocumentError(source, f"{where}.configuration.values: expected YAML text (a string, e.g. "
                                               f"values: |), got {type(text).__name__}")
    elif key == "values_base64":
        text, origin = _b64(configuration["values_base64"], source, f"{where}.configuration.values_base64"), source
    else:
        path = ctx.resolve(base, configuration["from_file"], source, f"{where}.configuration.from_file")
        text, origin = ctx.read(path, source, resolved=True), str(path)
    ctx.values.append((text, origin if origin != source else f"{source}: {where}.configuration", origin, where))
    return str(text), path


def _check_values(ctx: _Context) -> None:
    """Every values text read is YAML and a mapping (or empty): checked at once, remembered as a set
    (:func:`~kaddons._parsed.first_not_mapping`)."""
    wrong = first_not_mapping([(text, label) for text, label, _origin, _where in ctx.values])
    if wrong is not None:
        text, label, origin, where = ctx.values[wrong]
        parsed = parse(text, label)
        raise ClusterDocumentError(origin, f"{where}.configuration: values must be a YAML mapping, got "
                                           f"{type(parsed).__name__}")


def _included(item: dict[str, Any], base: Path, ctx: _Context, source: str, where: str) -> list[tuple[Any, Path,
                                                                                                        str, str]]:
    """The entries an ``include`` item stands for: (entry, its folder, its file, its YAML path)."""
    if set(item) != {"include"}:
        extra = sorted(set(item) - {"include"})
        raise ClusterDocumentError(source, f"{where}: an include item holds only 'include', not {extra}")
    target = ctx.resolve(base, item["include"], source, f"{where}.include")
    if target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        ctx.folders[target.resolve()] = [p.relative_to(target).as_posix() for p in files]
    else:
        if target.suffix not in (".yaml", ".yml"):
            raise ClusterDocumentError(source, f"{where}.include: {item['include']!r} is not a YAML file "
                                               "(.yaml or .yml)")
        files = [target]
    found = []
    root = ctx.repository.resolve()
    for path in files:
        if not path.resolve().is_relative_to(root):
            raise ClusterDocumentError(source, f"{where}.include: {path} leads outside the repository "
                                               f"{ctx.repository}: refusing it")
        data = _parse(ctx.read(path, source), str(path))
        entries = data if isinstance(data, list) else [data] if data is not None else []
        for number, entry in enumerate(entries):
            found.append((entry, path.parent, str(path), f"[{number}]" if isinstance(data, list) else "(document)"))
    return found


def substitute(text: str, scopes: list[dict[str, str]], warnings: list[str], where: str) -> str:
    """``${{ ankra.NAME }}`` replaced from the first scope that has NAME; an unknown one is left as written and
    reported in ``warnings`` (once per name and place)."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        for scope in scopes:
            if name in scope:
                return scope[name]
        if name not in missing:
            missing.append(name)
        return match.group(0)

    result = _VARIABLE.sub(value, text)
    for name in missing:
        warnings.append(f"{where}: variable ${{{{ ankra.{name} }}}} is not defined in the stack, the cluster or the "
                        "organisation: left as written")
    return result


def _variables_file(path: Path, source_label: str, ctx: _Context) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = _parse(ctx.read(path, str(path)), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ClusterDocumentError(str(path), f"expected a mapping of {source_label} variables NAME: value")
    try:
        return dict(check_variables(data))
    except ValueError as err:
        raise ClusterDocumentError(str(path), str(err)) from None


def _describe(err: ValidationError, data: Any, prefix: str = "") -> str:
    errors = err.errors(include_url=False)
    first = errors[0]
    if first["type"] == "extra_forbidden":
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
        message = f"{loc}: unknown key (not a field of Ankra's ImportCluster v1; check its spelling)"
    else:
        message = describe_error(first, data)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    joined = f"{prefix}.{message}" if prefix and not message.startswith("[") else f"{prefix}{message}"
    return joined + more


_MODELS: dict[str, type[Manifest] | type[Addon] | type[Application]] = {
    "manifests": Manifest, "addons": Addon, "applications": Application}


def _validate_entry(kind: str, entry: Any, source: str, where: str) -> None:
    try:
        _MODELS[kind].model_validate(entry)
    except ValidationError as err:
        raise ClusterDocumentError(source, _describe(err, entry, where)) from None


def _validate(data: Any, source: str) -> ImportCluster:
    try:
        return ImportCluster.model_validate(data)
    except ValidationError as err:
        raise ClusterDocumentError(source, _describe(err, data)) from None


def load_cluster(path: str | Path, *, repository: str | Path | None = None) -> LoadedCluster:
    """Read, expand and validate the cluster document at ``path``; see the module for the rules.

    ``repository``: the repository root the paths are confined to (default: the Git working copy holding
    ``path``). Raises :class:`~kaddons.errors.ClusterDocumentError` (exit 2) for every problem, with the
    file, the YAML path and what was expected.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ClusterDocumentError(source, "no such file: give the cluster document with -f "
                                           "clusters/<cluster>/cluster.yaml")
    repo = Path(repository) if repository is not None else find_repository(path.absolute())
    ctx = _Context(repo, [])
    data = _parse(ctx.read(path, source), source)
    if not isinstance(data, dict):
        raise ClusterDocumentError(source, "expected an ImportCluster document (a mapping with apiVersion: v1, "
                                           "kind: ImportCluster)")
    base = path.absolute().parent
    organisation = _variables_file(repo / VARIABLES_FILE, "organisation", ctx)
    if (repo / SOPS_CONFIG).is_file():  # the repository's recipients travel with the document's files
        ctx.read(repo / SOPS_CONFIG, str(repo / SOPS_CONFIG))
    cluster = _variables_file(base / VARIABLES_FILE, "cluster", ctx) if base.resolve() != repo.resolve() else {}
    spec = data.get("spec")
    stacks = spec.get("stacks") if isinstance(spec, dict) else None
    sources: dict[tuple[str, str], MemberSource] = {}
    absolute: dict[str, Path] = {}  # each declaring file made absolute once
    for s_index, stack in enumerate(stacks if isinstance(stacks, list) else []):
        if not isinstance(stack, dict):
            continue
        s_where = f"spec.stacks[{s_index}]"
        try:
            stack_variables = check_variables(stack.get("variables") or {})
        except ValueError as err:
            raise ClusterDocumentError(source, f"{s_where}.variables: {err}") from None
        scopes = [stack_variables, cluster, organisation]
        if stack.get("description") is None and stack.get("description_from_file") is not None:
            described = ctx.resolve(base, stack["description_from_file"], source, f"{s_where}.description_from_file")
            stack["description"] = ctx.read(described, source).strip()
        for kind in _LISTS:
            items = stack.get(kind)
            if not isinstance(items, list):
                continue
            expanded: list[Any] = []
            for index, item in enumerate(items):
                where = f"{s_where}.{kind}[{index}]"
                if isinstance(item, dict) and "include" in item:
                    entries = _included(item, base, ctx, source, where)
                else:
                    entries = [(item, base, source, where)]
                for entry, entry_base, entry_source, entry_where in entries:
                    content_file = None
                    if isinstance(entry, dict):
                        content_file = _fill(kind, entry, entry_base, ctx, entry_source, entry_where, scopes)
                    if entry_source != source:  # named by its own file, not by where it was included
                        _validate_entry(kind, entry, entry_source, entry_where)
                        at: tuple[str | int, ...] = (int(entry_where[1:-1]),) if entry_where.startswith("[") else ()
                    else:
                        at = ("spec", "stacks", s_index, kind, index)
                    if kind != "applications" and isinstance(entry, dict) and isinstance(entry.get("name"), str):
                        declared = absolute.get(entry_source)
                        if declared is None:
                            declared = absolute[entry_source] = Path(entry_source).absolute()
                        sources[(kind[:-1], entry["name"])] = MemberSource(declared, at, content_file)
                    expanded.append(entry)
            stack[kind] = expanded
    kept_files = _kept_values(spec, base, ctx, source)
    _check_values(ctx)
    document = _validate(data, source)
    _check_registries(document, source)
    graph = build_graph(document, source)
    for index, stack_entry in enumerate(document.spec.stacks):
        if not stack_labels(stack_entry.name):
            ctx.warnings.append(f"{source}: spec.stacks[{index}].name: {stack_entry.name!r} is not a Kubernetes label "
                                "value (at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
                                "letter or digit): its members' objects go without the kaddons.io/stack label")
    catalog: dict[str, CatalogContent] = {}
    for index, entry in enumerate(document.spec.kaddons.catalog):
        where = f"spec.kaddons.catalog[{index}]"
        catalog[entry.name] = _catalog_content(entry, base / CATALOG_FOLDER / entry.name, ctx, source, where)
        sources[("catalog", entry.name)] = MemberSource(path.absolute(), ("spec", "kaddons", "catalog", index), None)
    for index, kept in enumerate(document.spec.kaddons.uninstalled):
        where = f"spec.kaddons.uninstalled[{index}]"
        name = kept.addon.name
        if ("addon", name) in graph.members or ("uninstalled", name) in sources:
            raise ClusterDocumentError(source, f"{where}.addon.name: add-on {name!r} is "
                                               f"{'installed' if ('addon', name) in graph.members else 'kept'} "
                                               "already: remove one of the two")
        sources[("uninstalled", name)] = MemberSource(path.absolute(), ("spec", "kaddons", "uninstalled", index),
                                                      kept_files[index])
    return LoadedCluster(document, graph, path, repo, ctx.warnings, dict(sorted(ctx.files.items())),
                         dict(sorted(ctx.folders.items())), sources, catalog)


def _kept_values(spec: Any, base: Path, ctx: _Context, source: str) -> list[Path | None]:
    """The values file of each kept definition of ``spec.kaddons.uninstalled`` (read, confined to the repository:
    ``restore`` needs it), in order. The entry's ``values`` is the text as written (not rendered, so no variables
    substituted): the plaintext guard checks it, since the file is committed with the document."""
    block = spec.get("kaddons") if isinstance(spec, dict) else None
    items = block.get("uninstalled") if isinstance(block, dict) else None
    found: list[Path | None] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        entry = item.get("addon") if isinstance(item, dict) else None
        where = f"spec.kaddons.uninstalled[{index}].addon"
        if not isinstance(entry, dict):
            found.append(None)
            continue
        if "values" in entry:
            raise ClusterDocumentError(source, f"{where}.values: unknown key (not a field of Ankra's ImportCluster v1; "
                                               "check its spelling)")
        entry["values"], file = _values(entry, base, ctx, source, where)
        found.append(file)
    return found


def _catalog_content(entry: CatalogAddon, folder: Path, ctx: _Context, source: str, where: str) -> CatalogContent:
    """The files of a catalog addon's folder, read as inputs; its record must name the artifact the entry pins."""
    again = f"{entry.enable_command()} fetches it again"
    relative = f"{CATALOG_FOLDER}/{entry.name}/"
    if not folder.is_dir():
        raise ClusterDocumentError(source, f"{where}: {relative} is missing beside the document: {again}")
    root = ctx.repository.resolve()
    if not folder.resolve().is_relative_to(root):
        raise ClusterDocumentError(source, f"{where}: {relative} leads outside the repository: refusing it")
    found = sorted(p for p in folder.rglob("*") if not p.is_dir())
    if len(found) > MAX_CATALOG_FILES:
        raise ClusterDocumentError(source, f"{where}: {relative} holds {len(found)} files, more than "
                                           f"{MAX_CATALOG_FILES}")
    files: dict[str, str] = {}
    for file in found:
        name = file.relative_to(folder).as_posix()
        if file.is_symlink() or not file.is_file():
            raise ClusterDocumentError(source, f"{where}: {relative}{name} is not a regular file (a link?): "
                                               "refusing it")
        files[name] = ctx.read(file, source)
    # As for an included folder, its YAML files are listed, so apply notices one added there.
    ctx.folders[folder.resolve()] = sorted(n for n in files if n.endswith((".yaml", ".yml")))
    try:
        record = json.loads(files.get(ARTIFACT_RECORD, ""))
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise ClusterDocumentError(source, f"{where}: {relative}{ARTIFACT_RECORD} is missing or not a JSON object: "
                                           f"{again}")
    expected = {"digest": entry.digest, "paths": entry.paths, "namespace": entry.namespace}
    for key, value in expected.items():
        if record.get(key) != value:
            raise ClusterDocumentError(source, f"{where}.{key}: the document says {value!r} but {relative} was taken "
                                               f"with {record.get(key)!r}: {again}")
    return CatalogContent(folder, files, record)


def _check_registries(document: ImportCluster, source: str) -> None:
    """An add-on's ``registry_name`` and URL agree with ``spec.helm_registries`` (§1.4) where it names them."""
    declared = {r.name: r.url.rstrip("/") for r in document.spec.helm_registries}
    names = {url: name for name, url in declared.items()}
    for s_index, stack in enumerate(document.spec.stacks):
        for a_index, addon in enumerate(stack.addons):
            where = f"spec.stacks[{s_index}].addons[{a_index}]"
            url, name = addon.source_url.rstrip("/"), addon.registry_name
            if name is not None and name in declared and declared[name] != url:
                raise ClusterDocumentError(source, f"{where}.registry_url: {addon.source_url} is not the URL "
                                                   f"spec.helm_registries gives registry {name!r} ({declared[name]}): "
                                                   "make the two agree")
            if name is not None and url in names and names[url] != name:
                raise ClusterDocumentError(source, f"{where}.registry_name: {name!r}, but spec.helm_registries calls "
                                                   f"{addon.source_url} {names[url]!r}: make the two agree")


def _fill(kind: str, entry: dict[str, Any], base: Path, ctx: _Context, source: str, where: str,
          scopes: list[dict[str, str]]) -> Path | None:
    """Put the content an entry names into it (``content`` of a manifest, ``values`` of an add-on), variables
    substituted; the file it came from (``from_file``), if any. Entries from included files are validated
    here, so errors name their own file."""
    reserved = {"manifests": "content", "addons": "values"}.get(kind)
    if reserved is not None and reserved in entry:
        raise ClusterDocumentError(source, f"{where}.{reserved}: unknown key (not a field of Ankra's ImportCluster "
                                           "v1; check its spelling)")
    if kind == "manifests":
        text, file = _manifest_content(entry, base, ctx, source, where)
        entry["content"] = _substituted(text, scopes, ctx, f"{source}: {where}")
        return file
    if kind == "addons":
        text, file = _values(entry, base, ctx, source, where)
        entry["values"] = _substituted(text, scopes, ctx, f"{source}: {where}.configuration")
        return file
    return None


def _substituted(text: str, scopes: list[dict[str, str]], ctx: _Context, where: str) -> str:
    """``text`` with its variables substituted, unless it is SOPS-encrypted with a MAC over every value (plain
    ``sops``'s default): then it is kept byte for byte, and a variable there is reported. Files kaddons
    encrypts have a MAC over the encrypted values only; their readable values take variables as any file."""
    if is_sops_encrypted(text) and not mac_only_encrypted(text):
        if _VARIABLE.search(text):
            ctx.warnings.append(f"{where}: variables are not substituted in a SOPS-encrypted file (its MAC covers "
                                "every value): write the value itself")
        return text
    return substitute(text, scopes, ctx.warnings, where)


