"""Preflight (``kaddons cluster template``): every add-on's chart found at its exact version, pulled by digest,
and rendered with its values by the Helm SDK before anything reaches Git (issue 11).

Per add-on, in document order:

1. its source (one per URL, read through the mirrors) has ``chart_version`` exactly, else
   :class:`~kaddons.errors.NotFoundError` (exit 3) listing the versions it has;
2. the archive is pulled by digest and verified (:mod:`.sources`, :mod:`.cache`);
3. the values are YAML (a mapping), valid against the chart's ``values.schema.json``, and the chart renders with
   them (``helm template``, in-process through ``helm-python-sdk``): a failure is a
   :class:`~kaddons.errors.ClusterDocumentError` (exit 2) naming the document and the add-on's YAML path;
4. warnings: a top-level values key the chart's ``values.yaml`` does not know (nor a subchart's name, nor
   ``global``); a deprecated chart; a namespace that no ancestor manifest creates and ``CreateNamespace=true``
   does not cover. With ``strict`` a warning is an error.

Steps 3-4 are remembered in the chart cache by (chart digest, values, release, namespace): an unchanged add-on
is not rendered again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kaddons.errors import ClusterDocumentError, NotFoundError, UsageError
from kaddons.stacks.document import Addon
from kaddons.stacks.load import LoadedCluster

from .cache import ChartCache
from .sources import ChartSource, SourceOptions, open_source

__all__ = ["AddonCheck", "PreflightReport", "helm_sdk", "preflight"]

_RENDER_FORMAT = 1
"""Bumped when what a cached render result holds changes."""


@dataclass
class AddonCheck:
    """One add-on's preflight: the chart ``digest`` pulled, ``objects`` rendered (hooks and NOTES.txt left
    out), its ``warnings``, and whether the render result came from the cache (``cached``)."""

    name: str
    stack: str
    chart: str
    version: str
    source: str
    digest: str
    objects: int
    warnings: list[str] = field(default_factory=list)
    cached: bool = False


@dataclass
class PreflightReport:
    """Every add-on's :class:`AddonCheck`, in document order; ``rendered``: how many charts were rendered."""

    checks: list[AddonCheck] = field(default_factory=list)
    rendered: int = 0

    @property
    def warnings(self) -> list[str]:
        return [w for check in self.checks for w in check.warnings]


def helm_sdk() -> ModuleType:
    """The Helm SDK module (``helm_python``); UsageError naming the extra to install when it is missing."""
    try:
        return importlib.import_module("helm_python")
    except ImportError:
        raise UsageError("kaddons renders charts with the Helm SDK: pip install 'kaddons[helm]'") from None


def preflight(loaded: LoadedCluster, options: SourceOptions, *, strict: bool = False) -> PreflightReport:
    """Check every add-on of ``loaded`` (see the module); raises on the first failure, with ``strict`` also on
    the first warning."""
    cache = options.cache or ChartCache()
    registries = {r.url.rstrip("/"): r for r in loaded.document.spec.helm_registries}
    sources: dict[str, ChartSource] = {}
    report = PreflightReport()
    document = str(loaded.path)
    try:
        for stack in loaded.document.spec.stacks:
            for addon in stack.addons:
                where = loaded.graph.members[("addon", addon.name)].where
                url = addon.source_url
                source = sources.get(url)
                if source is None:
                    registry = registries.get(url.rstrip("/"))
                    credential = addon.registry_credential_name or (registry.credential_name if registry else None)
                    source = sources[url] = open_source(url, options, credential)
                try:
                    found = source.find(addon.chart_name, addon.chart_version)
                except NotFoundError as err:
                    raise NotFoundError(f"{document}: {where}.chart_version: {err}") from None
                pulled = source.pull(found, cache)
                check = AddonCheck(addon.name, stack.name, addon.chart_name, addon.chart_version, url, pulled.digest,
                                   0)
                result = _render_cached(cache, pulled.digest, addon)
                if result is None:
                    result = _render(pulled.path, addon, f"{document}: {where}", found.deprecated)
                    _remember(cache, pulled.digest, addon, result)
                    report.rendered += 1
                else:
                    check.cached = True
                check.objects = result["objects"]
                check.warnings = [f"{document}: {where}: {w}" for w in result["warnings"]]
                missing = _namespace_warning(loaded, addon)
                if missing:
                    check.warnings.append(f"{document}: {where}.namespace: {missing}")
                if strict and check.warnings:
                    raise ClusterDocumentError(document, f"{check.warnings[0].removeprefix(document + ': ')} "
                                                         "(--strict: warnings are errors)")
                report.checks.append(check)
    finally:
        for source in sources.values():
            source.close()
    return report


def _key(digest: str, addon: Addon) -> str:
    data = json.dumps([_RENDER_FORMAT, digest, addon.values, addon.name, addon.namespace])
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _render_cached(cache: ChartCache, digest: str, addon: Addon) -> dict[str, Any] | None:
    file = cache.root / "rendered" / f"{_key(digest, addon)}.json"
    try:
        result = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or not isinstance(result.get("objects"), int):
        return None
    return result


def _remember(cache: ChartCache, digest: str, addon: Addon, result: dict[str, Any]) -> None:
    folder = cache.root / "rendered"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(result, out)
        os.replace(temp, folder / f"{_key(digest, addon)}.json")
    except OSError:
        pass  # a cache that cannot be written only costs a render next time


def _values(addon: Addon, where: str, warnings: list[str]) -> dict[str, Any]:
    """The add-on's values as Helm gets them. SOPS-encrypted values are decrypted in memory when a key of this
    machine can (the plaintext goes nowhere else); without one, the chart is rendered with the ciphertext in
    their place, and a warning says so."""
    from kaddons.addons._yaml import parse_yaml
    from kaddons.secrets.detect import is_sops_encrypted

    if not addon.values.strip():
        return {}
    text = addon.values
    if is_sops_encrypted(text):
        from kaddons.errors import ContentError
        from kaddons.secrets import sops

        try:
            text = sops.decrypt(text, what=f"{where}.configuration")
        except (ContentError, UsageError) as err:
            warnings.append(f"rendered with the ciphertext in place of the encrypted values ({err})")
    values = parse_yaml(text, f"{where}.configuration", error=ClusterDocumentError)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ClusterDocumentError(where, "the add-on's values must be a YAML mapping at the top level")
    values.pop("sops", None)
    return values


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _render(path: Path, addon: Addon, where: str, deprecated: bool) -> dict[str, Any]:
    helm = helm_sdk()
    notes: list[str] = []
    values = _values(addon, where, notes)
    what = f"chart {addon.chart_name} {addon.chart_version}"
    try:
        with helm.Chart.load(path) as chart:
            try:
                chart.validate_schema(values)
            except helm.HelmError as err:
                raise ClusterDocumentError(where, f"the values break {what}'s values.schema.json: {_one_line(err)}"
                                           ) from None
            try:
                rendered: dict[str, str] = chart.render(values, name=addon.name, namespace=addon.namespace,
                                                        is_install=True)
            except helm.HelmError as err:
                raise ClusterDocumentError(where, f"{what} does not render with the add-on's values: "
                                                  f"{_one_line(err)}") from None
            known = set(chart.values or {}) | {"global"} | _subcharts(chart)
            is_deprecated = deprecated or bool((chart.metadata or {}).get("deprecated"))
    except helm.HelmLibraryError as err:
        raise UsageError(f"the Helm SDK could not load its native library ({_one_line(err)}): reinstall "
                         "'kaddons[helm]'") from None
    except helm.HelmError as err:
        raise ClusterDocumentError(where, f"{what} ({path}) does not load: {_one_line(err)}") from None
    warnings = notes + [f"values key {key!r} is not in {what}'s values.yaml (a typo?)" for key in sorted(values)
                        if key not in known]
    if is_deprecated:
        warnings.append(f"{what} is deprecated: plan a replacement")
    return {"objects": _count_objects(rendered), "warnings": warnings}


def _subcharts(chart: Any) -> set[str]:
    names: set[str] = set()
    for dependency in (chart.metadata or {}).get("dependencies") or []:
        if isinstance(dependency, dict):
            names.update(str(dependency[k]) for k in ("name", "alias") if dependency.get(k))
    return names


def _count_objects(rendered: dict[str, str]) -> int:
    """Objects in the rendered templates, ``NOTES.txt`` and Helm hooks (tests, jobs) left out."""
    count = 0
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        for document in text.split("\n---"):
            if "kind:" in document and "helm.sh/hook" not in document:
                count += 1
    return count


def _namespace_warning(loaded: LoadedCluster, addon: Addon) -> str | None:
    """Why the add-on's namespace may not exist when it deploys, or ``None``."""
    if "CreateNamespace=true" in addon.settings.sync_policy.sync_options:
        return None
    manifests = {m.name: m for s in loaded.document.spec.stacks for m in s.manifests}
    seen: set[tuple[str, str]] = set()
    todo = list(loaded.graph.members[("addon", addon.name)].parents)
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        if key[0] == "manifest" and _creates_namespace(manifests[key[1]].content, addon.namespace):
            return None
        todo.extend(loaded.graph.members[key].parents)
    return (f"namespace {addon.namespace!r} is created by no parent manifest and CreateNamespace=true is not set: "
            "add a Namespace manifest as a parent, or the sync option")


def _creates_namespace(content: str, namespace: str) -> bool:
    from kaddons.addons._yaml import parse_yaml

    try:
        documents = parse_yaml(content, "manifest", error=ClusterDocumentError, documents=True)
    except ClusterDocumentError:
        return False
    return any(isinstance(d, dict) and d.get("kind") == "Namespace"
               and isinstance(d.get("metadata"), dict) and d["metadata"].get("name") == namespace for d in documents)
