"""Platforms (``os/architecture[/variant]``) and choosing one manifest of an image index.

Matching follows containerd's default matcher closely enough for image export: architecture aliases
(``x86_64`` = ``amd64``, ``aarch64`` = ``arm64``) and default variants (``arm64`` = ``arm64/v8``,
``arm`` = ``arm/v7``) are normalised; without a requested variant any variant of the architecture
matches, the entry with the default (or no) variant first.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaddons.errors import UsageError
from kaddons.oci.models import Descriptor
from kaddons.oci.models import Platform as OciPlatform

__all__ = ["Platform", "describe", "matches", "parse_platform", "select_manifest"]

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
                 "i386": "386"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


@dataclass(frozen=True)
class Platform:
    """A normalised platform; ``variant`` ``None`` means "any" in a request, the default in an entry."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


def _normalise(os_name: str, architecture: str, variant: str | None) -> Platform:
    arch = _ARCH_ALIASES.get(architecture.lower(), architecture.lower())
    var = (variant or "").lower() or None
    if var is not None and _DEFAULT_VARIANT.get(arch) == var:
        var = None
    return Platform(os_name.lower(), arch, var)


def parse_platform(text: str) -> Platform:
    """``linux/amd64``, ``linux/arm64/v8``, ``windows/amd64`` -> :class:`Platform` (normalised).

    Raises :class:`~kaddons.errors.UsageError` for anything but ``OS/ARCH[/VARIANT]``.
    """
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/amd64")
    return _normalise(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def _of(entry: Descriptor) -> Platform | None:
    p: OciPlatform | None = entry.platform
    return None if p is None else _normalise(p.os, p.architecture, p.variant)


def matches(entry: Descriptor, wanted: Platform) -> bool:
    """Whether an index entry (or an ``index.json`` entry) is for ``wanted``."""
    have = _of(entry)
    if have is None or (have.os, have.architecture) != (wanted.os, wanted.architecture):
        return False
    return wanted.variant is None or have.variant == wanted.variant


def select_manifest(entries: list[Descriptor], wanted: Platform) -> Descriptor | None:
    """The entry of an image index for ``wanted``, or ``None``.

    Among several matches the one with the default variant wins, then the first in index order.
    """
    candidates = [entry for entry in entries if matches(entry, wanted)]
    default = [entry for entry in candidates if (p := _of(entry)) is not None and p.variant is None]
    chosen = default or candidates
    return chosen[0] if chosen else None


def describe(entries: list[Descriptor]) -> str:
    """The platforms of index entries for messages: ``linux/amd64, windows/amd64 (10.0.17763.6189)``."""
    seen: dict[str, None] = {}
    for entry in entries:
        p = entry.platform
        if p is None:
            seen.setdefault("(no platform)")
            continue
        text = str(_normalise(p.os, p.architecture, p.variant))
        seen.setdefault(text + (f" ({p.os_version})" if p.os_version else ""))
    return ", ".join(seen) or "none"
