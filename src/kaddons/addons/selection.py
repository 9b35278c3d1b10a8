"""Which addon implementations an export names (spec §2.2).

``NAME [IMPL]`` arguments are read left to right. An argument is split on whitespace: word 0 is the
addon, word 1 (if any) the implementation (``"ingress nginx"``). Without an implementation word, the
next argument is taken as the implementation when its first word is not the name of an addon
(``ingress nginx`` -> ingress[nginx]; ``registry ingress nginx`` -> registry, ingress[nginx]).
An argument that is no addon's name may be an export name (``ingress-nginx``), as import accepts
and push prints. Addon names compare case-insensitively as in K2s. Unlike K2s, an unknown addon *or implementation* is
an error (K2s silently exports nothing for an unknown implementation, §8.10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kaddons.errors import NotFoundError, UsageError

from .catalog import Addon, Catalog, Implementation

__all__ = ["Selection", "select"]


@dataclass(frozen=True)
class Selection:
    """An addon and the implementations of it to export, in manifest order; ``whole`` when no
    implementation was named (the argument was the addon alone)."""

    addon: Addon
    implementations: list[Implementation]
    whole: bool


def _find(catalog: Catalog, name: str) -> Addon | None:
    lowered = name.lower()
    return next((a for a in catalog.addons if a.name.lower() == lowered), None)


def _by_export_name(catalog: Catalog, name: str) -> tuple[Addon, str] | None:
    lowered = name.lower()
    for addon in catalog.addons:
        for impl in addon.implementations:
            if impl.export_name == lowered:
                return addon, impl.name
    return None


def _known(catalog: Catalog) -> str:
    return ", ".join(a.name for a in catalog.addons) or "none"


def select(catalog: Catalog, names: Sequence[str]) -> list[Selection]:
    """Resolve export arguments (§2.2) against ``catalog``; no names means every addon, every implementation.

    The result keeps argument order; an addon named twice is merged into one :class:`Selection`.
    Raises :class:`NotFoundError` naming an unknown addon (and listing the known ones) or an unknown
    implementation (listing the addon's), :class:`UsageError` for an empty argument or more than two words.
    """
    if not names:
        return [Selection(a, list(a.implementations), True) for a in catalog.addons]
    result: dict[str, Selection] = {}
    i = 0
    while i < len(names):
        words = names[i].split()
        if not words or len(words) > 2:
            raise UsageError(f"export argument {names[i]!r}: expected 'NAME' or 'NAME IMPLEMENTATION'")
        impl_name = words[1] if len(words) == 2 else None
        if impl_name is None and i + 1 < len(names):
            following = names[i + 1].split()
            if len(following) == 1 and _find(catalog, following[0]) is None:
                impl_name = following[0]
                i += 1
        i += 1
        addon = _find(catalog, words[0])
        if addon is None and impl_name is None:  # the export name NAME-IMPL, as import and push print it
            found = _by_export_name(catalog, words[0])
            if found is not None:
                addon, impl_name = found
        if addon is None:
            raise NotFoundError(f"no addon named {words[0]!r} in {catalog.addons_dir} (addons: {_known(catalog)})")
        if impl_name is None:
            chosen, whole = list(addon.implementations), True
        else:
            chosen = [impl for impl in addon.implementations if impl.name == impl_name]
            if not chosen:
                known = ", ".join(impl.name for impl in addon.implementations)
                raise NotFoundError(
                    f"addon {addon.name!r} has no implementation {impl_name!r} (implementations: {known})")
            whole = False
        previous = result.get(addon.name)
        if previous is not None:
            merged = [impl for impl in addon.implementations if impl in previous.implementations or impl in chosen]
            result[addon.name] = Selection(addon, merged, previous.whole or whole)
        else:
            result[addon.name] = Selection(addon, chosen, whole)
    return list(result.values())
