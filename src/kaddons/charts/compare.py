"""What an upgrade changes, before it is committed (issue 14, ``upgrade --dry-run``; ankra-addons.md §3.4).

:func:`preview_upgrade` pulls the chart at the version before and after (the chart sources and cache of the
preflight, :mod:`.sources`), renders both with the Helm SDK as an upgrade (release and namespace of the
add-on, its values as they were and as they will be) and compares:

* the values, as YAML, with encrypted values masked (nothing is decrypted: the preview is printed);
* the rendered manifests, a unified diff of Helm's output per template that changed, as Helm wrote it
  (``NOTES.txt`` and Helm test hooks left out; not parsed, since a chart's CRDs can be megabytes of YAML);
* the ``CustomResourceDefinition`` objects that change, added or removed. One in the chart's ``crds/`` folder is
  never upgraded by Helm (helm #31027; Flux's ``upgrade.crds`` defaults to ``Skip``), which the line says;
  Argo CD, rendering with ``helm template``, applies it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from kaddons.errors import ClusterDocumentError
from kaddons.stacks.document import Addon

from .cache import ChartCache
from .sources import SourceOptions, open_source

__all__ = ["UpgradePreview", "preview_upgrade"]


@dataclass
class UpgradePreview:
    """``values`` and ``manifests``: unified diffs (empty: no change); ``crds``: one line per changed CRD."""

    values: str
    manifests: str
    crds: list[str] = field(default_factory=list)


@dataclass
class _Render:
    templates: dict[str, str]  # template path -> its documents as Helm rendered them (test hooks left out)
    crds: dict[str, str]  # CRD name -> its text, from templates
    packaged_crds: dict[str, str]  # the same from the chart's crds/ folder


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_TEST_HOOK = re.compile(r"""^\s*["']?helm\.sh/hook["']?\s*:\s*["']?[-\w, ]*\btest\b""", re.MULTILINE)
_CRD = re.compile(r"^kind:\s*CustomResourceDefinition\s*$", re.MULTILINE)
_NAME = re.compile(r"^metadata:\s*\n(?:[ \t]+.*\n|\s*\n)*?[ \t]+name:\s*[\"']?([^\s\"']+)", re.MULTILINE)


def _dump(document: Any) -> str:
    from kaddons.gitops._yaml import dump_documents

    return dump_documents([document]) if document not in (None, {}) else ""


def _split(text: str) -> list[str]:
    """The non-empty documents of a rendered template, as text (Helm's output is compared as Helm wrote it:
    parsing megabytes of CRDs would cost more than the render)."""
    return [doc.strip("\n") + "\n" for doc in _SEPARATOR.split(text) if doc.strip() and
            any(line.strip() and not line.lstrip().startswith("#") for line in doc.splitlines())]


def _crd_names(documents: list[str], into: dict[str, str]) -> None:
    for doc in documents:
        if _CRD.search(doc):
            found = _NAME.search(doc)
            into[found.group(1) if found else f"(unnamed {len(into) + 1})"] = doc


def _render(addon: Addon, options: SourceOptions, cache: ChartCache, credential: str | None) -> _Render:
    from kaddons.secrets.detect import masked_values

    from .preflight import helm_sdk

    helm = helm_sdk()
    source = open_source(addon.source_url, options, credential)
    try:
        pulled = source.pull(source.find(addon.chart_name, addon.chart_version), cache)
    finally:
        source.close()
    values = masked_values(addon.values, f"add-on {addon.name} values")
    what = f"chart {addon.chart_name} {addon.chart_version}"
    try:
        with helm.Chart.load(pulled.path) as chart:
            rendered: dict[str, str] = chart.render(values, name=addon.name, namespace=addon.namespace,
                                                    is_upgrade=True)
            packaged = [doc for crd in chart.crds or [] for doc in _split(str(crd.get("data", "")))]
    except helm.HelmError as err:
        raise ClusterDocumentError(what, f"does not render with the add-on's values: {' '.join(str(err).split())}"
                                   ) from None
    templates: dict[str, str] = {}
    crds: dict[str, str] = {}
    for template in sorted(rendered):
        if template.endswith("NOTES.txt"):
            continue
        documents = [doc for doc in _split(rendered[template]) if not _TEST_HOOK.search(doc)]
        if documents:
            templates[template] = "---\n".join(documents)
            _crd_names(documents, crds)
    packaged_crds: dict[str, str] = {}
    _crd_names(packaged, packaged_crds)
    return _Render(templates, crds, packaged_crds)


def _diff_templates(old: _Render, new: _Render, before: str, after: str) -> str:
    """One unified diff per template that changed (per template: difflib is quadratic in the worst case, and a
    chart's CRDs are tens of thousands of lines)."""
    parts: list[str] = []
    for path in sorted(set(old.templates) | set(new.templates)):
        a, b = old.templates.get(path, ""), new.templates.get(path, "")
        if a != b:
            shown = path.split("/", 1)[1] if "/" in path else path
            parts.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                              f"{before}: {shown}", f"{after}: {shown}"))
    return "".join(parts)


def preview_upgrade(before: Addon, after: Addon, options: SourceOptions, credential: str | None = None
                    ) -> UpgradePreview:
    """Compare add-on ``before`` with ``after`` (see the module); ``credential`` names the source's credential.
    Raises what reading the sources raises (NotFoundError for a version the source lacks, with the nearest
    ones) and ClusterDocumentError for a chart that does not render."""
    from kaddons.secrets.detect import masked_values

    cache = options.cache or ChartCache()
    old_values = _dump(masked_values(before.values, f"add-on {before.name} values"))
    new_values = _dump(masked_values(after.values, f"add-on {after.name} values"))
    values = "".join(difflib.unified_diff(old_values.splitlines(keepends=True), new_values.splitlines(keepends=True),
                                          f"values ({before.chart_version})", f"values ({after.chart_version})"))
    old, new = _render(before, options, cache, credential), _render(after, options, cache, credential)
    manifests = _diff_templates(old, new, f"{before.chart_name} {before.chart_version}",
                                f"{after.chart_name} {after.chart_version}")
    crds: list[str] = []
    for packaged, old_set, new_set in ((True, old.packaged_crds, new.packaged_crds),
                                       (False, old.crds, new.crds)):
        for name in sorted(set(old_set) | set(new_set)):
            if name not in new_set:
                change = "removed"
            elif name not in old_set:
                change = "added"
            elif old_set[name] != new_set[name]:
                change = "changed"
            else:
                continue
            if packaged:
                crds.append(f"CRD {name} {change} in the chart's crds/ of {after.chart_version}: Helm does not "
                            "upgrade it (helm #31027; Flux's upgrade.crds defaults to Skip): apply it yourself, "
                            "Argo CD applies it")
            else:
                crds.append(f"CRD {name} {change} in {after.chart_version}'s templates: the upgrade applies it")
    return UpgradePreview(values, manifests, crds)
