"""Parses of YAML files (a cluster document's, a Helm repository's index), remembered by their text (issue 14,
performance).

:func:`parse` is :func:`~kaddons.addons._yaml.parse_yaml` with two memories in front of it, both keyed by the
text itself, so an edited file is simply a new key:

* in this process, bounded by size: an operation loads the document twice (to find what to edit, then to
  apply it), and ``kaddons serve`` reloads it;
* on disk (:class:`~kaddons._memo.DiskMemo` ``parses``): every CLI command is a new process, and the
  pure-Python YAML 1.2 parser is most of loading a large document (300 add-ons and their values files: about
  1 s). The key is the sha256 of the parser's version, the Python version and the text; the value is the result
  as :mod:`marshal` bytes, plain data (marshal carries no code and builds nothing but its own core types). A
  result marshal cannot write is not kept on disk.

Each call returns a fresh copy: the loader fills entries in.
"""

from __future__ import annotations

import copy
import hashlib
import marshal
import sys
import threading
from collections import OrderedDict
from typing import Any

from kaddons._memo import DiskMemo
from kaddons.addons._yaml import SourceError, parse_yaml
from kaddons.errors import ClusterDocumentError

__all__ = ["MEMO", "parse"]

FORMAT = "1"
"""Part of every key: bump it when what :func:`parse_yaml` returns for a text changes."""
MEMO = DiskMemo("parses", max_files=4096, max_bytes=256 * 1024 * 1024)
MEMORY_CHARACTERS = 32 * 1024 * 1024
"""Characters of text whose parse this process remembers, at most (the oldest are forgotten first)."""
_MARSHAL_VERSION = 4

_memory: OrderedDict[str, tuple[int, bytes | Any]] = OrderedDict()
_memory_size = 0
_lock = threading.Lock()  # kaddons serve loads from request threads and its operations' worker at once


def _key(text: str, documents: bool) -> str:
    from ruamel.yaml import __version__ as ruamel_version

    header = f"{FORMAT}\0{ruamel_version}\0{sys.version_info[0]}.{sys.version_info[1]}\0{int(documents)}\0"
    return hashlib.sha256(header.encode() + text.encode("utf-8", "surrogatepass")).hexdigest()


def parse(text: str, source: str, *, documents: bool = False, error: SourceError = ClusterDocumentError) -> Any:
    """The data of YAML ``text`` (every document of a ``---`` stream as a list with ``documents``), a fresh copy;
    problems raise ``error(source, detail)`` (:class:`~kaddons.errors.ClusterDocumentError` unless told; never
    remembered)."""
    key = _key(text, documents)
    with _lock:
        held = _memory.get(key)
        if held is not None:
            _memory.move_to_end(key)
    if held is not None:
        return marshal.loads(held[1]) if isinstance(held[1], bytes) else copy.deepcopy(held[1])
    frozen = MEMO.get(key)
    if frozen is not None:
        try:
            found = marshal.loads(frozen)
        except (EOFError, ValueError, TypeError):
            frozen = None
        else:
            _remember(key, len(text), frozen)
            return found
    found = parse_yaml(text, source, error=error, documents=documents)
    try:
        frozen = marshal.dumps(found, _MARSHAL_VERSION)
    except ValueError:  # a type marshal does not carry: remembered in this process only, as a copy
        _remember(key, len(text), copy.deepcopy(found))
        return found
    _remember(key, len(text), frozen)
    MEMO.put(key, frozen)
    return found


def _remember(key: str, size: int, held: bytes | Any) -> None:
    global _memory_size
    if size > MEMORY_CHARACTERS // 8:
        return
    with _lock:
        if key in _memory:
            return
        _memory[key] = (size, held)
        _memory_size += size
        while _memory_size > MEMORY_CHARACTERS:
            _old, (old_size, _held) = _memory.popitem(last=False)
            _memory_size -= old_size
