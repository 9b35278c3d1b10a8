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

:func:`first_not_mapping` checks many texts at once (the values files of a document: the loader needs to know
they are mappings, not their data). Texts seen to be mappings are remembered by their sha256 in this process,
and one disk entry (:data:`CHECKS`) remembers a whole set as checked: a command that loads the same 300 values
files again reads one file instead of 300.
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

__all__ = ["CHECKS", "MEMO", "first_not_mapping", "parse"]

FORMAT = "1"
"""Part of every key: bump it when what :func:`parse_yaml` returns for a text changes."""
MEMO = DiskMemo("parses", max_files=4096, max_bytes=256 * 1024 * 1024)
CHECKS = DiskMemo("checked", max_files=256, max_bytes=1024 * 1024)
"""Sets of texts known to be YAML mappings (or empty): one empty file per set, named by the set's key."""
MEMORY_CHARACTERS = 32 * 1024 * 1024
"""Characters of text whose parse this process remembers, at most (the oldest are forgotten first)."""
_MARSHAL_VERSION = 4

_memory: OrderedDict[str, tuple[int, bytes | Any]] = OrderedDict()
_memory_size = 0
_mappings: set[str] = set()
"""sha256 (hex) of texts seen to parse to a mapping or to nothing; cleared when it grows past 100,000."""
_lock = threading.Lock()  # kaddons serve loads from request threads and its operations' worker at once


def _parser_version() -> str:
    from ruamel.yaml import __version__ as ruamel_version

    return f"{ruamel_version}\0{sys.version_info[0]}.{sys.version_info[1]}"


def _key(text: str, documents: bool) -> str:
    header = f"{FORMAT}\0{_parser_version()}\0{int(documents)}\0"
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


def first_not_mapping(texts: list[tuple[str, str]], *, error: SourceError = ClusterDocumentError) -> int | None:
    """The index of the first of ``texts`` (``(text, source)`` pairs) whose YAML is neither empty nor a mapping,
    or ``None``: all are. A text that is not YAML raises ``error(source, detail)`` as :func:`parse` does. What was
    seen is remembered (see the module); a failure never is."""
    digests = [hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() for text, _source in texts]
    with _lock:
        unknown = [i for i, digest in enumerate(digests) if digest not in _mappings]
    if not unknown:
        return None
    key = hashlib.sha256(f"{FORMAT}\0mappings\0{_parser_version()}\0{' '.join(sorted(set(digests)))}".encode()
                         ).hexdigest()
    kept = CHECKS.get(key) is not None
    if not kept:
        for index in unknown:
            text, source = texts[index]
            data = parse(text, source, error=error)
            if data is not None and not isinstance(data, dict):
                return index
    with _lock:
        if len(_mappings) > 100_000:
            _mappings.clear()
        _mappings.update(digests)
    if not kept:  # a set found on disk is not written again
        CHECKS.put(key, b"")
    return None
