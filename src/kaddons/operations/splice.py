"""Entries of a YAML file found in its text: editing one without writing the rest again, and telling which ones
a change touched (issue 14).

A ruamel round trip of the 2,300-line document of 300 add-ons takes 0.8 s, and an upgrade changes one entry.
:func:`locate` finds the lines of the node at a YAML path with libyaml's event parser (C: 15 ms for those 2,300
lines); :class:`EntryEditor` round-trips only those lines (comments and quoting kept) and writes them back in
place, so every other byte of the file stays as it was. Both ends are checked with the loader's YAML 1.2 parser:
the lines cut out must read as the node, and the new text as the old data with that one node replaced by the
edited one.
Whatever the locator cannot place exactly (flow style, anchors or aliases, CR line ends, a line indented less
than the node, a text libyaml refuses, a check that fails) falls back to the round trip of the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from kaddons._parsed import parse
from kaddons.addons._yaml import round_trip_yaml

from .edit import dump_yaml, entry_at

__all__ = ["EntryEditor", "entry_digests", "locate"]

YamlPath = tuple[str | int, ...]


class _Unplaceable(Exception):
    """The node cannot be cut out of the text exactly."""


def locate(text: str, path: YamlPath) -> tuple[int, int, int] | None:
    """``(first line, last line, column)`` (0-based, inclusive) of the block mapping at ``path`` in ``text``, the
    column being where its first key starts; ``None`` when it cannot be placed exactly (see the module)."""
    if "\r" in text or not path:
        return None
    events = _events(text)
    if events is None:
        return None
    found: list[tuple[int, int]] = []

    def node(i: int, at: YamlPath) -> int:
        """Walk the node starting at event ``i`` (its path ``at``); the index after it."""
        event = events[i]
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
            raise _Unplaceable
        if isinstance(event, ScalarEvent):
            end = i + 1
        elif isinstance(event, MappingStartEvent):
            j = i + 1
            while not isinstance(events[j], MappingEndEvent):
                key = events[j]
                if not isinstance(key, ScalarEvent) or getattr(key, "anchor", None):
                    raise _Unplaceable
                j = node(j + 1, (*at, key.value)) if _on_way(at, key.value, path) else _skip(j + 1)
            end = j + 1
        elif isinstance(event, SequenceStartEvent):
            j, index = i + 1, 0
            while not isinstance(events[j], SequenceEndEvent):
                j = node(j, (*at, index)) if _on_way(at, index, path) else _skip(j)
                index += 1
            end = j + 1
        else:
            raise _Unplaceable
        if at == path:
            found.append((i, end - 1))
        return end

    def _skip(i: int) -> int:
        """The index after the node starting at event ``i``, not looked into (anchors there are checked)."""
        depth = 0
        while True:
            event = events[i]
            if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
                raise _Unplaceable
            if isinstance(event, CollectionStartEvent):
                depth += 1
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                depth -= 1
            i += 1
            if depth == 0:
                return i

    try:
        node(0, ())
    except (_Unplaceable, IndexError):
        return None
    if len(found) != 1:
        return None
    start, end = found[0]
    first = events[start]
    if not isinstance(first, MappingStartEvent) or first.flow_style:
        return None
    # Where its last scalar ends (a block collection's end is marked at the next token, lines further on).
    ends = [e.end_mark for e in events[start:end] if isinstance(e, ScalarEvent)]
    if not ends:
        return None
    line, column = first.start_mark.line, first.start_mark.column
    last_line = max(mark.line if mark.column > 0 else mark.line - 1 for mark in ends)
    lines = text.split("\n")
    if last_line < line or lines[line][:column].strip() not in ("", "-"):
        return None
    for number in range(line + 1, last_line + 1):
        if lines[number].strip() and lines[number][:column].strip():
            return None  # a line (a comment) indented less than the mapping
    return line, last_line, column


def _events(text: str) -> list[Any] | None:
    """The node and collection-end events of ``text``'s first document: libyaml's (C), else ruamel's own parser for
    the YAML 1.2 libyaml refuses (a URL in a flow mapping); ``None`` when neither reads it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    kinds = (NodeEvent, MappingEndEvent, SequenceEndEvent)
    for pure in (False, True):
        try:
            return [e for e in YAML(typ="safe", pure=pure).parse(text) if isinstance(e, kinds)]
        except (YAMLError, ValueError):
            continue
    return None


_ENTRY_LISTS: dict[tuple[str | type, ...], str] = {
    ("spec", "stacks", int, "addons", int): "addon", ("spec", "stacks", int, "manifests", int): "manifest",
    ("spec", "kaddons", "catalog", int): "catalog", ("spec", "kaddons", "uninstalled", int, "addon"): "kept",
    (int,): "*", (): "*"}
"""Where a cluster document (or an included file) holds named entries: ``int`` stands for any list index."""


def entry_digests(text: str) -> dict[str, str] | None:
    """``"<kind>:<name>"`` -> the sha256 (hex) of the text of each named entry of a cluster document (``addon``,
    ``manifest``, ``catalog``, ``kept`` for ``spec.kaddons.uninstalled``) or of an included file (``*``: the
    items of a top-level list, or the file's one mapping): from its first key to the end of its last scalar,
    comments between included. What ``history`` compares to tell which entry of a file a commit changed.
    ``None`` when the text cannot be read as YAML."""
    import hashlib

    events = _events(text)
    if events is None:
        return None
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    digests: dict[str, str] = {}

    def kind_of(at: YamlPath) -> str | None:
        for pattern, kind in _ENTRY_LISTS.items():
            if len(pattern) == len(at) and all(isinstance(a, int) if p is int else p == a
                                               for p, a in zip(pattern, at, strict=True)):
                return kind
        return None

    def node(i: int, at: YamlPath) -> int:
        event = events[i]
        if isinstance(event, (ScalarEvent, AliasEvent)):
            return i + 1
        j = i + 1
        name = None
        if isinstance(event, MappingStartEvent):
            while not isinstance(events[j], MappingEndEvent):
                key = events[j]
                value = events[j + 1]
                if isinstance(key, ScalarEvent) and key.value == "name" and isinstance(value, ScalarEvent):
                    name = value.value
                j = node(j + 1, (*at, key.value if isinstance(key, ScalarEvent) else "?"))
        elif isinstance(event, SequenceStartEvent):
            index = 0
            while not isinstance(events[j], SequenceEndEvent):
                j = node(j, (*at, index))
                index += 1
        kind = kind_of(at) if name is not None else None
        ends = [e.end_mark for e in events[i:j] if isinstance(e, ScalarEvent)]
        if kind is not None and ends:
            start = offsets[event.start_mark.line] + event.start_mark.column
            last = max(ends, key=lambda m: (m.line, m.column))
            digests[f"{kind}:{name}"] = hashlib.sha256(
                text[start:offsets[last.line] + last.column].encode("utf-8", "surrogatepass")).hexdigest()
        return j + 1

    try:
        if events:
            node(0, ())
    except (IndexError, RecursionError):
        return None
    return digests


def _on_way(at: YamlPath, step: str | int, path: YamlPath) -> bool:
    depth = len(at)
    return depth < len(path) and path[:depth] == at and path[depth] == step


class EntryEditor:
    """One entry of a YAML file, to be edited and written back: :attr:`entry` is the ruamel round-trip mapping at
    ``path`` in ``text``; :meth:`text` gives the file's new text. Only the entry's lines are round-tripped when
    :func:`locate` places them; else the whole file is."""

    def __init__(self, text: str, path: YamlPath, source: str) -> None:
        self.old = text
        self.path = path
        self.source = source
        self.yaml = round_trip_yaml()
        self.span = locate(text, path)
        self.data: Any = None
        self.entry: Any = None
        if self.span is not None:
            first, last, column = self.span
            lines = text.split("\n")[first:last + 1]
            lines[0] = " " * column + lines[0][column:]
            cut = "\n".join(line[column:] for line in lines) + "\n"
            if self._reads_as_entry(cut):
                self.entry = self.yaml.load(cut)
            else:
                self.span = None
        if self.span is None:
            self.data = self.yaml.load(text)
            self.entry = entry_at(self.data, path)

    @classmethod
    def of(cls, file: Path, path: YamlPath) -> EntryEditor:
        """The entry at ``path`` of ``file`` (UTF-8)."""
        return cls(file.read_text(encoding="utf-8"), path, str(file))

    def text(self) -> str:
        """The file's text with the entry as it is now."""
        if self.span is None:
            return dump_yaml(self.yaml, self.data)
        first, last, column = self.span
        snippet = dump_yaml(self.yaml, self.entry)
        lines = self.old.split("\n")
        written = [(" " * column + line) if line.strip() else line for line in snippet.rstrip("\n").split("\n")]
        written[0] = lines[first][:column] + written[0][column:]
        new = "\n".join([*lines[:first], *written, *lines[last + 1:]])
        if self._checked(new, snippet):
            return new
        data = self.yaml.load(self.old)  # written back, it did not read as the edit: the whole file, as before
        node = entry_at(data, self.path[:-1])
        node[self.path[-1]] = self.entry
        return dump_yaml(self.yaml, data)

    def _reads_as_entry(self, cut: str) -> bool:
        """Whether the lines cut out read as the entry itself."""
        from kaddons.errors import KaddonsError

        try:
            return bool(parse(cut, self.source) == entry_at(parse(self.old, self.source), self.path))
        except (KaddonsError, KeyError, IndexError, TypeError):
            return False

    def _checked(self, new: str, snippet: str) -> bool:
        """Whether ``new`` reads as the old data with the entry replaced by ``snippet``'s data, and nothing else."""
        from kaddons.errors import KaddonsError

        try:
            expected = parse(self.old, self.source)
            entry_at(expected, self.path[:-1])[self.path[-1]] = parse(snippet, self.source)
            return bool(parse(new, self.source) == expected)
        except (KaddonsError, KeyError, IndexError, TypeError):
            return False
