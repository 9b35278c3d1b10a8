"""YAML in and out for the addon-sync resources: templates edited with their comments, objects as streams.

User values only ever enter YAML through these functions (as data the emitter quotes), never by text.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import re
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import __version__ as ruamel_version
from ruamel.yaml.representer import SafeRepresenter

from kaddons._memo import DiskMemo
from kaddons.addons._yaml import round_trip_yaml

__all__ = ["dump_documents", "dump_kept", "dump_rt", "load_documents", "load_rt"]


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


_YAML11_SCALAR = re.compile(
    r"""(?x)^(?:
        y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF   # 1.1 booleans
      | ~|null|Null|NULL
      | [-+]?(?:0b[01_]+|0[0-7_]+|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+|[0-9][0-9_]*)   # 1.1 integers
      | [-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?                                          # timestamps
    )$""")
"""Strings a YAML 1.1 reader (Kubernetes' ``sigs.k8s.io/yaml``, Helm) would take for something else: quoted."""


class _Representer(SafeRepresenter):
    """Multi-line strings (scripts, PEM bundles) as literal blocks where YAML allows it; strings that a YAML 1.1
    reader would read as a boolean, null, number or timestamp (``yes``, ``on``, ``0755``, ``1:20``) quoted."""

    def represent_str(self, data: str) -> Any:
        literal = "\n" in data and not any(c in data for c in _OTHER_BREAKS)
        style = "|" if literal else "'" if _YAML11_SCALAR.match(data) else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Representer.add_representer(str, _Representer.represent_str)


_DUMP_FORMAT = b"kaddons dump_documents 1\0" + (ruamel_version.encode())
"""Part of every key of :data:`DUMPS`: bump the number when the YAML written for the same objects changes."""


def dump_documents(documents: Iterable[Any]) -> str:
    """A ``---``-separated YAML stream of plain objects, block style, keys in their order, sequences indented
    under their key. Written by libyaml's emitter (``ruamel.yaml.clib``, a dependency): 3-4x faster than the
    pure-Python one."""
    return _dump(list(documents))


def dump_kept(documents: Iterable[Any]) -> str:
    """:func:`dump_documents`, kept on disk by the sha256 of the objects (:data:`DUMPS`): for the trees a cluster
    document renders, where between two commands almost every object is the same."""
    documents = list(documents)
    try:  # marshal version 2: exact types, no back-references, so equal objects give equal bytes
        key: str | None = hashlib.sha256(_DUMP_FORMAT + marshal.dumps(documents, 2)).hexdigest()
    except ValueError:  # a type marshal does not carry (a str subclass ...): dumped every time
        key = None
    if key is not None and (kept := DUMPS.get(key)) is not None:
        try:
            return kept.decode("utf-8")
        except UnicodeDecodeError:
            pass
    text = _dump(documents)
    if key is not None:
        DUMPS.put(key, text.encode("utf-8"))
    return text


DUMPS = DiskMemo("dumps", max_files=16384, max_bytes=128 * 1024 * 1024)
"""What :func:`dump_kept` wrote, by the sha256 of its objects: a rendered tree of 300 add-ons is 0.4 s of
pure-Python representing, and between two commands almost all of its objects are the same."""


def _dump(documents: list[Any]) -> str:
    yaml = YAML(typ="safe", pure=False)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()
