"""Render a Helm chart offline to find its images (spec §2.7 step 2), with the Helm SDK for Python.

K2s runs ``helm template <release> <chart> [-f values.yaml]``; kaddons calls the same Helm Go SDK
through ``helm-python-sdk`` (import ``helm_python``), an optional dependency (``kaddons[helm]``):
it is imported only when a chart has to be rendered.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from kaddons.addons._yaml import parse_yaml
from kaddons.errors import AddonManifestError, ContentError, UsageError

__all__ = ["NOTES_FILE", "release_name", "render_chart"]

NOTES_FILE = "NOTES.txt"
"""Rendered but not a manifest: ``helm template`` leaves it out."""
_NAMESPACE = "default"  # helm template without --namespace


def release_name(chart: Path) -> str:
    """The release K2s names a chart file after: the name without ``.tgz`` and without its last
    ``-`` part (``headlamp-0.45.0.tgz`` -> ``headlamp``); a name without ``-`` is kept whole."""
    stem = chart.name[: -len(".tgz")] if chart.name.lower().endswith(".tgz") else chart.stem
    return stem.rpartition("-")[0] or stem


def _helm(chart: Path) -> ModuleType:
    try:
        return importlib.import_module("helm_python")
    except ImportError:
        raise UsageError(f"rendering Helm chart {chart} needs the Helm SDK: pip install 'kaddons[helm]', "
                         "or export with --omit-images") from None


def _values(values_file: Path | None) -> dict[str, Any]:
    if values_file is None:
        return {}
    try:
        text = values_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ContentError(f"{values_file}: cannot read Helm values: {getattr(err, 'strerror', None) or err}"
                           ) from None
    try:
        values = parse_yaml(text, str(values_file))
    except AddonManifestError as err:
        raise ContentError(f"{values_file}: not valid YAML: {err.detail}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ContentError(f"{values_file}: Helm values must be a mapping at the top level")
    return values


def _one_line(err: BaseException) -> str:
    return " ".join(str(getattr(err, "detail", None) or err).split()) or type(err).__name__


def render_chart(chart: Path, values_file: Path | None) -> dict[str, str]:
    """Render ``chart`` (a ``.tgz``) as ``helm template <release> <chart> [-f values_file]`` does.

    Returns ``{template path: rendered text}`` for every template, ``NOTES.txt`` and empty ones
    included (the caller filters). The release is :func:`release_name`, the namespace ``default``;
    values are checked against the chart's ``values.schema.json`` first, as ``helm template`` does.
    Nothing is written to disk and no cluster is contacted.

    Raises :class:`~kaddons.errors.UsageError` when ``helm-python-sdk`` is not installed or its
    native library does not load, :class:`~kaddons.errors.ContentError` naming the chart (or the
    values file) when it does not load, its values are invalid or a template fails to render.
    """
    helm = _helm(chart)
    values = _values(values_file)
    try:
        with helm.Chart.load(chart) as loaded:
            loaded.validate_schema(values)
            rendered: dict[str, str] = loaded.render(values, name=release_name(chart), namespace=_NAMESPACE,
                                                     is_install=True)
            return rendered
    except helm.HelmLibraryError as err:
        raise UsageError(f"the Helm SDK could not load its native library ({_one_line(err)}): reinstall "
                         "'kaddons[helm]', or export with --omit-images") from None
    except helm.HelmError as err:
        with_values = f" with {values_file}" if values_file is not None else ""
        raise ContentError(f"Helm chart {chart} does not render{with_values}: {_one_line(err)}") from None
