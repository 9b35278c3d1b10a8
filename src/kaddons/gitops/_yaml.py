"""YAML in and out for the addon-sync resources: templates edited with their comments, objects as streams.

User values only ever enter YAML through these functions (as data the emitter quotes), never by text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

from kaddons.addons._yaml import round_trip_yaml

__all__ = ["dump_documents", "dump_rt", "load_documents", "load_rt"]


def load_rt(text: str) -> Any:
    """A template document with its comments and quoting, to be edited and written with :func:`dump_rt`."""
    return round_trip_yaml().load(text)


def dump_rt(data: Any) -> str:
    """Write a document loaded with :func:`load_rt` (or built of ``CommentedMap``/plain values)."""
    out = io.StringIO()
    round_trip_yaml().dump(data, out)
    return out.getvalue()


def load_documents(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML stream as plain data (YAML 1.2, safe)."""
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]


_OTHER_BREAKS = "\r\x85\u2028\u2029"  # a literal block would turn them into "\\n"


class _Representer(SafeRepresenter):
    """Multi-line strings (scripts, PEM bundles) as literal blocks where YAML allows it."""

    def represent_str(self, data: str) -> Any:
        literal = "\n" in data and not any(c in data for c in _OTHER_BREAKS)
        return self.represent_scalar("tag:yaml.org,2002:str", data, style="|" if literal else None)


_Representer.add_representer(str, _Representer.represent_str)


def dump_documents(documents: Iterable[Any]) -> str:
    """A ``---``-separated YAML stream of plain objects, block style, keys in their order."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump_all(list(documents), out)
    return out.getvalue()
