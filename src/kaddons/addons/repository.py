"""Where addons live in a registry: ``[PREFIX/]addons/<export name>`` (spec §2.16, §4.6), defined once.

A light module (no registry client): the sync's configuration and the CLI read it at start-up.
"""

from __future__ import annotations

import re

from kaddons.errors import InvalidReferenceError
from kaddons.oci.reference import parse_registry_host, strip_scheme, validate_repository

__all__ = ["ADDONS_NAMESPACE", "addon_repository", "split_registry"]

ADDONS_NAMESPACE = "addons"
"""The repository namespace of addon artifacts: ``addons/<export name>`` (§2.16, §4.6)."""


def split_registry(text: str) -> tuple[str, str]:
    """``[oci://|https://]HOST[:PORT][/PREFIX]`` -> (``HOST[:PORT]``, ``PREFIX/`` or ``""``).

    Raises :class:`InvalidReferenceError` for a malformed host, a prefix that is not a repository
    path, or a trailing tag/digest.
    """
    stripped = strip_scheme(text).strip("/")
    host, _, prefix = stripped.partition("/")
    host = parse_registry_host(host)
    if prefix:
        if "@" in prefix or re.search(r":[^/]*$", prefix):
            raise InvalidReferenceError(f"registry {text!r} names a tag or digest: give HOST[:PORT][/PREFIX] only")
        validate_repository(prefix)
        prefix += "/"
    return host, prefix


def addon_repository(prefix: str, export_name: str) -> str:
    """``<prefix>addons/<export name>``: the repository of an addon."""
    return f"{prefix}{ADDONS_NAMESPACE}/{export_name}"
