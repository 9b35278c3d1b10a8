"""YAML loading and validation messages for addon manifests: file, YAML path, what was expected."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kaddons.errors import AddonManifestError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails
    from ruamel.yaml import YAML

# ruamel.yaml is imported when a document is first parsed or written, not with this module (~20 ms of every
# kaddons process: a sync that finds nothing changed reads no YAML)

__all__ = ["describe_error", "parse_yaml", "round_trip_yaml", "yaml_type"]


def round_trip_yaml() -> YAML:
    """A ruamel round-trip YAML that keeps comments and quoting, never wraps lines, and writes the layout of
    K2s's manifests (2-space mappings, sequences indented 4 with the dash at 2). Used to edit manifests
    (merge) and kustomize templates (gitops) without losing what people wrote."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@functools.cache
def _constructor() -> type:
    """The safe constructor, but timestamps stay strings: the manifest is JSON data (§1.4)."""
    from ruamel.yaml.constructor import SafeConstructor

    class _Constructor(SafeConstructor):
        pass

    _Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
    return _Constructor


MAX_EXPANDED_NODES = 100_000
"""Nodes a document may have once its aliases are expanded (K2s's Go loader refuses excessive aliasing)."""


def _expanded_nodes(node: Any, memo: dict[int, int], depth: int = 0) -> int:
    """Nodes of ``node`` with every alias expanded; shared nodes are counted once per reference."""
    known = memo.get(id(node))
    if known is not None:
        return known
    if depth > 1000:
        return MAX_EXPANDED_NODES + 1
    value = node.value
    if isinstance(value, list):
        children = [item for pair in value for item in pair] if value and isinstance(value[0], tuple) else value
        count = 1 + sum(_expanded_nodes(child, memo, depth + 1) for child in children)
    else:
        count = 1
    memo[id(node)] = min(count, MAX_EXPANDED_NODES + 1)
    return memo[id(node)]


SourceError = Callable[[str, str], Exception]
"""An error class taking ``(source, detail)``: :class:`AddonManifestError`, ``ClusterDocumentError``."""


def _check_aliases(yaml: YAML, text: str, source: str, error: SourceError) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_EXPANDED_NODES` (a billion-laughs bomb)."""
    if "&" not in text or "*" not in text:
        return
    for root in yaml.compose_all(text):
        if root is not None and _expanded_nodes(root, {}) > MAX_EXPANDED_NODES:
            raise error(source, f"its YAML aliases expand it to more than {MAX_EXPANDED_NODES} nodes: "
                                "refusing it (K2s's loader refuses excessive aliasing too)")


def parse_yaml(text: str, source: str, *, error: SourceError = AddonManifestError, documents: bool = False) -> Any:
    """Parse YAML 1.2 safely (duplicate keys are errors, alias bombs are refused; timestamps stay strings); with
    ``documents``, every document of a ``---`` stream as a list. Problems raise ``error(source, detail)``,
    the detail naming line and column.

    libyaml's scanner (C, about 5x faster) reads the text first, with ruamel's YAML 1.2 resolver and our
    constructor; text it refuses is read again by ruamel's pure-Python scanner, whose answer (a value or the
    error) counts. libyaml refuses some YAML 1.2 that K2s's Go loader reads (a URL as a plain scalar in a flow
    mapping, ``{url: https://…}``); where both read a text they read the same (checked on every YAML file of the
    test data: ``tests/addons/test_yaml_parsers.py``)."""
    from ruamel.yaml.error import YAMLError

    try:
        return _parse(text, source, error, documents, pure=False)
    except YAMLError:
        return _parse(text, source, error, documents, pure=True)


def _parse(text: str, source: str, error: SourceError, documents: bool, *, pure: bool) -> Any:
    """One reading of :func:`parse_yaml`; with ``pure=False`` a YAMLError is left to the caller."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="safe", pure=pure)  # YAML 1.2; duplicate keys raise
    yaml.Constructor = _constructor()
    try:
        _check_aliases(yaml, text, source, error)
        return list(yaml.load_all(text)) if documents else yaml.load(text)
    except MarkedYAMLError as err:
        if not pure:
            raise
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        raise error(source, f"{where}{problem}") from None
    except YAMLError as err:
        if not pure:
            raise
        raise error(source, " ".join(str(err).split())) from None


_YAML_TYPES = ((type(None), "null"), (bool, "a boolean"), (int, "a number"), (float, "a number"),
               (str, "a string"), (list, "a list"), (dict, "a mapping"))
_EXPECTED = {"string_type": "a string", "list_type": "a list", "dict_type": "a mapping",
             "model_type": "a mapping", "model_attributes_type": "a mapping"}


def yaml_type(value: Any) -> str:
    """The YAML name of a value's type ("a string", "a list" ...) for messages."""
    return next((name for kind, name in _YAML_TYPES if isinstance(value, kind)), type(value).__name__)


def _yaml_path(loc: tuple[str | int, ...], data: Any) -> str:
    """``loc`` as a path through ``data``; steps that are not in the data (union tags) are dropped."""
    path, node = "", data
    for step in loc:
        if isinstance(node, dict) and step in node:
            path, node = f"{path}.{step}" if path else str(step), node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            path, node = f"{path}[{step}]", node[step]
    return path


def describe_error(error: ErrorDetails, data: Any) -> str:
    """One pydantic error as ``<yaml path>: <what was expected>``, in the words of the YAML file."""
    kind, loc, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    got = yaml_type(error["input"])
    if kind == "missing":
        path, message = _yaml_path(loc[:-1], data), f"{loc[-1]!r} is required"
    elif kind == "union_tag_not_found":
        path, message = _yaml_path(loc, data), f"{ctx['discriminator']} is required"
    elif kind == "union_tag_invalid":
        path = _yaml_path((*loc, "kind"), data)
        message = f"expected one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    elif kind == "literal_error":
        path, message = _yaml_path(loc, data), f"expected {ctx['expected']}, got {error['input']!r}"
    elif kind in _EXPECTED:
        path, message = _yaml_path(loc, data), f"expected {_EXPECTED[kind]}, got {got}"
    elif kind == "too_short":
        path, message = _yaml_path(loc, data), f"expected at least {ctx['min_length']} item(s), got none"
    elif kind == "invalid_key":
        path, message = _yaml_path(loc[:-1], data), f"keys must be strings, got {error['input']!r}"
    else:
        path, message = _yaml_path(loc, data), error["msg"]
        message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message
