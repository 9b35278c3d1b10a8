"""Lazy package attributes (PEP 562): a package names what it offers, each imported on first use.

Every FluxCD Job and Argo CD poll is a new ``kaddons`` process, so a command must import only what it runs;
a package ``__init__`` that imported all its modules would import everything for any of them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps a public name to the relative module holding it
    (``{"Registry": "._registry"}``). The value is imported on first access and kept in the package."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
