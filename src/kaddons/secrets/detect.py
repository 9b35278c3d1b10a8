"""Recognising SOPS-encrypted YAML and what it encrypts, without decrypting (ankra-addons.md §5.2).

A SOPS file has a top-level ``sops:`` metadata block (with a ``mac``) and values of the form
``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`` (flux-argo-oci-sops.md §4.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ENCRYPTED_VALUE",
    "MASK",
    "encrypted_keys",
    "has_encrypted_values",
    "is_sops_encrypted",
    "load_sops_output",
    "mac_only_encrypted",
    "masked",
    "masked_text",
    "masked_values",
    "named_scalars",
    "plaintext_values",
]

ENCRYPTED_VALUE = re.compile(r"^ENC\[AES256_GCM,data:.*,iv:.*,tag:.*,type:.*\]$", re.DOTALL)
MASK = "<encrypted>"
"""What an encrypted value is shown as."""
_ENCRYPTED_IN_TEXT = re.compile(r"ENC\[AES256_GCM,[^\]]*\]")
_SOPS_BLOCK = re.compile(r"(?m)^sops:[ \t]*$")


def masked_text(text: str) -> str:
    """``text`` (a manifest, a diff) with every SOPS-encrypted value replaced by :data:`MASK`."""
    return _ENCRYPTED_IN_TEXT.sub(MASK, text)


def has_encrypted_values(text: str) -> bool:
    """``text`` holds a SOPS-encrypted value."""
    return _ENCRYPTED_IN_TEXT.search(text) is not None


def is_sops_encrypted(text: str) -> bool:
    """``text`` (YAML) carries a top-level ``sops:`` metadata block with a MAC."""
    return bool(_SOPS_BLOCK.search(text)) and "mac:" in text


def load_sops_output(text: str, source: str) -> list[Any]:
    """The documents of YAML that ``sops`` wrote (block style, plain keys), read with libyaml's parser for speed;
    anything it refuses is read by the strict pure-Python loader instead."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return list(YAML(typ="safe", pure=False).load_all(text))
    except YAMLError:
        from kaddons.addons._yaml import parse_yaml
        from kaddons.errors import ClusterDocumentError

        return list(parse_yaml(text, source, error=ClusterDocumentError, documents=True))


def mac_only_encrypted(text: str) -> bool:
    """The SOPS MAC of ``text`` covers only its encrypted values (``sops.mac_only_encrypted: true``): its readable
    values may change without breaking it."""
    return bool(re.search(r"(?m)^[ \t]+mac_only_encrypted:[ \t]*true[ \t]*$", text))


def _walk(node: Any, key: str | None, found: list[tuple[str, Any]]) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "sops" and key is None:
                continue
            _walk(value, str(name), found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, key, found)
    elif key is not None:
        found.append((key, node))


def encrypted_keys(documents: list[Any]) -> list[str]:
    """The names of the keys whose values are SOPS ciphertext in ``documents`` (parsed YAML), sorted."""
    found: list[tuple[str, Any]] = []
    for document in documents:
        _walk(document, None, found)
    return sorted({key for key, value in found if isinstance(value, str) and ENCRYPTED_VALUE.match(value)})


def named_scalars(documents: list[Any], names: set[str]) -> Iterator[tuple[str, Any]]:
    """``(key name, scalar)`` for each scalar held under a key named in ``names`` (matched anywhere, Ankra's rule;
    the innermost such key), the top-level ``sops`` metadata left out."""

    def walk(node: Any, inside: str | None) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "sops" and inside is None and isinstance(value, dict):
                    continue
                yield from walk(value, str(name) if str(name) in names else inside)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, inside)
        elif inside is not None:
            yield inside, node

    for document in documents:
        yield from walk(document, None)


def plaintext_values(documents: list[Any], names: set[str]) -> list[str]:
    """The keys named in ``names`` (matched anywhere, Ankra's rule) holding a value that is not ciphertext:
    non-empty strings, numbers, booleans. Their names, sorted, each once."""
    return sorted({name for name, value in named_scalars(documents, names) if value is not None and value != ""
                   and not (isinstance(value, str) and ENCRYPTED_VALUE.match(value))})


def masked(document: Any) -> Any:
    """A copy of ``document`` (parsed YAML) with every ciphertext value shown as :data:`MASK` and the top-level
    ``sops`` metadata left out: what may be shown to someone without the key."""

    def mask(node: Any, top: bool) -> Any:
        if isinstance(node, dict):
            return {k: mask(v, False) for k, v in node.items() if not (top and k == "sops")}
        if isinstance(node, list):
            return [mask(item, False) for item in node]
        if isinstance(node, str) and ENCRYPTED_VALUE.match(node):
            return MASK
        return node

    return mask(document, True)


def masked_values(text: str, what: str) -> Any:
    """The values YAML ``text`` parsed and :func:`masked` (an empty mapping for empty text). Raises
    ClusterDocumentError naming ``what``."""
    from kaddons.addons._yaml import parse_yaml
    from kaddons.errors import ClusterDocumentError

    return masked(parse_yaml(text, what, error=ClusterDocumentError) if text.strip() else {}) or {}
