"""Guards that keep plaintext secrets out of Git (issue 12; ankra-addons.md §5.4).

* :func:`check_encrypted`: every value named in an add-on's ``configuration.encrypted_paths`` or a manifest's
  ``encrypted_paths`` is SOPS ciphertext, and so is every such value of a definition an uninstall kept
  (``spec.kaddons.uninstalled``: its values file stays in Git). ``cluster apply`` runs it before anything is
  committed: a plaintext one stops it (:class:`~kaddons.errors.ClusterDocumentError`, exit 2, naming the file and
  the keys).
* :func:`secret_warnings`: a ``Secret`` manifest whose ``data``/``stringData`` holds plaintext, and values keys
  that look secret (:data:`SECRET_NAMES`, case-insensitive, matched as substrings of the key name) outside
  ``encrypted_paths``. Warnings; ``validate --strict-secrets`` makes them errors.
"""

from __future__ import annotations

import os
from typing import Any

from kaddons.errors import ClusterDocumentError
from kaddons.stacks.load import LoadedCluster

from .detect import ENCRYPTED_VALUE, is_sops_encrypted, plaintext_values

__all__ = ["SECRET_NAMES", "check_encrypted", "secret_names", "secret_warnings"]

SECRET_NAMES = ("password", "passwd", "secret", "token", "apikey", "api_key", "privatekey", "private_key",
                "credential", "clientsecret", "client_secret", "accesskey", "access_key", "dockerconfigjson")
"""Key names that look secret (lower-cased substrings); ``KADDONS_SECRET_NAMES`` (comma-separated) replaces them."""


def secret_names() -> tuple[str, ...]:
    """:data:`SECRET_NAMES`, or the comma-separated ``KADDONS_SECRET_NAMES``."""
    given = os.environ.get("KADDONS_SECRET_NAMES")
    if given:
        return tuple(n.strip().lower() for n in given.split(",") if n.strip())
    return SECRET_NAMES


def _documents(text: str, where: str) -> list[Any]:
    from kaddons.addons._yaml import parse_yaml

    return [d for d in parse_yaml(text, where, error=ClusterDocumentError, documents=True) if d is not None]


def _members(loaded: LoadedCluster) -> list[tuple[str, str, str, list[str], str]]:
    """(kind, name, content, encrypted names, where) of every add-on and manifest, and of every definition kept
    by an uninstall (kind ``uninstalled``): its values file is committed with the document too."""
    out = []
    for stack in loaded.document.spec.stacks:
        for addon in stack.addons:
            names = list(addon.configuration.encrypted_paths) if addon.configuration is not None else []
            out.append(("addon", addon.name, addon.values, names, _where(loaded, "addon", addon.name)))
        for manifest in stack.manifests:
            out.append(("manifest", manifest.name, manifest.content, list(manifest.encrypted_paths),
                        _where(loaded, "manifest", manifest.name)))
    for index, kept in enumerate(loaded.document.spec.kaddons.uninstalled):
        addon = kept.addon
        names = list(addon.configuration.encrypted_paths) if addon.configuration is not None else []
        out.append(("uninstalled", addon.name, addon.values, names,
                    _where(loaded, "uninstalled", addon.name, f"spec.kaddons.uninstalled[{index}].addon")))
    return out


def _where(loaded: LoadedCluster, kind: str, name: str, path: str | None = None) -> str:
    source = loaded.sources.get((kind, name))
    if source is not None and source.content_file is not None:
        try:
            return source.content_file.relative_to(loaded.repository.resolve()).as_posix()
        except ValueError:
            return str(source.content_file)
    return f"{loaded.path}: {path or loaded.graph.members[(kind, name)].where}"


def _way_out(kind: str, name: str, key: str) -> str:
    if kind == "uninstalled":  # not a member: encrypt cannot reach it
        return (f"encrypt the file with sops -e -i (the repository's .sops.yaml applies), or forget the definition: "
                f"kaddons cluster addons uninstall {name} --delete")
    return f"kaddons cluster encrypt {kind} {name} --key {key}"


def check_encrypted(loaded: LoadedCluster) -> None:
    """Raise when a value named in ``encrypted_paths`` is not ciphertext (see the module)."""
    for kind, name, content, names, where in _members(loaded):
        if not names:
            continue
        label = f"uninstalled add-on {name!r} (its kept definition)" if kind == "uninstalled" else f"{kind} {name!r}"
        if not is_sops_encrypted(content):
            raise ClusterDocumentError(where, f"{label} lists encrypted_paths ({', '.join(names)}) but the file is "
                                              f"not SOPS-encrypted: {_way_out(kind, name, names[0])}")
        plain = plaintext_values(_documents(content, where), set(names))
        if plain:
            raise ClusterDocumentError(where, f"{', '.join(plain)} must be encrypted (encrypted_paths) but holds "
                                              f"plaintext: {_way_out(kind, name, plain[0])}")


def _secretish(key: str, names: tuple[str, ...]) -> bool:
    lowered = key.lower().lstrip(".")
    return any(n in lowered for n in names)


def secret_warnings(loaded: LoadedCluster) -> list[str]:
    """Plaintext that looks secret (see the module), one line each."""
    names = secret_names()
    warnings: list[str] = []
    for kind, name, content, encrypted, where in _members(loaded):
        if not content.strip():
            continue
        documents = _documents(content, where)
        covered = set(encrypted)
        if kind == "manifest":
            for document in documents:
                if isinstance(document, dict) and document.get("kind") == "Secret":
                    plain = plaintext_values([{k: document.get(k) for k in ("data", "stringData") if k in document}],
                                             {"data", "stringData"} - covered)
                    if plain:
                        warnings.append(f"{where}: Secret {(document.get('metadata') or {}).get('name')!r} holds "
                                        f"plaintext {' and '.join(plain)}: kaddons cluster encrypt manifest {name} "
                                        "--all-data")
        found: list[str] = []
        _walk(documents, names, covered, found)
        for key in sorted(set(found)):
            warnings.append(f"{where}: {key!r} looks secret but is not encrypted: {_way_out(kind, name, key)}")
    return warnings


def _walk(node: Any, names: tuple[str, ...], covered: set[str], found: list[str], inside: bool = False) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            key = str(key)
            if key == "sops" and isinstance(value, dict) and "mac" in value:
                continue
            under = inside or key in covered
            if not under and _secretish(key, names) and _holds_plaintext(value):
                found.append(key)
            _walk(value, names, covered, found, under)
    elif isinstance(node, list):
        for item in node:
            _walk(item, names, covered, found, inside)


def _holds_plaintext(value: Any) -> bool:
    if isinstance(value, dict | list):
        return False
    if value is None or value == "":
        return False
    return not (isinstance(value, str) and ENCRYPTED_VALUE.match(value))
