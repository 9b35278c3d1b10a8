"""Setting one value in a Helm values document by path, as ``helm --set`` and Ankra's CLI address them
(issue 14; ankra-addons.md §6.1).

A path is dot-separated keys (``image.tag``); ``[N]`` indexes a list (``args[0]``); ``[field=value]`` selects the
list item whose ``field`` is ``value`` (``env[name=LOG_LEVEL].value``), so a path keeps meaning the same item when
the list is reordered. ``\\.`` is a literal dot in a key (``podAnnotations.prometheus\\.io/scrape``). Missing
keys are created as mappings. A selector that matches nothing is an error (a typo would otherwise add an item
nobody asked for: issue 14 lists it as bad input); ``[N]`` with N the list's length appends an item, and an index
further past the end is an error. The document is edited in place (a ruamel round-trip tree: comments and order kept).
"""

from __future__ import annotations

import re
from typing import Any

from kaddons.errors import UsageError

__all__ = ["Selector", "parse_path", "set_value"]

_SEGMENT = re.compile(r"(?P<key>(?:[^.\[\]\\]|\\.)+)?(?P<subs>(?:\[[^\]]*\])*)")


class Selector(tuple[str, str]):
    """``[field=value]``: the list item whose ``field`` is ``value``."""


def parse_path(path: str) -> list[str | int | Selector]:
    """The steps of ``path`` (see the module): keys, indexes and selectors. Raises UsageError naming it."""
    steps: list[str | int | Selector] = []
    if not path or path.startswith(".") or path.endswith(".") or ".." in path.replace("\\.", ""):
        raise UsageError(f"value path {path!r}: use keys separated by dots, e.g. image.tag or env[name=X].value")
    parts = re.split(r"(?<!\\)\.", path)
    for part in parts:
        match = _SEGMENT.fullmatch(part)
        if match is None or not (match["key"] or match["subs"]):
            raise UsageError(f"value path {path!r}: cannot read {part!r} (keys, [N] or [field=value])")
        if match["key"]:
            steps.append(match["key"].replace("\\.", ".").replace("\\\\", "\\"))
        for sub in re.findall(r"\[([^\]]*)\]", match["subs"] or ""):
            if sub.isdigit():
                steps.append(int(sub))
            elif "=" in sub and sub.partition("=")[0]:
                field, _, value = sub.partition("=")
                steps.append(Selector((field, value)))
            else:
                raise UsageError(f"value path {path!r}: [{sub}] is neither an index nor field=value")
    return steps


def set_value(document: Any, path: str, value: Any) -> Any:
    """Set ``value`` at ``path`` in ``document`` (a mapping; created when ``None``); returns the document.
    Raises UsageError when the path runs into a value of another shape (naming where)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    steps = parse_path(path)
    root = CommentedMap() if document is None else document
    if not isinstance(root, dict):
        raise UsageError(f"value path {path!r}: the values are not a mapping")
    node: Any = root
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        where = path if last else f"{path} (at step {i + 1})"
        nxt = steps[i + 1] if not last else None
        fresh: Any = CommentedSeq() if isinstance(nxt, (int, Selector)) else CommentedMap()
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise UsageError(f"value path {where}: {step!r} is a key, but the value there is a list")
            if last:
                node[step] = value
            else:
                if node.get(step) is None:
                    node[step] = fresh
                node = node[step]
        elif isinstance(step, Selector):
            if not isinstance(node, list):
                raise UsageError(f"value path {where}: [{step[0]}={step[1]}] selects in a list, but the value there "
                                 "is not one")
            found = next((item for item in node if isinstance(item, dict) and str(item.get(step[0])) == step[1]),
                         None)
            if found is None:
                have = [str(item.get(step[0])) for item in node if isinstance(item, dict) and step[0] in item]
                raise UsageError(f"value path {where}: no item of the list has {step[0]}={step[1]} "
                                 f"({step[0]}: {', '.join(have[:10]) or 'none'}{' …' if len(have) > 10 else ''}); "
                                 f"[{len(node)}] appends a new item")
            if last:
                node[node.index(found)] = value
            else:
                node = found
        else:
            if not isinstance(node, list):
                raise UsageError(f"value path {where}: [{step}] indexes a list, but the value there is not one")
            if step > len(node):
                raise UsageError(f"value path {where}: [{step}] is past the end of a list of {len(node)} "
                                 f"([{len(node)}] appends)")
            if step == len(node):
                node.append(None if last else fresh)
            if last:
                node[step] = value
            else:
                if node[step] is None:
                    node[step] = fresh
                node = node[step]
    return root
